/**
 * Procedure 3: the cluster cannot fetch its keys (kmipServerFault, runbooks.md). Diagnose which
 * key servers of the active provider fail TestKeyServerKmip and how, publish that, wait for the
 * fix (re-testing on a growing interval, taking operator answers), then confirm the cluster
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
  defineQuery,
  isCancellation,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { FaultSummary, KmipDiagnosis, KmipKeyServers } from '../activities/faults';
import { type AnswerRecord, type OperatorAnswer, type StepProgress, type WaitingFor } from './definitions';
import { parseInput } from './inputs';
import { formatDuration, recoverKmipInput, type RecoverKmipInput } from './inputs-recovery';
import { abortedBy, OperatorChannel } from './operator';
import { describeFailure, now, RunbookTracker } from './progress';

const KMIP_FAULT = 'kmipServerFault';

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

/** The latest diagnosis, per key server, structured (progress carries it as text: step detail, waiting problem). */
export const kmipDiagnosisQuery = defineQuery<KmipDiagnosis | undefined>('kmipDiagnosis');

/** What a run hands to the next when it continues as new during a long wait. */
export interface KmipCarried {
  startedAt: string;
  fault: FaultSummary;
  servers: KmipKeyServers;
  diagnosis: KmipDiagnosis;
  retests: number;
  intervalMs: number;
  escalated: boolean;
  steps: StepProgress[];
  notes: string[];
  answers: AnswerRecord[];
  /** The wait-for-fix question that was open when the run continued as new (absent in older runs' input). */
  openQuestion?: Pick<WaitingFor, 'since' | 'reminders'>;
}

const STEPS = [
  ['confirm', 'Confirm kmipServerFault is current (ListClusterFaults)'],
  ['find-servers', 'Find the active key provider and its key servers'],
  ['diagnose', 'TestKeyServerKmip each key server; classify failures'],
  ['wait-for-fix', 'Wait for the fix: re-test with backoff, take operator answers'],
  ['confirm-resolved', 'Confirm the cluster cleared the fault (ListClusterFaults)'],
] as const;
type StepId = (typeof STEPS)[number][0];

const WHAT_TO_DO: Record<string, string> = {
  unreachable: 'restore network reachability of the key server (host, port, firewall) or bring it back up',
  'tls-rejected': "check the key server's CA and the cluster's client certificate (trust, expiry, key pair)",
  'key-missing': "make the cluster's key available on the key server again (restore it from backup)",
  other: "check the key server's logs and the fault's details",
};

export function describeDiagnosis(d: KmipDiagnosis): string {
  const lines = d.servers.map(
    (s) =>
      `key server ${s.keyServerID} '${s.name}' (${s.hostnames.join(', ')}:${s.port}): ${s.ok ? 'passes TestKeyServerKmip' : `${s.failure} — ${s.errorName}: ${s.error}`}`,
  );
  lines.push(
    d.fault ? `fault ${d.fault.clusterFaultID} (${d.faultClass}): ${d.fault.details}` : 'kmipServerFault no longer current',
  );
  return lines.join('\n');
}

/** The problems in the diagnosis, each with what a person should do about it. */
function advice(d: KmipDiagnosis): string {
  const classes = new Set(d.servers.filter((s) => !s.ok).map((s) => s.failure!));
  if (d.fault && d.faultClass && (classes.size === 0 || d.faultClass === 'key-missing')) classes.add(d.faultClass);
  return [...classes].map((c) => `${c}: ${WHAT_TO_DO[c]}`).join('; ');
}

/** The resolve window ran out: a timeout, or retries stopped by the deadline with the fault still there. */
function windowRanOut(err: unknown): boolean {
  return err instanceof ActivityFailure && (err.cause instanceof TimeoutFailure || err.retryState === RetryState.TIMEOUT);
}

export async function recoverKmipServerFault(rawInput: RecoverKmipInput, carried?: KmipCarried): Promise<RecoverKmipResult> {
  const input = parseInput(recoverKmipInput, rawInput);
  const cluster = input.cluster;
  const tracker = new RunbookTracker<StepId>('recover-kmip-server-fault', cluster, STEPS);
  const operator = new OperatorChannel(tracker as RunbookTracker<string>);
  let diagnosis: KmipDiagnosis | undefined = carried?.diagnosis;
  setHandler(kmipDiagnosisQuery, () => diagnosis);
  if (carried) {
    Object.assign(tracker.progress, {
      startedAt: carried.startedAt,
      steps: carried.steps,
      notes: carried.notes,
      answers: carried.answers,
    });
  }
  const startedAt = tracker.progress.startedAt;
  const deadlineAt = Date.parse(startedAt) + input.deadline;
  const calls = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: input.heartbeatTimeout,
    retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: 10 },
  });
  // The infrequent-poll pattern: one look per attempt, a flat retry policy, the window as the deadline.
  const { awaitKmipFaultResolved } = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: input.heartbeatTimeout,
    scheduleToCloseTimeout: input.resolveWindow,
    retry: { initialInterval: input.faultPollInterval, backoffCoefficient: 1, maximumInterval: input.faultPollInterval },
  });

  let retests = carried?.retests ?? 0;
  let retestsThisRun = 0;
  let intervalMs = carried?.intervalMs ?? input.retest.initialIntervalMs;
  let escalated = carried?.escalated ?? false;
  // Taken by the first wait of a continued run only.
  let openQuestion = carried?.openQuestion;

  function publish(d: KmipDiagnosis): void {
    const changed =
      diagnosis === undefined ||
      describeDiagnosis(diagnosis).replace(/fault \d+/, '') !== describeDiagnosis(d).replace(/fault \d+/, '');
    diagnosis = d;
    const step = tracker.step('diagnose');
    step.detail = describeDiagnosis(d).split('\n').join('; ');
    if (tracker.progress.waiting) tracker.progress.waiting.problem = describeDiagnosis(d);
    if (changed && step.attempts > 0) tracker.note(`diagnosis: ${step.detail}`);
  }

  async function retest(servers: KmipKeyServers): Promise<KmipDiagnosis> {
    const step = tracker.step('diagnose');
    step.attempts += 1;
    retests += 1;
    retestsThisRun += 1;
    try {
      const d = await calls.diagnoseKmipServers(cluster, servers.servers);
      step.lastError = undefined;
      publish(d);
      return d;
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The cluster did not answer the re-test: keep waiting and try again later.
      tracker.recordError('diagnose', err);
      return diagnosis!;
    }
  }

  async function escalateIfDue(): Promise<void> {
    if (escalated || Date.now() < deadlineAt) return;
    escalated = true;
    const summary = `kmipServerFault on ${cluster} is not fixed ${formatDuration(input.deadline)} after the recovery started`;
    tracker.note(`escalated: ${summary}`);
    const waiting = tracker.progress.waiting;
    if (waiting && !waiting.prompt.startsWith('ESCALATED')) waiting.prompt = `ESCALATED: ${waiting.prompt}`;
    try {
      await operator.notify('escalated', summary, diagnosis ? describeDiagnosis(diagnosis) : undefined);
    } catch (err) {
      if (isCancellation(err)) throw err;
      tracker.note(`the escalation could not be sent: ${describeFailure(err)}`);
    }
  }

  /**
   * Waits with the question open until an answer comes or a re-test shows a change worth acting
   * on (fault gone, or the key servers pass now). Re-tests run on a doubling interval.
   */
  async function waitForFix(
    servers: KmipKeyServers,
    current: KmipDiagnosis,
  ): Promise<{ diagnosis: KmipDiagnosis; answer?: OperatorAnswer }> {
    if (tracker.step('wait-for-fix').state !== 'waiting-for-input') tracker.begin('wait-for-fix');
    let answered: OperatorAnswer | undefined;
    const resume = openQuestion;
    openQuestion = undefined;
    const scope = new CancellationScope();
    const asking = scope
      .run(() =>
        operator.ask({
          step: 'wait-for-fix',
          prompt: `${escalated ? 'ESCALATED: ' : ''}kmipServerFault on ${cluster}: ${advice(current) || 'the cluster cannot fetch its keys'}. Answer fixed (re-test now), retry (re-test now) or abort; the runbook also re-tests on its own`,
          answers: ['fixed', 'retry', 'abort'],
          problem: describeDiagnosis(current),
          remindEveryMs: input.reminderEvery,
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
      let nextRetestAt = Date.now() + intervalMs;
      for (;;) {
        const wakeAt = escalated ? nextRetestAt : Math.min(nextRetestAt, deadlineAt);
        if (await condition(() => answered !== undefined, Math.max(1, wakeAt - Date.now()))) {
          await asking;
          if (answered!.action === 'abort') return { diagnosis: d, answer: answered };
          tracker.note(`${answered!.action} from ${answered!.by ?? 'an operator'}: re-testing now`);
          intervalMs = input.retest.initialIntervalMs;
          return { diagnosis: await retest(servers), answer: answered };
        }
        await escalateIfDue();
        if (Date.now() < nextRetestAt) continue;
        const wasFailing = !d.allServersPass;
        d = await retest(servers);
        intervalMs = Math.min(intervalMs * 2, input.retest.maxIntervalMs);
        nextRetestAt = Date.now() + intervalMs;
        if (!d.fault || (d.allServersPass && wasFailing)) {
          await stopAsking();
          return { diagnosis: d };
        }
        if (retestsThisRun >= input.retestsPerRun || workflowInfo().continueAsNewSuggested) {
          const question = tracker.progress.waiting;
          await stopAsking();
          await condition(allHandlersFinished);
          await continueAsNew<typeof recoverKmipServerFault>(rawInput, {
            startedAt,
            fault: d.fault,
            servers,
            diagnosis: d,
            retests,
            intervalMs,
            escalated,
            steps: tracker.progress.steps,
            notes: [
              ...tracker.progress.notes.slice(-99),
              `${now()} continued as new after ${retests} re-tests (keeps the history small)`,
            ],
            answers: tracker.progress.answers.slice(-50),
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
    tracker.begin('confirm-resolved');
    try {
      await awaitKmipFaultResolved(cluster);
      tracker.complete('confirm-resolved', 'kmipServerFault resolved');
      return true;
    } catch (err) {
      if (!windowRanOut(err)) throw err;
      tracker.step('confirm-resolved').state = 'failed';
      tracker.recordError(
        'confirm-resolved',
        `kmipServerFault still current ${formatDuration(input.resolveWindow)} after the key servers passed`,
      );
      return false;
    }
  }

  try {
    let fault: FaultSummary;
    let servers: KmipKeyServers;
    let d: KmipDiagnosis;
    if (carried) {
      ({ fault, servers, diagnosis: d } = carried);
    } else {
      const faults = await tracker.run(
        'confirm',
        () => calls.listCurrentFaults(cluster, [KMIP_FAULT]),
        (f) => (f[0] ? `fault ${f[0].clusterFaultID}: ${f[0].details}` : 'no current kmipServerFault'),
      );
      if (!faults[0]) {
        for (const id of ['find-servers', 'diagnose', 'wait-for-fix', 'confirm-resolved'] as const)
          tracker.skip(id, 'no fault to recover from');
        tracker.note(`no current kmipServerFault on ${cluster}: nothing to do`);
        tracker.finish('completed');
        return { cluster, outcome: 'no-fault', retests, escalated, startedAt, completedAt: now() };
      }
      fault = faults[0];
      servers = await tracker.run(
        'find-servers',
        () => calls.findKmipKeyServers(cluster, fault),
        (s) =>
          `providers ${s.providers.map((p) => `${p.keyProviderID} '${p.name}'`).join(', ')}; key servers ${s.servers.map((k) => k.keyServerID).join(', ')}`,
      );
      d = await tracker.run('diagnose', () => calls.diagnoseKmipServers(cluster, servers.servers));
      publish(d);
      tracker.complete('diagnose', tracker.step('diagnose').detail);
    }

    // A continued run goes straight back to waiting; the previous run already tried to confirm.
    let confirmNext = carried ? false : d.allServersPass;
    for (;;) {
      if (!d.fault) {
        if (tracker.step('confirm-resolved').state !== 'done')
          tracker.complete('confirm-resolved', 'kmipServerFault no longer current');
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
    if (tracker.step('wait-for-fix').state !== 'done') {
      if (tracker.step('wait-for-fix').attempts > 0) tracker.complete('wait-for-fix', `fixed after ${retests} re-test(s)`);
      else tracker.skip('wait-for-fix', 'the key servers passed at once');
    }

    tracker.finish('completed');
    await operator.notify('completed', `kmipServerFault on ${cluster} resolved`).catch(() => undefined);
    return { cluster, outcome: 'recovered', fault, diagnosis: d, retests, escalated, startedAt, completedAt: now() };
  } catch (err) {
    await operator.recordEnd(err, `kmipServerFault recovery on ${cluster}`);
    throw err;
  }
}
