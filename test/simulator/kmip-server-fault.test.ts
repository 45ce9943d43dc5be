/**
 * The kmipServerFault scenario (docs/procedures.md, procedure 3): after a simulated cluster restart (or key
 * re-read) the cluster fetches its keys from the real KMIP server; when the server is unreachable
 * or the key is not available the fault is raised and the drives stay locked; the cluster retries
 * on an interval and the fault resolves once the key can be fetched. A destroyed key never comes
 * back, so that fault stays.
 */
import { ElementApiError, type ClusterFault, type ElementClient } from '../../src/element';
import { KmipOperationError } from '../../src/kmip';
import type { CertificateAuthority } from '../../src/pki/authority';
import type { RunningSimulator } from '../../tools/simulator';
import { testEnv } from '../support/test-env';
import {
  asIdentity,
  clientFor,
  kmipTestCa,
  rawCall,
  setUpExternalKeyManagement,
  signCsrWith,
  startTestSimulator,
  uniqueCn,
  waitFor,
  waitForAsync,
} from './support';

let sim: RunningSimulator;
let client: ElementClient;
let ca: CertificateAuthority;
let keyServerID: number;
const cn = uniqueCn('sim-kmipfault');
const HOSTS = ['localhost', '127.0.0.1'];

async function kmipFaults(selection: 'current' | 'resolved'): Promise<ClusterFault[]> {
  return (await client.call('ListClusterFaults', { faultTypes: selection })).faults.filter((f) => f.code === 'kmipServerFault');
}

async function driveLocked(): Promise<boolean> {
  const info = await rawCall(sim, 'GetDriveHardwareInfo', { driveID: 1 });
  return (info.json!.result as { driveHardwareInfo: { driveSecurityLocked: boolean } }).driveHardwareInfo.driveSecurityLocked;
}

beforeAll(async () => {
  ca = await kmipTestCa();
  sim = await startTestSimulator('kmip-fault', { cluster: { softwareEncryptionAtRest: true, nodes: 3, blockDrivesPerNode: 1 } });
  client = clientFor(sim);
  const kmip = testEnv().kmip;
  const setup = await setUpExternalKeyManagement(client, {
    commonName: cn,
    sign: (csr) => signCsrWith(ca, csr),
    kmipCaPem: kmip.caPem,
    hostnames: HOSTS,
    port: kmip.port,
  });
  keyServerID = setup.keyServerID;
  await client.call('EnableEncryptionAtRest', { keyProviderID: setup.keyProviderID });
  await waitFor('enabled', async () => (await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState === 'enabled');
  const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey', {
    keyManagementType: 'External',
    keyProviderID: setup.keyProviderID,
  });
  await waitForAsync(client, asyncHandle);
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
});

test('a restart with the key server reachable fetches the keys: no fault, drives unlocked', async () => {
  const { restarts, keyAccess } = await sim.control.restartCluster();
  expect(restarts).toBe(1);
  expect(keyAccess).toMatchObject({ status: 'unlocked', lastError: null });
  expect(await kmipFaults('current')).toEqual([]);
  expect(await driveLocked()).toBe(false);
});

test('the primary hostname down is not a fault: the cluster fails over to the next hostname', async () => {
  await sim.control.makeUnreachable('localhost');
  const { keyAccess } = await sim.control.restartCluster();
  expect(keyAccess.status).toBe('unlocked');
  expect(await kmipFaults('current')).toEqual([]);
  await sim.control.makeReachable('localhost');
});

test('key server unreachable at restart: kmipServerFault (connection failure), drives locked, retries, resolves when reachable', async () => {
  await sim.control.makeUnreachable(...HOSTS);
  const { keyAccess } = await sim.control.restartCluster();
  expect(keyAccess).toMatchObject({ status: 'locked', attempts: 1, lastError: { category: 'connection' } });

  // Faults show at the cluster's next fault refresh (tests: every 20 ms).
  const fault = await waitFor('kmipServerFault', async () => (await kmipFaults('current'))[0]);
  expect(fault).toMatchObject({ type: 'cluster', severity: 'error', resolved: false, resolvedDate: '', nodeID: 0, serviceID: 0 });
  expect(fault!.details).toMatch(/^Connection failure: /);
  expect(fault!.details).toContain('connection refused');
  expect(fault!.driveIDs!.length).toBeGreaterThan(0);
  expect(fault!.driveID).toBe(fault!.driveIDs![0]);
  expect(fault!.data).toMatchObject({ reason: 'connection', keyServerIDs: [keyServerID] });
  expect(await driveLocked()).toBe(true);

  // The runbook's diagnosis: the active provider's key server fails its test, and says how.
  const diagnosis: unknown = await client.call('TestKeyServerKmip', { keyServerID }).catch((e: unknown) => e);
  expect(diagnosis).toBeInstanceOf(ElementApiError);
  expect((diagnosis as ElementApiError).name).toBe('xKmipConnectionFailure');

  // It keeps retrying on the interval.
  await waitFor('three attempts', async () => (await sim.control.state()).keyAccess.attempts >= 3);
  expect((await kmipFaults('current')).map((f) => f.clusterFaultID)).toEqual([fault!.clusterFaultID]);

  await sim.control.makeReachable(...HOSTS);
  await waitFor('fault resolved', async () => (await kmipFaults('current')).length === 0);
  const resolved = (await kmipFaults('resolved')).find((f) => f.clusterFaultID === fault!.clusterFaultID);
  expect(resolved?.resolved).toBe(true);
  expect(resolved?.resolvedDate).not.toBe('');
  expect(await driveLocked()).toBe(false);
  expect((await sim.control.state()).keyAccess.status).toBe('unlocked');
});

test('a key withheld by the server: a key re-read raises the fault (server error, Item Not Found) until the key is back', async () => {
  await sim.control.deleteKey('software', 'withhold');
  const { keyAccess } = await sim.control.rereadKeys();
  expect(keyAccess).toMatchObject({ status: 'locked', lastError: { category: 'server' } });
  // Faults show at the cluster's next fault refresh (tests: every 20 ms).
  const fault = await waitFor('kmipServerFault', async () => (await kmipFaults('current'))[0]);
  expect(fault!.details).toMatch(/^Server error: /);
  expect(fault!.details).toContain('Item Not Found');
  const master = (await client.call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo!;
  expect(fault!.data).toMatchObject({ keyID: master.keyID, reason: 'server' });
  await sim.control.restoreKey('software');
  await waitFor('fault resolved', async () => (await kmipFaults('current')).length === 0);
});

test('a key destroyed on the KMIP server: the fault stays unresolved however often the cluster retries', async () => {
  const { keyID, kmipUniqueIdentifier } = await sim.control.deleteKey('hardware', 'destroy');
  // Really gone from the server (looked up under the cluster's own identity).
  const lookup: unknown = await asIdentity(ca, testEnv().kmip, cn, (session) => session.get(kmipUniqueIdentifier)).catch(
    (e: unknown) => e,
  );
  expect(lookup).toBeInstanceOf(KmipOperationError);
  expect((lookup as KmipOperationError).reasonName).toBe('Item Not Found');

  await sim.control.restartCluster();
  // Faults show at the cluster's next fault refresh (tests: every 20 ms).
  const fault = await waitFor('kmipServerFault', async () => (await kmipFaults('current'))[0]);
  expect(fault!.details).toContain(keyID);
  const attempts = (await sim.control.state()).keyAccess.attempts;
  await waitFor('more retries', async () => (await sim.control.state()).keyAccess.attempts >= attempts + 3);
  expect((await kmipFaults('current')).map((f) => f.clusterFaultID)).toEqual([fault!.clusterFaultID]);
  expect(await driveLocked()).toBe(true);
});
