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
 * Activities that wait for the cluster (an async job, a state change): each attempt polls for up
 * to `attemptWindowMs`, heartbeating, then hands back a retryable "still running" that the flat
 * retry policy brings back without a history event; `deadlineMs` bounds the whole wait.
 */
export function pollingCalls(polling: PollSettings, options: { deadlineMs: number; heartbeatTimeoutMs?: number }) {
  return proxyActivities<Activities>({
    startToCloseTimeout: polling.attemptWindowMs + 60_000,
    // A poll heartbeats at least every maxInterval; a dead worker is noticed after three missed ones.
    heartbeatTimeout: options.heartbeatTimeoutMs ?? Math.max(10_000, 3 * polling.maxIntervalMs),
    scheduleToCloseTimeout: options.deadlineMs,
    retry: { initialInterval: polling.initialIntervalMs, backoffCoefficient: 1 },
  });
}
