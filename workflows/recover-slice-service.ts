/**
 * Procedure 4: sliceServiceUnhealthy after metadata drives were failed and put back `available`
 * (runbooks.md). Add exactly those drives back, wait for the slice service to settle (one
 * durable timer), verify the fault cleared; repeat a configured number of rounds, then escalate
 * to a person with what the cluster showed. It holds the cluster lock: it changes the cluster.
 */
import { isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DriveSummary, SliceFaultStatus } from '../activities/drives';
import type { FaultSummary } from '../activities/faults';
import { ClusterLockClient } from './cluster-lock';
import { parseInput } from './inputs';
import { formatDuration, recoverSliceInput, type RecoverSliceInput } from './inputs-recovery';
import { abortedBy, OperatorChannel } from './operator';
import { describeFailure, now, RunbookTracker } from './progress';

const SLICE_FAULT = 'sliceServiceUnhealthy';

export interface RecoverSliceResult {
  cluster: string;
  outcome: 'recovered' | 'no-fault';
  faults: FaultSummary[];
  drives: number[];
  rounds: number;
  /** DriveAdd jobs this run started or attached to. */
  asyncHandles: number[];
  startedAt: string;
  completedAt: string;
}

const STEPS = [
  ['lock', 'Cluster lock (one mutating runbook per cluster)'],
  ['confirm', 'Confirm sliceServiceUnhealthy is current (ListClusterFaults)'],
  ['find-drives', 'Find the failed metadata drives (available, named by the fault)'],
  ['add', 'AddDrives for exactly those drives (async, polled)'],
  ['settle', 'Wait for the slice service to settle'],
  ['verify', 'Verify the fault cleared (ListClusterFaults)'],
  ['escalate', 'Escalate to a person'],
] as const;
type StepId = (typeof STEPS)[number][0];

function describeDrives(drives: DriveSummary[]): string {
  return drives.map((d) => `${d.driveID} ${d.status} (${d.type}, node ${d.nodeID})`).join(', ') || 'none';
}

function describeFaults(faults: FaultSummary[]): string {
  return faults
    .map(
      (f) => `fault ${f.clusterFaultID} (${f.severity}, node ${f.nodeID}, drives ${f.driveIDs.join(' ') || '-'}): ${f.details}`,
    )
    .join('; ');
}

/** What the runbook saw, for the escalation and the failed verify step. */
function describeSeen(seen: SliceFaultStatus | undefined, rounds: number, handles: number[]): string {
  const lines = [`after ${rounds} round(s) of AddDrives and settle, sliceServiceUnhealthy is still current`];
  if (seen) {
    lines.push(`faults: ${describeFaults(seen.faults)}`, `drives: ${describeDrives(seen.drives)}`, `seen at ${seen.at}`);
  }
  lines.push(`DriveAdd jobs: ${handles.join(', ') || 'none'}`);
  return lines.join('\n');
}

export async function recoverSliceService(rawInput: RecoverSliceInput): Promise<RecoverSliceResult> {
  const input = parseInput(recoverSliceInput, rawInput);
  const cluster = input.cluster;
  const tracker = new RunbookTracker<StepId>('recover-slice-service', cluster, STEPS);
  const operator = new OperatorChannel(tracker as RunbookTracker<string>);
  const lock = new ClusterLockClient(cluster);
  const startedAt = now();
  const calls = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: input.heartbeatTimeout,
    retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: 10 },
  });
  const { awaitDriveAdd } = proxyActivities<Activities>({
    startToCloseTimeout: input.polling.attemptWindowMs + 60_000,
    heartbeatTimeout: input.heartbeatTimeout,
    scheduleToCloseTimeout: '12 hours',
    retry: { initialInterval: input.polling.initialIntervalMs, backoffCoefficient: 1 },
  });
  const handles: number[] = [];

  /** One round: add what is still available (or attach to a running add), settle, verify; what the cluster shows after. */
  async function round(n: number, driveIDs: number[]): Promise<SliceFaultStatus> {
    tracker.begin('add');
    let addFailed = false;
    for (;;) {
      const outcome = await calls.ensureDrivesAdded(cluster, driveIDs);
      if (outcome.asyncHandle === undefined) {
        tracker.complete('add', `round ${n}: nothing to add, drives ${outcome.alreadyActive.join(', ')} already active`);
        break;
      }
      handles.push(outcome.asyncHandle);
      tracker.note(
        outcome.attached
          ? `round ${n}: a DriveAdd for these drives was already running (asyncHandle ${outcome.asyncHandle}); waiting for it instead of adding again`
          : `round ${n}: AddDrives ${outcome.added.join(', ')} started (asyncHandle ${outcome.asyncHandle})`,
      );
      try {
        await awaitDriveAdd(cluster, outcome.asyncHandle, input.polling);
      } catch (err) {
        if (isCancellation(err)) throw err;
        addFailed = true;
        tracker.step('add').state = 'failed';
        tracker.recordError('add', err);
        tracker.note(`round ${n}: DriveAdd ${outcome.asyncHandle} failed: ${describeFailure(err)}`);
        break;
      }
      if (!outcome.attached) {
        tracker.complete('add', `round ${n}: drives ${outcome.added.join(', ')} added (asyncHandle ${outcome.asyncHandle})`);
        break;
      }
    }
    if (addFailed) {
      tracker.skip('settle', `round ${n}: the drive add failed, nothing to settle`);
    } else {
      tracker.begin('settle');
      await sleep(input.settle);
      tracker.complete('settle', `round ${n}: waited ${formatDuration(input.settle)}`);
    }
    const seen = await tracker.run('verify', () => calls.sliceFaultStatus(cluster, driveIDs));
    if (seen.cleared) {
      tracker.complete('verify', `round ${n}: sliceServiceUnhealthy cleared; drives ${describeDrives(seen.drives)}`);
    } else {
      tracker.step('verify').state = 'failed';
      tracker.recordError(
        'verify',
        `round ${n}: still current: ${describeFaults(seen.faults)}; drives ${describeDrives(seen.drives)}`,
      );
    }
    return seen;
  }

  async function escalate(rounds: number, seen: SliceFaultStatus | undefined) {
    tracker.begin('escalate');
    const saw = describeSeen(seen, rounds, handles);
    tracker.note(`escalated: ${saw.split('\n')[0]}`);
    try {
      await operator.notify('escalated', `sliceServiceUnhealthy on ${cluster} did not clear after ${rounds} round(s)`, saw);
    } catch (err) {
      if (isCancellation(err)) throw err;
      tracker.note(`the escalation could not be sent: ${describeFailure(err)}`);
    }
    const answer = await operator.ask({
      step: 'escalate',
      prompt: `sliceServiceUnhealthy on ${cluster} did not clear after ${rounds} round(s) of AddDrives and a ${formatDuration(input.settle)} settle. Have the metadata drives checked, then answer retry (another round), fixed (verify now) or abort`,
      answers: ['retry', 'fixed', 'abort'],
      problem: saw,
      remindEveryMs: input.reminderEvery,
    });
    tracker.complete('escalate', `answered ${answer?.action ?? 'nothing'}${answer?.by ? ` by ${answer.by}` : ''}`);
    return answer;
  }

  try {
    await tracker.run('lock', () => lock.acquire(tracker as RunbookTracker<string>, 'lock', input.ifBusy));
    const faults = await tracker.run(
      'confirm',
      () => calls.listCurrentFaults(cluster, [SLICE_FAULT]),
      (f) => (f.length > 0 ? describeFaults(f) : 'no current sliceServiceUnhealthy fault'),
    );
    if (faults.length === 0) {
      for (const id of ['find-drives', 'add', 'settle', 'verify', 'escalate'] as const)
        tracker.skip(id, 'no fault to recover from');
      tracker.note(`no current sliceServiceUnhealthy fault on ${cluster}: nothing to do`);
      tracker.finish('completed');
      return { cluster, outcome: 'no-fault', faults, drives: [], rounds: 0, asyncHandles: [], startedAt, completedAt: now() };
    }
    const drives = await tracker.run(
      'find-drives',
      () => calls.selectFailedMetadataDrives(cluster, { faults, driveIDs: input.driveIDs }),
      (d) => `metadata drives ${describeDrives(d)}`,
    );
    const driveIDs = drives.map((d) => d.driveID);

    let rounds = 0;
    let allowed = input.attempts;
    let seen: SliceFaultStatus | undefined;
    for (;;) {
      while (driveIDs.length > 0 && rounds < allowed && !seen?.cleared) {
        rounds += 1;
        seen = await round(rounds, driveIDs);
      }
      if (seen?.cleared) break;
      if (driveIDs.length === 0) tracker.note('the fault names no metadata drive in a state that can be added back');
      const answer = await escalate(rounds, seen);
      if (answer?.action === 'abort') throw abortedBy(answer);
      if (answer?.action === 'retry') allowed = rounds + 1;
      else {
        seen = await tracker.run('verify', () => calls.sliceFaultStatus(cluster, driveIDs));
        if (!seen.cleared) tracker.recordError('verify', `still current after "fixed": ${describeFaults(seen.faults)}`);
      }
    }

    tracker.finish('completed');
    await operator
      .notify('completed', `sliceServiceUnhealthy on ${cluster} cleared after ${rounds} round(s)`)
      .catch(() => undefined);
    return {
      cluster,
      outcome: 'recovered',
      faults,
      drives: driveIDs,
      rounds,
      asyncHandles: handles,
      startedAt,
      completedAt: now(),
    };
  } catch (err) {
    await operator.recordEnd(err, `sliceServiceUnhealthy recovery on ${cluster}`);
    throw err;
  } finally {
    await lock.release();
  }
}
