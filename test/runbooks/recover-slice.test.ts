/**
 * sliceServiceUnhealthy recovery (procedure 4) end to end: real Temporal, the simulator. The
 * simulator fails metadata drives and puts them back `available`; the fault clears once the
 * drives are active again for sliceSettleMs (unless injected with addingHelps: false).
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { RunbookEvent } from '../../src/notify/notifier';
import { answerUpdate, progressQuery, type RunbookProgress } from '../../workflows/contract';
import { workflowIds } from '../../workflows/contract';
import type { RecoverSliceInput } from '../../workflows/inputs-recovery';
import type { RecoverSliceResult } from '../../workflows/recover-slice-service';
import { startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { startRunbook } from '../support/start';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const FAST = {
  settle: 1500,
  polling: { initialInterval: 200, maxInterval: 500, attemptWindow: 10_000 },
  heartbeatTimeout: 5000,
};

describe('sliceServiceUnhealthy recovery (real Temporal, simulator)', () => {
  const taskQueue = uniqueTaskQueue('recover-slice');
  const events: RunbookEvent[] = [];
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let mark = 0;
  let pagerDown = false;

  beforeAll(async () => {
    harness = await startClusterHarness('slice-lab', { durations: { sliceSettleMs: 1000, driveAddMs: 600, tickMs: 50 } });
    temporal = await connectClient();
    const notifier = {
      send: async (e: RunbookEvent) => {
        // Non-retryable, so the notify activity gives up at once instead of after its retries.
        if (pagerDown) throw ApplicationFailure.nonRetryable('pager service down', 'PagerDown');
        events.push(e);
      },
    };
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry, notifier });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });

  beforeEach(async () => {
    const calls = await harness.sim.control.calls();
    mark = calls.at(-1)?.seq ?? 0;
    events.length = 0;
    pagerDown = false;
  });

  // Leave a healthy cluster for the next test: no recovery running, incidents gone, every drive active again.
  afterEach(async () => {
    const handle = temporal.client.workflow.getHandle(workflowIds['recover-slice-service'](harness.name));
    if ((await handle.describe().catch(() => undefined))?.status.name === 'RUNNING') {
      await handle.cancel();
      await handle.result().catch(() => undefined);
    }
    await harness.sim.control.clearSliceIncidents();
    await harness.sim.control.clearHttpFaults();
    await harness.sim.control.clearJobPlans();
    const client = harness.client();
    await eventually(
      async () => {
        const { drives } = await client.call('ListDrives');
        const { asyncHandles } = await client.call('ListAsyncResults', { asyncResultTypes: ['DriveAdd'] });
        const available = drives.filter((d) => d.status === 'available');
        if (available.length > 0 && asyncHandles.every((h) => h.completed)) {
          await client.call('AddDrives', { drives: available.map((d) => ({ driveID: d.driveID })) });
        }
        expect(drives.filter((d) => d.status !== 'active')).toEqual([]);
      },
      15_000,
      300,
    );
    await client.close();
  });

  const callsSinceMark = async (method: string) =>
    (await harness.sim.control.calls({ method, afterSeq: mark })).filter((c) => c.executed);
  const id = () => workflowIds['recover-slice-service'](harness.name);
  const start = (input: Omit<RecoverSliceInput, 'cluster'> = {}) =>
    startRunbook(
      temporal.client,
      'recover-slice-service',
      { cluster: harness.name, ...FAST, ...input },
      { taskQueue, workflowId: id() },
    );
  const currentSliceFaults = async () =>
    (await harness.client().call('ListClusterFaults', { faultTypes: 'current' })).faults.filter(
      (f) => f.code === 'sliceServiceUnhealthy',
    );

  it('adds back exactly the failed metadata drives, waits, and the fault clears', async () => {
    const { driveIDs } = await harness.sim.control.failMetadataDrives({ nodeIDs: [1] });
    const [fault] = await eventually(async () => {
      const faults = await currentSliceFaults();
      expect(faults).toHaveLength(1);
      return faults;
    });

    const handle = await start();
    const result = (await handle.result()) as RecoverSliceResult;

    expect(result.outcome).toBe('recovered');
    expect(result.drives).toEqual(driveIDs);
    expect(result.rounds).toBe(1);
    const adds = await callsSinceMark('AddDrives');
    expect(adds.map((c) => c.params)).toEqual([{ drives: driveIDs.map((driveID) => ({ driveID, type: 'slice' })) }]);
    expect(result.asyncHandles).toHaveLength(1);
    // The simulator's end state: the drives are active, the fault resolved.
    const { drives } = await harness.client().call('ListDrives');
    expect(drives.filter((d) => driveIDs.includes(d.driveID)).map((d) => d.status)).toEqual(['active']);
    expect(await currentSliceFaults()).toEqual([]);
    const resolved = (await harness.client().call('ListClusterFaults', { faultTypes: 'resolved' })).faults;
    expect(resolved.find((f) => f.clusterFaultID === fault!.clusterFaultID)?.resolved).toBe(true);

    const progress = await handle.query(progressQuery.definition);
    expect(progress.state).toBe('completed');
    expect(progress.steps.map((s) => [s.id, s.state])).toEqual([
      ['lock', 'done'],
      ['confirm', 'done'],
      ['find-drives', 'done'],
      ['add', 'done'],
      ['settle', 'done'],
      ['verify', 'done'],
      ['escalate', 'skipped'], // not needed: a completed run leaves no step pending
    ]);
    // Nothing secret in the history: the cluster's password never leaves the worker.
    expect(JSON.stringify(await handle.fetchHistory())).not.toContain(harness.password);
  });

  it('refuses drives that are not the failed metadata drives, naming them, and sends nothing', async () => {
    await harness.sim.control.failMetadataDrives({ nodeIDs: [2] });
    const { drives } = await harness.client().call('ListDrives');
    const block = drives.find((d) => d.type === 'block')!;
    const activeMetadata = drives.find((d) => d.type === 'volume' && d.status === 'active')!;
    const failed = drives.find((d) => d.type === 'volume' && d.status === 'available')!;

    const failure = await (
      await start({ driveIDs: [failed.driveID, block.driveID, activeMetadata.driveID] })
    )
      .result()
      .catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootType(failure)).toBe('DrivesRefused');
    expect(rootMessage(failure)).toContain(`drive ${block.driveID} is a block drive, not a metadata (volume) drive`);
    expect(rootMessage(failure)).toContain(`drive ${activeMetadata.driveID} is active, not available`);
    expect(rootMessage(failure)).not.toContain(`drive ${failed.driveID} `);
    expect(await callsSinceMark('AddDrives')).toEqual([]);
  });

  it('asks which drives when the faults name none and several could be theirs; re-asks for ids that are not candidates', async () => {
    // Two failed metadata drives whose faults name neither drive nor node (driveIDs [], driveID 0, nodeID 0).
    const first = await harness.sim.control.failMetadataDrives({ nodeIDs: [1], faultNames: 'none' });
    const second = await harness.sim.control.failMetadataDrives({ nodeIDs: [2], faultNames: 'none' });
    const candidates = [...first.driveIDs, ...second.driveIDs].sort((a, b) => a - b);
    await eventually(async () => {
      const faults = await currentSliceFaults();
      expect(faults.map((f) => [f.nodeID, f.driveIDs])).toEqual([
        [0, []],
        [0, []],
      ]);
    });

    const handle = await start();
    const asked = async (problem: string) =>
      eventually(
        async () => {
          const p = await handle.query(progressQuery.definition);
          expect(p.waiting?.step).toBe('find-drives');
          expect(p.waiting?.problem).toContain(problem);
          return p;
        },
        30_000,
        200,
      );
    const waiting = await asked('DrivesAmbiguous');
    expect(waiting.waiting?.answers).toEqual(['change', 'abort']);
    expect(waiting.waiting?.problem).toContain(
      `2 available metadata drives could be the failed ones: ${candidates[0]} (node 1), ${candidates[1]} (node 2)`,
    );
    expect(waiting.waiting?.prompt).toContain('--drives');
    expect(await callsSinceMark('AddDrives')).toEqual([]);

    // A drive that is not a candidate: accepted as an answer, refused by the check, asked again.
    const active = (await harness.client().call('ListDrives')).drives.find((d) => d.type === 'volume' && d.status === 'active')!;
    await handle.executeUpdate(answerUpdate.definition, {
      args: [{ action: 'change', driveIDs: [active.driveID], by: 'on-call' }],
    });
    const again = await asked('DrivesRefused');
    expect(again.waiting?.problem).toContain(`drive ${active.driveID} is active, not available`);
    expect(await callsSinceMark('AddDrives')).toEqual([]);

    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'change', driveIDs: candidates, by: 'on-call' }] });
    const result = (await handle.result()) as RecoverSliceResult;
    expect(result.outcome).toBe('recovered');
    expect(result.drives).toEqual(candidates);
    const adds = await callsSinceMark('AddDrives');
    expect(adds.map((c) => c.params)).toEqual([{ drives: candidates.map((driveID) => ({ driveID, type: 'slice' })) }]);
    const progress = await handle.query(progressQuery.definition);
    expect(progress.notes.join('\n')).toContain(`drives ${candidates.join(', ')} chosen by on-call`);
    expect(progress.steps.find((s) => s.id === 'find-drives')).toMatchObject({ state: 'done', attempts: 3 });
  });

  it('escalates with what it saw when adding the drives does not help, then "fixed" verifies and completes', async () => {
    const { driveIDs } = await harness.sim.control.failMetadataDrives({ nodeIDs: [3], addingHelps: false });
    const handle = await start({ attempts: 2, settle: 800 });

    const waiting = await eventually(
      async () => {
        const p = await handle.query(progressQuery.definition);
        expect(p.waiting?.step).toBe('escalate');
        return p;
      },
      30_000,
      200,
    );

    expect(waiting.state).toBe('waiting-for-input');
    expect(waiting.waiting?.answers).toEqual(['retry', 'fixed', 'abort']);
    expect(waiting.steps.find((s) => s.id === 'verify')).toMatchObject({ attempts: 2, state: 'failed' });
    const escalated = events.find((e) => e.kind === 'escalated');
    expect(escalated?.message).toBe(`sliceServiceUnhealthy on ${harness.name} did not clear after 2 round(s)`);
    expect(escalated?.detail).toContain('sliceServiceUnhealthy is still current');
    expect(escalated?.detail).toContain(`drives: ${driveIDs[0]} active (volume, node 3)`);
    expect(escalated?.detail).toMatch(/faults: fault \d+ \(warning, node 3/);
    expect(escalated?.workflowId).toBe(id());
    expect(events.find((e) => e.kind === 'waiting-for-input')?.step).toBe('escalate');
    // The second round found the drives active and did not add them again.
    expect(await callsSinceMark('AddDrives')).toHaveLength(1);

    // An answer not offered is refused; support fixes the drives; "fixed" verifies now.
    const refused = await handle
      .executeUpdate(answerUpdate.definition, { args: [{ action: 'extend', extendBy: '1h' }] })
      .catch((e: unknown) => e);
    expect(rootMessage(refused)).toContain('answer "extend" is not offered at step escalate; choose one of: retry, fixed, abort');
    await harness.sim.control.clearSliceIncidents();
    await eventually(async () => expect(await currentSliceFaults()).toEqual([]));
    const accepted = await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'fixed', by: 'support' }] });
    expect(accepted.step).toBe('escalate');

    const result = (await handle.result()) as RecoverSliceResult;
    expect(result.outcome).toBe('recovered');
    expect(result.rounds).toBe(2);
    const progress: RunbookProgress = await handle.query(progressQuery.definition);
    expect(progress.answers).toMatchObject([{ action: 'fixed', by: 'support', outcome: 'accepted', step: 'escalate' }]);
  });

  it('keeps waiting for a person when the notifications cannot be sent, and an abort ends it', async () => {
    await harness.sim.control.failMetadataDrives({ nodeIDs: [4], addingHelps: false });
    pagerDown = true;
    const handle = await start({ attempts: 1, settle: 500 });

    const waiting = await eventually(
      async () => {
        const p = await handle.query(progressQuery.definition);
        expect(p.waiting?.step).toBe('escalate');
        expect(p.notes.join('\n')).toContain(
          'the waiting-for-input notification could not be sent: PagerDown: pager service down',
        );
        return p;
      },
      30_000,
      200,
    );
    expect(waiting.notes.join('\n')).toContain('the escalation could not be sent: PagerDown: pager service down');
    expect(waiting.state).toBe('waiting-for-input');

    await handle.executeUpdate(answerUpdate.definition, {
      args: [{ action: 'abort', reason: 'drive replacement ordered', by: 'support' }],
    });
    const failure = await handle.result().catch((e: unknown) => e);
    expect(rootType(failure)).toBe('RunbookAborted');
    expect(rootMessage(failure)).toBe('aborted by support: drive replacement ordered');
    expect((await handle.query(progressQuery.definition)).state).toBe('cancelled');
  });

  it('a DriveAdd job that fails costs a round: the next round adds the drives again and the fault clears', async () => {
    const { driveIDs } = await harness.sim.control.failMetadataDrives({ nodeIDs: [3] });
    await harness.sim.control.addJobPlan({
      resultType: 'DriveAdd',
      failure: { name: 'xDriveAddFailed', message: 'drive did not respond' },
      remaining: 1,
    });

    const handle = await start({ attempts: 2 });
    const result = (await handle.result()) as RecoverSliceResult;

    expect(result.outcome).toBe('recovered');
    expect(result.rounds).toBe(2);
    expect(result.asyncHandles).toHaveLength(2);
    expect(await callsSinceMark('AddDrives')).toHaveLength(2);
    const progress = await handle.query(progressQuery.definition);
    const notes = progress.notes.join('\n');
    expect(notes).toContain(
      `round 1: DriveAdd ${result.asyncHandles[0]} failed: xDriveAddFailed: async job ${result.asyncHandles[0]} (DriveAdd) failed`,
    );
    expect(progress.steps.find((s) => s.id === 'settle')).toMatchObject({ state: 'done', detail: 'round 2: waited 1.5s' });
    const { drives } = await harness.client().call('ListDrives');
    expect(drives.filter((d) => driveIDs.includes(d.driveID)).map((d) => d.status)).toEqual(['active']);
  });

  it('waits for a DriveAdd already running for those drives instead of adding them twice', async () => {
    const { driveIDs } = await harness.sim.control.failMetadataDrives({ nodeIDs: [4] });
    await harness.sim.control.addJobPlan({ resultType: 'DriveAdd', durationMs: 2500, remaining: 1 });
    const { asyncHandle } = await harness.client().call('AddDrives', { drives: driveIDs.map((driveID) => ({ driveID })) });

    const result = (await (await start()).result()) as RecoverSliceResult;

    expect(result.outcome).toBe('recovered');
    expect(result.asyncHandles).toEqual([asyncHandle]);
    expect(await callsSinceMark('AddDrives')).toHaveLength(1);
  });

  it('does not add twice when the AddDrives answer is lost after the cluster started the job', async () => {
    const { driveIDs } = await harness.sim.control.failMetadataDrives({ nodeIDs: [1] });
    await harness.sim.control.setHttpFaults({ rules: [{ kind: 'reset', methods: ['AddDrives'], phase: 'after', remaining: 1 }] });

    const result = (await (await start()).result()) as RecoverSliceResult;

    expect(result.outcome).toBe('recovered');
    const adds = await harness.sim.control.calls({ method: 'AddDrives', afterSeq: mark });
    expect(adds).toHaveLength(1);
    expect(adds[0]).toMatchObject({ executed: true, outcome: 'injected' });
    const { drives } = await harness.client().call('ListDrives');
    expect(drives.filter((d) => driveIDs.includes(d.driveID)).map((d) => d.status)).toEqual(['active']);
  });

  it('ends early, saying so, when there is no sliceServiceUnhealthy fault', async () => {
    const handle = await start();
    const result = (await handle.result()) as RecoverSliceResult;
    expect(result.outcome).toBe('no-fault');
    const progress = await handle.query(progressQuery.definition);
    expect(progress.notes.join('\n')).toContain(`no current sliceServiceUnhealthy fault on ${harness.name}: nothing to do`);
    expect(progress.steps.find((s) => s.id === 'add')?.state).toBe('skipped');
    expect(await callsSinceMark('ListDrives')).toEqual([]);
  });

  it('refuses bad input in the workflow itself, naming the field', async () => {
    const failure = await (await start({ attempts: 0, settle: 'soon' })).result().catch((e: unknown) => e);
    expect(rootType(failure)).toBe('InvalidInput');
    expect(rootMessage(failure)).toContain('attempts:');
    expect(rootMessage(failure)).toContain('settle: "soon" is not a duration');
  });
});
