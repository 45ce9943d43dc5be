/**
 * The simulator's answers where public sources say what a real cluster does (docs/element-api.md,
 * evidence table), in process and without a KMIP server: the CSR a cluster makes (version field
 * 2), fault members and the fault refresh cadence, a driveAvailable fault without drive ids,
 * drives' recorded values, versions and HTTP 404, a purged async result, demo nodes. The points
 * that need a KMIP server are in protocol-evidence.integration.test.ts.
 */
import { createPublicKey } from 'node:crypto';
import { ElementApiError, ElementTransportError, RekeyMasterKeyAsyncResult, type ClusterFault } from '../../src/element';
import { x509 } from '../../src/pki/x509';
import { resolveDurations } from '../../tools/simulator/durations';
import { parseSimulatorArgs, SimulatorUsageError } from '../../tools/simulator/main';
import { DEMO_NODE_MESSAGE, NO_KEY_ID, type RunningSimulator } from '../../tools/simulator';
import { clientFor, rawCall, rawPost, rpcError, scratchDir, startTestSimulator, waitFor, waitForAsync } from './support';

const SUBJECT = {
  commonName: 'evidence.example.test',
  organization: 'EKM runbooks',
  organizationalUnit: 'Storage',
  locality: 'Sunnyvale',
  state: 'California',
  country: 'US',
  emailAddress: 'storage@example.test',
};

/** The version INTEGER at the start of CertificationRequestInfo. */
function csrVersion(pem: string): number {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const header = (offset: number) => (der[offset + 1]! & 0x80 ? 2 + (der[offset + 1]! & 0x7f) : 2);
  const info = header(0);
  const version = info + header(info);
  expect(der.subarray(version, version + 2)).toEqual(Buffer.from([0x02, 0x01]));
  return der[version + 2]!;
}

async function apiError(promise: Promise<unknown>): Promise<ElementApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ElementApiError);
  return err as ElementApiError;
}

describe('the CSR', () => {
  let sim: RunningSimulator;
  let conforming: RunningSimulator;

  beforeAll(async () => {
    [sim, conforming] = await Promise.all([startTestSimulator('csr-v2'), startTestSimulator('csr-v0', { csrVersion: 0 })]);
  });

  afterAll(async () => {
    await Promise.all([sim?.stop(), conforming?.stop()]);
  });

  async function csrOf(target: RunningSimulator): Promise<string> {
    const client = clientFor(target);
    await client.call('CreatePublicPrivateKeyPair', SUBJECT);
    const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
    await client.close();
    return clientCertificateSignRequest;
  }

  test('as a real 11.7 cluster makes it: version field 2, RSA-2048, sha256WithRSA, the extensions, \\n lines; signed', async () => {
    const pem = await csrOf(sim);
    expect(csrVersion(pem)).toBe(2);
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE REQUEST-----\n$/);
    expect(pem).not.toContain('\r');
    const csr = new x509.Pkcs10CertificateRequest(pem);
    expect(await csr.verify()).toBe(true);
    expect(csr.signatureAlgorithm).toMatchObject({ name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } });
    const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(csr.subject).toBe(
      'CN=evidence.example.test, O=EKM runbooks, OU=Storage, L=Sunnyvale, ST=California, C=US, E=storage@example.test',
    );
    const usage = new x509.KeyUsagesExtension(csr.getExtension('2.5.29.15')!.rawData);
    expect(usage.critical).toBe(true);
    expect(usage.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    const extended = new x509.ExtendedKeyUsageExtension(csr.getExtension('2.5.29.37')!.rawData);
    expect(extended.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
  });

  test('csrVersion 0 makes a conforming one, otherwise the same', async () => {
    const pem = await csrOf(conforming);
    expect(csrVersion(pem)).toBe(0);
    expect(await new x509.Pkcs10CertificateRequest(pem).verify()).toBe(true);
  });
});

describe('faults', () => {
  let sim: RunningSimulator;

  beforeAll(async () => {
    sim = await startTestSimulator('faults-evidence', { cluster: { nodes: 3, blockDrivesPerNode: 2 } });
  });

  afterAll(async () => {
    await sim?.stop();
  });

  afterEach(async () => {
    await sim.control.clearSliceIncidents();
    await sim.control.setDurations({ faultRefreshMs: 20 });
  });

  async function current(code: string): Promise<ClusterFault[]> {
    const client = clientFor(sim);
    try {
      return (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.filter((f) => f.code === code);
    } finally {
      await client.close();
    }
  }

  test('the cluster refreshes faults about every 30 s by default; a change shows only at the next refresh', async () => {
    expect(resolveDurations().faultRefreshMs).toBe(30_000);
    await sim.control.setDurations({ faultRefreshMs: 1_500 });
    // Let a refresh pass with nothing to show, so the next one is about 1.5 s away.
    await new Promise((r) => setTimeout(r, 1_600));
    const failedAt = Date.now();
    await sim.control.failMetadataDrives({ nodeIDs: [2] });
    await new Promise((r) => setTimeout(r, 300));
    expect(await current('sliceServiceUnhealthy')).toEqual([]);
    await waitFor('the next refresh', async () => (await current('sliceServiceUnhealthy')).length === 1, 5_000);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(200);
  });

  test('every fault carries blocksUpgrade, networkInterface and externalSource; driveAvailable names no drive', async () => {
    const [driveID] = (await sim.control.failMetadataDrives({ nodeIDs: [1] })).driveIDs;
    const available = await waitFor('driveAvailable', async () => (await current('driveAvailable')).find((f) => f.nodeID === 1));
    expect(available).toMatchObject({
      type: 'drive',
      severity: 'warning',
      driveIDs: [],
      driveID: 0,
      blocksUpgrade: true,
      networkInterface: '',
      externalSource: '',
      details: 'Node ID 1 has 1 available drive(s).',
    });
    const slice = await waitFor('sliceServiceUnhealthy', async () =>
      (await current('sliceServiceUnhealthy')).find((f) => f.nodeID === 1),
    );
    expect(slice).toMatchObject({ driveIDs: [driveID], driveID, blocksUpgrade: true, networkInterface: '', externalSource: '' });
  });

  test('a sliceServiceUnhealthy fault may name only its node, or neither node nor drive', async () => {
    await sim.control.failMetadataDrives({ nodeIDs: [2], faultNames: 'node' });
    await sim.control.failMetadataDrives({ nodeIDs: [3], faultNames: 'none' });
    const faults = await waitFor('two slice faults', async () => {
      const found = await current('sliceServiceUnhealthy');
      return found.length === 2 ? found : undefined;
    });
    expect(faults.map((f) => [f.nodeID, f.driveIDs, f.driveID])).toEqual(
      expect.arrayContaining([
        [2, [], 0],
        [0, [], 0],
      ]),
    );
  });
});

describe('drives', () => {
  let sim: RunningSimulator;

  beforeAll(async () => {
    sim = await startTestSimulator('drives-evidence', { cluster: { nodes: 3, blockDrivesPerNode: 1 } });
  });

  afterAll(async () => {
    await sim?.stop();
  });

  test('drives not under a key: "None" strings, keyProviderID 0, an all-zero keyID', async () => {
    const client = clientFor(sim);
    const raw = (await rawCall(sim, 'ListDrives')).json!.result as { drives: Record<string, unknown>[] };
    for (const drive of raw.drives) {
      expect(drive).toMatchObject({
        driveFailureDetail: 'None',
        driveSecurityFaultReason: 'None',
        keyProviderID: 0,
        keyID: NO_KEY_ID,
      });
      expect(['volume', 'block', 'unknown']).toContain(drive.type);
    }
    // Internal hardware encryption: the drives carry the key's id, still no provider.
    await client.call('EnableEncryptionAtRest');
    await waitFor('enabled', async () => (await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState === 'enabled');
    const drives = (await client.call('ListDrives')).drives.filter((d) => d.status === 'active');
    expect(new Set(drives.map((d) => d.keyID)).size).toBe(1);
    expect(drives[0]!.keyID).not.toBe(NO_KEY_ID);
    expect(drives.every((d) => d.keyProviderID === 0)).toBe(true);
    await client.close();
  });

  test('AddDrives takes type automatic', async () => {
    const client = clientFor(sim);
    const [driveID] = (await sim.control.failMetadataDrives({ nodeIDs: [3] })).driveIDs;
    const { asyncHandle } = await client.call('AddDrives', { drives: [{ driveID: driveID!, type: 'automatic' }] });
    await waitForAsync(client, asyncHandle!);
    expect((await client.call('ListDrives')).drives.find((d) => d.driveID === driveID)?.status).toBe('active');
    await client.close();
  });
});

describe('versions, async results, demo nodes', () => {
  let sim: RunningSimulator;
  let demo: RunningSimulator;

  beforeAll(async () => {
    [sim, demo] = await Promise.all([
      startTestSimulator('versions-evidence', { apiVersion: '12.3', cluster: { softwareEncryptionAtRest: true } }),
      startTestSimulator('demo-node', { cluster: { demoNode: true } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([sim?.stop(), demo?.stop()]);
  });

  test('an endpoint version the cluster lacks is HTTP 404 without a JSON-RPC error; the client names the newest it has', async () => {
    const old = await startTestSimulator('versions-11-7', { apiVersion: '11.7' });
    try {
      const answer = await rawPost(old, { method: 'GetAPI', params: {}, id: 1 }, { version: '12.3' });
      expect(answer.status).toBe(404);
      expect(answer.json).toBeUndefined();
      const client = clientFor(old, { apiVersion: '12.3' });
      const err = await client.call('GetClusterInfo').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ElementTransportError);
      expect((err as Error).message).toBe(
        `GetClusterInfo: the cluster at ${old.url} does not serve API 12.3; it supports up to 11.7 ` +
          '(HTTP 404 on /json-rpc/12.3). Pin an apiVersion it supports in the clusters file.',
      );
      await client.close();
    } finally {
      await old.stop();
    }
  });

  test('a method newer than the endpoint is xUnknownAPIMethod (the SEAR methods are 12.3, the KMIP ones 11.7)', async () => {
    expect(rpcError(await rawCall(sim, 'GetSoftwareEncryptionAtRestInfo', {}, '12.2')).name).toBe('xUnknownAPIMethod');
    expect(rpcError(await rawCall(sim, 'ListKeyProvidersKmip', {}, '11.5')).name).toBe('xUnknownAPIMethod');
    expect((await rawCall(sim, 'ListKeyProvidersKmip', {}, '11.7')).json!.result).toEqual({ kmipKeyProviders: [] });
  });

  test('a rekey result read without keepResult is gone (xAsyncHandleDoesNotExist); the cluster still names it as the latest rekey', async () => {
    const client = clientFor(sim);
    const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'Internal' });
    const done = await waitForAsync(client, asyncHandle);
    if (done.status !== 'complete' || done.error) throw new Error('the rekey failed');
    const newKey = RekeyMasterKeyAsyncResult.parse(done.result).newKey;
    await client.call('GetAsyncResult', { asyncHandle });
    expect((await apiError(client.call('GetAsyncResult', { asyncHandle, keepResult: true }))).name).toBe(
      'xAsyncHandleDoesNotExist',
    );
    const info = await client.call('GetSoftwareEncryptionAtRestInfo');
    expect(info.rekeyMasterKeyAsyncResultID).toBe(asyncHandle);
    expect(info.masterKeyInfo?.keyID).toBe(newKey.keyID);

    // The control API can purge it for someone else, and make the cluster forget it as the latest rekey.
    const second = (await client.call('RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'Internal' })).asyncHandle;
    await waitForAsync(client, second);
    await sim.control.purgeAsyncResult(second, { forgetRekeyHandle: true });
    expect((await apiError(client.call('GetAsyncResult', { asyncHandle: second, keepResult: true }))).name).toBe(
      'xAsyncHandleDoesNotExist',
    );
    expect((await client.call('GetSoftwareEncryptionAtRestInfo')).rekeyMasterKeyAsyncResultID).toBeUndefined();
    await client.close();
  });

  test('a demo node answers EnableEncryptionAtRest with xAPINotPermitted, word for word, and stays disabled', async () => {
    const raw = await rawCall(demo, 'EnableEncryptionAtRest');
    expect(raw.status).toBe(200);
    expect(rpcError(raw)).toEqual({ code: 500, name: 'xAPINotPermitted', message: 'Encryption is not supported on demo nodes.' });
    expect(DEMO_NODE_MESSAGE).toBe('Encryption is not supported on demo nodes.');
    const client = clientFor(demo);
    const err = await apiError(client.call('EnableEncryptionAtRest'));
    expect([err.permanent, err.retryable]).toEqual([true, false]);
    expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('disabled');
    await client.close();
  });
});

describe('command line', () => {
  const dir = () => scratchDir('evidence-args');

  test('--csr-version, --demo-node and --fault-refresh-ms become options', () => {
    const state = `${dir()}/state.json`;
    const parsed = parseSimulatorArgs(['--state', state, '--csr-version', '0', '--demo-node', '--fault-refresh-ms', '500']);
    expect(parsed.options.csrVersion).toBe(0);
    expect(parsed.options.cluster?.demoNode).toBe(true);
    expect(parsed.options.durations).toMatchObject({ faultRefreshMs: 500 });
    const defaults = parseSimulatorArgs(['--state', `${dir()}/state.json`]);
    expect(defaults.options.csrVersion).toBeUndefined();
    expect(defaults.options.cluster?.demoNode).toBeUndefined();
  });

  test('a CSR version other than 0 or 2 is refused, naming the flag', () => {
    expect(() => parseSimulatorArgs(['--state', `${dir()}/state.json`, '--csr-version', '1'])).toThrow(
      new SimulatorUsageError('--csr-version must be 0 or 2 (got "1")'),
    );
  });
});
