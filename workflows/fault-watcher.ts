/**
 * The fault watcher: one long-running workflow per cluster (starting it is the opt-in) that polls
 * ListClusterFaults and starts the matching recovery for a new kmipServerFault or
 * sliceServiceUnhealthy — and, with its renewal option, a renewal for kmipCertificateFault — once
 * per fault. Independently it warns (certificate-expiring) about key server certificates that
 * expire within a horizon, once per certificate and threshold. A recovery runs as an abandoned child under its own
 * per-cluster workflow id, so one already running (started by the watcher or by hand) is never
 * duplicated and outlives the watcher. Notify-only mode tells people and starts nothing. The
 * watcher continues as new every so many polls to keep its history small.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  allHandlersFinished,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  continueAsNew,
  ContinueAsNew,
  isCancellation,
  ParentClosePolicy,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { formatDuration } from '../src/durations';
import { clusterCalls } from './calls';
import { certificateWarnings } from './certificate-expiry';
import { watcherStatusQuery, workflowIds, type FaultSummary, type RecoveryStart, type WatcherStatus } from './contract';
import { describeFailure } from './failures';
import { parseInput } from './inputs';
import { faultWatcherInput, type FaultWatcherInput } from './inputs-recovery';
import { now, RunbookTracker, type CarriedProgress } from './progress';
import { recoverKmipServerFault } from './recover-kmip-server-fault';
import { recoverSliceService } from './recover-slice-service';
import { renewRunbook } from './renew';

/** Faults found while a recovery was already running: acted on again if still current once it ends. */
export interface BehindRecovery {
  code: string;
  faultIDs: number[];
  workflowId: string;
}

export interface WatcherCarried {
  progress: CarriedProgress;
  status: WatcherStatus;
  /** Current faults already acted on (a fault is acted on once). */
  handled: number[];
  behindRunningRecovery: BehindRecovery[];
  /** certificate-expiring warnings already sent: `<fingerprint>@<threshold ms>`. */
  certificateWarned?: string[];
}

export interface WatcherResult {
  cluster: string;
  stopped: true;
  polls: number;
  recoveries: RecoveryStart[];
}

export const FAULT_WATCHER_STEPS = [
  ['poll', 'Poll ListClusterFaults on an interval'],
  ['recover', 'Start the matching recovery for a new fault (or notify only)'],
] as const;

const KEEP_FAULTS = 50;
const KEEP_RECOVERIES = 20;
const KEEP_WARNED = 200;
const DAY_MS = 86_400_000;

export async function faultWatcher(rawInput: FaultWatcherInput, carried?: WatcherCarried): Promise<WatcherResult> {
  const input = parseInput(faultWatcherInput, rawInput);
  const cluster = input.cluster;
  const run = new RunbookTracker('fault-watcher', cluster, FAULT_WATCHER_STEPS, carried?.progress);
  const status: WatcherStatus = carried?.status ?? {
    notifyOnly: input.notifyOnly,
    intervalMs: input.intervalMs,
    polls: 0,
    faultsSeen: [],
    recoveries: [],
  };
  status.notifyOnly = input.notifyOnly;
  status.intervalMs = input.intervalMs;
  status.renewal = input.renewal !== undefined;
  const expiry = input.certificateExpiry;
  if (expiry) status.certificates = { expiring: [], warningsSent: 0, ...status.certificates, horizonMs: expiry.horizonMs };
  else status.certificates = undefined;
  const warned = new Set(carried?.certificateWarned ?? []);
  let handled = new Set(carried?.handled ?? []);
  let behind: BehindRecovery[] = carried?.behindRunningRecovery ?? [];
  setHandler(watcherStatusQuery.definition, () => status);

  const { listCurrentFaults, isWorkflowRunning, keyServerCertificates } = clusterCalls({
    timeoutMs: 120_000,
    heartbeatTimeoutMs: input.heartbeatTimeoutMs,
    retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 3 },
  });

  const recoveries = {
    kmipServerFault: {
      runbook: 'recover-kmip-server-fault' as const,
      workflowId: workflowIds['recover-kmip-server-fault'](cluster),
      command: `ekm recover ${cluster} kmip`,
      start: (workflowId: string, requestedBy: string) =>
        startChild(recoverKmipServerFault, {
          ...childOptions(workflowId),
          args: [{ requestedBy, ...rawInput.recovery?.kmip, cluster }],
        }),
    },
    sliceServiceUnhealthy: {
      runbook: 'recover-slice-service' as const,
      workflowId: workflowIds['recover-slice-service'](cluster),
      command: `ekm recover ${cluster} slice`,
      start: (workflowId: string, requestedBy: string) =>
        startChild(recoverSliceService, {
          ...childOptions(workflowId),
          // It queues behind a rekey or setup holding the cluster lock rather than failing, since the
          // watcher starts one recovery per fault.
          args: [{ requestedBy, ifBusy: 'wait' as const, ...rawInput.recovery?.slice, cluster }],
        }),
    },
    kmipCertificateFault: {
      runbook: 'renew' as const,
      workflowId: workflowIds.renew(cluster),
      command: `ekm renew ${cluster}`,
      start: (workflowId: string, requestedBy: string) =>
        startChild(renewRunbook, {
          ...childOptions(workflowId),
          // The renewal options name the signer; like a slice recovery it queues behind the cluster lock.
          args: [{ requestedBy, ifBusy: 'wait' as const, ...rawInput.renewal, cluster }],
        }),
    },
  };
  // kmipCertificateFault is watched when a renewal is configured (the opt-in), or to notify about it.
  const codes = (Object.keys(recoveries) as (keyof typeof recoveries)[]).filter(
    (code) => code !== 'kmipCertificateFault' || input.renewal !== undefined || input.notifyOnly,
  );

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
      run.note(
        `${entry.code} (fault ${stillCurrent.join(', ')}) is still current after ${entry.workflowId} ended: acting on it again`,
      );
    }
  }

  function tell(code: string, faults: FaultSummary[], message: string): void {
    run.notify(
      'fault-detected',
      message,
      faults.map((f) => `fault ${f.clusterFaultID} (${f.severity}): ${f.details}`).join('\n'),
      { code, faultIDs: faults.map((f) => f.clusterFaultID), notifyOnly: input.notifyOnly },
    );
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
      tell(code, fresh, `${code} on ${cluster} (fault ${ids}); notify-only: no recovery started, run: ${recovery.command}`);
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
        if (alreadyRunning) behind.push({ code, faultIDs: record.faultIDs, workflowId: recovery.workflowId });
      }
      const what =
        record.outcome === 'started'
          ? `started ${recovery.workflowId}`
          : record.outcome === 'already-running'
            ? `${recovery.workflowId} is already running; not starting another`
            : `could not start ${recovery.workflowId}: ${record.error}`;
      run.note(`${code} (fault ${ids}): ${what}`);
      tell(code, fresh, `${code} on ${cluster} (fault ${ids}): ${what}`);
    }
    status.recoveries = [...status.recoveries, record].slice(-KEEP_RECOVERIES);
    const started = status.recoveries.filter((r) => r.outcome === 'started').length;
    run.attempt('recover');
    run.setDetail(
      'recover',
      `${started} recover${started === 1 ? 'y' : 'ies'} started; last: ${record.at} ${code} (fault ${ids}): ${record.outcome} ${record.workflowId}`,
    );
  }

  /**
   * The key server certificates the cluster uses (GetKeyServerKmip): those within the horizon are
   * shown in the status, and each is told about once per threshold it crosses.
   */
  async function checkCertificates(horizonMs: number): Promise<void> {
    const certificates = status.certificates!;
    try {
      const found = await keyServerCertificates(cluster);
      const { expiring, due } = certificateWarnings(cluster, found, Date.now(), horizonMs, warned);
      certificates.expiring = expiring;
      certificates.lastCheckError = undefined;
      for (const warning of due) {
        warned.add(warning.key);
        certificates.warningsSent += 1;
        run.note(`certificate-expiring: ${warning.message}`);
        run.notify('certificate-expiring', warning.message, undefined, {
          ...warning.certificate,
          thresholdDays: warning.thresholdMs / DAY_MS,
        });
      }
    } catch (err) {
      if (isCancellation(err)) throw err;
      certificates.lastCheckError = describeFailure(err);
    }
    certificates.lastCheckAt = now();
  }

  const certificateCheckDue = () =>
    expiry !== false &&
    (status.certificates?.lastCheckAt === undefined ||
      Date.now() >= Date.parse(status.certificates.lastCheckAt) + expiry.checkEveryMs);

  try {
    if (!carried) {
      run.begin('poll', false);
      run.note(`watching ${cluster} every ${formatDuration(input.intervalMs)}${input.notifyOnly ? ' (notify only)' : ''}`);
    }
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
      if (expiry && certificateCheckDue()) await checkCertificates(expiry.horizonMs);
      status.polls += 1;
      pollsThisRun += 1;
      status.lastPollAt = now();
      run.attempt('poll');
      const current = status.faultsSeen.filter((f) => f.current);
      const seen = current.map((f) => `${f.clusterFaultID} ${f.code} (${f.severity})`).join(', ');
      run.setDetail(
        'poll',
        `last poll ${status.lastPollAt}: ${status.lastPollError ?? `${current.length} current fault(s)${seen ? `: ${seen}` : ''}`}`,
      );
      if (pollsThisRun >= input.pollsPerRun || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await run.flushNotifications();
        await continueAsNew<typeof faultWatcher>(rawInput, {
          progress: run.carry(`continued as new after ${status.polls} polls`),
          status,
          handled: [...handled],
          behindRunningRecovery: behind,
          certificateWarned: [...warned].slice(-KEEP_WARNED),
        });
      }
      await sleep(input.intervalMs);
    }
  } catch (err) {
    // continueAsNew() throws to end this run; the watcher goes on.
    if (err instanceof ContinueAsNew) throw err;
    if (!isCancellation(err)) {
      run.finish('failed', err);
      await CancellationScope.nonCancellable(() => run.flushNotifications());
      throw err;
    }
    // `ekm watch stop` cancels the watcher: that is how it ends, not a failure.
    run.note('stopped on request');
    run.finish('completed');
    await CancellationScope.nonCancellable(() => run.flushNotifications());
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
