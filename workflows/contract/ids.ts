/** The runbooks by name and the workflow ids derived from them. Workflow-safe. */
import { z } from 'zod';

export const runbookName = z.enum([
  'setup',
  'rekey',
  'recover-kmip-server-fault',
  'recover-slice-service',
  'fault-watcher',
  'renew',
]);
export type RunbookName = z.infer<typeof runbookName>;

/** One of each runbook per cluster at a time: the id is derived from the runbook and the cluster. */
export const workflowIds = {
  setup: (cluster: string) => `ekm-setup-${cluster}`,
  rekey: (cluster: string) => `ekm-rekey-${cluster}`,
  /** Schedules append the scheduled time to this. */
  scheduledRekey: (cluster: string) => `ekm-scheduled-rekey-${cluster}`,
  'recover-kmip-server-fault': (cluster: string) => `ekm-recover-kmip-${cluster}`,
  'recover-slice-service': (cluster: string) => `ekm-recover-slice-${cluster}`,
  'fault-watcher': (cluster: string) => `ekm-watch-${cluster}`,
  renew: (cluster: string) => `ekm-renew-${cluster}`,
  clusterLock: (cluster: string) => `ekm-lock-${cluster}`,
  rekeySchedule: (cluster: string) => `ekm-rekey-schedule-${cluster}`,
};
