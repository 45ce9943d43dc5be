/**
 * The fault watcher: one long-running workflow per cluster (starting it is the opt-in) that polls
 * ListClusterFaults and starts the matching recovery for a new kmipServerFault or
 * sliceServiceUnhealthy, once per fault. A recovery runs as an abandoned child under its own
 * per-cluster workflow id, so one already running (started by the watcher or by hand) is never
 * duplicated and outlives the watcher. Notify-only mode tells people and starts nothing. The
 * watcher continues as new every so many polls to keep its history small.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  allHandlersFinished,
  ChildWorkflowCancellationType,
  condition,
  continueAsNew,
  ContinueAsNew,
  defineQuery,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { FaultSummary } from '../activities/faults';
import type { RunbookName, StepProgress } from './definitions';
import { workflowIds } from './ids';
import { parseInput } from './inputs';
import { faultWatcherInput, formatDuration, type FaultWatcherInput } from './inputs-recovery';
import { describeFailure, now, RunbookTracker } from './progress';
import { recoverKmipServerFault } from './recover-kmip-server-fault';
import { recoverSliceService } from './recover-slice-service';

export interface SeenFault {
  clusterFaultID: number;
  code: string;
  severity: string;
  details: string;
  firstSeenAt: string;
  lastSeenAt: string;
  current: boolean;
}

export interface RecoveryStart {
  at: string;
  code: string;
  faultIDs: number[];
  runbook: RunbookName;
  workflowId: string;
  runId?: string;
  outcome: 'started' | 'already-running' | 'not-started' | 'notified-only';
  error?: string;
}

export interface WatcherStatus {
  notifyOnly: boolean;
  intervalMs: number;
  polls: number;
  lastPollAt?: string;
  lastPollError?: string;
  /** Faults of the watched codes, current ones first (bounded). */
  faultsSeen: SeenFault[];
  /** Recoveries started (or found running, or only notified), newest last (bounded). */
  recoveries: RecoveryStart[];
}

/** Last poll, faults seen, recoveries started (the progress query has the generic steps and notes). */
export const watcherStatusQuery = defineQuery<WatcherStatus>('watcherStatus');

/** Faults found while a recovery was already running: acted on again if still current once it ends. */
export interface BehindRecovery {
  code: string;
  faultIDs: number[];
  workflowId: string;
}

export interface WatcherCarried {
  status: WatcherStatus;
  /** Current faults already acted on (a fault is acted on once). */
  handled: number[];
  behindRunningRecovery?: BehindRecovery[];
  steps: StepProgress[];
  notes: string[];
  startedAt: string;
}

export interface WatcherResult {
  cluster: string;
  stopped: true;
  polls: number;
  recoveries: RecoveryStart[];
}

const STEPS = [
  ['poll', 'Poll ListClusterFaults on an interval'],
  ['recover', 'Start the matching recovery for a new fault (or notify only)'],
] as const;
type StepId = (typeof STEPS)[number][0];

const KEEP_FAULTS = 50;
const KEEP_RECOVERIES = 20;

export async function faultWatcher(rawInput: FaultWatcherInput, carried?: WatcherCarried): Promise<WatcherResult> {
  const input = parseInput(faultWatcherInput, rawInput);
  const cluster = input.cluster;
  const tracker = new RunbookTracker<StepId>('fault-watcher', cluster, STEPS);
  const status: WatcherStatus = carried?.status ?? {
    notifyOnly: input.notifyOnly,
    intervalMs: input.interval,
    polls: 0,
    faultsSeen: [],
    recoveries: [],
  };
  status.notifyOnly = input.notifyOnly;
  status.intervalMs = input.interval;
  let handled = new Set(carried?.handled ?? []);
  let behind: BehindRecovery[] = carried?.behindRunningRecovery ?? [];
  if (carried)
    Object.assign(tracker.progress, {
      startedAt: carried.startedAt,
      steps: carried.steps,
      notes: carried.notes,
      currentStep: 'poll',
    });
  setHandler(watcherStatusQuery, () => status);

  const { listCurrentFaults, isWorkflowRunning } = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: input.heartbeatTimeout,
    retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 3 },
  });
  const { notify } = proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 5, initialInterval: '2s' },
  });

  const recoveries = {
    kmipServerFault: {
      runbook: 'recover-kmip-server-fault' as const,
      workflowId: workflowIds.recoverKmipServerFault(cluster),
      start: (workflowId: string, requestedBy: string) =>
        startChild(recoverKmipServerFault, {
          ...childOptions(workflowId),
          args: [{ requestedBy, ...rawInput.recovery?.kmip, cluster }],
        }),
    },
    sliceServiceUnhealthy: {
      runbook: 'recover-slice-service' as const,
      workflowId: workflowIds.recoverSliceService(cluster),
      start: (workflowId: string, requestedBy: string) =>
        startChild(recoverSliceService, {
          ...childOptions(workflowId),
          // It queues behind a rekey or setup holding the cluster lock rather than failing, since the
          // watcher starts one recovery per fault (before this patch: it failed with ClusterBusy).
          args: [
            {
              requestedBy,
              ...(patched('watcher-slice-recovery-waits-for-the-lock') ? { ifBusy: 'wait' as const } : {}),
              ...rawInput.recovery?.slice,
              cluster,
            },
          ],
        }),
    },
  };
  const codes = Object.keys(recoveries) as (keyof typeof recoveries)[];

  function remember(faults: FaultSummary[]): void {
    const at = now();
    for (const seen of status.faultsSeen) seen.current = faults.some((f) => f.clusterFaultID === seen.clusterFaultID);
    for (const f of faults) {
      const seen = status.faultsSeen.find((s) => s.clusterFaultID === f.clusterFaultID);
      if (seen) Object.assign(seen, { lastSeenAt: at, severity: f.severity, details: f.details });
      else
        status.faultsSeen.push({
          clusterFaultID: f.clusterFaultID,
          code: f.code,
          severity: f.severity,
          details: f.details,
          firstSeenAt: at,
          lastSeenAt: at,
          current: true,
        });
    }
    status.faultsSeen.sort((a, b) => Number(b.current) - Number(a.current) || b.clusterFaultID - a.clusterFaultID);
    status.faultsSeen = status.faultsSeen.slice(0, KEEP_FAULTS);
    // Only current faults need remembering: a fault that comes back has a new clusterFaultID.
    handled = new Set([...handled].filter((id) => faults.some((f) => f.clusterFaultID === id)));
  }

  /** A recovery that was already running has ended: its faults still current are acted on again. */
  async function revisitFaultsBehindEndedRecoveries(faults: FaultSummary[]): Promise<void> {
    for (const entry of [...behind]) {
      const stillCurrent = entry.faultIDs.filter((id) => faults.some((f) => f.clusterFaultID === id));
      if (stillCurrent.length > 0 && (await isWorkflowRunning(entry.workflowId))) continue;
      behind = behind.filter((e) => e !== entry);
      if (stillCurrent.length === 0) continue;
      for (const id of stillCurrent) handled.delete(id);
      tracker.note(
        `${entry.code} (fault ${stillCurrent.join(', ')}) is still current after ${entry.workflowId} ended: acting on it again`,
      );
    }
  }

  async function tell(code: string, faults: FaultSummary[], message: string): Promise<void> {
    try {
      await notify({
        kind: 'fault-detected',
        runbook: 'fault-watcher',
        cluster,
        step: 'recover',
        message,
        detail: faults.map((f) => `fault ${f.clusterFaultID} (${f.severity}): ${f.details}`).join('\n'),
        data: { code, faultIDs: faults.map((f) => f.clusterFaultID), notifyOnly: input.notifyOnly },
      });
    } catch (err) {
      tracker.note(`the notification for ${code} could not be sent: ${describeFailure(err)}`);
    }
  }

  async function act(code: keyof typeof recoveries, fresh: FaultSummary[]): Promise<void> {
    const recovery = recoveries[code];
    const record: RecoveryStart = {
      at: now(),
      code,
      faultIDs: fresh.map((f) => f.clusterFaultID),
      runbook: recovery.runbook,
      workflowId: recovery.workflowId,
      outcome: 'notified-only',
    };
    const ids = record.faultIDs.join(', ');
    if (input.notifyOnly) {
      await tell(
        code,
        fresh,
        `${code} on ${cluster} (fault ${ids}); notify-only: no recovery started, run: ekm recover ${cluster} ${code === 'kmipServerFault' ? 'kmip' : 'slice'}`,
      );
    } else {
      try {
        const child = await recovery.start(
          recovery.workflowId,
          input.requestedBy ?? `fault watcher ${workflowInfo().workflowId}`,
        );
        record.outcome = 'started';
        record.runId = child.firstExecutionRunId;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const alreadyRunning =
          err instanceof WorkflowExecutionAlreadyStartedError || (err as Error).name === 'WorkflowExecutionAlreadyStartedError';
        record.outcome = alreadyRunning ? 'already-running' : 'not-started';
        if (!alreadyRunning) record.error = describeFailure(err);
        // Before this patch such faults were never revisited, even when that recovery ended without clearing them.
        if (alreadyRunning && patched('watcher-revisits-faults-behind-a-running-recovery')) {
          behind.push({ code, faultIDs: record.faultIDs, workflowId: recovery.workflowId });
        }
      }
      const what =
        record.outcome === 'started'
          ? `started ${recovery.workflowId}`
          : record.outcome === 'already-running'
            ? `${recovery.workflowId} is already running; not starting another`
            : `could not start ${recovery.workflowId}: ${record.error}`;
      tracker.note(`${code} (fault ${ids}): ${what}`);
      await tell(code, fresh, `${code} on ${cluster} (fault ${ids}): ${what}`);
    }
    status.recoveries = [...status.recoveries, record].slice(-KEEP_RECOVERIES);
    const step = tracker.step('recover');
    step.attempts += 1;
    const started = status.recoveries.filter((r) => r.outcome === 'started').length;
    step.detail = `${started} recover${started === 1 ? 'y' : 'ies'} started; last: ${record.at} ${code} (fault ${ids}): ${record.outcome} ${record.workflowId}`;
  }

  try {
    const poll = tracker.step('poll');
    if (poll.state !== 'running') tracker.begin('poll');
    tracker.note(
      carried
        ? `continued as new after ${status.polls} polls`
        : `watching ${cluster} every ${formatDuration(input.interval)}${input.notifyOnly ? ' (notify only)' : ''}`,
    );
    let pollsThisRun = 0;
    for (;;) {
      try {
        const faults = await listCurrentFaults(cluster, codes);
        status.lastPollError = undefined;
        remember(faults);
        await revisitFaultsBehindEndedRecoveries(faults);
        for (const code of codes) {
          const fresh = faults.filter((f) => f.code.toLowerCase() === code.toLowerCase() && !handled.has(f.clusterFaultID));
          if (fresh.length === 0) continue;
          for (const f of faults) if (f.code.toLowerCase() === code.toLowerCase()) handled.add(f.clusterFaultID);
          await act(code, fresh);
        }
      } catch (err) {
        if (isCancellation(err)) throw err;
        status.lastPollError = describeFailure(err);
      }
      status.polls += 1;
      pollsThisRun += 1;
      status.lastPollAt = now();
      poll.attempts = status.polls;
      const current = status.faultsSeen.filter((f) => f.current);
      const seen = current.map((f) => `${f.clusterFaultID} ${f.code} (${f.severity})`).join(', ');
      poll.detail = `last poll ${status.lastPollAt}: ${status.lastPollError ?? `${current.length} current fault(s)${seen ? `: ${seen}` : ''}`}`;
      if (pollsThisRun >= input.pollsPerRun || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof faultWatcher>(rawInput, {
          status,
          handled: [...handled],
          behindRunningRecovery: behind,
          steps: tracker.progress.steps,
          notes: tracker.progress.notes.slice(-50),
          startedAt: tracker.progress.startedAt,
        });
      }
      await sleep(input.interval);
    }
  } catch (err) {
    // continueAsNew() throws to end this run; the watcher goes on. (Before this patch it was recorded as failed.)
    if (err instanceof ContinueAsNew && patched('continue-as-new-is-not-an-end')) throw err;
    if (!isCancellation(err)) {
      tracker.finish('failed', err);
      throw err;
    }
    // `ekm watch stop` cancels the watcher: that is how it ends, not a failure.
    tracker.note('stopped on request');
    tracker.finish('completed');
    return { cluster, stopped: true, polls: status.polls, recoveries: status.recoveries };
  }
}

function childOptions(workflowId: string) {
  return {
    workflowId,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    cancellationType: ChildWorkflowCancellationType.ABANDON,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
  };
}
