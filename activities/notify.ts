import { activityInfo } from '@temporalio/activity';
import type { RunbookEvent } from '../src/notify/notifier';
import type { ActivityContext } from './context';

export function notifyActivities(ctx: ActivityContext) {
  return {
    /** Tells people (log line, webhook) that a runbook waits for them, escalated or ended. */
    async notify(event: Omit<RunbookEvent, 'workflowId' | 'runId' | 'at'>): Promise<void> {
      const execution = activityInfo().workflowExecution;
      await ctx.notifier.send({
        ...event,
        workflowId: execution?.workflowId ?? '',
        runId: execution?.runId ?? '',
        at: new Date().toISOString(),
      });
    },
  };
}
