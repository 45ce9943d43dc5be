import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { ActivityContext } from './context';

/** A run a fleet follows without being its parent (attached, or started before a continue-as-new). */
export interface FollowedRun {
  workflowId: string;
  runId?: string;
}

/** How a followed run ended. */
export interface EndedRun extends FollowedRun {
  state: 'completed' | 'failed' | 'cancelled';
  error?: { name: string; message: string };
}

/** The failure's type name and message, from a failed run's result (ApplicationFailure type, else the class). */
function failureOf(err: unknown): { name: string; message: string } {
  let cause = err instanceof WorkflowFailedError ? err.cause : err;
  const message = (cause as Error | undefined)?.message ?? String(err);
  // The runbook's own failure type (Failure.*), which may be wrapped by an activity failure.
  for (let c = cause as { type?: string; cause?: unknown } | undefined; c; c = c.cause as typeof c) {
    if (typeof c.type === 'string' && c.type) return { name: c.type, message: (c as unknown as Error).message ?? message };
    cause = c;
  }
  return { name: (cause as Error | undefined)?.name ?? 'Error', message };
}

export function fleetActivities(ctx: ActivityContext) {
  /** One look at a run: undefined while it runs. */
  async function outcome(run: FollowedRun): Promise<EndedRun | undefined> {
    const handle = ctx.temporal.workflow.getHandle(run.workflowId, run.runId);
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        return { ...run, state: 'failed', error: { name: 'RunNotFound', message: `${run.workflowId} no longer exists` } };
      throw err;
    }
    if (status === 'RUNNING') return undefined;
    if (status === 'COMPLETED') return { ...run, state: 'completed' };
    if (status === 'CANCELED') return { ...run, state: 'cancelled' };
    if (status === 'CONTINUED_AS_NEW') {
      // Follow the chain: the latest run under the id.
      return outcome({ workflowId: run.workflowId });
    }
    try {
      await handle.result();
      return { ...run, state: 'completed' };
    } catch (err) {
      return { ...run, state: 'failed', error: failureOf(err) };
    }
  }

  return {
    /**
     * Waits (heartbeating, looking every `everyMs`) until at least one of the runs has ended, for
     * up to `windowMs`; returns the ended ones (an empty list when none ended in the window).
     */
    async awaitFollowedRuns(input: { runs: FollowedRun[]; everyMs: number; windowMs: number }): Promise<EndedRun[]> {
      const until = Date.now() + input.windowMs;
      for (;;) {
        const ended: EndedRun[] = [];
        for (const run of input.runs) {
          const end = await outcome(run);
          if (end) ended.push(end);
        }
        if (ended.length > 0 || Date.now() + input.everyMs > until) return ended;
        Context.current().heartbeat();
        await Context.current().sleep(input.everyMs);
      }
    },
  };
}
