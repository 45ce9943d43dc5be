import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { progressQuery, type RunbookProgress } from '../../workflows/contract';
import { Failure } from '../../workflows/failures';
import { ExitCode } from './exit-codes';
import { renderProgress, riskBannerLines } from './render';

/** Result of following a run to its end. */
export interface FollowOutcome {
  exitCode: number;
  progress?: RunbookProgress;
  result?: unknown;
  error?: string;
}

/** A run that ended because the cluster was busy or its input was bad gets the exit code a refused start would. */
function failureExitCode(err: unknown): number {
  const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
  if (cause instanceof ApplicationFailure && cause.type === Failure.ClusterBusy) return ExitCode.refused;
  if (cause instanceof ApplicationFailure && cause.type === Failure.InvalidInput) return ExitCode.usage;
  return ExitCode.runbookFailed;
}

/**
 * What ended a failed run, in the runbook's words: the innermost failure with its type
 * (`KeyPairMismatch: key server 21 ...`). A failure an activity raised reaches the client wrapped
 * in an ActivityFailure whose own message is the SDK's "Activity task failed", which `--wait`
 * printed as the reason.
 */
export function runFailureMessage(err: unknown): string {
  if (!(err instanceof WorkflowFailedError)) return (err as Error).message;
  let failure: Error | undefined = err.cause;
  while ((failure instanceof ActivityFailure || failure instanceof ChildWorkflowFailure) && failure.cause)
    failure = failure.cause;
  if (!failure) return err.message;
  return failure instanceof ApplicationFailure && failure.type ? `${failure.type}: ${failure.message}` : failure.message;
}

async function queryProgress(handle: WorkflowHandle): Promise<RunbookProgress | undefined> {
  try {
    return await handle.query(progressQuery.definition);
  } catch {
    return undefined; // not started yet, or no worker: try again
  }
}

function stepLine(progress: RunbookProgress): string {
  const step = progress.steps.find((s) => s.id === progress.currentStep);
  const waiting = progress.waiting ? ` — waiting: ${progress.waiting.prompt}` : '';
  return `${progress.state}${step ? ` · ${step.id} (${step.state})` : ''}${waiting}`;
}

/**
 * Prints progress until the run ends: a redrawn table on a terminal, one line per change
 * otherwise (logs, CI). Returns the exit code the CLI should use.
 */
export async function followRun(
  handle: WorkflowHandle,
  options: { intervalMs?: number; out?: NodeJS.WriteStream; quiet?: boolean } = {},
): Promise<FollowOutcome> {
  const out = options.out ?? process.stderr;
  const interactive = Boolean(out.isTTY) && !options.quiet;
  let last = '';
  let done = false;
  let outcome: FollowOutcome = { exitCode: ExitCode.ok };
  const finished = handle
    .result()
    .then((result) => {
      outcome = { exitCode: ExitCode.ok, result };
    })
    .catch((err: unknown) => {
      outcome = { exitCode: failureExitCode(err), error: runFailureMessage(err) };
    })
    .finally(() => {
      done = true;
    });
  while (!done) {
    const progress = await queryProgress(handle);
    if (progress && !options.quiet) {
      if (interactive) {
        const table = renderProgress(progress, { workflowId: handle.workflowId }, Date.now(), { color: true });
        if (table !== last) out.write(`\x1b[2J\x1b[H${table}\n`);
        last = table;
      } else {
        // A banner gets its own line: run into the step's text it reads as part of the step.
        const lines = [...riskBannerLines(progress), stepLine(progress)];
        const text = lines.join('\n');
        const stamp = `[${new Date().toISOString()}] ${handle.workflowId}:`;
        if (text !== last) out.write(lines.map((line) => `${stamp} ${line}\n`).join(''));
        last = text;
      }
    }
    await Promise.race([finished, new Promise((r) => setTimeout(r, options.intervalMs ?? 1000))]);
  }
  await finished;
  outcome.progress = await queryProgress(handle);
  if (outcome.progress && !options.quiet) out.write(`${renderProgress(outcome.progress, { workflowId: handle.workflowId })}\n`);
  return outcome;
}
