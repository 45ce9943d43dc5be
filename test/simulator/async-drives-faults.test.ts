/**
 * Async results, drives and faults: GetAsyncResult/ListAsyncResults semantics, the drive
 * lifecycle, the fault object, and the sliceServiceUnhealthy scenario (resolved after AddDrives
 * and the settle time; the escalation variant stays).
 */
import { ElementApiError, type ClusterFault, type ElementClient } from '../../src/element';
import type { RunningSimulator } from '../../tools/simulator';
import { clientFor, rawCall, rpcError, startTestSimulator, waitFor, waitForAsync } from './support';

let sim: RunningSimulator;
let client: ElementClient;

beforeAll(async () => {
  sim = await startTestSimulator('async-drives', {
    cluster: { softwareEncryptionAtRest: true, nodes: 3, blockDrivesPerNode: 2 },
  });
  client = clientFor(sim);
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
});

async function apiError(promise: Promise<unknown>): Promise<ElementApiError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ElementApiError)) throw new Error(`expected an ElementApiError, got ${String(err)}`);
  return err;
}

async function currentFaults(code?: string): Promise<ClusterFault[]> {
  const { faults } = await client.call('ListClusterFaults', { faultTypes: 'current' });
  return code ? faults.filter((f) => f.code === code) : faults;
}

describe('async results', () => {
  test('running: details, createTime and lastUpdateTime; complete: result; purged after being read unless keepResult', async () => {
    await sim.control.setDurations({ rekeyMs: 600 });
    const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'Internal' });
    const running = await client.call('GetAsyncResult', { asyncHandle });
    expect(running.status).toBe('running');
    if (running.status !== 'running') throw new Error('not running');
    expect(running.details).toMatchObject({ state: expect.any(String), keyToDecommission: expect.any(Object) });
    expect(running.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(running).not.toHaveProperty('result');
    // Running results are not purged by reading them.
    expect((await client.call('GetAsyncResult', { asyncHandle })).status).toBe('running');

    const listed = (await client.call('ListAsyncResults')).asyncHandles.find((h) => h.asyncResultID === asyncHandle);
    expect(listed).toMatchObject({ completed: false, success: false, resultType: 'RekeySoftwareEncryptionAtRestMasterKey' });

    const kept = await waitForAsync(client, asyncHandle);
    expect(kept).toMatchObject({ status: 'complete', result: expect.any(Object) });
    expect(kept).not.toHaveProperty('details');
    expect(kept).not.toHaveProperty('error');
    // ListAsyncResults never purges; it shows completed with the result as data.
    const done = (await client.call('ListAsyncResults', { asyncResultTypes: ['RekeySoftwareEncryptionAtRestMasterKey'] }))
      .asyncHandles;
    expect(done.find((h) => h.asyncResultID === asyncHandle)).toMatchObject({
      completed: true,
      success: true,
      data: { newKey: expect.any(Object) },
    });
    expect(
      (await client.call('ListAsyncResults', { asyncResultTypes: ['DriveAdd'] })).asyncHandles.some(
        (h) => h.asyncResultID === asyncHandle,
      ),
    ).toBe(false);
    expect((await client.call('GetSoftwareEncryptionAtRestInfo')).rekeyMasterKeyAsyncResultID).toBe(asyncHandle);

    // Read without keepResult: returned once, then gone.
    expect((await client.call('GetAsyncResult', { asyncHandle })).status).toBe('complete');
    const gone = await apiError(client.call('GetAsyncResult', { asyncHandle }));
    expect(gone.name).toBe('xAsyncHandleDoesNotExist');
    expect(gone.elementMessage).toBe(`Async handle ${asyncHandle} does not exist.`);
    // The cluster still names it as the latest rekey (UNCONFIRMED; evidence table) until it forgets it.
    expect((await client.call('GetSoftwareEncryptionAtRestInfo')).rekeyMasterKeyAsyncResultID).toBe(asyncHandle);
    expect((await apiError(client.call('GetAsyncResult', { asyncHandle: 987_654 }))).name).toBe('xAsyncHandleDoesNotExist');
  });

  test('a job planned to fail completes with the given Element error (and the key stays the old one)', async () => {
    await sim.control.setDurations({ rekeyMs: 200 });
    const before = (await client.call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo!;
    await sim.control.addJobPlan({
      resultType: 'RekeySoftwareEncryptionAtRestMasterKey',
      remaining: 1,
      failure: { name: 'xRekeyFailed', message: 'Unable to rewrap data encryption keys.' },
    });
    const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey');
    const failed = await waitForAsync(client, asyncHandle);
    expect(failed).toMatchObject({
      status: 'complete',
      error: { name: 'xRekeyFailed', message: 'Unable to rewrap data encryption keys.' },
    });
    expect(failed).not.toHaveProperty('result');
    expect((await client.call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo?.keyID).toBe(before.keyID);
    const listed = (await client.call('ListAsyncResults')).asyncHandles.find((h) => h.asyncResultID === asyncHandle);
    expect(listed).toMatchObject({ completed: true, success: false, data: { name: 'xRekeyFailed' } });
    // The plan was for one job only: the next rekey succeeds.
    const next = await waitForAsync(client, (await client.call('RekeySoftwareEncryptionAtRestMasterKey')).asyncHandle);
    expect(next).toMatchObject({ status: 'complete', result: expect.any(Object) });
  });

  test('a slow-job plan makes the next job take longer', async () => {
    await sim.control.addJobPlan({ resultType: 'RekeySoftwareEncryptionAtRestMasterKey', remaining: 1, durationMs: 1_500 });
    const started = Date.now();
    const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey');
    await waitForAsync(client, asyncHandle);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
  });

  test('a rekey on a cluster without software encryption is refused', async () => {
    const plain = await startTestSimulator('async-no-sear');
    try {
      const c = clientFor(plain);
      expect((await apiError(c.call('RekeySoftwareEncryptionAtRestMasterKey'))).name).toBe('xFeatureNotEnabled');
      expect(await c.call('GetSoftwareEncryptionAtRestInfo')).toEqual({ state: 'disabled', version: 0 });
      expect((await c.call('GetClusterInfo')).clusterInfo.softwareEncryptionAtRestState).toBe('disabled');
      await c.close();
    } finally {
      await plain.stop();
    }
  });

  test('rekey parameter rules: External needs a provider, Internal takes none, unknown types are invalid', async () => {
    expect(
      rpcError(await rawCall(sim, 'RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'external' })).message,
    ).toContain('member=[keyProviderID]');
    expect(
      rpcError(await rawCall(sim, 'RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'Internal', keyProviderID: 3 }))
        .name,
    ).toBe('xInvalidParameter');
    expect(
      rpcError(await rawCall(sim, 'RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'Quantum' })).message,
    ).toContain('member=[keyManagementType]');
    expect(
      rpcError(
        await rawCall(sim, 'RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'External', keyProviderID: 424_242 }),
      ).name,
    ).toBe('xKeyProviderIDDoesNotExist');
  });
});

describe('drives', () => {
  test('nodes have one metadata (volume) drive and block drives, all active', async () => {
    const { drives } = await client.call('ListDrives');
    expect(drives).toHaveLength(3 * 3);
    for (const nodeID of [1, 2, 3]) {
      const own = drives.filter((d) => d.nodeID === nodeID);
      expect(own.filter((d) => d.type === 'volume')).toHaveLength(1);
      expect(own.filter((d) => d.type === 'block')).toHaveLength(2);
    }
    expect(drives.every((d) => d.status === 'active')).toBe(true);
  });

  test('AddDrives accepts only available drives; unknown drives do not exist', async () => {
    const active = (await client.call('ListDrives')).drives[0]!;
    const notAvailable = await apiError(client.call('AddDrives', { drives: [{ driveID: active.driveID }] }));
    expect(notAvailable.name).toBe('xDriveNotAvailable');
    expect(notAvailable.elementMessage).toContain('status active');
    expect((await apiError(client.call('AddDrives', { drives: [{ driveID: 4242 }] }))).name).toBe('xDriveIDDoesNotExist');
    expect(rpcError(await rawCall(sim, 'AddDrives', { drives: [] })).message).toContain('member=[drives]');
  });

  test('RemoveDrives then AddDrives: active -> removing -> available -> (DriveAdd job) -> active', async () => {
    const block = (await client.call('ListDrives')).drives.find((d) => d.type === 'block' && d.nodeID === 2)!;
    const removal = await rawCall(sim, 'RemoveDrives', { drives: [block.driveID] });
    const removeHandle = (removal.json!.result as { asyncHandle: number }).asyncHandle;
    expect((await client.call('ListDrives')).drives.find((d) => d.driveID === block.driveID)!.status).toBe('removing');
    const removed = await waitForAsync(client, removeHandle);
    expect(removed.resultType).toBe('DriveRemoval');
    expect((await client.call('ListDrives')).drives.find((d) => d.driveID === block.driveID)!.status).toBe('available');
    await waitFor('driveAvailable fault', async () => (await currentFaults('driveAvailable')).find((f) => f.nodeID === 2));

    const { asyncHandle } = await client.call('AddDrives', { drives: [{ driveID: block.driveID, type: 'block' }] });
    expect(asyncHandle).toBeDefined();
    const running = await client.call('GetAsyncResult', { asyncHandle: asyncHandle!, keepResult: true });
    expect(running).toMatchObject({ status: 'running', resultType: 'DriveAdd', details: { driveIDs: [block.driveID] } });
    expect((await apiError(client.call('AddDrives', { drives: [{ driveID: block.driveID }] }))).name).toBe('xDriveNotAvailable');
    const added = await waitForAsync(client, asyncHandle!);
    expect(added).toMatchObject({ status: 'complete', resultType: 'DriveAdd', result: { driveIDs: [block.driveID] } });
    expect((await client.call('ListDrives')).drives.find((d) => d.driveID === block.driveID)!.status).toBe('active');
    await waitFor('driveAvailable resolved', async () => (await currentFaults('driveAvailable')).length === 0);
  });

  test('a type that does not match the drive is an invalid parameter', async () => {
    const block = (await client.call('ListDrives')).drives.find((d) => d.type === 'block' && d.nodeID === 3)!;
    const removal = (await rawCall(sim, 'RemoveDrives', { drives: [block.driveID] })).json!.result as { asyncHandle: number };
    await waitForAsync(client, removal.asyncHandle);
    const answer = rpcError(await rawCall(sim, 'AddDrives', { drives: [{ driveID: block.driveID, type: 'slice' }] }));
    expect(answer.name).toBe('xInvalidParameter');
    expect(answer.message).toContain('member=[drives[0].type]');
    expect((await client.call('ListDrives')).drives.find((d) => d.driveID === block.driveID)!.status).toBe('available');
    const { asyncHandle } = await client.call('AddDrives', { drives: [{ driveID: block.driveID }] });
    await waitForAsync(client, asyncHandle!);
    expect((await client.call('ListDrives')).drives.find((d) => d.driveID === block.driveID)!.status).toBe('active');
  });
});

describe('faults and sliceServiceUnhealthy', () => {
  test('failed metadata drives put back to available raise the fault with the full fault object; AddDrives + settle time resolves it', async () => {
    const { driveIDs } = await sim.control.failMetadataDrives({ nodeIDs: [1] });
    expect(driveIDs).toHaveLength(1);
    const driveID = driveIDs[0]!;
    const drive = (await client.call('ListDrives')).drives.find((d) => d.driveID === driveID)!;
    expect(drive).toMatchObject({ status: 'available', type: 'volume', nodeID: 1 });

    const fault = await waitFor('sliceServiceUnhealthy', async () => (await currentFaults('sliceServiceUnhealthy'))[0]);
    expect(fault).toMatchObject({
      type: 'service',
      severity: 'warning',
      resolved: false,
      resolvedDate: '',
      nodeID: 1,
      driveID,
      driveIDs: [driveID],
      nodeHardwareFaultID: 0,
      data: null,
      details: 'SolidFire Application cannot communicate with a metadata service.',
    });
    expect(fault.serviceID).toBeGreaterThan(0);
    expect(fault.clusterFaultID).toBeGreaterThan(1);
    expect(fault.date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const raw = (await rawCall(sim, 'ListClusterFaults', { faultTypes: 'current' })).json!.result as {
      faults: Record<string, unknown>[];
    };
    expect(Object.keys(raw.faults[0]!).sort()).toEqual(
      [
        'blocksUpgrade',
        'externalSource',
        'networkInterface',
        'clusterFaultID',
        'code',
        'data',
        'date',
        'details',
        'driveID',
        'driveIDs',
        'nodeHardwareFaultID',
        'nodeID',
        'resolved',
        'resolvedDate',
        'serviceID',
        'severity',
        'type',
      ].sort(),
    );

    await sim.control.setDurations({ sliceSettleMs: 500 });
    const { asyncHandle } = await client.call('AddDrives', { drives: [{ driveID }] });
    await waitForAsync(client, asyncHandle!);
    const activeAt = Date.now();
    // Still there right after the drive is back: the settle time has not passed.
    expect((await currentFaults('sliceServiceUnhealthy')).map((f) => f.clusterFaultID)).toEqual([fault.clusterFaultID]);
    await waitFor(
      'sliceServiceUnhealthy resolved',
      async () => (await currentFaults('sliceServiceUnhealthy')).length === 0,
      5_000,
    );
    expect(Date.now() - activeAt).toBeGreaterThanOrEqual(400);
    const resolved = (await client.call('ListClusterFaults', { faultTypes: 'resolved' })).faults.find(
      (f) => f.clusterFaultID === fault.clusterFaultID,
    )!;
    expect(resolved.resolved).toBe(true);
    expect(resolved.resolvedDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  test('escalation variant: adding the drives back does not help, the fault stays (and becomes an error after the warning period)', async () => {
    await sim.control.setDurations({ sliceSettleMs: 150, sliceWarningMs: 700 });
    const { driveIDs } = await sim.control.failMetadataDrives({ nodeIDs: [2], addingHelps: false });
    const driveID = driveIDs[0]!;
    const fault = await waitFor('sliceServiceUnhealthy', async () =>
      (await currentFaults('sliceServiceUnhealthy')).find((f) => f.driveID === driveID),
    );
    const { asyncHandle } = await client.call('AddDrives', { drives: [{ driveID, type: 'slice' }] });
    await waitForAsync(client, asyncHandle!);
    await new Promise((r) => setTimeout(r, 600));
    const still = (await currentFaults('sliceServiceUnhealthy')).find((f) => f.driveID === driveID);
    expect(still?.clusterFaultID).toBe(fault.clusterFaultID);
    await waitFor('severity error', async () =>
      (await currentFaults('sliceServiceUnhealthy')).find((f) => f.driveID === driveID && f.severity === 'error'),
    );
    // Support fixes it out of band: the fault resolves.
    await sim.control.clearSliceIncidents();
    await waitFor('resolved', async () => (await currentFaults('sliceServiceUnhealthy')).length === 0);
    await sim.control.setDurations({ sliceWarningMs: 60_000 });
  });

  test('ClearClusterFaults clears resolved faults by default; a cleared current fault whose cause remains comes back with a new ID', async () => {
    expect((await client.call('ListClusterFaults', { faultTypes: 'resolved' })).faults.length).toBeGreaterThan(0);
    await client.call('ClearClusterFaults');
    expect((await client.call('ListClusterFaults', { faultTypes: 'resolved' })).faults).toEqual([]);

    const { driveIDs } = await sim.control.failMetadataDrives({ nodeIDs: [3], addingHelps: false });
    const first = await waitFor('fault', async () => (await currentFaults('sliceServiceUnhealthy'))[0]);
    await client.call('ClearClusterFaults', { faultTypes: 'current' });
    const again = await waitFor('fault again', async () => (await currentFaults('sliceServiceUnhealthy'))[0]);
    expect(again.clusterFaultID).toBeGreaterThan(first.clusterFaultID);
    expect(again.driveID).toBe(driveIDs[0]);
    const all = (await client.call('ListClusterFaults')).faults;
    expect(all.every((f, i) => i === 0 || f.clusterFaultID > all[i - 1]!.clusterFaultID)).toBe(true);
    await sim.control.clearSliceIncidents();
    const { asyncHandle } = await client.call('AddDrives', { drives: [{ driveID: driveIDs[0]! }] });
    await waitForAsync(client, asyncHandle!);
  });
});
