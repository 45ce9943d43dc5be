import {
  Client,
  Connection,
  QueryNotRegisteredError,
  QueryRejectedError,
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { ekmDataConverter } from '../codec/data-converter';
import { endedRunMessage } from '../temporal/ended-run';
import { loadRuntimeSettings, temporalConnection, type RuntimeSettings } from '../config/runtime';
import { CliError, ExitCode } from './exit-codes';

export interface CliContext {
  settings: RuntimeSettings;
  client: Client;
  close(): Promise<void>;
  /** What the command is doing now, for the message when the time runs out. */
  doing: string;
  /** Set once something that changes a run was sent (an answer, a certificate). */
  sent?: { what: string; workflowId: string };
  /** Lifts the time bound (following a run to its end). */
  unbounded(): void;
  /** The command works without Temporal (a plan): a Temporal that is down does not end it. */
  temporalOptional?: boolean;
}

/**
 * A client with the same settings as the worker (environment variables). The connection is made
 * on first use, so a command checks its arguments before it needs Temporal.
 */
export function connect(timeoutMs: number): CliContext {
  const settings = loadRuntimeSettings();
  const connection = Connection.lazy({ ...temporalConnection(settings), connectTimeout: Math.min(5000, timeoutMs) });
  return {
    settings,
    client: new Client({ connection, namespace: settings.TEMPORAL_NAMESPACE, dataConverter: ekmDataConverter(settings) }),
    close: () => connection.close(),
    doing: `talking to Temporal at ${settings.TEMPORAL_ADDRESS}`,
    unbounded: () => undefined,
  };
}

/** True for errors that mean Temporal could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  for (
    let current = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
    current;
    current = current.cause as typeof current
  ) {
    if (current.code === 14) return true; // gRPC UNAVAILABLE
    if (typeof current.message === 'string' && /Failed to connect|ECONNREFUSED|No connection established/.test(current.message))
      return true;
  }
  return false;
}

/** A worker that polled this recently is taken to be alive (a long poll lasts about a minute). */
const POLLER_SEEN_WITHIN_MS = 90_000;

/**
 * Refuses, before anything is sent, when no worker polls the run's task queue: an answer or a
 * certificate would otherwise wait, unanswered, until one comes back (DescribeTaskQueue).
 */
export async function requireWorker(ctx: CliContext, taskQueue: string, consequence: string): Promise<void> {
  ctx.doing = `checking that a worker serves task queue ${taskQueue}`;
  const { pollers } = await ctx.client.workflowService.describeTaskQueue({
    namespace: ctx.settings.TEMPORAL_NAMESPACE,
    taskQueue: { name: taskQueue, kind: 1 /* TASK_QUEUE_KIND_NORMAL */ },
    taskQueueType: 1 /* TASK_QUEUE_TYPE_WORKFLOW */,
  });
  const now = Date.now();
  const alive = pollers.some((p) => {
    const seconds = Number(p.lastAccessTime?.seconds ?? 0);
    return now - seconds * 1000 < POLLER_SEEN_WITHIN_MS;
  });
  if (!alive) throw noWorker(taskQueue, consequence);
}

function noWorker(taskQueue: string, consequence: string, why = ''): CliError {
  return new CliError(`no worker is serving task queue ${taskQueue}${why}; ${consequence}`, ExitCode.unavailable);
}

/**
 * Runs a query (`call`) on a run of `taskQueue`; when no worker answers it (a worker that stopped
 * less than about 90 s ago still shows as polling, so requireWorker let it through), the refusal
 * says so in the words requireWorker uses instead of the SDK's 'Failed to query Workflow'. A
 * missing run, an unreachable Temporal and a query the workflow refused pass through unchanged.
 */
export async function queryWorker<T>(taskQueue: string, consequence: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const passThrough =
      !(err instanceof ServiceError) ||
      err instanceof WorkflowNotFoundError ||
      err instanceof QueryRejectedError ||
      err instanceof QueryNotRegisteredError ||
      isUnreachable(err);
    if (passThrough) throw err;
    throw noWorker(
      taskQueue,
      consequence,
      ' (the query was not answered: a worker that stopped less than about 90 s ago still shows as polling)',
    );
  }
}

/**
 * The run exists and a worker serves its task queue (queries and Updates need one); otherwise a
 * one-line refusal that says what did not happen (`consequence`). Returns the run's description.
 */
export async function reachRun(ctx: CliContext, handle: WorkflowHandle, consequence: string) {
  const description = await describeRun(ctx, handle);
  await requireWorker(ctx, description.taskQueue, consequence);
  return description;
}

export async function describeRun(ctx: CliContext, handle: WorkflowHandle) {
  ctx.doing = `looking up ${handle.workflowId}`;
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(`no run ${handle.workflowId}`, ExitCode.notFound);
    throw err;
  }
}

/** The words for a run an Update could not reach: it ended (how, when), or there is no such run. */
async function notRunning(handle: WorkflowHandle): Promise<CliError> {
  const description = await handle.describe().catch(() => undefined);
  if (description && description.status.name !== 'RUNNING')
    return new CliError(endedRunMessage(handle.workflowId, description), ExitCode.notFound);
  return new CliError(`no running run ${handle.workflowId}`, ExitCode.notFound);
}

/**
 * Sends an Update and maps its refusal to the runbook's own words (exit 4), a missing run to exit 3.
 */
export async function update<T>(fn: () => Promise<T>, handle: WorkflowHandle): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new CliError(`refused: ${err.cause?.message ?? err.message}`, ExitCode.refused);
    }
    if (err instanceof WorkflowNotFoundError) throw await notRunning(handle);
    const message = (err as Error).message;
    if (/rejected|validator/i.test(message)) throw new CliError(`refused: ${message}`, ExitCode.refused);
    throw err;
  }
}
