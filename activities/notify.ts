import { ApplicationFailure } from '@temporalio/common';
import { Context, activityInfo } from '@temporalio/activity';
import type { RunbookEvent } from '../src/notify/notifier';
import type { ActivityContext } from './context';

/** How long one notification may take, retries included: a webhook that hangs costs no more. */
export const NOTIFICATION_BUDGET_MS = 20_000;

/** Whether a notification reached everyone it was for; never a failure (side effects never decide a run). */
export type NotificationOutcome = { delivered: true } | { delivered: false; error: string };

export function notifyActivities(ctx: ActivityContext) {
  return {
    /**
     * Tells people (log line, webhook) that a runbook waits for them, escalated or ended, within
     * NOTIFICATION_BUDGET_MS. A notification that cannot be delivered is logged here and returned as
     * such, for the runbook to record in its progress; it never throws.
     */
    async notify(event: Omit<RunbookEvent, 'workflowId' | 'runId' | 'at'>): Promise<NotificationOutcome> {
      const execution = activityInfo().workflowExecution;
      const signal = AbortSignal.any([Context.current().cancellationSignal, AbortSignal.timeout(NOTIFICATION_BUDGET_MS)]);
      try {
        await ctx.notifier.send(
          { ...event, workflowId: execution?.workflowId ?? '', runId: execution?.runId ?? '', at: new Date().toISOString() },
          { signal },
        );
        return { delivered: true };
      } catch (err) {
        const error =
          signal.aborted && !Context.current().cancellationSignal.aborted
            ? `not delivered within ${NOTIFICATION_BUDGET_MS / 1000}s: ${describe(err)}`
            : describe(err);
        Context.current().log.warn('notification not delivered', { kind: event.kind, error });
        return { delivered: false, error };
      }
    },
  };
}

function describe(err: unknown): string {
  if (err instanceof ApplicationFailure && err.type) return `${err.type}: ${err.message}`;
  if (err instanceof Error) return err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message;
  return String(err);
}
