/**
 * A fleet run: one runbook over many clusters (`ekm-fleet-<runbook>-<id>`). It starts one child
 * runbook per cluster, through the runbook table, never more than the concurrency at once; each
 * child takes its own cluster lock. A run that ends failed counts against the error budget (a
 * transient failure retried inside a run does not); once more runs failed than the budget tolerates
 * it starts no more,
 * lets the running ones finish and ends `stopped-error-budget`, naming what was not started.
 * Children are abandoned on close, so they outlive a restart or a continue-as-new; runs it did not
 * start in this execution (already running when it came to them, or started before a
 * continue-as-new) are followed through an activity that looks at them.
 */
import { WorkflowExecutionAlreadyStartedError, type Workflow } from '@temporalio/common';
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  TemporalFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { EndedRun, FollowedRun } from '../activities/fleet';
import {
  fleetCancelSignal,
  fleetInput,
  fleetStatusQuery,
  inputForCluster,
  resolveErrorBudget,
  resolveLimit,
  type FleetCluster,
  type FleetInput,
  type FleetResult,
  type FleetStatus,
} from './contract';
import { parseInput } from './inputs';
import { now } from './progress';
import { runbooks, runbookStart } from './runbooks';

/** What a fleet carries into its next execution (continue-as-new) or into a resume. */
export interface FleetCarried {
  status: FleetStatus;
  /** Failures before a resume: the new budget counts the ones after it. */
  budgetBase: number;
  cancel?: { cancelRunning: boolean };
}

const FOLLOW_WINDOW_MS = 60_000;

export async function fleetRunbook(rawInput: FleetInput, carried?: FleetCarried): Promise<FleetResult> {
  const input = parseInput(fleetInput, rawInput);
  const total = input.clusters.length;
  const status: FleetStatus = carried?.status ?? {
    runbook: input.runbook,
    selector: input.selector,
    state: 'running',
    startedAt: now(),
    maxConcurrency: 0,
    maxErrors: 0,
    failed: 0,
    executions: 0,
    notes: [],
    clusters: input.clusters.map((cluster) => ({
      cluster,
      state: 'not-started' as const,
      workflowId: runbooks[input.runbook].workflowId(cluster),
    })),
  };
  status.executions += 1;
  status.state = 'running';
  status.maxConcurrency = resolveLimit(input.maxConcurrency, total);
  status.maxErrors = resolveErrorBudget(input.maxErrors, total);
  const budgetBase = carried?.budgetBase ?? 0;
  let cancel = carried?.cancel;
  let cancelSent = false;
  let changed = false;
  setHandler(fleetStatusQuery.definition, () => status);
  setHandler(fleetCancelSignal.definition, (request) => {
    cancel = { cancelRunning: request.cancelRunning || Boolean(cancel?.cancelRunning) };
    status.notes.push(
      `${now()}: cancelled${request.by ? ` by ${request.by}` : ''}: no more runbooks start` +
        (request.cancelRunning ? '; the running ones are cancelled' : '; the running ones finish'),
    );
    changed = true;
  });

  const { awaitFollowedRuns } = proxyActivities<Activities>({
    startToCloseTimeout: FOLLOW_WINDOW_MS + 60_000,
    heartbeatTimeout: Math.max(10_000, 3 * input.followEveryMs),
    retry: { initialInterval: '2s', maximumInterval: '30s' },
  });

  /** Children started by this execution, by cluster. */
  const children = new Set<string>();
  /** Runs this execution follows without being their parent. */
  const followed = new Map<string, FollowedRun>();
  for (const c of status.clusters)
    if (c.state === 'running' || c.state === 'attached') followed.set(c.cluster, { workflowId: c.workflowId, runId: c.runId });
  let following: CancellationScope | undefined;

  // The budget is the failures tolerated: the one after them stops the starting.
  const budgetReached = () => status.failed - budgetBase > status.maxErrors;
  const active = () => children.size + followed.size;
  const byCluster = new Map(status.clusters.map((c) => [c.cluster, c]));

  function childEnded(
    entry: FleetCluster,
    state: 'completed' | 'failed' | 'cancelled',
    error?: FleetCluster['error'],
    outcome?: string,
  ): void {
    children.delete(entry.cluster);
    ended(entry, state, error, outcome);
  }

  function ended(
    entry: FleetCluster,
    state: 'completed' | 'failed' | 'cancelled',
    error?: FleetCluster['error'],
    outcome?: string,
  ): void {
    entry.state = state;
    entry.endedAt = now();
    entry.error = error;
    if (outcome !== undefined) entry.outcome = outcome;
    if (state === 'failed') status.failed += 1;
    changed = true;
  }

  async function start(entry: FleetCluster): Promise<void> {
    const childInput = { requestedBy: input.requestedBy, ...inputForCluster(input.input, entry.cluster), cluster: entry.cluster };
    const options = runbookStart(input.runbook, childInput as never, { taskQueue: workflowInfo().taskQueue });
    entry.startedAt = now();
    try {
      const child = await startChild(runbooks[input.runbook].workflow as Workflow, {
        workflowId: options.workflowId,
        args: options.args,
        typedSearchAttributes: options.typedSearchAttributes,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
      entry.state = 'running';
      entry.runId = child.firstExecutionRunId;
      children.add(entry.cluster);
      void child.result().then(
        (result: unknown) => childEnded(entry, 'completed', undefined, outcomeOf(result)),
        (err: unknown) => (isCancellation(err) ? childEnded(entry, 'cancelled') : childEnded(entry, 'failed', failureOf(err))),
      );
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // The same runbook already runs on this cluster (by hand, a schedule): follow it, never start a second.
      entry.state = 'attached';
      followed.set(entry.cluster, { workflowId: entry.workflowId });
    }
  }

  /** --cancel-running: the children this fleet started are cancelled, once (runs it attached to are not its own). */
  function cancelRunningChildren(): void {
    if (cancelSent) return;
    cancelSent = true;
    for (const c of status.clusters)
      if (c.state === 'running')
        void getExternalWorkflowHandle(c.workflowId, c.runId)
          .cancel()
          .catch(() => undefined);
  }

  /** One look-out at a time for the followed runs; what ended is applied when it answers. */
  function follow(): void {
    if (following || followed.size === 0) return;
    const runs = [...followed.values()];
    const scope = new CancellationScope();
    following = scope;
    void scope
      .run(() => awaitFollowedRuns({ runs, everyMs: input.followEveryMs, windowMs: FOLLOW_WINDOW_MS }))
      .then(
        (ends: EndedRun[]) => {
          for (const end of ends) {
            const cluster = [...followed].find(([, run]) => run.workflowId === end.workflowId)?.[0];
            if (cluster === undefined) continue;
            followed.delete(cluster);
            ended(byCluster.get(cluster)!, end.state, end.error);
          }
        },
        () => undefined,
      )
      .finally(() => {
        if (following === scope) following = undefined;
        changed = true;
      });
  }

  for (;;) {
    const stopped = cancel !== undefined || budgetReached();
    const waiting = stopped ? [] : status.clusters.filter((c) => c.state === 'not-started');
    if (waiting.length === 0 && active() === 0) break;
    // Start what the concurrency allows, in the selection's order.
    const next = waiting.slice(0, Math.max(0, status.maxConcurrency - active()));
    if (next.length > 0) {
      await Promise.all(next.map(start));
      continue;
    }
    if (stopped) {
      status.state = 'stopping';
      if (cancel?.cancelRunning) cancelRunningChildren();
    }
    // Wait for a run to end (a child's result, the look-out's answer) or a signal.
    follow();
    changed = false;
    await condition(() => changed);

    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= input.continueAsNewAfterEvents) {
      following?.cancel();
      await condition(allHandlersFinished);
      await continueAsNew<typeof fleetRunbook>(rawInput, { status, budgetBase, cancel });
    }
  }

  status.state = cancel
    ? 'cancelled'
    : budgetReached() && status.clusters.some((c) => c.state === 'not-started')
      ? 'stopped-error-budget'
      : 'completed';
  status.endedAt = now();
  const notStarted = status.clusters.filter((c) => c.state === 'not-started').map((c) => c.cluster);
  if (status.state === 'stopped-error-budget')
    status.notes.push(
      `${now()}: stopped: error budget (${status.failed - budgetBase} failed, ${status.maxErrors} tolerated); not started: ${notStarted.join(', ')}`,
    );
  await condition(allHandlersFinished);
  return { state: status.state, notStarted, status, input: rawInput as Record<string, unknown> };
}

/** A failed child's failure type (Failure.*, an Element error name) and message. */
function failureOf(err: unknown): { name: string; message: string } {
  let current: unknown = err;
  while (current instanceof TemporalFailure && !(current instanceof ApplicationFailure) && current.cause) current = current.cause;
  if (current instanceof ApplicationFailure) return { name: current.type ?? 'ApplicationFailure', message: current.message };
  if (current instanceof Error) return { name: current.name, message: current.message };
  return { name: 'Error', message: String(current) };
}

/** The `outcome` a runbook's result names (the recoveries: `recovered`, `no-fault`), else undefined. */
function outcomeOf(result: unknown): string | undefined {
  const outcome = (result as { outcome?: unknown } | null | undefined)?.outcome;
  return typeof outcome === 'string' ? outcome.slice(0, 100) : undefined;
}
