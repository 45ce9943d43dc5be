/**
 * What Temporal knows and the progress query cannot: an activity of the current step being retried
 * (its attempt and the error of the last one), read from the run's description (pendingActivities).
 */
import type { LoadedDataConverter } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import { Failure } from '../../workflows/failures';

/** One pending activity past its first attempt. */
export interface ActivityRetry {
  activityType: string;
  /** The attempt now running or scheduled (2 = the first retry). */
  attempt: number;
  /** The last attempt's failure, `message [type]`. */
  lastError?: string;
  /** When the next attempt starts (ISO 8601), while it waits for it. */
  nextAttemptAt?: string;
}

/** The parts of DescribeWorkflowExecutionResponse.pendingActivities read here. */
interface PendingActivity {
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  lastFailure?: { message?: string | null; applicationFailureInfo?: { type?: string | null } | null } | null;
  nextAttemptScheduleTime?: { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null;
}

/** "Not yet" answers of the waits: a poll's next look, not an error worth showing. */
const EXPECTED_RETRIES: ReadonlySet<string> = new Set([Failure.StillRunning, Failure.FaultStillPresent, Failure.WorkerStopping]);

function isoOf(ts: PendingActivity['nextAttemptScheduleTime']): string | undefined {
  if (!ts?.seconds) return undefined;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

/** Pending activities being retried after a failure (polls that found "not yet" left out). */
export function activityRetries(pending: readonly PendingActivity[] | null | undefined): ActivityRetry[] {
  const out: ActivityRetry[] = [];
  for (const activity of pending ?? []) {
    const attempt = activity.attempt ?? 1;
    const type = activity.lastFailure?.applicationFailureInfo?.type ?? undefined;
    if (attempt <= 1 || (type && EXPECTED_RETRIES.has(type))) continue;
    const message = activity.lastFailure?.message;
    out.push({
      activityType: activity.activityType?.name ?? 'activity',
      attempt,
      lastError: message ? `${message}${type ? ` [${type}]` : ''}` : undefined,
      nextAttemptAt: isoOf(activity.nextAttemptScheduleTime),
    });
  }
  return out;
}

/**
 * The pending activities with each last failure's message readable: with payload encryption on
 * (EKM_PAYLOAD_KEYS_FILE) the message travels encrypted in the failure's encoded attributes, and
 * the description holds only "Encoded failure"; decoded here with the client's data converter.
 */
export async function withDecodedFailures<P extends PendingActivity>(
  pending: readonly P[] | null | undefined,
  converter: LoadedDataConverter,
): Promise<P[]> {
  return Promise.all(
    (pending ?? []).map(async (activity) => {
      const failure = activity.lastFailure as Parameters<typeof decodeOptionalFailureToOptionalError>[1];
      if (!failure?.encodedAttributes) return activity;
      const error = await decodeOptionalFailureToOptionalError(converter, failure);
      return { ...activity, lastFailure: { ...activity.lastFailure, message: error?.message } };
    }),
  );
}
