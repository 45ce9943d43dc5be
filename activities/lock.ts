import { WorkflowNotFoundError } from '@temporalio/client';
import { clusterLock, DEFAULT_LOCK_TIMING } from '../workflows/cluster-lock';
import { acquireLockSignal, workflowIds, type LockRequest } from '../workflows/contract';
import type { ActivityContext } from './context';

export function lockActivities(ctx: ActivityContext) {
  return {
    /** Asks the cluster's lock workflow for the lock, starting that workflow if it is not running. */
    async requestClusterLock(input: { cluster: string; request: LockRequest }): Promise<void> {
      await ctx.temporal.workflow.signalWithStart(clusterLock, {
        workflowId: workflowIds.clusterLock(input.cluster),
        taskQueue: ctx.taskQueue,
        args: [input.cluster, ctx.lockTiming ?? DEFAULT_LOCK_TIMING],
        signal: acquireLockSignal.definition,
        signalArgs: [input.request],
      });
    },

    /** Without a runId: the latest run of the workflow id. */
    async isWorkflowRunning(workflowId: string, runId?: string): Promise<boolean> {
      try {
        const description = await ctx.temporal.workflow.getHandle(workflowId, runId).describe();
        return description.status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
  };
}
