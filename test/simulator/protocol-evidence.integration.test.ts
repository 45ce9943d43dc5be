/**
 * The simulator's answers where public sources say what a real cluster does and a KMIP server
 * takes part (docs/element-api.md, evidence table), against the real (extended) PyKMIP and cfssl:
 * the version-2 CSR signed by cfssl and OpenSSL 3.0 and taken by the cluster; one key server per
 * key provider; keys tagged on the key server with x-SolidFire-KeyID-<keyID> and no Name.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ElementClient } from '../../src/element';
import { ElementApiError, RekeyMasterKeyAsyncResult } from '../../src/element';
import type { KmipSession } from '../../src/kmip';
import type { CertificateAuthority } from '../../src/pki/authority';
import { kmipKeyIdAttribute, type RunningSimulator } from '../../tools/simulator';
import { testEnv } from '../support/test-env';
import {
  asIdentity,
  clientFor,
  kmipTestCa,
  scratchDir,
  setUpExternalKeyManagement,
  signWithCfssl,
  startTestSimulator,
  uniqueCn,
  waitForAsync,
} from './support';

let ca: CertificateAuthority;
let sim: RunningSimulator;
let client: ElementClient;
let cn: string;
let setup: Awaited<ReturnType<typeof setUpExternalKeyManagement>>;

beforeAll(async () => {
  ca = await kmipTestCa();
  cn = uniqueCn('sim-evidence');
  sim = await startTestSimulator('evidence-kmip', { cluster: { softwareEncryptionAtRest: true } });
  client = clientFor(sim);
  const kmip = testEnv().kmip;
  // The cluster's version-2 CSR, signed by the real cfssl.
  setup = await setUpExternalKeyManagement(client, {
    commonName: cn,
    sign: signWithCfssl,
    kmipCaPem: kmip.caPem,
    hostnames: ['127.0.0.1'],
    port: kmip.port,
  });
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
});

async function apiError(promise: Promise<unknown>): Promise<ElementApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ElementApiError);
  return err as ElementApiError;
}

function locateTagged(session: KmipSession, keyID: string): Promise<string[]> {
  const { name, value } = kmipKeyIdAttribute(keyID);
  return session.locateByCustomAttribute(name, value);
}

async function rekeyToProvider(): Promise<string> {
  const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey', {
    keyManagementType: 'External',
    keyProviderID: setup.keyProviderID,
  });
  const done = await waitForAsync(client, asyncHandle);
  if (done.status !== 'complete' || done.error) throw new Error(`the rekey failed: ${JSON.stringify(done)}`);
  return RekeyMasterKeyAsyncResult.parse(done.result).newKey.keyID!;
}

test('the version-2 CSR: cfssl signed it (the cluster took the certificate and the key server test passed); OpenSSL 3.0 verifies it', () => {
  expect(setup.csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
  const file = path.join(scratchDir('csr'), 'cluster.csr');
  fs.writeFileSync(file, setup.csrPem);
  const openssl = spawnSync('openssl', ['req', '-in', file, '-noout', '-text', '-verify'], { encoding: 'utf8' });
  expect(openssl.status).toBe(0);
  // OpenSSL 3.0 names no version 2 (PKCS#10 has only 0), reads it anyway and checks the signature.
  expect(openssl.stdout).toContain('Version: Unknown (2)');
  expect(openssl.stderr).toContain('verify OK');
  expect(setup.clientCertificate).toContain('-----BEGIN CERTIFICATE-----');
});

test('a key provider holds one key server: a second is refused before the key server is contacted; a clustered server is one server with several hostnames', async () => {
  const kmip = testEnv().kmip;
  const second = await client.call('CreateKeyServerKmip', {
    kmipCaCertificate: kmip.caPem,
    kmipClientCertificate: setup.clientCertificate,
    kmipKeyServerHostnames: ['127.0.0.1'],
    kmipKeyServerName: 'second',
    kmipKeyServerPort: kmip.port,
  });
  const secondID = second.kmipKeyServer.keyServerID;
  await sim.control.resetCalls();
  const refused = await apiError(
    client.call('AddKeyServerToProviderKmip', { keyProviderID: setup.keyProviderID, keyServerID: secondID }),
  );
  expect(refused.name).toBe('xMaxKeyServersPerProviderExceeded');
  expect(refused.elementMessage).toBe(
    `KeyProviderID ${setup.keyProviderID} already has key server ${setup.keyServerID}; a key provider supports only one key server ` +
      '(a clustered key server is one key server with several hostnames: ModifyKeyServerKmip kmipKeyServerHostnames).',
  );
  expect((await client.call('GetKeyProviderKmip', { keyProviderID: setup.keyProviderID })).kmipKeyProvider.keyServerIDs).toEqual([
    setup.keyServerID,
  ]);
  expect((await client.call('GetKeyServerKmip', { keyServerID: secondID })).kmipKeyServer.keyProviderID).toBeNull();
  await client.call('DeleteKeyServerKmip', { keyServerID: secondID });

  // The one server with a second hostname (primary first): still one server, and the provider test passes.
  const modified = await client.call('ModifyKeyServerKmip', {
    keyServerID: setup.keyServerID,
    kmipKeyServerHostnames: ['127.0.0.1', 'localhost'],
  });
  expect(modified.kmipKeyServer.kmipKeyServerHostnames).toEqual(['127.0.0.1', 'localhost']);
  await expect(client.call('TestKeyProviderKmip', { keyProviderID: setup.keyProviderID })).resolves.toEqual({});
});

test('keys on the key server carry x-SolidFire-KeyID-<keyID> and no Name; with tagging off they carry nothing', async () => {
  const keyID = await rekeyToProvider();
  const tagged = await asIdentity(ca, testEnv().kmip, cn, async (session) => ({
    byAttribute: await locateTagged(session, keyID),
    // What the simulator used to invent: no such Name exists.
    byName: await session.locateByName(`SolidFire-${sim.clusterUuid}-KeyID-${keyID}`),
  }));
  expect(tagged.byAttribute).toHaveLength(1);
  expect(tagged.byName).toEqual([]);
  const state = await sim.control.state();
  expect(state.sear.masterKey).toMatchObject({ keyID, kmipUniqueIdentifier: tagged.byAttribute[0] });

  await sim.control.setTagKeys(false);
  try {
    const untaggedID = await rekeyToProvider();
    const uid = (await sim.control.state()).sear.masterKey!.kmipUniqueIdentifier!;
    const found = await asIdentity(ca, testEnv().kmip, cn, async (session) => ({
      byAttribute: await locateTagged(session, untaggedID),
      key: await session.get(uid),
    }));
    // The key is there (the cluster uses it), but nothing finds it by the keyID.
    expect(found.byAttribute).toEqual([]);
    expect(found.key.cryptographicLength).toBe(256);
  } finally {
    await sim.control.setTagKeys(true);
  }
});
