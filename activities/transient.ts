/**
 * Transient Element faults that got past the client's own per-call retry (a change whose answer
 * may have been lost after the cluster ran it, or a fault that outlasted the client's tries).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { isRetryableElementError } from '../src/element';
import { Failure } from '../workflows/failures';

/** Runs of an activity body after its first, within one activity attempt. */
export const TRANSIENT_RERUNS = 4;
const FIRST_PAUSE_MS = 500;

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * Runs an activity body again, in the same attempt, when it failed with a transient Element fault
 * (isRetryableElementError): every body looks at the cluster before it changes anything (finds an
 * object by name, compares before modifying), as it must on a Temporal retry, so a second run does
 * nothing twice. This keeps a 30 % faulty API from using up the attempts a retry policy counts for
 * failures that matter (a key server that does not answer, say).
 *
 * Bounded: at most TRANSIENT_RERUNS more runs, pausing 0.5, 1, 2, 4 s, and none that would start
 * after half the attempt's startToCloseTimeout; then the fault goes to the activity's retry policy.
 * Outside an activity (no Context) fn runs once. Throws what the last run threw.
 */
export async function rerunOnTransient<T>(fn: () => Promise<T>): Promise<T> {
  const context = currentContext();
  const started = Date.now();
  const budgetMs = (context?.info.startToCloseTimeoutMs ?? 0) / 2;
  for (let rerun = 0; ; rerun++) {
    try {
      return await fn();
    } catch (err) {
      if (context?.cancellationDetails?.workerShutdown) throw handedBack(context);
      const pauseMs = FIRST_PAUSE_MS * 2 ** rerun;
      const tooLate = Date.now() - started + pauseMs > budgetMs;
      if (!context || rerun >= TRANSIENT_RERUNS || tooLate || !isRetryableElementError(err)) throw err;
      context.heartbeat();
      await context.sleep(pauseMs);
    }
  }
}

/**
 * The worker is stopping (SIGTERM) and cancelled this activity: a retryable failure with a short
 * nextRetryDelay, so another worker takes it up at once instead of after the retry policy's
 * interval (a cancellation would wait for it).
 */
export function handedBack(context: Context): ApplicationFailure {
  return ApplicationFailure.create({
    type: Failure.WorkerStopping,
    message: `${context.info.activityType} handed back: the worker is stopping`,
    nextRetryDelay: 100,
    category: ApplicationFailureCategory.BENIGN,
  });
}
