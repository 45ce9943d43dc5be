import type { Client, Workflow, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { RunbookName } from '../../workflows/contract';
import { runbooks, runbookStart, type RunbookInput, type RunbookResult } from '../../workflows/runbooks';

/**
 * Starts a runbook the way the CLI does (the runbook table: function reference, checked input,
 * search attributes); tests give their own workflow id when they run several at once.
 */
export async function startRunbook<R extends RunbookName>(
  client: Client,
  runbook: R,
  input: RunbookInput<R>,
  options: { taskQueue: string; workflowId?: string },
): Promise<WorkflowHandleWithFirstExecutionRunId & { result(): Promise<RunbookResult<R>> }> {
  return client.workflow.start(runbooks[runbook].workflow as Workflow, runbookStart(runbook, input, options));
}

/** Starts a runbook and waits for its result (rejects with WorkflowFailedError when it fails). */
export async function executeRunbook<R extends RunbookName>(
  client: Client,
  runbook: R,
  input: RunbookInput<R>,
  options: { taskQueue: string; workflowId?: string },
): Promise<RunbookResult<R>> {
  return (await startRunbook(client, runbook, input, options)).result();
}
