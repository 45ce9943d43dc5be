import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { Failure } from '../workflows/failures';
import { ElementApiError, type ElementClient } from '../src/element';
import type { JsonObject } from '../src/element/objects';

/**
 * What GetAsyncResult answers for a handle it does not hold: never issued, or a finished result
 * already purged (read once without keepResult, by someone else). The first is seen on clusters,
 * the second documented.
 */
export const ASYNC_HANDLE_GONE_NAMES: ReadonlySet<string> = new Set(['xAsyncHandleDoesNotExist', 'xDBNoSuchPath']);

export function isAsyncHandleGone(err: unknown): err is ElementApiError {
  return err instanceof ElementApiError && ASYNC_HANDLE_GONE_NAMES.has(err.name);
}

export interface PollSettings {
  /** Pause after the first look; it doubles per look up to maxIntervalMs. */
  initialIntervalMs: number;
  maxIntervalMs: number;
  /**
   * Accepted for older inputs; no longer used: each activity attempt looks once (pollUntil).
   * @deprecated
   */
  attemptWindowMs: number;
}

export const DEFAULT_POLL: PollSettings = { initialIntervalMs: 1000, maxIntervalMs: 30_000, attemptWindowMs: 5 * 60_000 };

/** The pause before look `attempt` + 1 (attempt 1 is the first look): doubling from initialIntervalMs up to maxIntervalMs. */
export function nextPollDelayMs(settings: Pick<PollSettings, 'initialIntervalMs' | 'maxIntervalMs'>, attempt: number): number {
  const doublings = Math.min(Math.max(0, attempt - 1), 30);
  return Math.min(settings.initialIntervalMs * 2 ** doublings, settings.maxIntervalMs);
}

/**
 * One look per activity attempt: `check` runs once (heartbeating every second meanwhile, so a
 * worker that dies during the call is noticed within the activity's short heartbeatTimeout); a
 * value is returned, else a retryable "still running" failure whose nextRetryDelay is the next
 * pause (nextPollDelayMs of the attempt number). Temporal keeps the pause on its side, so between
 * looks no activity sits on any worker: a killed or restarted worker costs nothing, and the next
 * look goes to whichever worker is alive. Retries are not written to history, so a job of hours
 * costs the events of a job of seconds.
 */
export async function pollUntil<T>(
  settings: PollSettings,
  stillRunning: string,
  check: (signal: AbortSignal) => Promise<{ done: true; value: T } | { done: false; progress?: unknown }>,
): Promise<T> {
  const context = Context.current();
  context.heartbeat();
  const beat = setInterval(() => context.heartbeat(), 1000);
  let outcome;
  try {
    outcome = await check(context.cancellationSignal);
  } finally {
    clearInterval(beat);
  }
  if (outcome.done) return outcome.value;
  const delayMs = nextPollDelayMs(settings, context.info.attempt);
  throw ApplicationFailure.create({
    type: Failure.StillRunning,
    message: stillRunning,
    nextRetryDelay: delayMs,
    details: outcome.progress === undefined ? [] : [outcome.progress],
    category: ApplicationFailureCategory.BENIGN,
  });
}

/**
 * Polls GetAsyncResult with keepResult (so a retry after a crash can still read a finished
 * result). Returns the job's result; a job that failed becomes a non-retryable failure carrying
 * the Element error name and message; a handle the cluster no longer holds is `gone` (its caller
 * decides from the cluster's state what the job did).
 */
export async function pollAsyncJobOrGone(
  client: ElementClient,
  handle: number,
  settings: PollSettings,
): Promise<{ result: JsonObject } | { gone: ElementApiError }> {
  type Outcome = { result: JsonObject } | { gone: ElementApiError };
  return pollUntil<Outcome>(settings, `async job ${handle} is still running`, async (signal) => {
    let answer;
    try {
      answer = await client.call('GetAsyncResult', { asyncHandle: handle, keepResult: true }, { signal });
    } catch (err) {
      if (isAsyncHandleGone(err)) return { done: true, value: { gone: err } };
      throw err;
    }
    if (answer.status === 'running') return { done: false, progress: answer.details };
    if (answer.error !== undefined) {
      throw ApplicationFailure.nonRetryable(
        `async job ${handle} (${answer.resultType}) failed: ${answer.error.name}: ${answer.error.message}`,
        answer.error.name,
        answer.error,
      );
    }
    return { done: true, value: { result: answer.result } };
  });
}

/** pollAsyncJobOrGone for jobs whose outcome nothing else tells: a handle gone is the Element error. */
export async function pollAsyncJob(client: ElementClient, handle: number, settings: PollSettings): Promise<JsonObject> {
  const outcome = await pollAsyncJobOrGone(client, handle, settings);
  if ('gone' in outcome) throw outcome.gone;
  return outcome.result;
}
