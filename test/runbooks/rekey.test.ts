import { WorkflowFailedError } from '@temporalio/client';
import type { RunbookEvent } from '../../src/notify/notifier';
import type { RekeyResult } from '../../workflows/rekey';
import type { RekeyInput } from '../../workflows/inputs';
import {
  addKmipCheckIdentity,
  configureEkmByHand,
  kmipKeyExists,
  startClusterHarness,
  type ClusterHarness,
} from '../support/cluster-harness';
import { executeRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { rootMessage, rootType } from '../support/failures';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const COMMON_NAME = 'rekey-cluster.example.test';

describe('rekey runbook (real Temporal, simulator, PyKMIP)', () => {
  const taskQueue = uniqueTaskQueue('rekey');
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let providerID: number;
  const events: RunbookEvent[] = [];

  beforeAll(async () => {
    harness = await startClusterHarness('rekey-lab', {
      softwareEncryptionAtRest: true,
      durations: { rekeyMs: 1500, tickMs: 50 },
    });
    ({ keyProviderID: providerID } = await configureEkmByHand(harness.client(), { commonName: COMMON_NAME }));
    await addKmipCheckIdentity(harness, COMMON_NAME);
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

  const rekey = (input: Omit<RekeyInput, 'cluster'>, id = `rekey-${Date.now()}`) =>
    executeRunbook(temporal.client, 'rekey', { cluster: harness.name, ...input }, { taskQueue, workflowId: id });
  const rekeyCalls = async () => (await harness.sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).length;

  it('moves the master key from internal to external, and the new key is on the KMIP server', async () => {
    const before = await harness.client().call('GetSoftwareEncryptionAtRestInfo');
    expect(before.masterKeyInfo?.keyManagementType).toBe('internal');
    const callsBefore = await rekeyCalls();

    const result = await rekey({ keyManagement: 'external' });

    expect(result.oldKey?.keyID).toBe(before.masterKeyInfo?.keyID);
    expect(result.newKey.keyManagementType).toBe('external');
    expect(result.newKey.keyProviderID).toBe(providerID);
    expect(result.newKey.keyID).not.toBe(before.masterKeyInfo?.keyID);
    expect(result.attachedToRunningRekey).toBe(false);
    const after = await harness.client().call('GetSoftwareEncryptionAtRestInfo');
    expect(after.masterKeyInfo?.keyID).toBe(result.newKey.keyID);
    expect(after.rekeyMasterKeyAsyncResultID).toBe(result.asyncHandle);
    expect(await kmipKeyExists(COMMON_NAME, result.newKey.keyID)).toBe(true);
    // The runbook asked the key server itself, with the worker's kmipCheck identity, by the key's attribute.
    expect(result.kmipCheck).toEqual({
      checked: true,
      keyAttribute: { name: `x-SolidFire-KeyID-${result.newKey.keyID}`, value: result.newKey.keyID },
      server: `${testEnv().kmip.host}:${testEnv().kmip.port}`,
      uniqueIdentifiers: [expect.any(String)],
    });
    expect((await rekeyCalls()) - callsBefore).toBe(1);
  });

  it('replaces an external key with a brand-new external key (by provider name)', async () => {
    const first = await harness.client().call('GetSoftwareEncryptionAtRestInfo');
    const result = await rekey({ keyManagement: 'external', provider: { name: 'kmip-provider' } });
    expect(result.oldKey?.keyID).toBe(first.masterKeyInfo?.keyID);
    expect(result.newKey.keyID).not.toBe(first.masterKeyInfo?.keyID);
    expect(result.newKey.keyManagementType).toBe('external');
    expect(await kmipKeyExists(COMMON_NAME, result.newKey.keyID)).toBe(true);
  });

  it('moves an external key back to internal', async () => {
    const result = await rekey({ keyManagement: 'internal' });
    expect(result.oldKey?.keyManagementType).toBe('external');
    expect(result.newKey.keyManagementType).toBe('internal');
    expect(result.newKey.keyProviderID).toBeUndefined();
    expect(result.kmipCheck).toBeUndefined();
    expect((await harness.client().call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo?.keyManagementType).toBe('internal');
  });

  it('fails when the key on the key server lacks its x-SolidFire-KeyID attribute; says so when it cannot check', async () => {
    const entry = harness.registry.clusters[harness.name]!;
    const check = entry.kmipCheck!;
    try {
      // The cluster creates the new key without the attribute: the key server has no key tagged with its keyID.
      await harness.sim.control.setTagKeys(false);
      const failure = await rekey({ keyManagement: 'external' }).catch((e: unknown) => e);
      expect(rootType(failure)).toBe('KeyNotOnKmipServer');
      const newKeyID = (await harness.client().call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo!.keyID!;
      expect(rootMessage(failure)).toBe(
        `the cluster reports master key ${newKeyID} with provider ${providerID}, but key server ${testEnv().kmip.host}:${testEnv().kmip.port} has no key with the attribute x-SolidFire-KeyID-${newKeyID} = ${newKeyID}`,
      );
      await harness.sim.control.setTagKeys(true);

      entry.kmipCheck = undefined;
      const unchecked = await rekey({ keyManagement: 'external' });
      expect(unchecked.kmipCheck).toEqual({
        checked: false,
        reason: `no kmipCheck identity is configured for cluster ${harness.name} in the clusters file`,
      });
    } finally {
      entry.kmipCheck = check;
      await harness.sim.control.setTagKeys(true);
    }
  });

  it('fails with the Element error name and message when the job fails', async () => {
    await harness.sim.control.addJobPlan({
      resultType: 'RekeySoftwareEncryptionAtRestMasterKey',
      failure: { name: 'xKmipKeyCreateFailed', message: 'key server refused to create the key' },
      remaining: 1,
    });
    const failure = await rekey({ keyManagement: 'external' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootType(failure)).toBe('xKmipKeyCreateFailed');
    expect(rootMessage(failure)).toContain('xKmipKeyCreateFailed: key server refused to create the key');
    // People hear about it (a scheduled rekey that fails pauses its schedule: someone must look).
    expect(events.at(-1)).toMatchObject({ kind: 'failed', runbook: 'rekey', cluster: harness.name });
    expect(events.at(-1)?.message).toContain('xKmipKeyCreateFailed');
  });

  it('attaches to a rekey already running instead of starting another', async () => {
    await harness.sim.control.setDurations({ rekeyMs: 3000 });
    try {
      const { asyncHandle } = await harness
        .client()
        .call('RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'External', keyProviderID: providerID });
      const callsBefore = await rekeyCalls();
      const result = await rekey({ keyManagement: 'external' });
      expect(result.attachedToRunningRekey).toBe(true);
      expect(result.asyncHandle).toBe(asyncHandle);
      expect(await rekeyCalls()).toBe(callsBefore);
    } finally {
      await harness.sim.control.setDurations({ rekeyMs: 1500 });
    }
  });

  it('refuses a cluster without software encryption at rest, naming the state', async () => {
    const plain = await startClusterHarness('rekey-plain', { softwareEncryptionAtRest: false });
    const plainWorker = await startInProcessWorker({ taskQueue: `${taskQueue}-plain`, registry: plain.registry });
    try {
      const failure = await executeRunbook(
        temporal.client,
        'rekey',
        { cluster: plain.name },
        { taskQueue: `${taskQueue}-plain`, workflowId: `rekey-plain-${Date.now()}` },
      ).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect(rootType(failure)).toBe('SoftwareEncryptionNotEnabled');
      expect(rootMessage(failure)).toContain('software encryption at rest is disabled on cluster rekey-plain');
      expect(await plain.sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).toHaveLength(0);
    } finally {
      await plainWorker.stop();
      await plain.stop();
    }
  });

  it('refuses bad input in the workflow itself, naming the field', async () => {
    const failure = await executeRunbook(
      temporal.client,
      'rekey',
      { cluster: harness.name, keyManagement: 'internal', provider: { id: 3 } },
      { taskQueue, workflowId: `rekey-bad-${Date.now()}` },
    ).catch((e: unknown) => e);
    expect(rootType(failure)).toBe('InvalidInput');
    expect(rootMessage(failure)).toBe('provider: is only for keyManagement external');
  });
});
