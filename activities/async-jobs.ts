import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
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
  /** First pause between polls; it doubles up to maxIntervalMs. */
  initialIntervalMs: number;
  maxIntervalMs: number;
  /**
   * How long one activity attempt polls before handing back with a retryable "still running".
   * The retry is not written to history, so a job of hours costs the events of a job of seconds.
   */
  attemptWindowMs: number;
}

export const DEFAULT_POLL: PollSettings = { initialIntervalMs: 1000, maxIntervalMs: 30_000, attemptWindowMs: 5 * 60_000 };

/**
 * Polls `check` until it returns a value, heartbeating each poll and doubling the pause up to
 * maxIntervalMs. After attemptWindowMs it hands back a retryable "still running" failure: the
 * activity's retry policy (flat, not recorded in history) brings it back.
 */
export async function pollUntil<T>(
  settings: PollSettings,
  stillRunning: string,
  check: (signal: AbortSignal) => Promise<{ done: true; value: T } | { done: false; progress?: unknown }>,
): Promise<T> {
  const context = Context.current();
  const started = Date.now();
  let interval = settings.initialIntervalMs;
  for (let poll = 1; ; poll++) {
    const outcome = await check(context.cancellationSignal);
    if (outcome.done) return outcome.value;
    context.heartbeat({ poll, progress: outcome.progress });
    if (Date.now() - started + interval > settings.attemptWindowMs) {
      throw ApplicationFailure.create({ type: Failure.StillRunning, message: stillRunning, nextRetryDelay: interval });
    }
    await context.sleep(interval);
    interval = Math.min(interval * 2, settings.maxIntervalMs);
  }
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
