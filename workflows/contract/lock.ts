/** The cluster lock: one mutating runbook per cluster (workflows/cluster-lock.ts). Workflow-safe. */
import { z } from 'zod';
import { runbookName } from './ids';
import { isoTime, query, signal } from './messages';

export const lockHolder = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  runbook: runbookName,
  since: isoTime,
});
export type LockHolder = z.infer<typeof lockHolder>;

export const lockRequest = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  runbook: runbookName,
  /** 'fail': refuse at once when another runbook holds the lock; 'wait': queue. */
  ifBusy: z.enum(['fail', 'wait']),
});
export type LockRequest = z.infer<typeof lockRequest>;

export const lockState = z.strictObject({ holder: lockHolder.optional(), queue: z.array(lockRequest) });
export type LockState = z.infer<typeof lockState>;

const runRef = z.strictObject({ workflowId: z.string(), runId: z.string() });

export const acquireLockSignal = signal('acquire', lockRequest);
export const releaseLockSignal = signal('release', runRef);
export const lockStateQuery = query('lockState', lockState);
/** The lock tells a waiting runbook it may go on, or that the cluster is busy. */
export const lockGrantedSignal = signal('clusterLockGranted', z.strictObject({ lockRunId: z.string() }));
export const lockDeniedSignal = signal('clusterLockDenied', z.strictObject({ holder: lockHolder }));
