/**
 * Plans: what a runbook would do on a cluster as it is now, without doing it (`ekm … --plan`, the
 * fleet command, a web console). One entry point, `planFor(runbook, input, { registry })`:
 *
 *  1. the input is validated with the runbook's own schema (defaults applied), as a start would;
 *  2. the cluster is read by the runbook's own reader (readSetupState, readRekeyState,
 *     readRenewalState, readKmipRecoveryState, readSliceRecoveryState), through a client that
 *     refuses any call but a read (readOnlyCall: Get*, List*, GetAsyncResult with keepResult):
 *     no Test* (they contact the key server), nothing that changes the cluster;
 *  3. the plan is a function of what was read and the input (planSetup, planRekey, planRenew,
 *     planRecoverKmip, planRecoverSlice: no I/O), using the runbooks' own prechecks for the
 *     refusals and their step tables for the step ids; checked against `runbookPlan`.
 *
 * A plan starts no runbook, takes no lock and needs neither Temporal nor a worker. The CLI reads
 * the cluster's credentials from the same clusters file and secret references as the worker.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { elementClientFor } from '../../activities/element';
import { readRekeyState } from '../../activities/rekey';
import { readRenewalState, type RenewalClusterState } from '../../activities/renew';
import { readSetupState } from '../../activities/setup';
import { readKmipRecoveryState } from '../../activities/faults';
import { readSliceRecoveryState } from '../../activities/drives';
import type { ClusterRegistry } from '../config/clusters';
import type { ElementClient } from '../element';
import { readOnlyCall, runbookPlan, type RunbookName, type RunbookPlan } from '../../workflows/contract';
import { describeIssues, rekeyInput, setupInput, type RekeyInput, type SetupInput } from '../../workflows/inputs';
import {
  recoverKmipInput,
  recoverSliceInput,
  type RecoverKmipInput,
  type RecoverSliceInput,
} from '../../workflows/inputs-recovery';
import { renewInput, type RenewInput } from '../../workflows/inputs-renew';
import { planRecoverKmip, planRecoverSlice } from './recover-plan';
import { planRekey, rekeyTarget } from './rekey-plan';
import { planRenew, renewPrecheckInput } from './renew-plan';
import { planSetup, setupPrecheckInput } from './setup-plan';

export { planRecoverKmip, planRecoverSlice } from './recover-plan';
export { planRekey } from './rekey-plan';
export { planRenew } from './renew-plan';
export { planSetup } from './setup-plan';

/** The runbooks that have a plan (the fault watcher starts the others; it has none of its own). */
export type PlannableRunbook = Exclude<RunbookName, 'fault-watcher'>;
export const PLANNABLE_RUNBOOKS: readonly PlannableRunbook[] = [
  'setup',
  'rekey',
  'renew',
  'recover-kmip-server-fault',
  'recover-slice-service',
];

/** The raw input of each runbook (what a start takes: durations as text, defaults not yet applied). */
export interface PlanInputs {
  setup: SetupInput;
  rekey: RekeyInput;
  renew: RenewInput;
  'recover-kmip-server-fault': RecoverKmipInput;
  'recover-slice-service': RecoverSliceInput;
}

const INPUT_SCHEMAS: Record<PlannableRunbook, z.ZodType> = {
  setup: setupInput,
  rekey: rekeyInput,
  renew: renewInput,
  'recover-kmip-server-fault': recoverKmipInput,
  'recover-slice-service': recoverSliceInput,
};

/** The input does not pass the runbook's schema: `message` names each field (or flag) and what is wrong. */
export class PlanInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanInputError';
  }
}

/** The plan made a call that is not a read (a bug): refused before it reached the cluster. */
export class PlanCallRefused extends Error {
  constructor(method: string) {
    super(`a plan only reads: ${method} was not sent to the cluster`);
    this.name = 'PlanCallRefused';
  }
}

/**
 * The client, refusing every call that is not a read (readOnlyCall) before it is sent, and
 * recording the method of each call it lets through in `readWith`.
 */
export function readOnlyClient(client: ElementClient, readWith: string[]): ElementClient {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'call') {
        return (method: string, ...args: unknown[]) => {
          if (!readOnlyCall(method, args[0])) return Promise.reject(new PlanCallRefused(method));
          readWith.push(method);
          return (target.call as (m: string, ...a: unknown[]) => Promise<unknown>).call(target, method, ...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface PlanOptions {
  /** The clusters file: where the cluster is and the references to its credentials. */
  registry: ClusterRegistry;
  /** A client of the caller's to read with (not closed here); by default one is opened from the registry. */
  client?: ElementClient;
  /** The time the plan is made at (certificate validity): now by default. */
  now?: Date;
  /** Flag names for input refusals (the CLI's), by input field path. */
  flags?: Readonly<Record<string, string>>;
}

/** A validated input, with the runbook's defaults; PlanInputError naming the fields otherwise. */
export function validatePlanInput(
  runbook: PlannableRunbook,
  input: unknown,
  flags: Readonly<Record<string, string>> = {},
): unknown {
  const parsed = INPUT_SCHEMAS[runbook].safeParse(input);
  if (!parsed.success) throw new PlanInputError(`invalid input: ${describeIssues(parsed.error, flags)}`);
  return parsed.data;
}

/**
 * What `runbook` would do on the input's cluster now, read-only (see the module comment).
 * Errors: PlanInputError (input), ConfigError (unknown cluster, a credential that cannot be read:
 * named by its setting, never shown), ElementError (the cluster did not answer a read).
 * A refusal is not an error: the plan says couldStart false and names it.
 */
export async function planFor<R extends PlannableRunbook>(
  runbook: R,
  input: PlanInputs[R],
  options: PlanOptions,
): Promise<RunbookPlan> {
  const valid = validatePlanInput(runbook, input, options.flags) as { cluster: string };
  const cluster = valid.cluster;
  const client = options.client ?? elementClientFor(options.registry, cluster);
  const readWith: string[] = [];
  const reader = readOnlyClient(client, readWith);
  try {
    const plan = await planWith(runbook, cluster, valid, reader, readWith, options.now ?? new Date());
    return runbookPlan.parse(plan);
  } finally {
    if (!options.client) await client.close();
  }
}

async function planWith(
  runbook: PlannableRunbook,
  cluster: string,
  valid: unknown,
  client: ElementClient,
  readWith: string[],
  now: Date,
): Promise<RunbookPlan> {
  switch (runbook) {
    case 'setup': {
      const input = valid as z.output<typeof setupInput>;
      return planSetup(cluster, await readSetupState(client, setupPrecheckInput(input)), input, readWith, now);
    }
    case 'rekey': {
      const input = valid as z.output<typeof rekeyInput>;
      return planRekey(cluster, await readRekeyState(client, rekeyTarget(input)), input, readWith, now);
    }
    case 'renew': {
      const input = valid as z.output<typeof renewInput>;
      let state: RenewalClusterState | undefined;
      let refused: unknown;
      try {
        state = await readRenewalState(client, renewPrecheckInput(input).provider);
      } catch (err) {
        if (!(err instanceof ApplicationFailure)) throw err;
        refused = err;
      }
      return planRenew(cluster, state, refused, input, readWith, now);
    }
    case 'recover-kmip-server-fault':
      return planRecoverKmip(
        cluster,
        await readKmipRecoveryState(client),
        valid as z.output<typeof recoverKmipInput>,
        readWith,
        now,
      );
    case 'recover-slice-service':
      return planRecoverSlice(
        cluster,
        await readSliceRecoveryState(client),
        valid as z.output<typeof recoverSliceInput>,
        readWith,
        now,
      );
  }
}
