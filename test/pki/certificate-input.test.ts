/**
 * Certificates and CA bundles as CAs and people really hand them out (issue 12, section 1), read
 * by the one certificate reader and judged by the check every submission gets. Every fixture is
 * generated here (test/support/certificates.ts); each case asserts the verdict and the words an
 * operator reads.
 */
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { checkSignedCertificate, summarizeCsr, type CertificateCheck } from '../../src/pki/certificate-checks';
import {
  CERTIFICATE_INPUT_LIMIT_BYTES,
  CertificateInputError,
  normalizeCaBundle,
  normalizeCsrPem,
  readCertificateInput,
  readCsr,
} from '../../src/pki/certificate-input';
import { x509, type CryptoKeyPair } from '../../src/pki/x509';
import { certificateInputProblem, operatorAnswer, signedCertificateSubmission } from '../../workflows/contract';
import { csrVersion, issueClient, makeCa, makeCsr, shapes, type KeyKind, type TestCa } from '../support/certificates';

const MINUTE = 60_000;
/** A PEM as the reader writes it: LF only, a final newline. */
const clean = (pem: string) => `${pem.replace(/\r/g, '').trim()}\n`;

/** What CreateKeyServerKmip may get: LF only, exactly one block, 64-column base64, a final newline, readable by Node. */
function expectCleanSingleBlock(pem: string | undefined, original: string): void {
  expect(pem).toBeDefined();
  expect(pem).not.toMatch(/\r|\uFEFF|[ \t]\n|\\n/);
  expect(pem!.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(1);
  expect(pem!.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
  for (const line of pem!.trim().split('\n').slice(1, -1)) expect(line.length).toBeLessThanOrEqual(64);
  expect(new NodeX509Certificate(pem!).raw.equals(new NodeX509Certificate(original).raw)).toBe(true);
}

function expectNoLibraryMessage(check: CertificateCheck | string[]): void {
  const text = (Array.isArray(check) ? check : check.problems).join('\n');
  expect(text).not.toMatch(/Unsupported format|'raw' argument|Cannot read|TypeError|undefined|AsnConvert|schema/i);
}

describe('certificates as they arrive', () => {
  let root: TestCa;
  let intermediate: TestCa;
  let cluster: { csrPem: string; keys: CryptoKeyPair };
  let leaf: string;

  beforeAll(async () => {
    root = await makeCa('Example Root CA');
    intermediate = await makeCa('Example Issuing CA 1', { issuer: root });
    cluster = await makeCsr();
    leaf = await issueClient(intermediate, cluster.keys.publicKey);
  });

  const check = (certificatePem: string | Buffer, caChainPem: string | Buffer, csrPem = cluster.csrPem, now?: Date) =>
    checkSignedCertificate(
      {
        csrPem,
        certificatePem: typeof certificatePem === 'string' ? certificatePem : readAsSent(certificatePem, '--cert'),
        caChainPem: typeof caChainPem === 'string' ? caChainPem : readAsSent(caChainPem, '--ca'),
      },
      { now },
    );
  /** What the CLI sends for a binary file: its certificates as PEM (the reader's conversion). */
  const readAsSent = (data: Buffer, name: string) =>
    readCertificateInput(data, name)
      .certificates.map((c) => c.pem)
      .join('');
  const chainPem = () => intermediate.certificatePem + root.certificatePem;

  it('accepts a plain PEM with its chain, and hands back the client certificate alone', async () => {
    const verdict = await check(leaf, chainPem());
    expect(verdict.problems).toEqual([]);
    expectCleanSingleBlock(verdict.certificatePem, leaf);
    expect(verdict.chain?.map((c) => c.subject)).toEqual(['CN=Example Issuing CA 1', 'CN=Example Root CA']);
    expect(verdict.chain?.at(-1)?.selfSigned).toBe(true);
  });

  it.each([
    ['trailing spaces and tabs on its lines', shapes.trailingWhitespace],
    ['trailing blank lines', shapes.trailingBlankLines],
    ['an indented PEM', shapes.indented],
    ['a blank line inside the base64', shapes.blankLineInside],
    ['a UTF-8 BOM', shapes.bom],
    ['CRLF line endings', shapes.crlf],
    ['BOM, CRLF and indentation together', (pem: string) => shapes.bom(shapes.crlf(shapes.indented(pem)))],
  ])('accepts %s (the certificate and the CA bundle alike), and sends clean PEM', async (_name, shape) => {
    const verdict = await check(shape(leaf), shape(chainPem()));
    expect(verdict.problems).toEqual([]);
    expectNoLibraryMessage(verdict);
    expectCleanSingleBlock(verdict.certificatePem, leaf);
    expect(verdict.caChainPem).toBe(clean(intermediate.certificatePem) + clean(root.certificatePem));
  });

  it.each([
    ['literal \\n escapes (a JSON string copied raw)', '\\n' as const],
    ['literal \\\\n escapes (escaped twice)', '\\\\n' as const],
  ])('accepts a PEM pasted as one line with %s, and says it decoded them', async (_name, escape) => {
    const verdict = await check(shapes.oneLineEscaped(leaf, escape), shapes.oneLineEscaped(chainPem(), escape));
    expect(verdict.problems).toEqual([]);
    expect(verdict.notes).toContain('--cert: one-line PEM with literal \\n escapes: the escapes were read as line breaks');
    expectCleanSingleBlock(verdict.certificatePem, leaf);
  });

  it('accepts a one-line PEM still in its JSON quotes, with escaped slashes', async () => {
    const json = JSON.stringify({ certificate: leaf }).replace(/\//g, '\\/');
    const quoted = json.slice(json.indexOf(':') + 1, -1);
    const verdict = await check(quoted, chainPem());
    expect(verdict.problems).toEqual([]);
    expectCleanSingleBlock(verdict.certificatePem, leaf);
  });

  it('accepts a chain CA-first, leaf-last in the certificate file: picks the block with the CSR key and says so', async () => {
    const verdict = await check(root.certificatePem + intermediate.certificatePem + leaf, root.certificatePem);
    expect(verdict.problems).toEqual([]);
    expect(verdict.notes).toContain(
      "--cert holds 3 certificates: the client certificate is --cert[3] (its public key is the CSR's); the others are taken as CA certificates",
    );
    expectCleanSingleBlock(verdict.certificatePem, leaf);
    expect(verdict.summary?.subject).toBe('CN=cluster-a.example.test');
    expect(verdict.chain?.map((c) => c.from)).toEqual(['--cert[2]', '--cert[1]']);
  });

  it('finds the client certificate in the CA file when the two files were swapped', async () => {
    const verdict = await check(chainPem(), leaf);
    expect(verdict.problems).toEqual([]);
    expect(verdict.notes.join('\n')).toContain('the client certificate was found in --ca');
    expectCleanSingleBlock(verdict.certificatePem, leaf);
  });

  it('accepts a DER certificate (.cer) and says it was converted', async () => {
    const der = shapes.der(leaf);
    const input = readCertificateInput(der, '--cert');
    expect(input.notes).toEqual(['--cert: binary DER certificate: converted to PEM']);
    const verdict = await check(der, chainPem());
    expect(verdict.problems).toEqual([]);
    expectCleanSingleBlock(verdict.certificatePem, leaf);
    // A DER CA certificate too.
    expect((await check(leaf, Buffer.concat([shapes.der(intermediate.certificatePem)]))).problems).toEqual([]);
  });

  it('accepts base64 of a DER certificate without PEM markers', async () => {
    const b64 = shapes.der(leaf).toString('base64');
    const input = readCertificateInput(b64, '--cert');
    expect(input.notes[0]).toContain('base64 (no PEM markers)');
    expect((await check(b64, chainPem())).problems).toEqual([]);
  });

  it.each(['der', 'pem'] as const)(
    'accepts a PKCS#7 bundle (.p7b, %s) as AD CS hands out, and says it was converted',
    async (format) => {
      const p7b = shapes.pkcs7([leaf, intermediate.certificatePem, root.certificatePem], format);
      const input = readCertificateInput(p7b, '--cert');
      expect(input.notes.join('\n')).toContain('PKCS#7 bundle (.p7b) of 3 certificates: converted to PEM');
      expect(input.certificates).toHaveLength(3);
      // The whole chain in the one file, the CA file holding only the root.
      const verdict = await check(readAsSent(Buffer.from(p7b), '--cert'), root.certificatePem);
      expect(verdict.problems).toEqual([]);
      expectCleanSingleBlock(verdict.certificatePem, leaf);
      // A PKCS#7 CA bundle too.
      const caBundle = shapes.pkcs7([root.certificatePem, intermediate.certificatePem], format);
      expect((await check(leaf, Buffer.from(caBundle))).problems).toEqual([]);
    },
  );

  it('accepts a certificate whose notBefore is 3 minutes ahead (a fast CA clock), saying the runbook waits until then', async () => {
    const notBefore = new Date(Date.now() + 3 * MINUTE);
    const verdict = await check(await issueClient(intermediate, cluster.keys.publicKey, { notBefore }), chainPem());
    expect(verdict.problems).toEqual([]);
    const iso = new Date(Math.floor(notBefore.getTime() / 1000) * 1000).toISOString();
    expect(verdict.waitUntil).toBe(iso);
    expect(verdict.notes.join('\n')).toMatch(
      new RegExp(
        `--cert: valid from ${iso}, [23] minutes ahead of now .*the runbook waits until then before it hands the certificate to the cluster`,
      ),
    );
  });

  it('refuses a certificate whose notBefore is 10 minutes ahead, naming notBefore and the date', async () => {
    const notBefore = new Date(Date.now() + 10 * MINUTE);
    const verdict = await check(await issueClient(intermediate, cluster.keys.publicKey, { notBefore }), chainPem());
    const iso = new Date(Math.floor(notBefore.getTime() / 1000) * 1000).toISOString();
    expect(verdict.problems).toEqual([expect.stringContaining(`--cert: not valid yet: its notBefore is ${iso}`)]);
    expect(verdict.problems[0]).toMatch(/(9|10) minutes ahead of now .*up to 5 minutes ahead is accepted/);
    expect(verdict.waitUntil).toBeUndefined();
  });

  describe.each(['P-256', 'P-384', 'P-521'] as KeyKind[])('EC %s issuers over an RSA leaf', (kind) => {
    let ecRoot: TestCa;
    let ecIntermediate: TestCa;
    let ecLeaf: string;
    beforeAll(async () => {
      ecRoot = await makeCa(`EC Root ${kind}`, { kind });
      ecIntermediate = await makeCa(`EC Issuing ${kind}`, { kind, issuer: ecRoot });
      ecLeaf = await issueClient(ecIntermediate, cluster.keys.publicKey);
    });

    it('builds the chain through every CA given, in any order', async () => {
      for (const bundle of [
        ecIntermediate.certificatePem + ecRoot.certificatePem,
        ecRoot.certificatePem + ecIntermediate.certificatePem,
      ]) {
        const verdict = await check(ecLeaf, bundle);
        expect(verdict.problems).toEqual([]);
        expect(verdict.chain?.map((c) => c.subject)).toEqual([`CN=EC Issuing ${kind}`, `CN=EC Root ${kind}`]);
      }
      // The intermediate in the certificate file, the root in the CA file.
      expect((await check(ecIntermediate.certificatePem + ecLeaf, ecRoot.certificatePem)).problems).toEqual([]);
    });

    it('says which intermediate is missing', async () => {
      const verdict = await check(ecLeaf, ecRoot.certificatePem);
      expect(verdict.problems).toEqual([
        `--cert: issuer "CN=EC Issuing ${kind}" is not in the CA bundle: include the intermediate`,
      ]);
    });
  });

  it('an EC intermediate under an RSA root, and an RSA intermediate under an EC root', async () => {
    const ecUnderRsa = await makeCa('EC under RSA', { kind: 'P-384', issuer: root });
    expect(
      (await check(await issueClient(ecUnderRsa, cluster.keys.publicKey), root.certificatePem + ecUnderRsa.certificatePem))
        .problems,
    ).toEqual([]);
    const ecRoot = await makeCa('EC Root for RSA', { kind: 'P-521' });
    const rsaUnderEc = await makeCa('RSA under EC', { issuer: ecRoot });
    expect(
      (await check(await issueClient(rsaUnderEc, cluster.keys.publicKey), ecRoot.certificatePem + rsaUnderEc.certificatePem))
        .problems,
    ).toEqual([]);
  });

  it('refuses a missing intermediate: "issuer <DN> is not in the CA bundle: include the intermediate"', async () => {
    const verdict = await check(leaf, root.certificatePem);
    expect(verdict.problems).toEqual([
      '--cert: issuer "CN=Example Issuing CA 1" is not in the CA bundle: include the intermediate',
    ]);
    // Two levels of intermediates, the middle one missing.
    const second = await makeCa('Example Issuing CA 2', { issuer: intermediate });
    const deep = await issueClient(second, cluster.keys.publicKey);
    const gap = await check(deep, second.certificatePem + root.certificatePem);
    expect(gap.problems).toEqual(['--ca[1]: issuer "CN=Example Issuing CA 1" is not in the CA bundle: include the intermediate']);
    // Only the issuing CA given (no root): accepted, saying where the chain ends.
    const partial = await check(leaf, intermediate.certificatePem);
    expect(partial.problems).toEqual([]);
    expect(partial.notes.join('\n')).toContain(
      'the chain ends at "CN=Example Issuing CA 1" (issued by "CN=Example Root CA", not given): the key server must trust that CA',
    );
  });

  it('refuses an expired CA in the chain, naming it', async () => {
    const old = await makeCa('Expired Issuing CA', {
      issuer: root,
      notBefore: new Date(Date.now() - 400 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const verdict = await check(await issueClient(old, cluster.keys.publicKey), old.certificatePem + root.certificatePem);
    expect(verdict.problems).toEqual([
      expect.stringMatching(/^--ca\[1\] \("CN=Expired Issuing CA"\): this CA certificate expired on /),
    ]);
  });

  it('refuses a too-large input with its size and the limit, in the reader, the contract (Update validators) and the submission schema', () => {
    const big = leaf + 'x'.repeat(CERTIFICATE_INPUT_LIMIT_BYTES);
    const bytes = Buffer.byteLength(big);
    const expected = `too large (${bytes} bytes; limit ${CERTIFICATE_INPUT_LIMIT_BYTES})`;
    expect(() => readCertificateInput(big, '--cert', { limitBytes: CERTIFICATE_INPUT_LIMIT_BYTES })).toThrow(
      `--cert: ${expected}`,
    );
    expect(certificateInputProblem(big)).toContain(expected);
    const parsed = signedCertificateSubmission.safeParse({ certificatePem: big, caChainPem: root.certificatePem });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ path: ['certificatePem'], message: expect.stringContaining(expected) });
    // The answer Update's certificates too (`ekm answer … change --client-cert/--client-ca/--kmip-ca`).
    const change = operatorAnswer.safeParse({
      action: 'change',
      clientCertificate: { certificatePem: big, caChainPem: root.certificatePem },
      kmipCaCertificate: `${root.certificatePem}\n-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n`,
    });
    expect(change.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual(
      expect.arrayContaining([
        ['clientCertificate.certificatePem', expect.stringContaining(expected)],
        ['kmipCaCertificate', expect.stringContaining('holds a private key')],
      ]),
    );
    // Multi-byte characters count as bytes.
    expect(certificateInputProblem('é'.repeat(CERTIFICATE_INPUT_LIMIT_BYTES / 2 + 1))).toContain(
      `too large (${CERTIFICATE_INPUT_LIMIT_BYTES + 2} bytes`,
    );
  });

  it.each([
    [
      'a damaged base64',
      () => leaf.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'),
      '--cert: the PEM block is damaged: its text is not base64',
    ],
    ['a truncated PEM', () => leaf.slice(0, 300), '--cert: PEM block 1 has a -----BEGIN line but no matching -----END line'],
    [
      'a CSR',
      () => cluster.csrPem,
      '--cert: is a certificate signing request (CSR), not a certificate: give the certificate the CA signed from it',
    ],
    [
      'a private key next to the certificate',
      () => `${leaf}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`,
      '--cert: holds a private key',
    ],
    ['JSON', () => JSON.stringify({ certificate: 'x' }, null, 2), '--cert: looks like JSON, not a certificate'],
    ['an empty file', () => '  \n', '--cert: is empty'],
    [
      'random bytes',
      () => Buffer.from([0x30, 0x82, 0x01, 0x00, 1, 2, 3, 4]),
      '--cert: is a binary file but neither a DER certificate (.cer/.crt) nor a PKCS#7 bundle (.p7b)',
    ],
    [
      'a PEM block whose base64 is not a certificate',
      () => '-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n',
      '--cert: the PEM block does not hold an X.509 certificate',
    ],
  ])("refuses %s in an operator's words, with no library message", async (_name, input, message) => {
    const data = input();
    expect(() => readCertificateInput(data, '--cert')).toThrow(CertificateInputError);
    const verdict = await check(typeof data === 'string' ? data : data.toString('latin1'), chainPem());
    expect(verdict.problems).toEqual([expect.stringContaining(typeof data === 'string' ? message : '--cert:')]);
    expectNoLibraryMessage(verdict);
    if (typeof data !== 'string') {
      try {
        readCertificateInput(data, '--cert');
      } catch (err) {
        expect((err as Error).message).toContain(message);
      }
    }
  });

  it('names each CA block of a bundle as ca[2] and so on', async () => {
    const verdict = await check(
      leaf,
      `${intermediate.certificatePem}-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n`,
    );
    expect(verdict.problems).toEqual([
      '--ca: PEM block 2 does not hold an X.509 certificate (its base64 decodes to something else, or it is damaged)',
    ]);
    const input = readCertificateInput(chainPem(), '--ca');
    expect(input.certificates.map((c) => c.label)).toEqual(['--ca[1]', '--ca[2]']);
  });

  it('keeps identical certificates once and leaves out text around the blocks (openssl "subject=" lines)', () => {
    const decorated = `subject=CN = Example Issuing CA 1\nissuer=CN = Example Root CA\n${intermediate.certificatePem}Bag Attributes\n${intermediate.certificatePem}`;
    expect(normalizeCaBundle(decorated, 'caBundle')).toBe(clean(intermediate.certificatePem));
  });
});

describe("the cluster's CSR", () => {
  it('reads a version-2 PKCS#10 request (what a real Element 11.7 cluster answers) and accepts a certificate for it', async () => {
    const ca = await makeCa('V2 CA');
    const v2 = await makeCsr({ version: 2 });
    expect(csrVersion(v2.csrPem)).toBe(2);
    expect(await readCsr(v2.csrPem).verify()).toBe(true);
    expect((await summarizeCsr(v2.csrPem)).subject).toBe('CN=cluster-a.example.test, O=EKM tests');
    const verdict = await checkSignedCertificate({
      csrPem: v2.csrPem,
      certificatePem: await issueClient(ca, v2.keys.publicKey),
      caChainPem: ca.certificatePem,
    });
    expect(verdict.problems).toEqual([]);
  });

  it('keeps the request unchanged (still version 2) and gives it real newlines, whatever shape it came in', async () => {
    const v2 = await makeCsr({ version: 2 });
    const der = Buffer.from(x509.PemConverter.decodeFirst(v2.csrPem));
    for (const shape of [
      v2.csrPem,
      shapes.crlf(v2.csrPem),
      shapes.bom(v2.csrPem),
      shapes.oneLineEscaped(v2.csrPem, '\\n'),
      v2.csrPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''),
    ]) {
      const pem = normalizeCsrPem(shape);
      expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE REQUEST-----\n$/);
      expect(Buffer.from(x509.PemConverter.decodeFirst(pem)).equals(der)).toBe(true);
      expect(csrVersion(pem)).toBe(2);
    }
    expect(normalizeCsrPem(der)).toBe(normalizeCsrPem(v2.csrPem));
  });

  it('says what a file that is not a CSR is', () => {
    expect(() => readCsr('hello', '--csr')).toThrow('--csr: is not a certificate signing request (it is not PEM or base64)');
    expect(() => readCsr('-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n', '--csr')).toThrow(
      '--csr: is not a certificate signing request (it holds a certificate block)',
    );
  });
});
