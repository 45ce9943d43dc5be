/**
 * Procedure 4: sliceServiceUnhealthy after metadata drives were failed and put back `available`
 * (runbooks.md). Add exactly those drives back, wait for the slice service to settle (one
 * durable timer), verify the fault cleared; repeat a configured number of rounds, then escalate
 * to a person with what the cluster showed. It holds the cluster lock: it changes the cluster.
 */
import { isCancellation, sleep } from '@temporalio/workflow';
import type { DriveSummary, SliceFaultStatus } from '../activities/drives';
import { formatDuration } from '../src/durations';
import { clusterCalls, pollingCalls } from './calls';
import { ClusterLockClient } from './cluster-lock';
import type { FaultSummary } from './contract';
import { describeFailure } from './failures';
import { parseInput } from './inputs';
import { recoverSliceInput, type RecoverSliceInput } from './inputs-recovery';
import { abortedBy } from './operator';
import { now, RunbookTracker } from './progress';

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

export const RECOVER_SLICE_STEPS = [
  ['lock', 'Cluster lock (one mutating runbook per cluster)'],
  ['confirm', 'Confirm sliceServiceUnhealthy is current (ListClusterFaults)'],
  ['find-drives', 'Find the failed metadata drives (available, named by the fault, or chosen by a person)'],
  ['add', 'AddDrives for exactly those drives (async, polled)'],
  ['settle', 'Wait for the slice service to settle'],
  ['verify', 'Verify the fault cleared (ListClusterFaults)'],
  ['escalate', 'Escalate to a person'],
] as const;

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
  const run = new RunbookTracker('recover-slice-service', cluster, RECOVER_SLICE_STEPS);
  const lock = new ClusterLockClient(cluster);
  const startedAt = run.startedAt;
  const calls = clusterCalls({ timeoutMs: 120_000, heartbeatTimeoutMs: input.heartbeatTimeoutMs });
  const { awaitDriveAdd } = pollingCalls(input.polling, {
    deadlineMs: 12 * 3_600_000,
    heartbeatTimeoutMs: input.heartbeatTimeoutMs,
  });
  const handles: number[] = [];

  /** One round: add what is still available (or attach to a running add), settle, verify; what the cluster shows after. */
  async function round(n: number, driveIDs: number[]): Promise<SliceFaultStatus> {
    run.begin('add');
    let addFailed = false;
    for (;;) {
      const outcome = await calls.ensureDrivesAdded(cluster, driveIDs);
      if (outcome.asyncHandle === undefined) {
        run.complete('add', `round ${n}: nothing to add, drives ${outcome.alreadyActive.join(', ')} already active`);
        break;
      }
      handles.push(outcome.asyncHandle);
      run.note(
        outcome.attached
          ? `round ${n}: a DriveAdd for these drives was already running (asyncHandle ${outcome.asyncHandle}); waiting for it instead of adding again`
          : `round ${n}: AddDrives ${outcome.added.join(', ')} started (asyncHandle ${outcome.asyncHandle})`,
      );
      try {
        await awaitDriveAdd(cluster, outcome.asyncHandle, input.polling);
      } catch (err) {
        if (isCancellation(err)) throw err;
        addFailed = true;
        run.fail('add', err);
        run.note(`round ${n}: DriveAdd ${outcome.asyncHandle} failed: ${describeFailure(err)}`);
        break;
      }
      if (!outcome.attached) {
        run.complete('add', `round ${n}: drives ${outcome.added.join(', ')} added (asyncHandle ${outcome.asyncHandle})`);
        break;
      }
    }
    if (addFailed) {
      run.skip('settle', `round ${n}: the drive add failed, nothing to settle`);
    } else {
      run.begin('settle');
      await sleep(input.settleMs);
      run.complete('settle', `round ${n}: waited ${formatDuration(input.settleMs)}`);
    }
    const seen = await run.step('verify', () => calls.sliceFaultStatus(cluster, driveIDs));
    if (seen.cleared) {
      run.complete('verify', `round ${n}: sliceServiceUnhealthy cleared; drives ${describeDrives(seen.drives)}`);
    } else {
      run.fail('verify', `round ${n}: still current: ${describeFaults(seen.faults)}; drives ${describeDrives(seen.drives)}`);
    }
    return seen;
  }

  async function escalate(rounds: number, seen: SliceFaultStatus | undefined) {
    run.begin('escalate');
    const saw = describeSeen(seen, rounds, handles);
    run.note(`escalated: ${saw.split('\n')[0]}`);
    run.notify('escalated', `sliceServiceUnhealthy on ${cluster} did not clear after ${rounds} round(s)`, saw);
    const answer = await run.ask({
      step: 'escalate',
      prompt: `sliceServiceUnhealthy on ${cluster} did not clear after ${rounds} round(s) of AddDrives and a ${formatDuration(input.settleMs)} settle. Have the metadata drives checked, then answer retry (another round), fixed (verify now) or abort`,
      answers: ['retry', 'fixed', 'abort'],
      problem: saw,
      remindEveryMs: input.reminderEveryMs,
    });
    run.complete('escalate', `answered ${answer?.action ?? 'nothing'}${answer?.by ? ` by ${answer.by}` : ''}`);
    return answer;
  }

  try {
    await run.step('lock', () => lock.acquire(run, input.ifBusy));
    const faults = await run.step(
      'confirm',
      () => calls.listCurrentFaults(cluster, [SLICE_FAULT]),
      (f) => (f.length > 0 ? describeFaults(f) : 'no current sliceServiceUnhealthy fault'),
    );
    if (faults.length === 0) {
      for (const [id] of RECOVER_SLICE_STEPS.slice(2)) run.skip(id, 'no fault to recover from');
      run.note(`no current sliceServiceUnhealthy fault on ${cluster}: nothing to do`);
      run.finish('completed');
      return { cluster, outcome: 'no-fault', faults, drives: [], rounds: 0, asyncHandles: [], startedAt, completedAt: now() };
    }
    const describeFound = (d: DriveSummary[]) => `metadata drives ${describeDrives(d)}`;
    let drives: DriveSummary[];
    if (input.driveIDs) {
      // Drives given at the start are checked; wrong ones end the run, naming them.
      const given = input.driveIDs;
      drives = await run.step(
        'find-drives',
        () => calls.selectFailedMetadataDrives(cluster, { faults, driveIDs: given }),
        describeFound,
      );
    } else {
      // The faults may name no drive: with several candidates it asks which (change --drives, or abort), and asks
      // again while the answer names drives that are not candidates.
      let chosen: number[] | undefined;
      drives = await run.stepOrAsk(
        'find-drives',
        () => calls.selectFailedMetadataDrives(cluster, { faults, driveIDs: chosen }),
        {
          prompt: () =>
            `Which metadata drives of ${cluster} failed? Answer change with the ids of the drives to add back (--drives 12,13), or abort`,
          answers: ['change', 'abort'],
          changeFields: ['driveIDs'],
          remindEveryMs: input.reminderEveryMs,
          onAnswer: async (answer) => {
            if (answer.action !== 'change') return;
            if (!answer.driveIDs) {
              run.note(`the change answer by ${answer.by ?? 'an operator'} named no drives (--drives): looking again`);
              return;
            }
            chosen = answer.driveIDs;
            run.note(`drives ${chosen.join(', ')} chosen by ${answer.by ?? 'an operator'}`);
          },
        },
        describeFound,
      );
    }
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
      if (driveIDs.length === 0) run.note('the fault names no metadata drive in a state that can be added back');
      const answer = await escalate(rounds, seen);
      if (answer?.action === 'abort') throw abortedBy(answer);
      if (answer?.action === 'retry') allowed = rounds + 1;
      else {
        seen = await run.step('verify', () => calls.sliceFaultStatus(cluster, driveIDs));
        if (!seen.cleared) run.recordError('verify', `still current after "fixed": ${describeFaults(seen.faults)}`);
      }
    }

    await run.completed(`sliceServiceUnhealthy on ${cluster} cleared after ${rounds} round(s)`);
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
    await run.end(err, `sliceServiceUnhealthy recovery on ${cluster}`);
    throw err;
  } finally {
    await lock.release();
  }
}
