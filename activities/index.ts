import type { ActivityContext } from './context';
import { certificateActivities } from './certificates';
import { driveActivities } from './drives';
import { faultActivities } from './faults';
import { fleetActivities } from './fleet';
import { hardwareEncryptionActivities } from './hardware-encryption';
import { kmipCheckActivities } from './kmip-check';
import { lockActivities } from './lock';
import { notifyActivities } from './notify';
import { rekeyActivities } from './rekey';
import { renewActivities } from './renew';
import { setupActivities } from './setup';

export type { ActivityContext } from './context';

/** Every activity the worker registers, bound to the worker's context. */
export function createActivities(ctx: ActivityContext) {
  return {
    ...lockActivities(ctx),
    ...notifyActivities(ctx),
    ...rekeyActivities(ctx),
    ...renewActivities(ctx),
    ...setupActivities(ctx),
    ...hardwareEncryptionActivities(ctx),
    ...certificateActivities(ctx),
    ...faultActivities(ctx),
    ...driveActivities(ctx),
    ...kmipCheckActivities(ctx),
    ...fleetActivities(ctx),
  };
}

/** The activity interface workflows proxy (`import type` only: workflows never load this code). */
export type Activities = ReturnType<typeof createActivities>;
