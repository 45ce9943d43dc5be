import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ElementClient } from '../src/element';
import type { JsonObject } from '../src/element/objects';

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

export const STILL_RUNNING = 'AsyncJobStillRunning';

/**
 * Polls GetAsyncResult with keepResult (so a retry after a crash can still read a finished
 * result), heartbeating each poll. Returns the job's result; a job that failed becomes a
 * non-retryable failure carrying the Element error name and message.
 */
export async function pollAsyncJob(client: ElementClient, handle: number, settings: PollSettings): Promise<JsonObject> {
  const context = Context.current();
  const started = Date.now();
  let interval = settings.initialIntervalMs;
  for (let poll = 1; ; poll++) {
    const answer = await client.call(
      'GetAsyncResult',
      { asyncHandle: handle, keepResult: true },
      { signal: context.cancellationSignal },
    );
    if (answer.status === 'complete') {
      if (answer.error !== undefined) {
        throw ApplicationFailure.nonRetryable(
          `async job ${handle} (${answer.resultType}) failed: ${answer.error.name}: ${answer.error.message}`,
          answer.error.name,
          answer.error,
        );
      }
      return answer.result;
    }
    context.heartbeat({ poll, details: answer.details });
    if (Date.now() - started + interval > settings.attemptWindowMs) {
      throw ApplicationFailure.create({
        type: STILL_RUNNING,
        message: `async job ${handle} (${answer.resultType}) is still running`,
        nextRetryDelay: interval,
      });
    }
    await context.sleep(interval);
    interval = Math.min(interval * 2, settings.maxIntervalMs);
  }
}
