/**
 * What Temporal knows that the cluster does not, for a plan: the same runbook already running on
 * the cluster (a start is refused: one of each runbook per cluster) and another runbook holding the
 * cluster lock (a mutating start is refused with --if-busy fail, queued with wait). A plan needs
 * neither Temporal nor a worker, so this is best effort within LOOK_MS: what could not be looked
 * at is said as a fact, never guessed.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { lockStateQuery, workflowIds, type PlanRefusal, type RunbookName } from '../../workflows/contract';
import { Failure } from '../../workflows/failures';
import { runbooks } from '../../workflows/runbooks';
import { unreachableBecause } from '../temporal/reachability';
import { isUnreachable, type CliContext } from './temporal';

const LOOK_MS = 3000;

export interface TemporalView {
  refusals: PlanRefusal[];
  facts: string[];
}

/**
 * Looks up `runbook`'s run on `cluster` and the cluster lock. `ifBusy` is the run's own setting
 * ('fail' by default); `running: 'attach'` for a fleet, which attaches to a run already there
 * instead of starting another. Never throws for Temporal being away: returns a fact saying so.
 */
export async function temporalView(
  ctx: CliContext,
  runbook: RunbookName,
  cluster: string,
  ifBusy: 'fail' | 'wait' = 'fail',
  running: 'refuse' | 'attach' = 'refuse',
): Promise<TemporalView> {
  const view: TemporalView = { refusals: [], facts: [] };
  const workflowId = runbooks[runbook].workflowId(cluster);
  const within = <T>(fn: () => Promise<T>) => ctx.client.withDeadline(Date.now() + LOOK_MS, fn);
  try {
    const run = await within(() => ctx.client.workflow.getHandle(workflowId).describe());
    if (run.status.name === 'RUNNING' && running === 'attach') {
      view.facts.push(`a ${runbook} runbook already runs on ${cluster} (${workflowId}): the fleet would attach to it`);
      return view;
    }
    if (run.status.name === 'RUNNING') {
      view.refusals.push({
        type: 'AlreadyRunning',
        message: `a ${runbook} runbook is already running on cluster ${cluster} (${workflowId}, since ${run.startTime.toISOString()}): a second start is refused; see ekm status ${workflowId}`,
        retryable: false,
      });
    }
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) {
      const lock = runbooks[runbook].mutating ? ' or another holds its cluster lock' : '';
      view.facts.push(await notLookedAt(ctx, err, `whether a ${runbook} runbook already runs on ${cluster}${lock}`, false));
      return view;
    }
  }
  if (!runbooks[runbook].mutating) return view;
  try {
    const lock = await within(() =>
      ctx.client.workflow.getHandle(workflowIds.clusterLock(cluster)).query(lockStateQuery.definition),
    );
    const holder = lock.holder;
    if (holder && holder.workflowId !== workflowId) {
      const held = `${holder.runbook} runbook ${holder.workflowId} holds the cluster lock since ${holder.since}`;
      if (ifBusy === 'wait') view.facts.push(`${held}: the run would queue behind it (--if-busy wait)`);
      else
        view.refusals.push({
          type: Failure.ClusterBusy,
          message: `cluster ${cluster} is busy: ${held}; start with --if-busy wait to queue behind it`,
          retryable: false,
        });
    }
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError))
      view.facts.push(await notLookedAt(ctx, err, `the cluster lock of ${cluster}`, true));
  }
  return view;
}

/** `viaWorker`: the answer comes from a query, which a worker must serve. */
async function notLookedAt(ctx: CliContext, err: unknown, what: string, viaWorker: boolean): Promise<string> {
  const address = ctx.settings.TEMPORAL_ADDRESS;
  const refused = await unreachableBecause(address, 1000);
  const why =
    refused !== undefined || isUnreachable(err)
      ? `Temporal at ${address} could not be reached${refused ? `: ${refused}` : ''}`
      : `Temporal at ${address} did not answer within ${LOOK_MS / 1000} s${viaWorker ? ' (a query needs a worker)' : ''}`;
  return `not checked: ${what} (${why})`;
}
