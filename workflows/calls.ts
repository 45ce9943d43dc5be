/**
 * How runbooks call their activities: the two kinds of activity options the project uses, so a
 * retry policy is decided once. Workflow-safe.
 */
import { proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PollSettings } from '../activities/async-jobs';

/**
 * Cluster calls. Transient faults are retried first where they happen (the client per call, the
 * activity body again: activities/transient.ts); what still fails an attempt is retried here for
 * about half an hour (2 s doubling to 1 min, 30 attempts) before the step fails or asks a person.
 * Permanent Element errors and refusals are non-retryable failures: they end it at once.
 */
export const CLUSTER_CALL_RETRY: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 30,
};

/** Activities that make one or a few cluster calls. */
export function clusterCalls(options: { timeoutMs: number; heartbeatTimeoutMs?: number; retry?: RetryPolicy }) {
  return proxyActivities<Activities>({
    startToCloseTimeout: options.timeoutMs,
    heartbeatTimeout: options.heartbeatTimeoutMs,
    retry: options.retry ?? CLUSTER_CALL_RETRY,
  });
}

/**
 * How long a wait's activity may go without a heartbeat before Temporal hands it to another
 * worker: waits look once per attempt (pollUntil) and heartbeat every second during the look, so
 * a worker killed during a look is replaced within this; between looks nothing runs on a worker.
 */
export const WAIT_HEARTBEAT_TIMEOUT_MS = 5_000;

/**
 * Activities that wait for the cluster (an async job, a state change): each attempt looks once and
 * hands back a retryable "still running" whose nextRetryDelay is the next pause; the retry is not
 * written to history, and between looks no activity sits on a worker (a worker killed or restarted
 * during the wait costs nothing: the next look goes to a live one). `deadlineMs` bounds the wait.
 */
export function pollingCalls(polling: PollSettings, options: { deadlineMs: number; heartbeatTimeoutMs?: number }) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: options.heartbeatTimeoutMs ?? WAIT_HEARTBEAT_TIMEOUT_MS,
    scheduleToCloseTimeout: options.deadlineMs,
    retry: { initialInterval: polling.initialIntervalMs, backoffCoefficient: 1 },
  });
}
