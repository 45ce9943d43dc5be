/**
 * Key servers and key providers against the shared real PyKMIP: the shapes the vendor models
 * require, the provider rules, and every misuse docs/element-api.md describes. Client certificates here
 * are signed by the KMIP server's own CA (the operator's CA in the setup-flow test is cfssl). The
 * key pair and CSR tests, which need no server, are in key-management.test.ts.
 */

import { createHash, X509Certificate } from 'node:crypto';
import { ElementApiError, type ElementClient } from '../../src/element';
import type { CertificateAuthority } from '../../src/pki/authority';
import { createCertificateAuthority, issueKeyAndCertificate } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import type { RunningSimulator } from '../../tools/simulator';
import { testEnv } from '../support/test-env';
import { clientFor, kmipTestCa, rawCall, rpcError, signCsrWith, startTestSimulator, uniqueCn, waitFor } from './support';

let sim: RunningSimulator;
let client: ElementClient;
let ca: CertificateAuthority;
const cn = uniqueCn('sim-keymgmt');

async function elementError(promise: Promise<unknown>): Promise<ElementApiError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ElementApiError)) throw new Error(`expected an ElementApiError, got ${String(err)}`);
  return err;
}

function spkiOf(pem: string): string {
  return createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

beforeAll(async () => {
  sim = await startTestSimulator('keymgmt');
  client = clientFor(sim);
  ca = await kmipTestCa();
  // The cluster's key pair, as the key pair tests leave it (key-management.test.ts).
  await client.call('CreatePublicPrivateKeyPair', { commonName: cn, country: 'US' });
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
});

describe('key servers and providers', () => {
  let certificate: string;
  let serverID: number;
  let providerID: number;
  const kmip = () => testEnv().kmip;

  beforeAll(async () => {
    const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
    certificate = await signCsrWith(ca, clientCertificateSignRequest);
  });

  test('CreateKeyServerKmip returns the server with explicit nulls, port 5696 filled in, an id that is not 1, certificates with newlines', async () => {
    const answer = await rawCall(sim, 'CreateKeyServerKmip', {
      kmipCaCertificate: kmip().caPem.replace(/\n/g, '\r\n'),
      kmipClientCertificate: certificate,
      kmipKeyServerHostnames: ['kmip.invalid'],
      kmipKeyServerName: 'no-port-given',
    });
    const server = (answer.json!.result as { kmipKeyServer: Record<string, unknown> }).kmipKeyServer;
    expect(server).toEqual({
      keyProviderID: null,
      keyServerID: expect.any(Number),
      kmipAssignedProviderIsActive: null,
      kmipCaCertificate: kmip().caPem.trim() + '\n',
      kmipClientCertificate: certificate.trim() + '\n',
      kmipKeyServerHostnames: ['kmip.invalid'],
      kmipKeyServerName: 'no-port-given',
      kmipKeyServerPort: 5696,
    });
    expect(server.keyServerID).not.toBe(1);
    expect(server.kmipCaCertificate).not.toContain('\r');
    // It did not contact anything: kmip.invalid does not even resolve. Testing it does.
    const test = await elementError(client.call('TestKeyServerKmip', { keyServerID: server.keyServerID as number }));
    expect(test.name).toBe('xKmipConnectionFailure');
    expect(test.elementMessage).toContain('kmip.invalid:5696');
    await client.call('DeleteKeyServerKmip', { keyServerID: server.keyServerID as number });
  });

  test('bad PEM answers xInvalidParameter naming the member', async () => {
    const base = { kmipKeyServerHostnames: ['localhost'], kmipKeyServerName: 'bad', kmipKeyServerPort: kmip().port };
    const badCa = rpcError(
      await rawCall(sim, 'CreateKeyServerKmip', {
        ...base,
        kmipCaCertificate: 'not a certificate',
        kmipClientCertificate: certificate,
      }),
    );
    expect(badCa.name).toBe('xInvalidParameter');
    expect(badCa.message).toContain('member=[kmipCaCertificate]');
    const garbled = certificate.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
    const badClient = rpcError(
      await rawCall(sim, 'CreateKeyServerKmip', { ...base, kmipCaCertificate: kmip().caPem, kmipClientCertificate: garbled }),
    );
    expect(badClient.name).toBe('xInvalidParameter');
    expect(badClient.message).toContain('member=[kmipClientCertificate]');
    const keyInsteadOfCert = rpcError(
      await rawCall(sim, 'CreateKeyServerKmip', {
        ...base,
        kmipCaCertificate: kmip().caPem,
        kmipClientCertificate: kmip().client.certificatePem.replace(/CERTIFICATE/g, 'PUBLIC KEY'),
      }),
    );
    expect(keyInsteadOfCert.message).toContain('member=[kmipClientCertificate]');
  });

  test('a client certificate for another key is refused (it must carry the cluster current public key)', async () => {
    const other = await issueKeyAndCertificate(ca, { subject: `CN=${cn}`, usages: ['client'] });
    const err = await elementError(
      client.call('CreateKeyServerKmip', {
        kmipCaCertificate: kmip().caPem,
        kmipClientCertificate: other.certificatePem,
        kmipKeyServerHostnames: ['localhost'],
        kmipKeyServerName: 'other-key',
        kmipKeyServerPort: kmip().port,
      }),
    );
    expect(err.name).toBe('xInvalidParameter');
    expect(err.elementMessage).toContain('member=[kmipClientCertificate]');
    expect(err.elementMessage).toContain('public key');
  });

  test('TestKeyServerKmip connects over mutual TLS and runs DiscoverVersions/Query; hostnames fail over in order', async () => {
    const { kmipKeyServer } = await client.call('CreateKeyServerKmip', {
      kmipCaCertificate: kmip().caPem,
      kmipClientCertificate: certificate,
      kmipKeyServerHostnames: ['localhost', '127.0.0.1'],
      kmipKeyServerName: 'pykmip',
      kmipKeyServerPort: kmip().port,
    });
    serverID = kmipKeyServer.keyServerID;
    await expect(client.call('TestKeyServerKmip', { keyServerID: serverID })).resolves.toEqual({});
    await sim.control.makeUnreachable('localhost');
    await expect(client.call('TestKeyServerKmip', { keyServerID: serverID })).resolves.toEqual({});
    await sim.control.makeUnreachable('127.0.0.1');
    const err = await elementError(client.call('TestKeyServerKmip', { keyServerID: serverID }));
    expect(err.name).toBe('xKmipConnectionFailure');
    expect(err.elementMessage).toContain(`localhost:${kmip().port} could not be reached: connection refused`);
    expect(err.elementMessage).toContain(`127.0.0.1:${kmip().port} could not be reached: connection refused`);
    await sim.control.makeReachable('localhost', '127.0.0.1');
  });

  test('TestKeyServerKmip says what failed: a closed port, an untrusted server CA, a client certificate the server does not trust', async () => {
    const base = { kmipClientCertificate: certificate, kmipKeyServerHostnames: ['127.0.0.1'] };
    const closed = await client.call('CreateKeyServerKmip', {
      ...base,
      kmipCaCertificate: kmip().caPem,
      kmipKeyServerName: 'closed',
      kmipKeyServerPort: 1,
    });
    const refused = await elementError(client.call('TestKeyServerKmip', { keyServerID: closed.kmipKeyServer.keyServerID }));
    expect(refused.name).toBe('xKmipConnectionFailure');
    expect(refused.elementMessage).toMatch(/connection refused/);

    const wrongCa = await client.call('CreateKeyServerKmip', {
      ...base,
      kmipCaCertificate: testEnv().cfssl.caPem,
      kmipKeyServerName: 'wrong-ca',
      kmipKeyServerPort: kmip().port,
    });
    const untrusted = await elementError(client.call('TestKeyServerKmip', { keyServerID: wrongCa.kmipKeyServer.keyServerID }));
    expect(untrusted.name).toBe('xKmipAuthenticationFailure');
    expect(untrusted.elementMessage).toContain('does not trust');

    // A client certificate from a CA this KMIP server does not trust.
    const other = await startTestSimulator('keymgmt-untrusted');
    try {
      const otherClient = clientFor(other);
      await otherClient.call('CreatePublicPrivateKeyPair', { commonName: uniqueCn('sim-untrusted') });
      const csr = (await otherClient.call('GetClientCertificateSignRequest')).clientCertificateSignRequest;
      const strangerCa = await createCertificateAuthority('A CA the KMIP server never heard of');
      const strangerCert = await signCsrWith(strangerCa, csr);
      const { kmipKeyServer } = await otherClient.call('CreateKeyServerKmip', {
        kmipCaCertificate: kmip().caPem,
        kmipClientCertificate: strangerCert,
        kmipKeyServerHostnames: ['127.0.0.1'],
        kmipKeyServerName: 'pykmip',
        kmipKeyServerPort: kmip().port,
      });
      const rejected = await elementError(otherClient.call('TestKeyServerKmip', { keyServerID: kmipKeyServer.keyServerID }));
      expect(rejected.name).toBe('xKmipAuthenticationFailure');
      expect(rejected.elementMessage).toMatch(/TLS|certificate/);
      await otherClient.close();
    } finally {
      await other.stop();
    }
    for (const s of [closed, wrongCa]) await client.call('DeleteKeyServerKmip', { keyServerID: s.kmipKeyServer.keyServerID });
  });

  test('a new provider is inactive with no servers, kmipCapabilities a string; ids are not 1', async () => {
    const { kmipKeyProvider } = await client.call('CreateKeyProviderKmip', { keyProviderName: 'primary-eks' });
    providerID = kmipKeyProvider.keyProviderID;
    expect(kmipKeyProvider).toEqual({
      keyProviderID: providerID,
      keyProviderIsActive: false,
      keyProviderName: 'primary-eks',
      keyServerIDs: [],
      kmipCapabilities: 'SSL',
    });
    expect(providerID).not.toBe(1);
    expect(await elementError(client.call('TestKeyProviderKmip', { keyProviderID: providerID }))).toMatchObject({
      name: 'xKeyProviderHasNoKeyServers',
    });
  });

  test('wrong ids answer the does-not-exist errors', async () => {
    expect((await elementError(client.call('GetKeyServerKmip', { keyServerID: 999_999 }))).name).toBe('xKeyServerIDDoesNotExist');
    expect((await elementError(client.call('GetKeyProviderKmip', { keyProviderID: 999_999 }))).name).toBe(
      'xKeyProviderIDDoesNotExist',
    );
    expect(
      (await elementError(client.call('AddKeyServerToProviderKmip', { keyProviderID: providerID, keyServerID: 999_999 }))).name,
    ).toBe('xKeyServerIDDoesNotExist');
    expect(
      (await elementError(client.call('AddKeyServerToProviderKmip', { keyProviderID: 999_999, keyServerID: serverID }))).name,
    ).toBe('xKeyProviderIDDoesNotExist');
    expect((await elementError(client.call('EnableEncryptionAtRest', { keyProviderID: 999_999 }))).name).toBe(
      'xKeyProviderIDDoesNotExist',
    );
    expect((await elementError(client.call('DeleteKeyServerKmip', { keyServerID: 999_999 }))).elementMessage).toBe(
      'KeyServerID 999999 does not exist.',
    );
  });

  test('AddKeyServerToProviderKmip verifies the server; re-adding is silent; removing an unassigned server is silent', async () => {
    await sim.control.resetCalls();
    await client.call('AddKeyServerToProviderKmip', { keyProviderID: providerID, keyServerID: serverID });
    await client.call('AddKeyServerToProviderKmip', { keyProviderID: providerID, keyServerID: serverID });
    expect((await client.call('GetKeyProviderKmip', { keyProviderID: providerID })).kmipKeyProvider.keyServerIDs).toEqual([
      serverID,
    ]);
    const { kmipKeyServer } = await client.call('GetKeyServerKmip', { keyServerID: serverID });
    expect(kmipKeyServer).toMatchObject({ keyProviderID: providerID, kmipAssignedProviderIsActive: false });
    await client.call('TestKeyProviderKmip', { keyProviderID: providerID });

    const loose = await client.call('CreateKeyServerKmip', {
      kmipCaCertificate: kmip().caPem,
      kmipClientCertificate: certificate,
      kmipKeyServerHostnames: ['127.0.0.1'],
      kmipKeyServerName: 'loose',
      kmipKeyServerPort: kmip().port,
    });
    await expect(
      client.call('RemoveKeyServerFromProviderKmip', { keyServerID: loose.kmipKeyServer.keyServerID }),
    ).resolves.toEqual({});
    // A server belongs to at most one provider.
    const second = await client.call('CreateKeyProviderKmip', { keyProviderName: 'second' });
    const taken = await elementError(
      client.call('AddKeyServerToProviderKmip', { keyProviderID: second.kmipKeyProvider.keyProviderID, keyServerID: serverID }),
    );
    expect(taken.name).toBe('xKeyServerAlreadyAssigned');
    await client.call('DeleteKeyServerKmip', { keyServerID: loose.kmipKeyServer.keyServerID });
    await client.call('DeleteKeyProviderKmip', { keyProviderID: second.kmipKeyProvider.keyProviderID });

    // A server that cannot be reached is not added.
    const unreachable = await client.call('CreateKeyServerKmip', {
      kmipCaCertificate: kmip().caPem,
      kmipClientCertificate: certificate,
      kmipKeyServerHostnames: ['127.0.0.1'],
      kmipKeyServerName: 'refusing',
      kmipKeyServerPort: 1,
    });
    const third = await client.call('CreateKeyProviderKmip', { keyProviderName: 'third' });
    const refused = await elementError(
      client.call('AddKeyServerToProviderKmip', {
        keyProviderID: third.kmipKeyProvider.keyProviderID,
        keyServerID: unreachable.kmipKeyServer.keyServerID,
      }),
    );
    expect(refused.name).toBe('xKmipConnectionFailure');
    expect(
      (await client.call('GetKeyServerKmip', { keyServerID: unreachable.kmipKeyServer.keyServerID })).kmipKeyServer.keyProviderID,
    ).toBeNull();
    await client.call('DeleteKeyServerKmip', { keyServerID: unreachable.kmipKeyServer.keyServerID });
    await client.call('DeleteKeyProviderKmip', { keyProviderID: third.kmipKeyProvider.keyProviderID });
  });

  test('ListKeyServersKmip and ListKeyProvidersKmip filter', async () => {
    const spare = await client.call('CreateKeyServerKmip', {
      kmipCaCertificate: kmip().caPem,
      kmipClientCertificate: certificate,
      kmipKeyServerHostnames: ['127.0.0.1'],
      kmipKeyServerName: 'spare',
      kmipKeyServerPort: kmip().port,
    });
    const spareID = spare.kmipKeyServer.keyServerID;
    const ids = (servers: { keyServerID: number }[]) => servers.map((s) => s.keyServerID);
    expect(ids((await client.call('ListKeyServersKmip', { keyProviderID: providerID })).kmipKeyServers)).toEqual([serverID]);
    expect(ids((await client.call('ListKeyServersKmip', { kmipHasProviderAssigned: false })).kmipKeyServers)).toEqual([spareID]);
    expect(ids((await client.call('ListKeyServersKmip', { kmipAssignedProviderIsActive: false })).kmipKeyServers)).toEqual([
      serverID,
    ]);
    expect(ids((await client.call('ListKeyServersKmip')).kmipKeyServers)).toEqual([serverID, spareID].sort((a, b) => a - b));
    expect(
      (await client.call('ListKeyProvidersKmip', { kmipKeyProviderHasServerAssigned: true })).kmipKeyProviders.map(
        (p) => p.keyProviderID,
      ),
    ).toEqual([providerID]);
    expect((await client.call('ListKeyProvidersKmip', { keyProviderIsActive: true })).kmipKeyProviders).toEqual([]);
    await client.call('DeleteKeyServerKmip', { keyServerID: spareID });
  });

  test('ModifyKeyServerKmip: only the id is a no-op; a change is verified against the server before it is kept', async () => {
    const before = (await client.call('GetKeyServerKmip', { keyServerID: serverID })).kmipKeyServer;
    await sim.control.makeUnreachable('localhost', '127.0.0.1');
    // Nothing changes, nothing is contacted: succeeds although the server is unreachable.
    expect((await client.call('ModifyKeyServerKmip', { keyServerID: serverID })).kmipKeyServer).toEqual(before);
    const failed = await elementError(
      client.call('ModifyKeyServerKmip', { keyServerID: serverID, kmipKeyServerName: 'renamed' }),
    );
    expect(failed.name).toBe('xKmipConnectionFailure');
    expect((await client.call('GetKeyServerKmip', { keyServerID: serverID })).kmipKeyServer.kmipKeyServerName).toBe('pykmip');
    await sim.control.makeReachable('localhost', '127.0.0.1');
    const renamed = await client.call('ModifyKeyServerKmip', {
      keyServerID: serverID,
      kmipKeyServerName: 'renamed',
      kmipKeyServerHostnames: ['127.0.0.1'],
    });
    expect(renamed.kmipKeyServer).toMatchObject({
      kmipKeyServerName: 'renamed',
      kmipKeyServerHostnames: ['127.0.0.1'],
      keyProviderID: providerID,
    });
    const badCert = rpcError(
      await rawCall(sim, 'ModifyKeyServerKmip', { keyServerID: serverID, kmipClientCertificate: kmip().client.certificatePem }),
    );
    expect(badCert.name).toBe('xInvalidParameter');
    expect(badCert.message).toContain('member=[kmipClientCertificate]');
  });

  test('kmipCertificateFault: a client certificate nearing expiry is a warning, an expired one an error; ModifyKeyServerKmip with a renewed one clears it', async () => {
    const { clientCertificateSignRequest: csr } = await client.call('GetClientCertificateSignRequest');
    const day = 86_400_000;
    const soon = await signCsrWith(ca, csr, { notAfter: new Date(Date.now() + 10 * day) });
    const { kmipKeyServer } = await client.call('CreateKeyServerKmip', {
      kmipCaCertificate: kmip().caPem,
      kmipClientCertificate: soon,
      kmipKeyServerHostnames: ['127.0.0.1'],
      kmipKeyServerName: 'expiring',
      kmipKeyServerPort: kmip().port,
    });
    const certFaults = async () =>
      (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.filter(
        (f) => f.code === 'kmipCertificateFault' && f.data?.keyServerID === kmipKeyServer.keyServerID,
      );
    const [warning] = await waitFor('warning', async () => ((await certFaults()).length > 0 ? certFaults() : undefined));
    expect(warning).toMatchObject({ severity: 'warning', type: 'cluster', data: { certificate: 'client', expired: false } });
    expect(warning!.details).toContain('ModifyKeyServerKmip');

    const expired = await signCsrWith(ca, csr, {
      notBefore: new Date(Date.now() - 40 * day),
      notAfter: new Date(Date.now() - day),
    });
    // The server rejects an expired certificate, so the cluster does not keep it.
    expect(
      (
        await elementError(
          client.call('ModifyKeyServerKmip', { keyServerID: kmipKeyServer.keyServerID, kmipClientCertificate: expired }),
        )
      ).name,
    ).toBe('xKmipAuthenticationFailure');
    const stale = await client.call('CreateKeyServerKmip', {
      kmipCaCertificate: kmip().caPem,
      kmipClientCertificate: expired,
      kmipKeyServerHostnames: ['127.0.0.1'],
      kmipKeyServerName: 'expired',
      kmipKeyServerPort: kmip().port,
    });
    const staleFaults = await waitFor('error', async () =>
      (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.find(
        (f) => f.code === 'kmipCertificateFault' && f.data?.keyServerID === stale.kmipKeyServer.keyServerID,
      ),
    );
    expect(staleFaults).toMatchObject({ severity: 'error', data: { expired: true } });

    await client.call('ModifyKeyServerKmip', { keyServerID: kmipKeyServer.keyServerID, kmipClientCertificate: certificate });
    await waitFor('resolved', async () => (await certFaults()).length === 0);
    await client.call('DeleteKeyServerKmip', { keyServerID: stale.kmipKeyServer.keyServerID });
    await client.call('DeleteKeyServerKmip', { keyServerID: kmipKeyServer.keyServerID });
    await waitFor('all resolved', async () =>
      (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.every((f) => f.code !== 'kmipCertificateFault'),
    );
  });

  test('EnableEncryptionAtRest with the provider makes it active; an active provider cannot be deleted nor lose its last server', async () => {
    await client.call('EnableEncryptionAtRest', { keyProviderID: providerID });
    const provider = (await client.call('GetKeyProviderKmip', { keyProviderID: providerID })).kmipKeyProvider;
    expect(provider.keyProviderIsActive).toBe(true);
    expect((await client.call('GetKeyServerKmip', { keyServerID: serverID })).kmipKeyServer.kmipAssignedProviderIsActive).toBe(
      true,
    );
    expect((await elementError(client.call('DeleteKeyProviderKmip', { keyProviderID: providerID }))).name).toBe(
      'xKeyProviderIsActive',
    );
    expect((await elementError(client.call('RemoveKeyServerFromProviderKmip', { keyServerID: serverID }))).name).toBe(
      'xKeyServerInUse',
    );
    expect((await elementError(client.call('DeleteKeyServerKmip', { keyServerID: serverID }))).name).toBe('xKeyServerInUse');
    expect((await elementError(client.call('EnableEncryptionAtRest', { keyProviderID: providerID }))).name).toBe(
      'xEncryptionAtRestAlreadyEnabled',
    );
  });

  test('replacing the key pair while a server uses it breaks its trust: the test fails with an authentication failure', async () => {
    await client.call('CreatePublicPrivateKeyPair', { commonName: cn, country: 'US' });
    const err = await elementError(client.call('TestKeyServerKmip', { keyServerID: serverID }));
    expect(err.name).toBe('xKmipAuthenticationFailure');
    expect(err.elementMessage).toContain("does not match the cluster's private key");
    // The signed certificate of the old key is no longer the cluster's key.
    const spki = spkiOf(certificate);
    const csr = new x509.Pkcs10CertificateRequest(
      (await client.call('GetClientCertificateSignRequest')).clientCertificateSignRequest,
    );
    expect(createHash('sha256').update(Buffer.from(csr.publicKey.rawData)).digest('hex')).not.toBe(spki);
  });
});
