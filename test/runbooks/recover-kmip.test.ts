/**
 * kmipServerFault recovery (procedure 3) end to end: real Temporal, the simulator with hardware
 * encryption at rest keyed by a provider on the real PyKMIP. A cluster restart with the key
 * server unreachable (or the key withheld) raises the fault; the cluster retries on its own.
 * Notifications go to a recording notifier and to a local webhook receiver.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { FanOutNotifier, WebhookNotifier, type RunbookEvent } from '../../src/notify/notifier';
import {
  answerUpdate,
  kmipDiagnosisQuery,
  progressQuery,
  runbookProgress,
  workflowIds,
  type RunbookProgress,
} from '../../workflows/contract';
import { EkmState } from '../../src/temporal/search-attributes';
import { buildRunReport } from '../../src/report/run-report';
import type { RecoverKmipInput } from '../../workflows/inputs-recovery';
import type { KmipDiagnosis } from '../../activities/faults';
import type { RecoverKmipResult } from '../../workflows/recover-kmip-server-fault';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { startRunbook } from '../support/start';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';
import { startWebhookReceiver, type WebhookReceiver } from '../notify/webhook-receiver';

type KmipRecoveryProgress = RunbookProgress & { diagnosis?: KmipDiagnosis };

const MUTATING = /^(Create|Modify|Delete|Rekey|Enable|Disable|Add|Remove|SecureErase|Clear)/;
const FAST: Omit<RecoverKmipInput, 'cluster'> = {
  retest: { initialInterval: 300, maxInterval: 600 },
  faultPollInterval: 200,
  resolveWindow: 10_000,
  heartbeatTimeout: 5000,
};

describe('kmipServerFault recovery (real Temporal, simulator, PyKMIP)', () => {
  const taskQueue = uniqueTaskQueue('recover-kmip');
  const events: RunbookEvent[] = [];
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let receiver: WebhookReceiver;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let keyServerID: number;
  let mark = 0;
  const kmipHost = () => testEnv().kmip.host;

  beforeAll(async () => {
    harness = await startClusterHarness('kmip-lab', { durations: { earTransitionMs: 300, kmipRetryMs: 400, tickMs: 50 } });
    const client = harness.client();
    const ekm = await configureEkmByHand(client, { commonName: 'kmip-lab.example.test' });
    keyServerID = ekm.keyServerID;
    await client.call('EnableEncryptionAtRest', { keyProviderID: ekm.keyProviderID });
    await eventually(async () => expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled'));
    await client.close();
    receiver = await startWebhookReceiver();
    const notifier = new FanOutNotifier([
      { send: async (e) => void events.push(e) },
      new WebhookNotifier(receiver.url, { backoffMs: 50 }),
    ]);
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry, notifier });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await receiver?.stop();
    await harness?.stop();
  });

  beforeEach(async () => {
    mark = (await harness.sim.control.calls()).at(-1)?.seq ?? 0;
    events.length = 0;
    receiver.posts.length = 0;
  });

  // Leave the cluster unlocked with no fault: no recovery running, the key server reachable, the key served.
  afterEach(async () => {
    const handle = temporal.client.workflow.getHandle(workflowIds['recover-kmip-server-fault'](harness.name));
    if ((await handle.describe().catch(() => undefined))?.status.name === 'RUNNING') {
      await handle.cancel();
      await handle.result().catch(() => undefined);
    }
    await harness.sim.control.makeReachable(kmipHost());
    await harness.sim.control.restoreKey('hardware');
    await eventually(async () => expect(await currentKmipFaults()).toEqual([]), 10_000, 200);
  });

  const id = () => workflowIds['recover-kmip-server-fault'](harness.name);
  const start = (input: Omit<RecoverKmipInput, 'cluster'> = {}) =>
    startRunbook(
      temporal.client,
      'recover-kmip-server-fault',
      { cluster: harness.name, ...FAST, ...input },
      { taskQueue, workflowId: id() },
    );
  const currentKmipFaults = async () =>
    (await harness.client().call('ListClusterFaults', { faultTypes: 'current' })).faults.filter(
      (f) => f.code === 'kmipServerFault',
    );
  const callsSinceMark = async () => (await harness.sim.control.calls({ afterSeq: mark })).map((c) => c.method ?? '');
  /** The progress query (the generic contract `ekm status --json` checks) with the structured diagnosis beside it. */
  const progressOf = async (handle: WorkflowHandle): Promise<KmipRecoveryProgress> => {
    const progress = await handle.query(progressQuery.definition);
    expect(runbookProgress.safeParse(progress).error).toBeUndefined();
    return { ...progress, diagnosis: await handle.query(kmipDiagnosisQuery.definition) };
  };

  async function restartWithServerDown(): Promise<void> {
    await harness.sim.control.makeUnreachable(kmipHost());
    const { keyAccess } = await harness.sim.control.restartCluster();
    expect(keyAccess.status).toBe('locked');
    // The fault shows at the cluster's next fault refresh (tests: every 50 ms).
    await eventually(async () => expect(await currentKmipFaults()).toHaveLength(1), 10_000, 50);
  }

  async function waitingForFix(handle: WorkflowHandle, check: (p: KmipRecoveryProgress) => void) {
    return eventually(
      async () => {
        const p = await progressOf(handle);
        expect(p.waiting?.step).toBe('wait-for-fix');
        check(p);
        return p;
      },
      20_000,
      200,
    );
  }

  it('diagnoses the unreachable key server, re-tests with backoff across continue-as-new, and confirms the fault resolved', async () => {
    await restartWithServerDown();
    const handle = await start({ retestsPerRun: 2 });

    const waiting = await waitingForFix(handle, (p) => expect(p.diagnosis?.servers[0]?.failure).toBe('unreachable'));
    expect(waiting.diagnosis?.servers).toEqual([
      expect.objectContaining({ keyServerID, ok: false, failure: 'unreachable', errorName: 'xKmipConnectionFailure' }),
    ]);
    expect(waiting.diagnosis?.faultClass).toBe('unreachable');
    expect(waiting.waiting?.prompt).toContain('unreachable: restore network reachability of the key server');
    expect(waiting.waiting?.problem).toContain(`key server ${keyServerID} 'kmip-server'`);
    expect(waiting.steps.find((s) => s.id === 'diagnose')?.detail).toContain('unreachable — xKmipConnectionFailure');

    // The wait continues as new (retestsPerRun: 2) and keeps its state.
    await eventually(
      async () => expect((await temporal.client.workflow.getHandle(id()).describe()).runId).not.toBe(handle.firstExecutionRunId),
      20_000,
      200,
    );
    const firstRun = await temporal.client.workflow.getHandle(id(), handle.firstExecutionRunId).describe();
    expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
    expect(firstRun.typedSearchAttributes.get(EkmState)).toMatch(/^(running|waiting-for-input)$/);
    // Each run stays small: the diagnosis, two re-tests and the question fit in well under 100 events.
    expect(firstRun.historyLength).toBeLessThan(100);
    // The question stays the one first asked: same "since", announced once.
    await waitingForFix(temporal.client.workflow.getHandle(id()), (p) => {
      expect(p.notes.join('\n')).toContain('continued as new after');
      expect(p.waiting?.since).toBe(waiting.waiting?.since);
    });

    // An answer in a later execution of the chain; the report of the run has it (carried across continue-as-new).
    await eventually(
      () =>
        temporal.client.workflow
          .getHandle(id())
          .executeUpdate(answerUpdate.definition, { args: [{ action: 'retry', comment: 'route to kms restored?', by: 'oncall' }] }),
      20_000,
      200,
    );
    await harness.sim.control.makeReachable(kmipHost());
    const result = (await handle.result()) as RecoverKmipResult;

    expect(result.outcome).toBe('recovered');
    expect(result.retests).toBeGreaterThanOrEqual(3);
    // The report covers this one run: every execution of its continue-as-new chain, and the answer.
    const report = await buildRunReport(temporal.client, id());
    expect(report.runId).toBe(handle.firstExecutionRunId);
    expect(report.runIds.length).toBeGreaterThanOrEqual(2);
    expect(report.runIds[0]).toBe(handle.firstExecutionRunId);
    expect(new Set(report.activities.map((a) => a.runId)).size).toBeGreaterThanOrEqual(2);
    expect(report.activities.every((a) => report.runIds.includes(a.runId))).toBe(true);
    expect(report.otherRuns.filter((r) => report.runIds.includes(r.runId))).toEqual([]);
    expect(report.answers).toEqual([expect.objectContaining({ action: 'retry', by: 'oncall', comment: 'route to kms restored?' })]);
    expect(report.status).toBe('COMPLETED');
    expect(result.fault?.code).toBe('kmipServerFault');
    expect(events.map((e) => e.kind)).toEqual(['waiting-for-input', 'completed']);
    // The simulator's end state: fault resolved, keys fetched, drives unlocked.
    expect(await currentKmipFaults()).toEqual([]);
    expect((await harness.sim.control.state()).keyAccess.status).toBe('unlocked');
    // It only read and tested.
    const methods = await callsSinceMark();
    expect(methods.filter((m) => MUTATING.test(m))).toEqual([]);
    expect(methods.filter((m) => m === 'TestKeyServerKmip').length).toBeGreaterThanOrEqual(3);
    const progress = await progressOf(temporal.client.workflow.getHandle(id()));
    expect(progress.steps.map((s) => [s.id, s.state])).toEqual([
      ['confirm', 'done'],
      ['find-servers', 'done'],
      ['diagnose', 'done'],
      ['wait-for-fix', 'done'],
      ['confirm-resolved', 'done'],
    ]);
    expect(progress.state).toBe('completed');
  });

  it('re-tests at once when the operator answers "fixed", and completes', async () => {
    await restartWithServerDown();
    // Re-tests on its own only after a minute: the answer is what moves it.
    const handle = await start({ retest: { initialInterval: 60_000, maxInterval: 60_000 } });
    await waitingForFix(handle, (p) => expect(p.waiting?.answers).toEqual(['fixed', 'retry', 'abort']));

    await harness.sim.control.makeReachable(kmipHost());
    const accepted = await handle.executeUpdate(answerUpdate.definition, {
      args: [{ action: 'fixed', by: 'oncall', comment: 'firewall rule restored' }],
    });
    expect(accepted).toMatchObject({ accepted: true, step: 'wait-for-fix' });

    const result = (await handle.result()) as RecoverKmipResult;
    expect(result.outcome).toBe('recovered');
    expect(result.retests).toBe(1);
    expect(result.diagnosis?.servers[0]?.ok).toBe(true);
    const progress = await progressOf(handle);
    expect(progress.answers).toMatchObject([
      { action: 'fixed', by: 'oncall', comment: 'firewall rule restored', outcome: 'accepted' },
    ]);
    expect(progress.notes.join('\n')).toContain('fixed from oncall: re-testing now');
    expect((await callsSinceMark()).filter((m) => MUTATING.test(m))).toEqual([]);
  });

  it('escalates at the deadline (webhook and log), keeps waiting, and an abort ends it', async () => {
    await restartWithServerDown();
    const handle = await start({ deadline: 1500 });

    const escalated = await eventually(
      async () => {
        const event = receiver.delivered().find((e) => e.kind === 'escalated');
        expect(event).toBeDefined();
        return event!;
      },
      20_000,
      200,
    );
    expect(escalated).toMatchObject({
      runbook: 'recover-kmip-server-fault',
      cluster: harness.name,
      workflowId: id(),
      step: 'wait-for-fix',
      message: `kmipServerFault on ${harness.name} is not fixed 1.5s after the recovery started`,
    });
    expect(escalated.detail).toContain('unreachable — xKmipConnectionFailure');
    expect(receiver.delivered().map((e) => e.kind)).toEqual(['waiting-for-input', 'escalated']);
    expect(receiver.posts[0]!.headers['content-type']).toBe('application/json');
    expect(events.map((e) => e.kind)).toEqual(['waiting-for-input', 'escalated']);

    // Still waiting for a person after escalating.
    const waiting = await waitingForFix(handle, (p) => expect(p.waiting?.prompt).toMatch(/^ESCALATED: kmipServerFault/));
    expect(waiting.state).toBe('waiting-for-input');
    expect(waiting.notes.join('\n')).toContain('escalated: kmipServerFault');

    await handle.executeUpdate(answerUpdate.definition, {
      args: [{ action: 'abort', reason: 'key server replaced; new setup planned', by: 'oncall' }],
    });
    const failure = await handle.result().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootType(failure)).toBe('RunbookAborted');
    expect(rootMessage(failure)).toBe('aborted by oncall: key server replaced; new setup planned');
    expect((await progressOf(handle)).state).toBe('cancelled');
    expect((await callsSinceMark()).filter((m) => MUTATING.test(m))).toEqual([]);
  });

  it('key withheld by the server: the servers pass, the fault says the key is missing; restored, it completes', async () => {
    await harness.sim.control.deleteKey('hardware', 'withhold');
    await harness.sim.control.rereadKeys();
    await eventually(async () => expect((await currentKmipFaults())[0]?.details).toContain('Item Not Found'), 10_000, 50);
    const handle = await start({ resolveWindow: 1200 });

    const waiting = await waitingForFix(handle, (p) => expect(p.diagnosis?.faultClass).toBe('key-missing'));
    expect(waiting.diagnosis?.allServersPass).toBe(true);
    expect(waiting.waiting?.prompt).toContain("key-missing: make the cluster's key available on the key server again");
    expect(waiting.steps.find((s) => s.id === 'confirm-resolved')).toMatchObject({ state: 'failed' });

    await harness.sim.control.restoreKey('hardware');
    const result = (await handle.result()) as RecoverKmipResult;
    expect(result.outcome).toBe('recovered');
    expect(await currentKmipFaults()).toEqual([]);
    expect((await callsSinceMark()).filter((m) => MUTATING.test(m))).toEqual([]);
  });

  it('ends early, saying so, when there is no kmipServerFault', async () => {
    const handle = await start();
    const result = (await handle.result()) as RecoverKmipResult;
    expect(result.outcome).toBe('no-fault');
    const progress = await progressOf(handle);
    expect(progress.notes.join('\n')).toContain(`no current kmipServerFault on ${harness.name}: nothing to do`);
    expect(await callsSinceMark()).toEqual(['ListClusterFaults']);
  });
});
