/**
 * A rekey whose async result is gone before the runbook reads it (someone else read it without
 * keepResult, or the cluster answers xDBNoSuchPath): the runbook decides from
 * GetSoftwareEncryptionAtRestInfo instead of failing or rekeying again (docs/element-api.md,
 * evidence table). Real Temporal, the simulator, the extended PyKMIP.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { progressQuery } from '../../workflows/contract';
import type { RekeyInput } from '../../workflows/inputs';
import type { RekeyResult } from '../../workflows/rekey';
import {
  addKmipCheckIdentity,
  configureEkmByHand,
  kmipKeyExists,
  startClusterHarness,
  type ClusterHarness,
} from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { startRunbook } from '../support/start';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const COMMON_NAME = 'rekey-purged.example.test';
/** The runbook polls once at once, then not again for this long: time for the job to end and its result to go. */
const POLLING = { initialInterval: '4s', maxInterval: '4s' };

describe('rekey runbook when the rekey result was purged', () => {
  const taskQueue = uniqueTaskQueue('rekey-purged');
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let providerID: number;

  beforeAll(async () => {
    harness = await startClusterHarness('rekey-purged', {
      softwareEncryptionAtRest: true,
      durations: { rekeyMs: 600, tickMs: 50 },
    });
    ({ keyProviderID: providerID } = await configureEkmByHand(harness.client(), { commonName: COMMON_NAME }));
    await addKmipCheckIdentity(harness, COMMON_NAME);
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry });
  });

  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });

  afterEach(async () => {
    await harness.sim.control.clearHttpFaults();
  });

  const rekeyCalls = async () => (await harness.sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).length;

  /** Starts the runbook, waits until its rekey job has ended on the cluster, then does `meanwhile`; the run's outcome. */
  async function rekeyWhile(
    meanwhile: (asyncHandle: number) => Promise<void>,
  ): Promise<{ handle: number; result: Promise<RekeyResult> }> {
    const before = new Set((await harness.sim.control.state()).asyncResults.map((r) => r.asyncResultID));
    const input: RekeyInput = { cluster: harness.name, keyManagement: 'external', polling: POLLING };
    const run = await startRunbook(temporal.client, 'rekey', input, { taskQueue, workflowId: `rekey-purged-${Date.now()}` });
    const handle = await eventually(async () => {
      const ended = (await harness.sim.control.state()).asyncResults.find(
        (r) => !before.has(r.asyncResultID) && r.job.kind === 'rekey' && r.outcome?.success === true,
      );
      expect(ended).toBeDefined();
      return ended!.asyncResultID;
    }, 20_000);
    // The runbook has polled once (running) and waits before the next look.
    const progress = await run.query(progressQuery.definition);
    expect(progress.steps.find((s) => s.id === 'wait')?.state).toBe('running');
    await meanwhile(handle);
    return { handle, result: run.result() };
  }

  it('xAsyncHandleDoesNotExist: the latest rekey is this one and its key is as asked: success, one Rekey call', async () => {
    const callsBefore = await rekeyCalls();
    const { handle, result } = await rekeyWhile(async (asyncHandle) => {
      // Someone else reads the result without keepResult: the cluster forgets it.
      const other = harness.client();
      await other.call('GetAsyncResult', { asyncHandle });
      await other.close();
    });
    const done = await result;
    const info = await harness.client().call('GetSoftwareEncryptionAtRestInfo');
    expect(done.asyncHandle).toBe(handle);
    expect(done.newKey).toMatchObject({
      keyID: info.masterKeyInfo!.keyID,
      keyManagementType: 'external',
      keyProviderID: providerID,
    });
    expect(done.kmipCheck).toMatchObject({ checked: true });
    expect(await kmipKeyExists(COMMON_NAME, done.newKey.keyID)).toBe(true);
    expect((await rekeyCalls()) - callsBefore).toBe(1);
    // The runbook did meet the purged handle, and says what it decided from.
    const gone = await harness.sim.control.calls({ method: 'GetAsyncResult' });
    expect(
      gone.some(
        (c) => c.errorName === 'xAsyncHandleDoesNotExist' && (c.params as { asyncHandle?: number }).asyncHandle === handle,
      ),
    ).toBe(true);
  });

  it('xDBNoSuchPath from GetAsyncResult is handled the same way', async () => {
    const callsBefore = await rekeyCalls();
    const { result } = await rekeyWhile(async () => {
      await harness.sim.control.setHttpFaults({
        rules: [{ kind: 'error', methods: ['GetAsyncResult'], error: { name: 'xDBNoSuchPath', message: 'No such path.' } }],
      });
    });
    const done = await result;
    expect(done.newKey.keyManagementType).toBe('external');
    expect((await harness.client().call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo?.keyID).toBe(done.newKey.keyID);
    expect((await rekeyCalls()) - callsBefore).toBe(1);
  });

  it('when the cluster no longer names the rekey either, the run ends RekeyOutcomeUnknown without rekeying again', async () => {
    const callsBefore = await rekeyCalls();
    const { handle, result } = await rekeyWhile((asyncHandle) =>
      harness.sim.control.purgeAsyncResult(asyncHandle, { forgetRekeyHandle: true }),
    );
    const failure = await result.catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootType(failure)).toBe('RekeyOutcomeUnknown');
    expect(rootMessage(failure)).toContain(
      `GetAsyncResult answered xAsyncHandleDoesNotExist for rekey ${handle} (its result was purged), and GetSoftwareEncryptionAtRestInfo names no rekey as the latest`,
    );
    expect(rootMessage(failure)).toContain('No other rekey was started');
    expect((await rekeyCalls()) - callsBefore).toBe(1);
  });
});
