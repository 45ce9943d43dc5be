/**
 * Element tags each key it creates on the key server with a client custom attribute,
 * x-SolidFire-KeyID-<keyID> (docs/element-api.md, evidence table), and the runbooks find keys by
 * it. Against real PyKMIP servers:
 *
 *  - PyKMIP 0.10 as packaged refuses such an attribute in Create and cannot Locate by one (why the
 *    tests and the demo run it with tools/devenv/pykmip-server.py; if a later PyKMIP accepts them,
 *    this test says so and the extension can go);
 *  - the extended PyKMIP the test run shares stores it, Locates by it (name and value) and returns
 *    it with Get Attributes' neighbours untouched.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KmipEndpoint } from '../../src/kmip/api';
import { withKmipSession } from '../../src/kmip/client';
import { KmipOperationError } from '../../src/kmip/errors';
import { ResultReason } from '../../src/kmip/tags';
import { issueKeyAndCertificate, loadCertificateAuthority } from '../../src/pki/authority';
import { startPyKmip, type PyKmipServer } from '../../tools/devenv/pykmip';
import { testEnv } from '../support/test-env';

const env = testEnv();
const shared: KmipEndpoint = {
  host: env.kmip.host,
  port: env.kmip.port,
  caPem: env.kmip.caPem,
  certificatePem: env.kmip.client.certificatePem,
  privateKeyPem: env.kmip.client.privateKeyPem,
};

const tag = (keyID: string) => ({ name: `x-SolidFire-KeyID-${keyID}`, value: keyID });

async function rejection(promise: Promise<unknown>): Promise<KmipOperationError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KmipOperationError);
  return err as KmipOperationError;
}

describe('PyKMIP 0.10 as packaged', () => {
  let plain: PyKmipServer;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-plain-pykmip-'));
    plain = await startPyKmip({ dir, variant: 'plain' });
  });

  afterAll(async () => {
    await plain?.stop();
    if (!process.env.EKM_KEEP_TEST_DIR) fs.rmSync(dir, { recursive: true, force: true });
  });

  const endpoint = (): KmipEndpoint => ({
    host: plain.host,
    port: plain.port,
    caPem: plain.pki.ca.certificatePem,
    certificatePem: plain.pki.client.certificatePem,
    privateKeyPem: plain.pki.client.privateKeyPem,
  });

  test('refuses a custom attribute in Create (Invalid Field) and cannot Locate by one (General Failure)', async () => {
    const { name, value } = tag(randomUUID());
    await withKmipSession(endpoint(), async (session) => {
      const created = await rejection(session.createSymmetricKey({ customAttributes: { [name]: value } }));
      expect(created.resultReason).toBe(ResultReason.InvalidField);
      expect(created.message).toContain(`The ${name} attribute is unsupported.`);
    });
    await withKmipSession(endpoint(), async (session) => {
      // With no object at all Locate has nothing to compare and answers an empty list; with one it fails.
      await session.createSymmetricKey({});
      const located = await rejection(session.locateByCustomAttribute(name, value));
      expect(located.resultReason).toBe(ResultReason.GeneralFailure);
    });
  });
});

describe('the extended PyKMIP the tests share', () => {
  test('Create stores the attribute; Locate finds the key by its name and value, and nothing else', async () => {
    const keyID = randomUUID();
    const { name, value } = tag(keyID);
    await withKmipSession(shared, async (session) => {
      const uid = await session.createSymmetricKey({ customAttributes: { [name]: value } });
      const untagged = await session.createSymmetricKey({});
      expect(await session.locateByCustomAttribute(name, value)).toEqual([uid]);
      expect(await session.locateByCustomAttribute(name, 'another value')).toEqual([]);
      expect(await session.locateByCustomAttribute(tag(randomUUID()).name, value)).toEqual([]);
      // The key is an ordinary AES-256 key otherwise: it activates and can be read back.
      await session.activate(uid);
      expect((await session.get(uid)).cryptographicLength).toBe(256);
      expect(untagged).not.toBe(uid);
    });
  });

  test('the attribute survives a new session and goes with the key when it is destroyed', async () => {
    const { name, value } = tag(randomUUID());
    const uid = await withKmipSession(shared, (session) => session.createSymmetricKey({ customAttributes: { [name]: value } }));
    await withKmipSession(shared, async (session) => {
      expect(await session.locateByCustomAttribute(name, value)).toEqual([uid]);
      await session.destroy(uid);
      expect(await session.locateByCustomAttribute(name, value)).toEqual([]);
    });
  });

  test("another client identity does not see the key (PyKMIP owns objects by the certificate's CN)", async () => {
    const { name, value } = tag(randomUUID());
    await withKmipSession(shared, (session) => session.createSymmetricKey({ customAttributes: { [name]: value } }));
    const ca = await loadCertificateAuthority(env.kmip.caPem, env.kmip.caKeyPem);
    const stranger = await issueKeyAndCertificate(ca, { subject: 'CN=someone-else', usages: ['client'] });
    const found = await withKmipSession(
      { ...shared, certificatePem: stranger.certificatePem, privateKeyPem: stranger.privateKeyPem },
      (session) => session.locateByCustomAttribute(name, value),
    );
    expect(found).toEqual([]);
  });
});
