import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startTemporalDevServer, type TemporalDevServer } from '../../tools/devenv/temporal';
import { progressQuery } from '../../workflows/contract';
import type { RekeyResult } from '../../workflows/rekey';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { startRunbook } from '../support/start';
import { eventually } from '../support/eventually';
import { connectClient, spawnWorkerProcess, startInProcessWorker, uniqueTaskQueue } from '../support/worker';

const FAST_POLL = { initialInterval: 500, maxInterval: 1000, attemptWindow: 20_000 };

async function waitingForJob(handle: {
  query: (q: typeof progressQuery.definition) => Promise<{ steps: { id: string; state: string }[] }>;
}) {
  await eventually(
    async () => {
      const step = (await handle.query(progressQuery.definition)).steps.find((s) => s.id === 'wait');
      expect(step?.state).toBe('running');
    },
    30_000,
    250,
  );
}

describe('rekey runbook survives restarts', () => {
  let harness: ClusterHarness;

  beforeEach(async () => {
    harness = await startClusterHarness(`durable-${Date.now() % 100000}`, {
      softwareEncryptionAtRest: true,
      durations: { rekeyMs: 8000, tickMs: 50 },
    });
    await configureEkmByHand(harness.client(), { commonName: 'durable-cluster.example.test' });
  });
  afterEach(async () => harness?.stop());

  it('completes after the worker process is SIGKILLed while polling, and the cluster saw one rekey', async () => {
    const taskQueue = uniqueTaskQueue('rekey-kill');
    const temporal = await connectClient();
    const spawnWorker = () =>
      spawnWorkerProcess({ taskQueue, clustersFile: harness.clustersFile, logDir: path.join(harness.dir, 'logs') });
    let worker = spawnWorker();
    try {
      const handle = await startRunbook(
        temporal.client,
        'rekey',
        { cluster: harness.name, polling: FAST_POLL },
        { taskQueue, workflowId: `rekey-kill-${Date.now()}` },
      );
      await waitingForJob(handle);
      await worker.kill();
      worker = spawnWorker();
      const result = (await handle.result()) as RekeyResult;
      expect(result.newKey.keyManagementType).toBe('external');
      expect(await harness.sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).toHaveLength(1);
      const info = await harness.client().call('GetSoftwareEncryptionAtRestInfo');
      expect(info.masterKeyInfo?.keyID).toBe(result.newKey.keyID);
      expect(info.rekeyMasterKeyAsyncResultID).toBe(result.asyncHandle);
    } finally {
      await worker.stop();
      await temporal.close();
    }
  });

  it('completes after the Temporal server is stopped and started again on its database file', async () => {
    let server: TemporalDevServer | undefined;
    let connection: Connection | undefined;
    const taskQueue = uniqueTaskQueue('rekey-server');
    server = await startTemporalDevServer({ dir: path.join(harness.dir, 'temporal'), persist: true });
    const worker = await startInProcessWorker({ taskQueue, registry: harness.registry, address: server.address });
    try {
      connection = await Connection.connect({ address: server.address });
      const client = new Client({ connection });
      const handle = await startRunbook(
        client,
        'rekey',
        { cluster: harness.name, polling: FAST_POLL },
        { taskQueue, workflowId: `rekey-server-${Date.now()}` },
      );
      await waitingForJob(handle);
      await server.restart();
      const result = (await client.workflow.getHandle(handle.workflowId).result()) as RekeyResult;
      expect(result.newKey.keyManagementType).toBe('external');
      expect(await harness.sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).toHaveLength(1);
    } finally {
      await worker.stop();
      await connection?.close();
      await server.stop();
    }
  });
});
