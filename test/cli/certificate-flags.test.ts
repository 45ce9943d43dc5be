/**
 * The CLI's certificate flags read files through the one certificate reader before anything is
 * sent: `setup --kmip-ca` and an `--input` file's kmipCaCertificate, `answer change --client-cert
 * --client-ca --kmip-ca`. What is sent is clean PEM; a file that is too large or no certificate
 * exits 2 naming the flag. (In process: it needs no server, though its folder puts it in the
 * integration tier.) Generated fixtures only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCertificateFile } from '../../src/cli/certificate-files';
import { buildAnswer } from '../../src/cli/commands/runs';
import { setupInputFromFlags } from '../../src/cli/commands/setup';
import { ExitCode } from '../../src/cli/exit-codes';
import { CERTIFICATE_INPUT_LIMIT_BYTES } from '../../workflows/contract';
import { issueClient, makeCa, makeCsr, shapes, type TestCa } from '../support/certificates';
import { cliRefusal } from '../support/cli-refusal';

describe('certificate flags of the CLI', () => {
  let dir: string;
  let ca: TestCa;
  let leaf: string;
  const clean = (pem: string) => `${pem.trim()}\n`;
  const write = (name: string, data: string | Buffer) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, data);
    return file;
  };
  const setupFlags = (extra: Record<string, unknown>) =>
    setupInputFromFlags('prod-a', { hostname: [], ...extra } as Parameters<typeof setupInputFromFlags>[1]);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-cert-flags-'));
    ca = await makeCa('KMIP Server CA', { kind: 'P-256' });
    leaf = await issueClient(ca, (await makeCsr()).keys.publicKey);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('setup --kmip-ca: a DER or PKCS#7 file becomes PEM in the input', () => {
    expect(setupFlags({ kmipCa: write('kmip-ca.cer', shapes.der(ca.certificatePem)) }).kmipCaCertificate).toBe(
      clean(ca.certificatePem),
    );
    expect(setupFlags({ kmipCa: write('kmip-ca.p7b', shapes.pkcs7([ca.certificatePem], 'der')) }).kmipCaCertificate).toBe(
      clean(ca.certificatePem),
    );
  });

  it("setup --input: the file's kmipCaCertificate as one line with \\n escapes, or with CRLF, becomes clean PEM", () => {
    const oneLine = write('setup.yaml', `kmipCaCertificate: "${shapes.oneLineEscaped(ca.certificatePem, '\\\\n')}"\n`);
    expect(setupFlags({ input: oneLine }).kmipCaCertificate).toBe(clean(ca.certificatePem));
    const json = write('setup.json', JSON.stringify({ kmipCaCertificate: shapes.crlf(ca.certificatePem) }));
    expect(setupFlags({ input: json }).kmipCaCertificate).toBe(clean(ca.certificatePem));
    const bad = write('bad.yaml', 'kmipCaCertificate: not a certificate\n');
    const refused = cliRefusal(() => setupFlags({ input: bad }));
    expect(refused.exitCode).toBe(ExitCode.usage);
    expect(refused.message).toBe(
      `${bad}: kmipCaCertificate: is not a certificate: no -----BEGIN CERTIFICATE----- line, and not DER or PKCS#7 either`,
    );
  });

  it('answer change --client-cert/--client-ca/--kmip-ca: any shape in, clean PEM out', () => {
    const answer = buildAnswer('change', {
      clientCert: write('client.cer', shapes.der(leaf)),
      clientCa: write('client-ca.p7b', shapes.pkcs7([ca.certificatePem], 'pem')),
      kmipCa: write('kmip.pem', shapes.bom(shapes.crlf(shapes.indented(ca.certificatePem)))),
    });
    expect(answer).toMatchObject({
      action: 'change',
      clientCertificate: { certificatePem: clean(leaf), caChainPem: clean(ca.certificatePem) },
      kmipCaCertificate: clean(ca.certificatePem),
    });
  });

  it('a file over the limit is refused before it is read or sent, with its size and the limit (exit 2)', () => {
    const big = write('big.pem', leaf + 'x'.repeat(CERTIFICATE_INPUT_LIMIT_BYTES));
    const size = fs.statSync(big).size;
    for (const [fn, flag] of [
      [() => buildAnswer('change', { clientCert: big, clientCa: big }), '--client-cert'],
      [() => setupFlags({ kmipCa: big }), '--kmip-ca'],
      [() => readCertificateFile(big, '--cert'), '--cert'],
    ] as const) {
      const refused = cliRefusal(fn);
      expect(refused.exitCode).toBe(ExitCode.usage);
      expect(refused.message).toBe(
        `${flag}: ${big} is too large (${size} bytes; limit ${CERTIFICATE_INPUT_LIMIT_BYTES}): a certificate with its chain is a few kilobytes`,
      );
    }
  });

  it('names the flag for a file that is no certificate, a private key, or missing (exit 2)', async () => {
    const withKey = write('with-key.pem', `${leaf}\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`);
    expect(cliRefusal(() => readCertificateFile(withKey, '--cert')).message).toBe(
      '--cert: holds a private key: give the certificate alone (a private key must never be handed to the runbook)',
    );
    const csrFile = write('csr.pem', (await makeCsr()).csrPem);
    expect(cliRefusal(() => readCertificateFile(csrFile, '--client-cert')).message).toContain(
      '--client-cert: is a certificate signing request (CSR), not a certificate',
    );
    expect(cliRefusal(() => readCertificateFile(path.join(dir, 'missing.pem'), '--ca')).message).toBe(
      `--ca: file ${path.join(dir, 'missing.pem')} does not exist`,
    );
  });
});
