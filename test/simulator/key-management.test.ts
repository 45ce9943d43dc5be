/**
 * Key pair and CSR on the simulator (in process, no server needed): the shapes the vendor models
 * require. Key servers and providers, against the shared real PyKMIP, are in
 * key-management.integration.test.ts.
 */
import { ElementApiError, type ElementClient } from '../../src/element';
import { x509 } from '../../src/pki/x509';
import type { RunningSimulator } from '../../tools/simulator';
import { clientFor, rawCall, rpcError, startTestSimulator, uniqueCn } from './support';

let sim: RunningSimulator;
let client: ElementClient;
const cn = uniqueCn('sim-keymgmt');

async function elementError(promise: Promise<unknown>): Promise<ElementApiError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ElementApiError)) throw new Error(`expected an ElementApiError, got ${String(err)}`);
  return err;
}

beforeAll(async () => {
  sim = await startTestSimulator('keymgmt');
  client = clientFor(sim);
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
});

describe('key pair and CSR', () => {
  test('before any key pair there is no CSR', async () => {
    const err = await elementError(client.call('GetClientCertificateSignRequest'));
    expect(err.name).toBe('xKeyPairDoesNotExist');
  });

  test('CreatePublicPrivateKeyPair makes a real RSA-2048 key; the CSR is a PEM PKCS#10 with the subject and clientAuth', async () => {
    await client.call('CreatePublicPrivateKeyPair', {
      commonName: cn,
      organization: 'Example Corp',
      organizationalUnit: 'Storage',
      locality: 'Sunnyvale',
      state: 'CA',
      country: 'US',
      emailAddress: 'storage@example.com',
    });
    const { clientCertificateSignRequest: pem } = await client.call('GetClientCertificateSignRequest');
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----\n$/);
    const csr = new x509.Pkcs10CertificateRequest(pem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe(`CN=${cn}, O=Example Corp, OU=Storage, L=Sunnyvale, ST=CA, C=US, E=storage@example.com`);
    const algorithm = csr.publicKey.algorithm as { name: string; modulusLength: number };
    expect(algorithm.name).toBe('RSASSA-PKCS1-v1_5');
    expect(algorithm.modulusLength).toBe(2048);
    // By OID: @peculiar/x509 2.2.0 does not find CSR extensions by class.
    const ekuRaw = csr.extensions.find((e) => e.type === '2.5.29.37');
    expect(ekuRaw).toBeDefined();
    expect(new x509.ExtendedKeyUsageExtension(ekuRaw!.rawData).usages).toContain(x509.ExtendedKeyUsage.clientAuth);
    const kuRaw = csr.extensions.find((e) => e.type === '2.5.29.15');
    const ku = new x509.KeyUsagesExtension(kuRaw!.rawData);
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  });

  test('a second CreatePublicPrivateKeyPair replaces the key: the CSR carries a different public key', async () => {
    const before = new x509.Pkcs10CertificateRequest(
      (await client.call('GetClientCertificateSignRequest')).clientCertificateSignRequest,
    );
    await client.call('CreatePublicPrivateKeyPair', { commonName: cn, country: 'US' });
    const after = new x509.Pkcs10CertificateRequest(
      (await client.call('GetClientCertificateSignRequest')).clientCertificateSignRequest,
    );
    expect(Buffer.from(after.publicKey.rawData).equals(Buffer.from(before.publicKey.rawData))).toBe(false);
    // Asking again does not change it.
    const again = new x509.Pkcs10CertificateRequest(
      (await client.call('GetClientCertificateSignRequest')).clientCertificateSignRequest,
    );
    expect(Buffer.from(again.publicKey.rawData).equals(Buffer.from(after.publicKey.rawData))).toBe(true);
  });

  test('a country that is not two letters is an invalid parameter', async () => {
    const err = rpcError(await rawCall(sim, 'CreatePublicPrivateKeyPair', { commonName: 'x', country: 'USA' }));
    expect(err.name).toBe('xInvalidParameter');
    expect(err.message).toContain('member=[country]');
  });
});
