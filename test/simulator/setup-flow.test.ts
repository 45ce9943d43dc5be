/**
 * docs/procedures.md procedures 1 and 2, step by step through the project's ElementClient against the
 * simulator, with the real PyKMIP and the cluster's CSR signed by the real cfssl CA:
 *  - hardware encryption at rest with the provider's key (cluster A),
 *  - software encryption at rest rekeyed from internal to external (cluster B), whose new master
 *    key is then found on the KMIP server with the project's KMIP client.
 */
import { X509Certificate } from 'node:crypto';
import type { ElementClient } from '../../src/element';
import { RekeyMasterKeyAsyncResult } from '../../src/element';
import type { KmipSession } from '../../src/kmip';
import type { CertificateAuthority } from '../../src/pki/authority';
import { kmipKeyIdAttribute, NO_KEY_ID, type RunningSimulator } from '../../tools/simulator';
import { testEnv } from '../support/test-env';
import {
  asIdentity,
  clientFor,
  kmipTestCa,
  setUpExternalKeyManagement,
  signWithCfssl,
  startTestSimulator,
  uniqueCn,
  waitFor,
  waitForAsync,
} from './support';

/** The cluster's key on the KMIP server, found as the runbooks find it: by its x-SolidFire-KeyID-<keyID> attribute. */
function locateKey(session: KmipSession, keyID: string): Promise<string[]> {
  const { name, value } = kmipKeyIdAttribute(keyID);
  return session.locateByCustomAttribute(name, value);
}

let ca: CertificateAuthority;

beforeAll(async () => {
  ca = await kmipTestCa();
});

describe('section 1 with hardware encryption at rest', () => {
  let sim: RunningSimulator;
  let client: ElementClient;
  const cn = uniqueCn('sim-hw');

  beforeAll(async () => {
    sim = await startTestSimulator('flow-hw');
    client = clientFor(sim);
  });

  afterAll(async () => {
    await client?.close();
    await sim?.stop();
  });

  test('key pair -> CSR -> cfssl -> provider -> server -> tests -> EnableEncryptionAtRest(keyProviderID) -> enabled', async () => {
    const kmip = testEnv().kmip;
    const setup = await setUpExternalKeyManagement(client, {
      commonName: cn,
      sign: signWithCfssl,
      kmipCaPem: kmip.caPem,
      hostnames: ['localhost', '127.0.0.1'],
      port: kmip.port,
    });
    // The certificate really came from cfssl and carries the CSR's subject.
    const cert = new X509Certificate(setup.clientCertificate);
    expect(cert.issuer).toContain('EKM Demo Issuing CA');
    expect(cert.subject).toContain(`CN=${cn}`);

    const before = (await client.call('GetClusterInfo')).clusterInfo;
    expect(before.encryptionAtRestState).toBe('disabled');
    expect(await client.call('EnableEncryptionAtRest', { keyProviderID: setup.keyProviderID })).toEqual({});
    expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabling');
    await waitFor(
      'encryption at rest enabled',
      async () => (await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState === 'enabled',
    );

    const provider = (await client.call('GetKeyProviderKmip', { keyProviderID: setup.keyProviderID })).kmipKeyProvider;
    expect(provider).toMatchObject({ keyProviderIsActive: true, keyServerIDs: [setup.keyServerID] });
    const drives = (await client.call('ListDrives')).drives.filter((d) => d.status === 'active');
    expect(drives.length).toBeGreaterThan(0);
    const keyIDs = new Set(drives.map((d) => d.keyID));
    expect(keyIDs.size).toBe(1);
    expect(drives.every((d) => d.keyProviderID === setup.keyProviderID)).toBe(true);

    // The key exists, active, AES-256, on the KMIP server under the cluster's identity.
    const keyID = [...keyIDs][0]!;
    const found = await asIdentity(ca, kmip, cn, async (session) => {
      const ids = await locateKey(session, keyID);
      return { ids, key: ids[0] === undefined ? undefined : await session.get(ids[0]) };
    });
    expect(found.ids).toHaveLength(1);
    expect(found.key?.cryptographicLength).toBe(256);
    expect(found.key?.keyMaterial.length).toBe(32);

    // Exactly one key pair was made and one key server created.
    expect(await sim.control.calls({ method: 'CreatePublicPrivateKeyPair' })).toHaveLength(1);
    expect(await sim.control.calls({ method: 'CreateKeyServerKmip' })).toHaveLength(1);
  });

  test('DisableEncryptionAtRest: disabling -> disabled, and the provider is no longer active', async () => {
    expect(await client.call('DisableEncryptionAtRest')).toEqual({});
    expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('disabling');
    await waitFor(
      'encryption at rest disabled',
      async () => (await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState === 'disabled',
    );
    const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip');
    expect(kmipKeyProviders.every((p) => !p.keyProviderIsActive)).toBe(true);
    // Drives not under a key again: an all-zero keyID and keyProviderID 0, as recorded on real clusters.
    expect((await client.call('ListDrives')).drives.every((d) => d.keyID === NO_KEY_ID && d.keyProviderID === 0)).toBe(true);
  });

  test('without a provider, encryption at rest uses an internal key', async () => {
    await client.call('EnableEncryptionAtRest');
    await waitFor('enabled', async () => (await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState === 'enabled');
    const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip', { keyProviderIsActive: true });
    expect(kmipKeyProviders).toEqual([]);
    const drive = (await client.call('ListDrives')).drives[0]!;
    expect(drive.keyID).not.toBe(NO_KEY_ID);
    expect(drive.keyProviderID).toBe(0);
  });
});

describe('sections 1 and 2 with software encryption at rest: rekey to external', () => {
  let sim: RunningSimulator;
  let client: ElementClient;
  const cn = uniqueCn('sim-sear');

  beforeAll(async () => {
    sim = await startTestSimulator('flow-sear', { cluster: { softwareEncryptionAtRest: true } });
    client = clientFor(sim);
  });

  afterAll(async () => {
    await client?.close();
    await sim?.stop();
  });

  test('precondition: SEAR enabled at creation, master key internal', async () => {
    expect((await client.call('GetClusterInfo')).clusterInfo.softwareEncryptionAtRestState).toBe('enabled');
    const info = await client.call('GetSoftwareEncryptionAtRestInfo');
    expect(info).toMatchObject({ state: 'enabled', version: 1, masterKeyInfo: { keyManagementType: 'internal' } });
    expect(info.masterKeyInfo?.keyProviderID).toBeUndefined();
    expect(info.rekeyMasterKeyAsyncResultID).toBeUndefined();
  });

  test('rekey to external: running details, states in order, result, new key on the KMIP server, info updated', async () => {
    const kmip = testEnv().kmip;
    const setup = await setUpExternalKeyManagement(client, {
      commonName: cn,
      sign: signWithCfssl,
      kmipCaPem: kmip.caPem,
      hostnames: ['127.0.0.1'],
      port: kmip.port,
    });
    const oldKey = (await client.call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo!;

    // Section 2: pick the provider, rekey, poll.
    const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip');
    expect(kmipKeyProviders.map((p) => p.keyProviderID)).toEqual([setup.keyProviderID]);
    const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey', {
      keyManagementType: 'External',
      keyProviderID: setup.keyProviderID,
    });
    const seen: string[] = [];
    const done = await waitFor(
      'rekey complete',
      async () => {
        const r = await client.call('GetAsyncResult', { asyncHandle, keepResult: true });
        if (r.status === 'running') {
          const state = String(r.details.state);
          if (seen[seen.length - 1] !== state) seen.push(state);
          expect(r.details.keyToDecommission).toMatchObject({ keyID: oldKey.keyID, keyManagementType: 'internal' });
          return undefined;
        }
        return r;
      },
      15_000,
      10,
    );
    // Polled on a loaded machine the first look may come after Ready: the states seen are known and in order.
    const order = ['Ready', 'CreateNewMasterKey', 'RewrapDataEncryptionKeys', 'DecommissionOldMasterKey'];
    expect(seen.filter((s) => !order.includes(s))).toEqual([]);
    expect(seen.map((s) => order.indexOf(s))).toEqual([...seen.map((s) => order.indexOf(s))].sort());
    expect(seen).toContain('RewrapDataEncryptionKeys');

    expect(done.status).toBe('complete');
    expect(done.resultType).toBe('RekeySoftwareEncryptionAtRestMasterKey');
    if (done.status !== 'complete' || done.error) throw new Error('rekey failed');
    const result = RekeyMasterKeyAsyncResult.parse(done.result);
    expect(result.keyToDecommission).toMatchObject({ keyID: oldKey.keyID, keyManagementType: 'internal' });
    expect(result.newKey).toMatchObject({ keyManagementType: 'external', keyProviderID: setup.keyProviderID });
    expect(result.newKey.keyID).not.toBe(oldKey.keyID);

    // Step 4: the info shows the new key, external, the provider and the handle.
    const info = await client.call('GetSoftwareEncryptionAtRestInfo');
    expect(info.masterKeyInfo).toMatchObject({
      keyID: result.newKey.keyID,
      keyManagementType: 'external',
      keyProviderID: setup.keyProviderID,
    });
    expect(info.rekeyMasterKeyAsyncResultID).toBe(asyncHandle);
    expect(
      (await client.call('GetKeyProviderKmip', { keyProviderID: setup.keyProviderID })).kmipKeyProvider.keyProviderIsActive,
    ).toBe(true);

    // The new master key exists on the KMIP server (checked with src/kmip directly).
    const onServer = await asIdentity(ca, kmip, cn, async (session) => {
      const ids = await locateKey(session, result.newKey.keyID!);
      return { ids, key: ids[0] === undefined ? undefined : await session.get(ids[0]) };
    });
    expect(onServer.ids).toHaveLength(1);
    expect(onServer.key?.cryptographicLength).toBe(256);
  });

  test('a second rekey makes a brand-new key (never reuses one); a rekey while one runs is refused', async () => {
    const kmip = testEnv().kmip;
    const first = (await client.call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo!;
    const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey');
    const refused: unknown = await client.call('RekeySoftwareEncryptionAtRestMasterKey').catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'xRekeyInProgress' });
    const done = await waitForAsync(client, asyncHandle);
    if (done.status !== 'complete' || done.error) throw new Error('rekey failed');
    const result = RekeyMasterKeyAsyncResult.parse(done.result);
    expect(result.keyToDecommission.keyID).toBe(first.keyID);
    expect(result.newKey).toMatchObject({ keyManagementType: 'external', keyProviderID: first.keyProviderID });
    expect(result.newKey.keyID).not.toBe(first.keyID);
    const names = await asIdentity(ca, kmip, cn, async (session) => ({
      first: await locateKey(session, first.keyID!),
      second: await locateKey(session, result.newKey.keyID!),
    }));
    expect(names.first).toHaveLength(1);
    expect(names.second).toHaveLength(1);
    expect(names.second[0]).not.toBe(names.first[0]);
  });

  test('rekey back to internal: the provider is no longer active and can be deleted', async () => {
    const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'Internal' });
    const done = await waitForAsync(client, asyncHandle);
    if (done.status !== 'complete' || done.error) throw new Error('rekey failed');
    expect(RekeyMasterKeyAsyncResult.parse(done.result).newKey.keyManagementType).toBe('internal');
    const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip');
    expect(kmipKeyProviders.every((p) => !p.keyProviderIsActive)).toBe(true);
    await client.call('DeleteKeyProviderKmip', { keyProviderID: kmipKeyProviders[0]!.keyProviderID });
  });
});
