import {
  WorkflowExecutionAlreadyStartedError,
  type Workflow,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { z } from 'zod';
import { lockStateQuery, workflowIds, type LockHolder, type RunbookName } from '../../workflows/contract';
import { describeIssues } from '../../workflows/inputs';
import { runbooks, runbookStart, type RunbookInput, type Runbooks } from '../../workflows/runbooks';
import { CliError, ExitCode } from './exit-codes';
import { followRun } from './follow';
import { formatJson, runStartedJson, waitOutputJson } from './json-output';
import { checkKnownCluster } from './registry-check';
import { isUnreachable, type CliContext } from './temporal';

/** Validates the input with the runbook's own schema; a mistake exits 2 and starts nothing. */
export function validateInput(schema: z.ZodType, input: unknown, flags: Readonly<Record<string, string>> = {}): void {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new CliError(`invalid input: ${describeIssues(parsed.error, flags)}`, ExitCode.usage);
}

/** A runbook to start: its name in the runbook table and its input. */
export interface StartRequest<R extends RunbookName = RunbookName> {
  runbook: R;
  input: RunbookInput<R>;
  /** The command's flag for each input field, so a refusal names what the operator typed. */
  flags?: Readonly<Record<string, string>>;
}

/**
 * Another runbook changing the cluster: say so now, with exit code 4, rather than start a run
 * that fails on the cluster lock a moment later. Best effort: no answer in 3 s means go ahead
 * (the runbook's own lock still decides).
 */
async function refuseWhenLocked(ctx: CliContext, cluster: string, workflowId: string): Promise<void> {
  let holder: LockHolder | undefined;
  try {
    const state = await ctx.client.withDeadline(Date.now() + 3000, () =>
      ctx.client.workflow.getHandle(workflowIds.clusterLock(cluster)).query(lockStateQuery.definition),
    );
    holder = state.holder;
  } catch (err) {
    if (isUnreachable(err)) throw err;
    return;
  }
  if (holder?.workflowId === workflowId) {
    // The same runbook holds it: queueing behind itself is no way out.
    throw new CliError(
      `a ${holder.runbook} runbook is already running on cluster ${cluster} (${workflowId}, since ${holder.since}); see: ekm status ${workflowId}`,
      ExitCode.refused,
    );
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
export async function startRunbook<R extends RunbookName>(
  ctx: CliContext,
  request: StartRequest<R>,
): Promise<WorkflowHandleWithFirstExecutionRunId<Runbooks[R]['workflow']>> {
  const runbook = runbooks[request.runbook];
  const cluster = (request.input as { cluster: string }).cluster;
  validateInput(runbook.input, request.input, request.flags);
  // A signer named in the clusters file: the runbook's own, or the one the watcher's renewals use.
  type Signer = { type: string; name?: string };
  const given = request.input as { signer?: Signer; renewal?: { signer?: Signer } };
  const signer = given.signer ?? given.renewal?.signer;
  checkKnownCluster(ctx.settings, cluster, signer?.type === 'command' ? signer.name : undefined, { names: request.flags });
  ctx.doing = `starting the ${request.runbook} runbook on cluster ${cluster}`;
  const options = runbookStart(request.runbook, request.input, { taskQueue: ctx.settings.EKM_TASK_QUEUE });
  if (runbook.mutating && (request.input as { ifBusy?: string }).ifBusy !== 'wait')
    await refuseWhenLocked(ctx, cluster, options.workflowId);
  ctx.sent = { what: `the start of the ${request.runbook} runbook`, workflowId: options.workflowId };
  try {
    const handle = await ctx.client.workflow.start(runbook.workflow as Workflow, {
      ...options,
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    ctx.sent = undefined;
    return handle;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(
        `a ${request.runbook} runbook is already running on cluster ${cluster} (${options.workflowId}); see: ekm status ${options.workflowId}`,
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
  ctx: CliContext,
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
  ctx.unbounded();
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
