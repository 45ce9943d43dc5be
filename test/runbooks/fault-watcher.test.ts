/**
 * The fault watcher against the simulator: notify-only (notifies once, starts nothing), recover
 * mode (exactly one recovery for one fault, across polls and continue-as-new), and a recovery
 * already running is not duplicated.
 */
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { RunbookEvent } from '../../src/notify/notifier';
import { answerUpdate, progressQuery, runbookProgress, watcherStatusQuery, workflowIds } from '../../workflows/contract';
import type { WatcherResult } from '../../workflows/fault-watcher';
import { EkmState } from '../../src/temporal/search-attributes';
import type { FaultWatcherInput } from '../../workflows/inputs-recovery';
import type { RecoverSliceResult } from '../../workflows/recover-slice-service';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { startRunbook } from '../support/start';
import { eventually } from '../support/eventually';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const SLICE_FAST = {
  settle: 1500,
  polling: { initialInterval: 200, maxInterval: 500, attemptWindow: 10_000 },
  heartbeatTimeout: 5000,
};

describe('fault watcher (real Temporal, simulator)', () => {
  const taskQueue = uniqueTaskQueue('fault-watcher');
  const events: RunbookEvent[] = [];
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let mark = 0;

  beforeAll(async () => {
    harness = await startClusterHarness('watch-lab', {
      durations: { sliceSettleMs: 1000, driveAddMs: 600, earTransitionMs: 300, kmipRetryMs: 400, tickMs: 50 },
    });
    temporal = await connectClient();
    worker = await startInProcessWorker({
      taskQueue,
      registry: harness.registry,
      notifier: { send: async (e) => void events.push(e) },
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });
  afterEach(async () => {
    const watcher = temporal.client.workflow.getHandle(watcherId());
    if ((await watcher.describe().catch(() => undefined))?.status.name === 'RUNNING') {
      await watcher.cancel();
      await watcher.result().catch(() => undefined);
    }
  });
  beforeEach(async () => {
    mark = (await harness.sim.control.calls()).at(-1)?.seq ?? 0;
    events.length = 0;
  });

  const watcherId = () => workflowIds['fault-watcher'](harness.name);
  const startWatcher = (input: Omit<FaultWatcherInput, 'cluster'>) =>
    startRunbook(
      temporal.client,
      'fault-watcher',
      { cluster: harness.name, interval: 300, pollsPerRun: 4, heartbeatTimeout: 5000, ...input },
      { taskQueue, workflowId: watcherId() },
    );
  const status = async () => temporal.client.workflow.getHandle(watcherId()).query(watcherStatusQuery.definition);
  const faultDetected = () => events.filter((e) => e.kind === 'fault-detected');

  /** `ekm watch stop`: cancelling ends the watcher, which reports how it went. */
  async function stop(handle: WorkflowHandle): Promise<WatcherResult> {
    await handle.cancel();
    const result = (await handle.result()) as WatcherResult;
    expect(result.stopped).toBe(true);
    expect((await temporal.client.workflow.getHandle(watcherId()).describe()).status.name).toBe('COMPLETED');
    return result;
  }

  async function pollsPass(count: number): Promise<void> {
    const from = (await status()).polls;
    await eventually(async () => expect((await status()).polls).toBeGreaterThanOrEqual(from + count), 20_000, 100);
  }

  it('notify-only: notifies once per new fault, however many polls see it, and starts no recovery', async () => {
    const handle = await startWatcher({ notifyOnly: true });
    await pollsPass(1);
    const { driveIDs } = await harness.sim.control.failMetadataDrives({ nodeIDs: [1] });
    await eventually(async () => expect(faultDetected()).toHaveLength(1), 10_000, 100);
    await pollsPass(6);

    expect(faultDetected()).toHaveLength(1);
    const [notice] = faultDetected();
    expect(notice!.message).toContain(`sliceServiceUnhealthy on ${harness.name} (fault `);
    expect(notice!.message).toContain(`notify-only: no recovery started, run: ekm recover ${harness.name} slice`);
    expect(notice!.data).toMatchObject({ code: 'sliceServiceUnhealthy', notifyOnly: true });
    const watch = await status();
    expect(watch.recoveries).toMatchObject([{ code: 'sliceServiceUnhealthy', outcome: 'notified-only' }]);
    expect(watch.faultsSeen.filter((f) => f.current).map((f) => f.code)).toEqual(['sliceServiceUnhealthy']);
    expect(watch.lastPollAt).toBeDefined();
    // The generic progress keeps the contract `ekm status --json` checks.
    const progress = await temporal.client.workflow.getHandle(watcherId()).query(progressQuery.definition);
    expect(runbookProgress.safeParse(progress).error).toBeUndefined();
    expect(progress.steps.find((s) => s.id === 'poll')?.detail).toMatch(/^last poll .*: 1 current fault\(s\)/);
    const sliceFault = (await harness.client().call('ListClusterFaults', { faultTypes: 'current' })).faults.find(
      (f) => f.code === 'sliceServiceUnhealthy',
    );
    expect(sliceFault?.driveIDs).toEqual(driveIDs);
    await expect(
      temporal.client.workflow.getHandle(workflowIds['recover-slice-service'](harness.name)).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(await harness.sim.control.calls({ method: 'AddDrives', afterSeq: mark })).toEqual([]);
    // It kept its history small: more polls than pollsPerRun, so it continued as new, and kept its state.
    const firstRun = await temporal.client.workflow.getHandle(watcherId(), handle.firstExecutionRunId).describe();
    expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
    // Continuing is not an end: the run was never marked failed (`ekm list --state failed` must not show it).
    expect(firstRun.typedSearchAttributes.get(EkmState)).toMatch(/^(running|waiting-for-input)$/);
    await stop(handle);
  });

  it('recover mode: starts exactly one recovery for the fault, across polls and continue-as-new, and it clears the fault', async () => {
    // Still current after the notify-only test (failing the same drive again keeps the same fault); a new watcher acts on it.
    await harness.sim.control.failMetadataDrives({ nodeIDs: [1] });
    const handle = await startWatcher({ recovery: { slice: SLICE_FAST } });
    const started = await eventually(
      async () => {
        const [recovery] = (await status()).recoveries;
        expect(recovery).toMatchObject({
          code: 'sliceServiceUnhealthy',
          outcome: 'started',
          workflowId: workflowIds['recover-slice-service'](harness.name),
        });
        return recovery!;
      },
      10_000,
      100,
    );
    const recovery = temporal.client.workflow.getHandle(started.workflowId, started.runId);
    // Started by the watcher, it would queue behind a runbook holding the cluster lock instead of failing.
    const [startedWith] = (await recovery.fetchHistory()).events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    expect(JSON.parse(Buffer.from(startedWith!.data!).toString())).toMatchObject({ ifBusy: 'wait', cluster: harness.name });
    const result = (await recovery.result()) as RecoverSliceResult;
    expect(result.outcome).toBe('recovered');
    await pollsPass(4);

    const watch = await status();
    expect(watch.recoveries).toHaveLength(1);
    expect(watch.faultsSeen.filter((f) => f.current)).toEqual([]);
    expect(faultDetected()).toHaveLength(1);
    expect(faultDetected()[0]!.message).toContain(`started ${started.workflowId}`);
    expect((await temporal.client.workflow.getHandle(started.workflowId).describe()).runId).toBe(started.runId);
    expect(await harness.sim.control.calls({ method: 'AddDrives', afterSeq: mark })).toHaveLength(1);
    expect((await recovery.query(progressQuery.definition)).state).toBe('completed');
    expect((await temporal.client.workflow.getHandle(watcherId(), handle.firstExecutionRunId).describe()).status.name).toBe(
      'CONTINUED_AS_NEW',
    );
    // Four polls and a child start per run: the history stays small however long the watcher runs.
    expect(
      (await temporal.client.workflow.getHandle(watcherId(), handle.firstExecutionRunId).describe()).historyLength,
    ).toBeLessThan(100);
    const stopped = await stop(handle);
    expect(stopped.recoveries).toHaveLength(1);
  });

  it('does not start a second recovery while one is already running for the fault; acts once that one ends with the fault still there', async () => {
    const client = harness.client();
    const ekm = await configureEkmByHand(client, { commonName: 'watch-lab.example.test' });
    await client.call('EnableEncryptionAtRest', { keyProviderID: ekm.keyProviderID });
    await eventually(async () => expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled'));
    await harness.sim.control.makeUnreachable(testEnv().kmip.host);
    await harness.sim.control.restartCluster();
    const byHand = await startRunbook(
      temporal.client,
      'recover-kmip-server-fault',
      { cluster: harness.name, retest: { initialInterval: 60_000 }, heartbeatTimeout: 5000 },
      { taskQueue, workflowId: workflowIds['recover-kmip-server-fault'](harness.name) },
    );

    const handle = await startWatcher({});
    await eventually(
      async () => expect((await status()).recoveries).toMatchObject([{ code: 'kmipServerFault', outcome: 'already-running' }]),
      10_000,
      100,
    );
    await pollsPass(3);
    expect((await status()).recoveries).toHaveLength(1);
    expect(faultDetected()[0]!.message).toContain('is already running; not starting another');
    expect((await temporal.client.workflow.getHandle(byHand.workflowId).describe()).runId).toBe(byHand.firstExecutionRunId);

    // That recovery ends (aborted) with the fault still there: the watcher now starts one itself.
    await byHand.executeUpdate(answerUpdate.definition, { args: [{ action: 'abort', reason: 'handing over to the watcher' }] });
    await byHand.result().catch(() => undefined);
    const restarted = await eventually(
      async () => {
        const recoveries = (await status()).recoveries;
        expect(recoveries.map((r) => r.outcome)).toEqual(['already-running', 'started']);
        return recoveries[1]!;
      },
      10_000,
      100,
    );
    expect(restarted.runId).not.toBe(byHand.firstExecutionRunId);
    const progress = await temporal.client.workflow.getHandle(watcherId()).query(progressQuery.definition);
    expect(progress.notes.join('\n')).toMatch(
      /kmipServerFault \(fault \d+\) is still current after .* ended: acting on it again/,
    );
    await pollsPass(3);
    expect((await status()).recoveries).toHaveLength(2);

    await harness.sim.control.makeReachable(testEnv().kmip.host);
    await stop(handle);
    const byWatcher = temporal.client.workflow.getHandle(restarted.workflowId, restarted.runId);
    if ((await byWatcher.describe()).status.name === 'RUNNING') await byWatcher.cancel();
    await byWatcher.result().catch(() => undefined);
    await eventually(async () => {
      const { faults } = await client.call('ListClusterFaults', { faultTypes: 'current' });
      expect(faults.filter((f) => f.code === 'kmipServerFault')).toEqual([]);
    });
    await client.close();
  });
});
