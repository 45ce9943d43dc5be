import { WorkflowExecutionAlreadyStartedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { z } from 'zod';
import { EkmCluster, EkmRunbook } from '../temporal/search-attributes';
import { clusterLockWorkflowId, lockStateQuery } from '../../workflows/cluster-lock';
import type { LockHolder, RunbookName } from '../../workflows/definitions';
import { describeIssues } from '../../workflows/inputs';
import { CliError, ExitCode } from './exit-codes';
import { followRun } from './follow';
import { formatJson, runStartedJson, waitOutputJson } from './json-output';
import { checkKnownCluster } from './registry-check';
import { isUnreachable, type CliContext } from './temporal';

/** Validates the input with the runbook's own schema; a mistake exits 2 and starts nothing. */
export function validateInput<S extends z.ZodType>(schema: S, input: unknown): void {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new CliError(`invalid input: ${describeIssues(parsed.error)}`, ExitCode.usage);
}

export interface StartRequest {
  runbook: RunbookName;
  workflowType: string;
  workflowId: string;
  cluster: string;
  input: unknown;
  schema: z.ZodType;
}

const MUTATING: ReadonlySet<RunbookName> = new Set(['setup', 'rekey', 'recover-slice-service']);

/**
 * Another runbook changing the cluster: say so now, with exit code 4, rather than start a run
 * that fails on the cluster lock a moment later. Best effort: no answer in 3 s means go ahead
 * (the runbook's own lock still decides).
 */
async function refuseWhenLocked(ctx: CliContext, cluster: string): Promise<void> {
  let holder: LockHolder | undefined;
  try {
    const state = await ctx.client.withDeadline(Date.now() + 3000, () =>
      ctx.client.workflow.getHandle(clusterLockWorkflowId(cluster)).query(lockStateQuery),
    );
    holder = state.holder;
  } catch (err) {
    if (isUnreachable(err)) throw err;
    return;
  }
  if (holder) {
    throw new CliError(
      `cluster ${cluster} is busy: ${holder.runbook} runbook ${holder.workflowId} has been changing it since ${holder.since} ` +
        `(ekm status ${holder.workflowId}; or start with --if-busy wait to queue behind it)`,
      ExitCode.refused,
    );
  }
}

/** Starts a runbook under its per-cluster workflow id; a second start while one runs is refused clearly. */
export async function startRunbook(ctx: CliContext, request: StartRequest): Promise<WorkflowHandleWithFirstExecutionRunId> {
  validateInput(request.schema, request.input);
  checkKnownCluster(ctx.settings, request.cluster);
  if (MUTATING.has(request.runbook) && (request.input as { ifBusy?: string }).ifBusy !== 'wait') {
    await refuseWhenLocked(ctx, request.cluster);
  }
  try {
    return await ctx.client.workflow.start(request.workflowType, {
      workflowId: request.workflowId,
      taskQueue: ctx.settings.EKM_TASK_QUEUE,
      args: [request.input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      typedSearchAttributes: [
        { key: EkmCluster, value: request.cluster },
        { key: EkmRunbook, value: request.runbook },
      ],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(
        `a ${request.runbook} runbook is already running on cluster ${request.cluster} (${request.workflowId}); see: ekm status ${request.workflowId}`,
        ExitCode.refused,
      );
    }
    throw err;
  }
}

/**
 * After a start: print where to look, optionally follow to the end. Returns the exit code.
 * `resultSchema` is the runbook's result in the --wait --json output.
 */
export async function reportStarted(
  handle: WorkflowHandleWithFirstExecutionRunId,
  options: { wait?: boolean; json?: boolean },
  out: (line: string) => void,
  resultSchema: z.ZodType = z.unknown(),
): Promise<number> {
  const run = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
  if (!options.wait) {
    if (options.json) out(formatJson(runStartedJson, run));
    else out(`started ${run.workflowId} (run ${run.runId})\n  follow:  ekm status ${run.workflowId} --watch`);
    return ExitCode.ok;
  }
  const outcome = await followRun(handle, { quiet: options.json });
  if (options.json) {
    out(
      formatJson(waitOutputJson(resultSchema), {
        ...run,
        exitCode: outcome.exitCode,
        result: outcome.result,
        error: outcome.error,
        progress: outcome.progress,
      }),
    );
  } else if (outcome.error) {
    out(`FAILED: ${outcome.error}`);
  } else {
    out(`completed: ${JSON.stringify(outcome.result)}`);
  }
  return outcome.exitCode;
}
