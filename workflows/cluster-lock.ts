/**
 * One mutating runbook per cluster. A small workflow per cluster (id `ekm-lock-<cluster>`) holds
 * the lock and a FIFO queue; runbooks ask for it through an activity (signal-with-start), wait
 * for a grant signal, and release it when they end. A holder that ended without releasing
 * (terminated, say) is noticed by a periodic liveness check.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  acquireLockSignal,
  lockDeniedSignal,
  lockGrantedSignal,
  lockStateQuery,
  releaseLockSignal,
  workflowIds,
  type LockHolder,
  type LockState,
} from './contract';
import { Failure } from './failures';
import { now, type RunbookTracker } from './progress';

const { isWorkflowRunning, requestClusterLock } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 20 },
});

export interface LockTiming {
  /** How often to check that the holder still runs (a terminated holder never releases). */
  livenessCheckMs: number;
  /** The lock workflow ends after this long with no holder and no queue. */
  idleExitMs: number;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { livenessCheckMs: 60_000, idleExitMs: 10 * 60_000 };

type RunRef = { workflowId: string; runId: string };
const sameRun = (a: RunRef, b: RunRef) => a.workflowId === b.workflowId && a.runId === b.runId;

export async function clusterLock(cluster: string, timing: LockTiming = DEFAULT_LOCK_TIMING, carried?: LockState): Promise<void> {
  const state: LockState = carried ?? { queue: [] };
  const pendingSignals: Promise<void>[] = [];
  const send = (p: Promise<void>) => pendingSignals.push(p.catch(() => undefined)); // the requester may be gone
  const grant = (to: RunRef) =>
    send(
      getExternalWorkflowHandle(to.workflowId, to.runId).signal(lockGrantedSignal.definition, {
        lockRunId: workflowInfo().runId,
      }),
    );

  const grantNext = () => {
    while (!state.holder && state.queue.length > 0) {
      const next = state.queue.shift()!;
      state.holder = { workflowId: next.workflowId, runId: next.runId, runbook: next.runbook, since: now() };
      grant(next);
    }
  };

  setHandler(lockStateQuery.definition, () => state);
  setHandler(acquireLockSignal.definition, (request) => {
    if (state.holder && sameRun(state.holder, request)) {
      grant(request);
      return;
    }
    if (state.queue.some((q) => sameRun(q, request))) return;
    if (state.holder && request.ifBusy === 'fail') {
      send(
        getExternalWorkflowHandle(request.workflowId, request.runId).signal(lockDeniedSignal.definition, {
          holder: state.holder,
        }),
      );
      return;
    }
    state.queue.push(request);
    grantNext();
  });
  setHandler(releaseLockSignal.definition, (who) => {
    if (state.holder && sameRun(state.holder, who)) state.holder = undefined;
    state.queue = state.queue.filter((q) => !sameRun(q, who));
    grantNext();
  });
  grantNext();

  for (;;) {
    if (state.holder) {
      const holder = state.holder;
      const released = await condition(() => state.holder !== holder, timing.livenessCheckMs);
      if (!released && !(await isWorkflowRunning(holder.workflowId, holder.runId))) {
        if (state.holder === holder) state.holder = undefined;
        grantNext();
      }
    } else {
      const requested = await condition(() => state.holder !== undefined || state.queue.length > 0, timing.idleExitMs);
      if (!requested) break;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await Promise.all(pendingSignals);
      await condition(() => true);
      await continueAsNew<typeof clusterLock>(cluster, timing, state);
    }
  }
  await Promise.all(pendingSignals);
}

/** The runbook side: wait for the cluster lock (published in progress), then release it when done. */
export class ClusterLockClient {
  private granted = false;
  private denied: LockHolder | undefined;

  constructor(private readonly cluster: string) {
    setHandler(lockGrantedSignal.definition, () => {
      this.granted = true;
    });
    setHandler(lockDeniedSignal.definition, ({ holder }) => {
      this.denied = holder;
    });
  }

  async acquire(tracker: Pick<RunbookTracker<string>, 'runbook' | 'setWaiting'>, ifBusy: 'fail' | 'wait'): Promise<void> {
    const { workflowId, runId } = workflowInfo();
    await requestClusterLock({ cluster: this.cluster, request: { workflowId, runId, runbook: tracker.runbook, ifBusy } });
    // The grant of a free lock arrives a moment after the request: only a longer wait is a wait for another runbook.
    const answered = () => this.granted || this.denied !== undefined;
    if (!(await condition(answered, 2000))) {
      tracker.setWaiting({
        kind: 'cluster-lock',
        step: 'lock',
        since: now(),
        prompt: `waiting for the cluster lock: another runbook is changing cluster ${this.cluster}`,
        answers: [],
        reminders: 0,
      });
      await condition(answered);
      tracker.setWaiting(undefined);
    }
    if (this.denied && !this.granted) {
      const h = this.denied;
      throw ApplicationFailure.nonRetryable(
        `cluster ${this.cluster} is busy: ${h.runbook} runbook ${h.workflowId} has been changing it since ${h.since}`,
        Failure.ClusterBusy,
      );
    }
  }

  async release(): Promise<void> {
    const { workflowId, runId } = workflowInfo();
    await CancellationScope.nonCancellable(() =>
      getExternalWorkflowHandle(workflowIds.clusterLock(this.cluster))
        .signal(releaseLockSignal.definition, { workflowId, runId })
        .catch(() => undefined),
    );
  }
}
