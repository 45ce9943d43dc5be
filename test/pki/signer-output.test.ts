/**
 * What a signing command prints goes through the one certificate reader: PEM in any shape, DER,
 * PKCS#7, a chain in any order; the check then picks the block with the CSR's key. A signer that
 * prints no certificate, or refuses, says so in its own words. Generated fixtures; the commands
 * are `cat` and `sh` (no server).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { certificateActivities } from '../../activities/certificates';
import type { ActivityContext } from '../../activities/context';
import type { ClusterRegistry } from '../../src/config/clusters';
import { checkSignedCertificate } from '../../src/pki/certificate-checks';
import { issueClient, makeCa, makeCsr, shapes, type TestCa } from '../support/certificates';

describe("signers' output", () => {
  let dir: string;
  let root: TestCa;
  let issuing: TestCa;
  let csr: Awaited<ReturnType<typeof makeCsr>>;
  let leaf: string;
  const registry: ClusterRegistry = { clusters: {}, signers: {} };
  const activities = certificateActivities({ registry } as unknown as ActivityContext);
  const write = (name: string, data: string | Buffer) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, data);
    return file;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-signers-'));
    root = await makeCa('Signer Root CA');
    issuing = await makeCa('Signer Issuing CA', { issuer: root, kind: 'P-384' });
    csr = await makeCsr({ version: 2 });
    leaf = await issueClient(issuing, csr.keys.publicKey);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function signAndCheck(output: string | Buffer, caBundle?: string | Buffer) {
    registry.signers.test = {
      command: ['cat', write('signer-output', output)],
      caBundle: caBundle === undefined ? undefined : write('signer-ca', caBundle),
      timeoutMs: 10_000,
    };
    const signed = await activities.signWithCommand({ csrPem: csr.csrPem, signer: 'test' });
    expect(signed.certificatePem).not.toMatch(/\r/);
    return { signed, verdict: await checkSignedCertificate({ csrPem: csr.csrPem, ...signed }) };
  }

  it.each([
    ['PEM with CRLF, leaf first', () => shapes.crlf(leaf + '\n' + issuing.certificatePem), () => root.certificatePem],
    ['a chain CA-first, leaf last, no caBundle', () => `${root.certificatePem}\n${issuing.certificatePem}\n${leaf}`, undefined],
    ['DER, with a DER caBundle', () => shapes.der(leaf), () => Buffer.concat([shapes.der(issuing.certificatePem)])],
    [
      'a PKCS#7 bundle of the whole chain',
      () => shapes.pkcs7([root.certificatePem, leaf, issuing.certificatePem], 'der'),
      undefined,
    ],
  ])('a signer printing %s: the certificate passes the checks', async (_name, output, ca) => {
    const { verdict } = await signAndCheck(output(), ca?.());
    expect(verdict.problems).toEqual([]);
    expect(verdict.certificatePem).toBe(`${leaf.trim()}\n`);
  });

  it('a signer printing no certificate fails saying what it printed, in its own words', async () => {
    const failure = await signAndCheck('Error: the CSR version is not supported\n').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe('SignerFailed');
    expect((failure as Error).message).toBe(
      'signer test printed no usable certificate: signer test output: is not a certificate: no -----BEGIN CERTIFICATE----- line, and not DER or PKCS#7 either',
    );
  });

  it('a signer that refuses (exits non-zero) is retried, with its own message (e.g. a CA tool that refuses a version-2 CSR)', async () => {
    registry.signers.refusing = {
      command: ['sh', '-c', 'cat >/dev/null; echo "req: unsupported X509_REQ version 2 (OpenSSL >= 3.4 refuses it)" >&2; exit 1'],
      timeoutMs: 10_000,
    };
    const failure = await activities.signWithCommand({ csrPem: csr.csrPem, signer: 'refusing' }).catch((e: unknown) => e);
    expect((failure as ApplicationFailure).type).toBe('SignerFailed');
    expect((failure as ApplicationFailure).nonRetryable).toBe(false);
    expect((failure as Error).message).toBe(
      'signer sh exited with 1: req: unsupported X509_REQ version 2 (OpenSSL >= 3.4 refuses it)',
    );
  });

  it('a caBundle that is not a certificate is a configuration error naming the setting', async () => {
    const failure = await signAndCheck(leaf, 'not a certificate').catch((e: unknown) => e);
    expect((failure as ApplicationFailure).type).toBe('ConfigError');
    expect((failure as Error).message).toContain('signers.test.caBundle: is not a certificate');
  });
});
