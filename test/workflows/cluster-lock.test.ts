import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { lockStateQuery, progressQuery, workflowIds } from '../../workflows/contract';
import { finishSignal, lockHolder } from '../fixtures/lock-workflows';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';
import { eventually } from '../support/eventually';

describe('cluster lock (real Temporal server)', () => {
  const taskQueue = uniqueTaskQueue('lock');
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    temporal = await connectClient();
    worker = await startInProcessWorker({
      taskQueue,
      registry: { clusters: {}, signers: {} },
      lockTiming: { livenessCheckMs: 1000, idleExitMs: 5000 },
      workflowsPath: require.resolve('../fixtures/lock-workflows'),
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
  });

  const start = (cluster: string, id: string, ifBusy: 'fail' | 'wait') =>
    temporal.client.workflow.start(lockHolder, { taskQueue, workflowId: `${id}-${cluster}`, args: [cluster, ifBusy] });
  const holderOf = async (cluster: string) =>
    (await temporal.client.workflow.getHandle(workflowIds.clusterLock(cluster)).query(lockStateQuery.definition)).holder
      ?.workflowId;
  const lockStep = async (h: WorkflowHandle) => (await h.query(progressQuery.definition)).steps[0]!.state;

  it('grants one holder, refuses a fail-if-busy requester naming the holder, queues a waiting one', async () => {
    const cluster = `c-${taskQueue}`;
    const first = await start(cluster, 'first', 'wait');
    await eventually(async () => expect(await lockStep(first)).toBe('done'));
    expect(await holderOf(cluster)).toBe(first.workflowId);

    const refused = await start(cluster, 'refused', 'fail');
    const failure = await refused.result().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(String((failure as WorkflowFailedError).cause?.message)).toContain(
      `cluster ${cluster} is busy: rekey runbook ${first.workflowId}`,
    );

    const queued = await start(cluster, 'queued', 'wait');
    await eventually(async () => expect((await queued.query(progressQuery.definition)).waiting?.kind).toBe('cluster-lock'));
    // Queued behind another runbook is not a wait for a person: the run and its step stay running.
    expect(await lockStep(queued)).toBe('running');
    expect((await queued.query(progressQuery.definition)).state).toBe('running');

    await first.signal(finishSignal);
    expect(await first.result()).toBe('done');
    await eventually(async () => expect(await lockStep(queued)).toBe('done'));
    expect(await holderOf(cluster)).toBe(queued.workflowId);
    await queued.signal(finishSignal);
    await queued.result();
    await eventually(async () => expect(await holderOf(cluster)).toBeUndefined());
  });

  it('frees the lock of a holder that was terminated without releasing it', async () => {
    const cluster = `t-${taskQueue}`;
    const doomed = await start(cluster, 'doomed', 'wait');
    await eventually(async () => expect(await lockStep(doomed)).toBe('done'));
    const next = await start(cluster, 'next', 'wait');
    await eventually(async () => expect((await next.query(progressQuery.definition)).waiting?.kind).toBe('cluster-lock'));
    await doomed.terminate('test: holder dies without releasing');
    await eventually(async () => expect(await lockStep(next)).toBe('done'), 15_000);
    await next.signal(finishSignal);
    await next.result();
  });
});
