/**
 * Certificates the worker reads from its clusters file (a cluster's caBundle, the kmipCheck
 * certificate) go through the one certificate reader: any shape a CA hands out becomes clean PEM,
 * and what is not a certificate is an error naming the setting. Generated fixtures only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { readCaBundle, readKmipCheckIdentity, type ClusterEntry } from '../../src/config/clusters';
import { ConfigError } from '../../src/config/zod-errors';
import { privateKeyToPem } from '../../src/pki/keys';
import { issueClient, makeCa, makeCsr, shapes, type TestCa } from '../support/certificates';

describe("the clusters file's certificates", () => {
  let dir: string;
  let root: TestCa;
  let issuing: TestCa;
  const entry = (extra: Partial<ClusterEntry>): ClusterEntry => ({
    mvip: 'https://10.0.0.5',
    apiVersion: '12.3',
    username: 'admin',
    password: { env: 'UNUSED' },
    connectTimeoutMs: 1000,
    responseTimeoutMs: 1000,
    ...extra,
  });
  const write = (name: string, data: string | Buffer) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, data);
    return file;
  };
  const clean = (pem: string) => `${pem.trim()}\n`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-cert-files-'));
    root = await makeCa('Cluster Root CA');
    issuing = await makeCa('Cluster Issuing CA', { issuer: root, kind: 'P-256' });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['PEM with CRLF and a BOM', () => shapes.bom(shapes.crlf(issuing.certificatePem + '\n' + root.certificatePem))],
    [
      'indented PEM with trailing blanks',
      () => shapes.trailingBlankLines(shapes.indented(issuing.certificatePem + '\n' + root.certificatePem)),
    ],
    ['a PKCS#7 bundle (DER)', () => shapes.pkcs7([issuing.certificatePem, root.certificatePem], 'der')],
    ['a PKCS#7 bundle (PEM)', () => shapes.pkcs7([issuing.certificatePem, root.certificatePem], 'pem')],
  ])('a caBundle given as %s is read as clean PEM', (_name, content) => {
    const file = write('ca-bundle', content());
    const pem = readCaBundle('prod-a', entry({ caBundle: file }));
    expect(pem).toBe(clean(issuing.certificatePem) + clean(root.certificatePem));
  });

  it('a DER caBundle (.cer) is read as PEM', () => {
    const file = write('ca.cer', shapes.der(root.certificatePem));
    expect(readCaBundle('prod-a', entry({ caBundle: file }))).toBe(clean(root.certificatePem));
  });

  it('a caBundle that is not a certificate is an error naming the setting and the problem', () => {
    const file = write('not-a-ca.pem', 'hello\n');
    expect(() => readCaBundle('prod-a', entry({ caBundle: file }))).toThrow(ConfigError);
    expect(() => readCaBundle('prod-a', entry({ caBundle: file }))).toThrow(
      `clusters.prod-a.caBundle: ${file}: is not a certificate: no -----BEGIN CERTIFICATE----- line`,
    );
  });

  it('the kmipCheck certificate: the block for its private key first (file order CA-first, key next to it, CRLF)', async () => {
    const { keys } = await makeCsr();
    const leaf = await issueClient(issuing, keys.publicKey, { subject: 'CN=kmip-check' });
    const keyPem = await privateKeyToPem(keys.privateKey);
    const certificate = write(
      'kmip-check.pem',
      shapes.crlf(`${root.certificatePem}\n${issuing.certificatePem}\n${leaf}\n${keyPem}`),
    );
    const privateKey = write('kmip-check.key', keyPem);
    const identity = readKmipCheckIdentity('prod-a', entry({ kmipCheck: { certificate, privateKey: { file: privateKey } } }))!;
    expect(identity.certificatePem.startsWith(clean(leaf))).toBe(true);
    expect(identity.certificatePem).not.toMatch(/\r|PRIVATE KEY/);
    expect(new X509Certificate(identity.certificatePem).subject).toBe('CN=kmip-check');
    expect(identity.certificatePem.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
  });

  it('a kmipCheck certificate for another key is an error naming the setting', async () => {
    const { keys } = await makeCsr();
    const other = await makeCsr();
    const certificate = write('kmip-check-other.pem', await issueClient(issuing, other.keys.publicKey));
    const privateKey = write('kmip-check-other.key', await privateKeyToPem(keys.privateKey));
    expect(() =>
      readKmipCheckIdentity('prod-a', entry({ kmipCheck: { certificate, privateKey: { file: privateKey } } })),
    ).toThrow(`clusters.prod-a.kmipCheck.certificate: ${certificate}: is not the certificate of the private key it goes with`);
  });
});
