/**
 * Procedure 3: the cluster cannot fetch its keys (kmipServerFault, docs/procedures.md). Diagnose
 * which key servers of the active provider fail TestKeyServerKmip and how, publish that, wait for
 * the fix (re-testing on a growing interval, taking operator answers), then confirm the cluster
 * cleared the fault on its own retry. It only reads and tests: it never creates, changes or
 * rekeys anything, so it takes no cluster lock.
 */
import { RetryState } from '@temporalio/common';
import {
  ActivityFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { KmipKeyServers } from '../activities/faults';
import { formatDuration } from '../src/durations';
import { clusterCalls } from './calls';
import { kmipDiagnosisQuery, type FaultSummary, type KmipDiagnosis, type OperatorAnswer, type WaitingFor } from './contract';
import { parseInput } from './inputs';
import { recoverKmipInput, type RecoverKmipInput } from './inputs-recovery';
import { advice, describeDiagnosis, sameDiagnosis } from './kmip-diagnosis';
import { abortedBy } from './operator';
import { now, RunbookTracker, type CarriedProgress } from './progress';

const KMIP_FAULT = 'kmipServerFault';

export const RECOVER_KMIP_STEPS = [
  ['confirm', 'Confirm kmipServerFault is current (ListClusterFaults)'],
  ['find-servers', 'Find the active key provider and its key servers'],
  ['diagnose', 'TestKeyServerKmip each key server; classify failures'],
  ['wait-for-fix', 'Wait for the fix: re-test with backoff, take operator answers'],
  ['confirm-resolved', 'Confirm the cluster cleared the fault (ListClusterFaults)'],
] as const;

export async function recoverKmipServerFault(rawInput: RecoverKmipInput, carried?: KmipCarried): Promise<RecoverKmipResult> {
  const input = parseInput(recoverKmipInput, rawInput);
  const cluster = input.cluster;
  const run = new RunbookTracker('recover-kmip-server-fault', cluster, RECOVER_KMIP_STEPS, carried?.progress);
  const calls = clusterCalls({ timeoutMs: 120_000, heartbeatTimeoutMs: input.heartbeatTimeoutMs });
  // The infrequent-poll pattern: one look per attempt, a flat retry policy, the window as the deadline.
  const { awaitKmipFaultResolved } = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: input.heartbeatTimeoutMs,
    scheduleToCloseTimeout: input.resolveWindowMs,
    retry: { initialInterval: input.faultPollIntervalMs, backoffCoefficient: 1, maximumInterval: input.faultPollIntervalMs },
  });
  const deadlineAt = Date.parse(run.startedAt) + input.deadlineMs;
  const state = {
    diagnosis: carried?.diagnosis,
    retests: carried?.retests ?? 0,
    retestsThisRun: 0,
    intervalMs: carried?.intervalMs ?? input.retest.initialIntervalMs,
    escalated: carried?.escalated ?? false,
    // Taken by the first wait of a continued run only.
    openQuestion: carried?.openQuestion,
  };
  setHandler(kmipDiagnosisQuery.definition, () => state.diagnosis);

  try {
    let fault: FaultSummary;
    let servers: KmipKeyServers;
    let d: KmipDiagnosis;
    if (carried) {
      ({ fault, servers, diagnosis: d } = carried);
    } else {
      // Confirm the fault, find the key servers whose keys the cluster cannot fetch, test each.
      const faults = await run.step(
        'confirm',
        () => calls.listCurrentFaults(cluster, [KMIP_FAULT]),
        (f) => (f[0] ? `fault ${f[0].clusterFaultID}: ${f[0].details}` : 'no current kmipServerFault'),
      );
      if (!faults[0]) return noFault(run);
      fault = faults[0];
      servers = await run.step('find-servers', () => calls.findKmipKeyServers(cluster, fault), describeServers);
      d = await run.step('diagnose', () => calls.diagnoseKmipServers(cluster, servers.servers));
      publish(d);
    }

    // Wait for the fix until the servers pass, then confirm the cluster's own retry cleared the
    // fault (a continued run goes straight back to waiting: the previous run already tried).
    let confirmNext = carried ? false : d.allServersPass;
    for (;;) {
      if (!d.fault) {
        if (run.stepOf('confirm-resolved').state !== 'done')
          run.complete('confirm-resolved', 'kmipServerFault no longer current');
        break;
      }
      if (confirmNext) {
        if (await confirmResolved()) break;
        d = await retest(servers);
        if (!d.fault) continue;
      }
      const waited = await waitForFix(servers, d);
      d = waited.diagnosis;
      if (waited.answer?.action === 'abort') throw abortedBy(waited.answer);
      confirmNext = d.allServersPass;
    }
    if (run.stepOf('wait-for-fix').state !== 'done') {
      if (run.stepOf('wait-for-fix').attempts > 0) run.complete('wait-for-fix', `fixed after ${state.retests} re-test(s)`);
      else run.skip('wait-for-fix', 'the key servers passed at once');
    }

    await run.completed(`kmipServerFault on ${cluster} resolved`);
    const { retests, escalated } = state;
    return {
      cluster,
      outcome: 'recovered',
      fault,
      diagnosis: d,
      retests,
      escalated,
      startedAt: run.startedAt,
      completedAt: now(),
    };
  } catch (err) {
    await run.end(err, `kmipServerFault recovery on ${cluster}`);
    throw err;
  }

  function publish(d: KmipDiagnosis): void {
    const changed = state.diagnosis === undefined || !sameDiagnosis(state.diagnosis, d);
    state.diagnosis = d;
    const text = describeDiagnosis(d);
    run.setDetail('diagnose', text.split('\n').join('; '));
    run.setProblem(text);
    if (changed && run.stepOf('diagnose').attempts > 0) run.note(`diagnosis: ${text.split('\n').join('; ')}`);
  }

  async function retest(servers: KmipKeyServers): Promise<KmipDiagnosis> {
    state.retests += 1;
    state.retestsThisRun += 1;
    try {
      const d = await calls.diagnoseKmipServers(cluster, servers.servers);
      run.attempt('diagnose');
      publish(d);
      return d;
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The cluster did not answer the re-test: keep waiting and try again later.
      run.attempt('diagnose', err);
      return state.diagnosis!;
    }
  }

  async function escalateIfDue(): Promise<void> {
    if (state.escalated || Date.now() < deadlineAt) return;
    state.escalated = true;
    const summary = `kmipServerFault on ${cluster} is not fixed ${formatDuration(input.deadlineMs)} after the recovery started`;
    run.note(`escalated: ${summary}`);
    run.escalateQuestion();
    run.notify('escalated', summary, state.diagnosis ? describeDiagnosis(state.diagnosis) : undefined);
  }

  /**
   * Waits with the question open until an answer comes or a re-test shows a change worth acting
   * on (fault gone, or the key servers pass now). Re-tests run on a doubling interval.
   */
  async function waitForFix(
    servers: KmipKeyServers,
    current: KmipDiagnosis,
  ): Promise<{ diagnosis: KmipDiagnosis; answer?: OperatorAnswer }> {
    if (run.stepOf('wait-for-fix').state !== 'waiting-for-input') run.begin('wait-for-fix');
    let answered: OperatorAnswer | undefined;
    const resume = state.openQuestion;
    state.openQuestion = undefined;
    const scope = new CancellationScope();
    const asking = scope
      .run(() =>
        run.ask({
          step: 'wait-for-fix',
          prompt: `${state.escalated ? 'ESCALATED: ' : ''}kmipServerFault on ${cluster}: ${advice(current) || 'the cluster cannot fetch its keys'}. Answer fixed (re-test now), retry (re-test now) or abort; the runbook also re-tests on its own`,
          answers: ['fixed', 'retry', 'abort'],
          problem: describeDiagnosis(current),
          remindEveryMs: input.reminderEveryMs,
          resume,
        }),
      )
      .then(
        (answer) => {
          answered = answer;
        },
        (err: unknown) => {
          if (!isCancellation(err)) throw err;
        },
      );
    const stopAsking = async () => {
      scope.cancel();
      await asking;
    };
    try {
      let d = current;
      let nextRetestAt = Date.now() + state.intervalMs;
      for (;;) {
        const wakeAt = state.escalated ? nextRetestAt : Math.min(nextRetestAt, deadlineAt);
        if (await condition(() => answered !== undefined, Math.max(1, wakeAt - Date.now()))) {
          await asking;
          if (answered!.action === 'abort') return { diagnosis: d, answer: answered };
          run.note(`${answered!.action} from ${answered!.by ?? 'an operator'}: re-testing now`);
          state.intervalMs = input.retest.initialIntervalMs;
          return { diagnosis: await retest(servers), answer: answered };
        }
        await escalateIfDue();
        if (Date.now() < nextRetestAt) continue;
        const wasFailing = !d.allServersPass;
        d = await retest(servers);
        state.intervalMs = Math.min(state.intervalMs * 2, input.retest.maxIntervalMs);
        nextRetestAt = Date.now() + state.intervalMs;
        if (!d.fault || (d.allServersPass && wasFailing)) {
          await stopAsking();
          return { diagnosis: d };
        }
        if (state.retestsThisRun >= input.retestsPerRun || workflowInfo().continueAsNewSuggested) {
          // Keeps the history small during long waits: the next run takes over the open question.
          const question = run.waiting;
          await stopAsking();
          await condition(allHandlersFinished);
          await run.flushNotifications();
          await continueAsNew<typeof recoverKmipServerFault>(rawInput, {
            progress: run.carry(`continued as new after ${state.retests} re-tests (keeps the history small)`),
            fault: d.fault,
            servers,
            diagnosis: d,
            retests: state.retests,
            intervalMs: state.intervalMs,
            escalated: state.escalated,
            openQuestion: question && { since: question.since, reminders: question.reminders },
          });
        }
      }
    } finally {
      if (!answered) await stopAsking();
    }
  }

  /** True once the cluster's own retry cleared the fault; false when it did not within the window. */
  async function confirmResolved(): Promise<boolean> {
    run.begin('confirm-resolved');
    try {
      await awaitKmipFaultResolved(cluster);
      run.complete('confirm-resolved', 'kmipServerFault resolved');
      return true;
    } catch (err) {
      if (!windowRanOut(err)) throw err;
      run.fail(
        'confirm-resolved',
        `kmipServerFault still current ${formatDuration(input.resolveWindowMs)} after the key servers passed`,
      );
      return false;
    }
  }
}

export interface RecoverKmipResult {
  cluster: string;
  outcome: 'recovered' | 'no-fault';
  fault?: FaultSummary;
  diagnosis?: KmipDiagnosis;
  retests: number;
  escalated: boolean;
  startedAt: string;
  completedAt: string;
}

/** What a run hands to the next when it continues as new during a long wait. */
export interface KmipCarried {
  progress: CarriedProgress;
  fault: FaultSummary;
  servers: KmipKeyServers;
  diagnosis: KmipDiagnosis;
  retests: number;
  intervalMs: number;
  escalated: boolean;
  /** The wait-for-fix question that was open when the run continued as new. */
  openQuestion?: Pick<WaitingFor, 'since' | 'reminders'>;
}

type KmipRun = RunbookTracker<(typeof RECOVER_KMIP_STEPS)[number][0]>;

function noFault(run: KmipRun): RecoverKmipResult {
  for (const [id] of RECOVER_KMIP_STEPS.slice(1)) run.skip(id, 'no fault to recover from');
  run.note(`no current kmipServerFault on ${run.cluster}: nothing to do`);
  run.finish('completed');
  return {
    cluster: run.cluster,
    outcome: 'no-fault',
    retests: 0,
    escalated: false,
    startedAt: run.startedAt,
    completedAt: now(),
  };
}

function describeServers(s: KmipKeyServers): string {
  return `providers ${s.providers.map((p) => `${p.keyProviderID} '${p.name}'`).join(', ')}; key servers ${s.servers.map((k) => k.keyServerID).join(', ')}`;
}

/** The resolve window ran out: a timeout, or retries stopped by the deadline with the fault still there. */
export function windowRanOut(err: unknown): boolean {
  return err instanceof ActivityFailure && (err.cause instanceof TimeoutFailure || err.retryState === RetryState.TIMEOUT);
}
