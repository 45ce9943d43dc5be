import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { KmipEndpoint, KmipSession } from '../../src/kmip/api';
import { openKmipSession, withKmipSession } from '../../src/kmip/client';
import { KmipConnectionError, KmipOperationError } from '../../src/kmip/errors';
import { CryptographicAlgorithm, Operation, ResultReason, ResultStatus } from '../../src/kmip/tags';
import { createCertificateAuthority, issueKeyAndCertificate, type CertificateAuthority } from '../../src/pki/authority';
import { importRsaKeyPair } from '../../src/pki/keys';
import { x509 } from '../../src/pki/x509';
import { testEnv } from '../support/test-env';

const env = testEnv();

const endpoint = (overrides: Partial<KmipEndpoint> = {}): KmipEndpoint => ({
  host: env.kmip.host,
  port: env.kmip.port,
  caPem: env.kmip.caPem,
  certificatePem: env.kmip.client.certificatePem,
  privateKeyPem: env.kmip.client.privateKeyPem,
  ...overrides,
});

const uniqueName = (label: string) => `ekm-kmip-test-${label}-${randomBytes(4).toString('hex')}`;

/** The CA that issued PyKMIP's certificates and trusts client certificates. */
async function testKmipCa(): Promise<CertificateAuthority> {
  return {
    certificate: new x509.X509Certificate(env.kmip.caPem),
    keys: await importRsaKeyPair(env.kmip.caKeyPem),
    certificatePem: env.kmip.caPem,
    privateKeyPem: env.kmip.caKeyPem,
  };
}

/** Resolves with the error the promise rejected with; fails the test if it resolved. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

async function connectionFailure(promise: Promise<unknown>): Promise<KmipConnectionError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(KmipConnectionError);
  return err as KmipConnectionError;
}

async function operationFailure(promise: Promise<unknown>): Promise<KmipOperationError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(KmipOperationError);
  return err as KmipOperationError;
}

describe('KMIP client against a real PyKMIP', () => {
  let session: KmipSession;

  beforeAll(async () => {
    session = await openKmipSession(endpoint());
  });

  afterAll(async () => {
    await session.close();
  });

  test('DiscoverVersions lists KMIP 1.2', async () => {
    const versions = await session.discoverVersions();
    expect(versions).toContainEqual({ major: 1, minor: 2 });
    expect(versions.length).toBeGreaterThan(1);
  });

  test('Query names the PyKMIP vendor and the operations we rely on', async () => {
    const result = await session.query();
    expect(result.vendorIdentification).toMatch(/PyKMIP/);
    for (const op of [
      Operation.Create,
      Operation.Get,
      Operation.Activate,
      Operation.Locate,
      Operation.Revoke,
      Operation.Destroy,
    ]) {
      expect(result.operations).toContain(op);
    }
    // PyKMIP answers Query Objects with an empty list.
    expect(result.objectTypes).toEqual([]);
  });

  test('key life cycle: Create, Activate, Get, Locate by name, Revoke, Destroy; Get then fails with Item Not Found', async () => {
    const name = uniqueName('lifecycle');
    const uid = await session.createSymmetricKey({ name });
    expect(uid).toMatch(/\S/);

    await session.activate(uid);

    const key = await session.get(uid);
    expect(key.uniqueIdentifier).toBe(uid);
    expect(key.cryptographicAlgorithm).toBe(CryptographicAlgorithm.Aes);
    expect(key.cryptographicLength).toBe(256);
    expect(key.keyMaterial).toHaveLength(32);
    expect(key.keyMaterial.equals(Buffer.alloc(32))).toBe(false);

    expect(await session.locateByName(name)).toEqual([uid]);

    await session.revoke(uid);
    await session.destroy(uid);

    const err = await operationFailure(session.get(uid));
    expect(err.operation).toBe(Operation.Get);
    expect(err.operationName).toBe('Get');
    expect(err.resultStatus).toBe(ResultStatus.OperationFailed);
    expect(err.resultReason).toBe(ResultReason.ItemNotFound);
    expect(err.reasonName).toBe('Item Not Found');
    expect(err.server).toBe(`${env.kmip.host}:${env.kmip.port}`);
    expect(err.message).toContain(
      `KMIP server ${env.kmip.host}:${env.kmip.port} rejected the Get request: Item Not Found (0x01)`,
    );
    expect(err.resultMessage).toContain(uid);

    // The session survives an operation error.
    expect(await session.locateByName(name)).toEqual([]);
  });

  test('two keys of different lengths keep their own names and material', async () => {
    const first = uniqueName('a');
    const second = uniqueName('b');
    const uid1 = await session.createSymmetricKey({ name: first, lengthBits: 128 });
    const uid2 = await session.createSymmetricKey({ name: second });
    expect(uid1).not.toBe(uid2);
    const [key1, key2] = await Promise.all([session.get(uid1), session.get(uid2)]);
    expect(key1.keyMaterial).toHaveLength(16);
    expect(key1.cryptographicLength).toBe(128);
    expect(key2.keyMaterial).toHaveLength(32);
    expect(await session.locateByName(first)).toEqual([uid1]);
    expect(await session.locateByName(second)).toEqual([uid2]);
    // Pre-Active keys can be destroyed without a Revoke.
    await session.destroy(uid1);
    await session.destroy(uid2);
  });

  test('concurrent calls on one session are sent one after another and all answered', async () => {
    const names = [0, 1, 2, 3, 4].map((i) => uniqueName(`parallel-${i}`));
    const uids = await Promise.all(names.map((name) => session.createSymmetricKey({ name })));
    expect(new Set(uids).size).toBe(5);
    const located = await Promise.all(names.map((name) => session.locateByName(name)));
    expect(located).toEqual(uids.map((uid) => [uid]));
    await Promise.all(uids.map((uid) => session.destroy(uid)));
  });

  test('Destroy on an Active key is refused with Permission Denied', async () => {
    const uid = await session.createSymmetricKey({ name: uniqueName('active') });
    await session.activate(uid);
    const err = await operationFailure(session.destroy(uid));
    expect(err.resultReason).toBe(ResultReason.PermissionDenied);
    expect(err.reasonName).toBe('Permission Denied');
    expect(err.message).toMatch(/rejected the Destroy request: Permission Denied \(0x0C\)/);
    await session.revoke(uid);
    await session.destroy(uid);
  });

  test('Activate twice is refused; Revoke of a Pre-Active key is refused', async () => {
    const uid = await session.createSymmetricKey({ name: uniqueName('states') });
    expect((await operationFailure(session.revoke(uid))).reasonName).toBe('Illegal Operation');
    await session.activate(uid);
    expect((await operationFailure(session.activate(uid))).reasonName).toBe('Permission Denied');
    await session.revoke(uid);
    await session.destroy(uid);
  });

  test('objects belong to the certificate CN that created them', async () => {
    const name = uniqueName('owned');
    const uid = await session.createSymmetricKey({ name });
    const other = await issueKeyAndCertificate(await testKmipCa(), { subject: 'CN=ekm-other-client', usages: ['client'] });
    await withKmipSession(
      endpoint({ certificatePem: other.certificatePem, privateKeyPem: other.privateKeyPem }),
      async (stranger) => {
        expect(await stranger.locateByName(name)).toEqual([]);
        const err = await operationFailure(stranger.get(uid));
        expect(err.reasonName).toBe('Permission Denied');
        expect(err.resultMessage).toBe(`Could not locate object: ${uid}`);
        expect((await operationFailure(stranger.destroy(uid))).reasonName).toBe('Permission Denied');
      },
    );
    // A new certificate with the owner's CN is the owner.
    const sameCn = await issueKeyAndCertificate(await testKmipCa(), {
      subject: `CN=${env.kmip.client.commonName}`,
      usages: ['client'],
    });
    await withKmipSession(
      endpoint({ certificatePem: sameCn.certificatePem, privateKeyPem: sameCn.privateKeyPem }),
      async (owner) => {
        expect(await owner.locateByName(name)).toEqual([uid]);
        await owner.destroy(uid);
      },
    );
  });

  test('close() lets requests already made finish, then refuses new ones', async () => {
    const s = await openKmipSession(endpoint());
    const inFlight = s.discoverVersions();
    await s.close();
    expect(await inFlight).toContainEqual({ major: 1, minor: 2 });
    await expect(s.query()).rejects.toThrow(`KMIP session to ${env.kmip.host}:${env.kmip.port} is closed`);
    await s.close();
  });

  test('host "localhost" verifies the DNS SAN and sends it as SNI', async () => {
    const spy = jest.spyOn(tls, 'connect');
    try {
      await withKmipSession(endpoint({ host: 'localhost' }), async (s) => {
        expect(await s.discoverVersions()).toContainEqual({ major: 1, minor: 2 });
      });
      expect(spy.mock.calls[0]?.[0]).toMatchObject({ host: 'localhost', servername: 'localhost', minVersion: 'TLSv1.2' });
    } finally {
      spy.mockRestore();
    }
  });

  test('an IP host is verified against the IP SAN but never sent as SNI', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const spy = jest.spyOn(tls, 'connect');
    try {
      await withKmipSession(endpoint({ host: '127.0.0.1' }), (s) => s.discoverVersions());
      expect(spy.mock.calls[0]?.[0]).toMatchObject({ host: '127.0.0.1', servername: undefined });

      // Same server, but we expect another IP: the certificate has no SAN for it.
      const err = await connectionFailure(openKmipSession(endpoint({ host: '127.0.0.1', servername: '127.0.0.2' })));
      expect(err.failure).toBe('tls');
      expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(err.message).toMatch(/presented a certificate that is not valid for "127.0.0.2"/);
      expect(spy.mock.calls[1]?.[0]).toMatchObject({ servername: undefined });
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => /ServerName to an IP address/.test(w.message))).toEqual([]);
    } finally {
      spy.mockRestore();
      process.off('warning', onWarning);
    }
  });
});

// The failures that need no KMIP server are classified in client-failures.test.ts.
describe('classifying failures', () => {
  test('a client certificate from a different CA is "tls"', async () => {
    const stranger = await createCertificateAuthority('Some Other CA');
    const cert = await issueKeyAndCertificate(stranger, { subject: 'CN=ekm-test-client', usages: ['client'] });
    const err = await connectionFailure(
      openKmipSession(endpoint({ certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem })),
    );
    expect(err.failure).toBe('tls');
    expect(err.message).toMatch(
      /^KMIP server 127\.0\.0\.1:\d+ refused the TLS handshake with alert "unknown ca"; it does not accept our client certificate/,
    );
  });

  test('a server certificate our CA bundle does not trust is "tls"', async () => {
    const stranger = await createCertificateAuthority('Some Other CA');
    const err = await connectionFailure(openKmipSession(endpoint({ caPem: stranger.certificatePem })));
    expect(err.failure).toBe('tls');
    expect(err.message).toMatch(/presented a certificate that the configured CA bundle does not trust/);
  });

  test('a client certificate without the clientAuth EKU: PyKMIP answers Authentication Not Successful', async () => {
    const cert = await issueKeyAndCertificate(await testKmipCa(), {
      subject: 'CN=ekm-no-eku-client',
      usages: ['client'],
      omitExtendedKeyUsage: true,
    });
    await withKmipSession(endpoint({ certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem }), async (s) => {
      const err = await operationFailure(s.discoverVersions());
      expect(err.resultReason).toBe(ResultReason.AuthenticationNotSuccessful);
      expect(err.reasonName).toBe('Authentication Not Successful');
      expect(err.message).toMatch(
        /^KMIP server 127\.0\.0\.1:\d+ rejected the DiscoverVersions request: Authentication Not Successful \(0x03\): Error verifying the client certificate/,
      );
      // Every request is refused the same way; the connection stays up.
      expect((await operationFailure(s.createSymmetricKey({ name: uniqueName('no-eku') }))).resultReason).toBe(
        ResultReason.AuthenticationNotSuccessful,
      );
    });
  });
});
