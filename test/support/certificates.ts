/**
 * Generated certificate fixtures for the certificate-input tests: CAs with RSA or EC keys (P-256,
 * P-384, P-521), intermediates, client certificates for a CSR's key, version-2 CSRs (what a real
 * Element 11.7 cluster answers) and the shapes certificates arrive in (DER, PKCS#7, one-line PEM
 * with escapes, CRLF, BOM, indentation). Nothing here is copied from anywhere: every key and
 * certificate is made when a test runs.
 */
import { randomBytes } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { generateRsaKeyPair, importRsaKeyPair, RSA_SHA256 } from '../../src/pki/keys';
import { subtle, x509, type CryptoKey, type CryptoKeyPair, type X509 } from '../../src/pki/x509';

const DAY = 86_400_000;
const MINUTE = 60_000;

export type KeyKind = 'rsa' | 'P-256' | 'P-384' | 'P-521';

const EC_HASH = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' } as const;

function algorithmOf(kind: KeyKind) {
  return kind === 'rsa' ? RSA_SHA256 : { name: 'ECDSA', namedCurve: kind, hash: EC_HASH[kind] };
}

export interface TestCa {
  name: string;
  kind: KeyKind;
  certificate: X509.X509Certificate;
  certificatePem: string;
  keys: CryptoKeyPair;
}

function serial(): string {
  const bytes = randomBytes(12);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/** A CA: self-signed (a root) or issued by `issuer` (an intermediate). */
export async function makeCa(
  name: string,
  options: { kind?: KeyKind; issuer?: TestCa; notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCa> {
  const kind = options.kind ?? 'rsa';
  const keys = (await subtle.generateKey(algorithmOf(kind), true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const common = {
    serialNumber: serial(),
    notBefore: options.notBefore ?? new Date(now - 10 * MINUTE),
    notAfter: options.notAfter ?? new Date(now + 3650 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  };
  const certificate = options.issuer
    ? await x509.X509CertificateGenerator.create({
        ...common,
        subject: `CN=${name}`,
        issuer: options.issuer.certificate.subject,
        publicKey: keys.publicKey,
        signingKey: options.issuer.keys.privateKey,
        signingAlgorithm: algorithmOf(options.issuer.kind),
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        ...common,
        name: `CN=${name}`,
        keys,
        signingAlgorithm: algorithmOf(kind),
      });
  return { name, kind, certificate, certificatePem: certificate.toString('pem'), keys };
}

/** A client certificate for `publicKey` (the CSR's), clientAuth unless told otherwise. */
export async function issueClient(
  ca: TestCa,
  publicKey: CryptoKey | X509.PublicKey,
  options: { subject?: string; notBefore?: Date; notAfter?: Date; usages?: ('client' | 'server')[] } = {},
): Promise<string> {
  const now = Date.now();
  const usages = (options.usages ?? ['client']).map((u) =>
    u === 'client' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth,
  );
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: options.subject ?? 'CN=cluster-a.example.test',
    issuer: ca.certificate.subject,
    notBefore: options.notBefore ?? new Date(now - MINUTE),
    notAfter: options.notAfter ?? new Date(now + 365 * DAY),
    publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: algorithmOf(ca.kind),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
    ],
  });
  return certificate.toString('pem');
}

/** A cluster-like key pair and its CSR (version 0 unless asked for version 2). */
export async function makeCsr(
  options: { subject?: string; version?: 0 | 2 } = {},
): Promise<{ csrPem: string; keys: CryptoKeyPair }> {
  const keys = await generateRsaKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.subject ?? 'CN=cluster-a.example.test, O=EKM tests',
    keys,
    signingAlgorithm: RSA_SHA256,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false)],
  });
  const csrPem = csr.toString('pem');
  return { csrPem: options.version === 2 ? await toVersion2Csr(csrPem, keys.privateKey) : csrPem, keys };
}

/**
 * The same request with its version field set to 2 (as a real Element 11.7 cluster answers;
 * PKCS#10 allows only 0), re-signed with the request's own key so its signature still verifies.
 */
export async function toVersion2Csr(csrPem: string, privateKey: CryptoKey | string): Promise<string> {
  const key = typeof privateKey === 'string' ? (await importRsaKeyPair(privateKey)).privateKey : privateKey;
  const request = AsnConvert.parse(x509.PemConverter.decodeFirst(csrPem), CertificationRequest);
  request.certificationRequestInfo.version = 2;
  const toBeSigned = AsnConvert.serialize(request.certificationRequestInfo);
  request.signature = await subtle.sign('RSASSA-PKCS1-v1_5', key, toBeSigned);
  return x509.PemConverter.encode(AsnConvert.serialize(request), 'CERTIFICATE REQUEST');
}

/** The version field of a PKCS#10 request. */
export function csrVersion(csrPem: string): number {
  return AsnConvert.parse(x509.PemConverter.decodeFirst(csrPem), CertificationRequest).certificationRequestInfo.version;
}

// ---- the shapes certificates arrive in

const lines = (pem: string) => pem.trim().split('\n');

export const shapes = {
  trailingWhitespace: (pem: string) =>
    `${lines(pem)
      .map((l, i) => l + (i % 2 ? ' \t' : '   '))
      .join('\n')}\n`,
  trailingBlankLines: (pem: string) => `${pem.trim()}\n\n\n   \n`,
  indented: (pem: string) =>
    `${lines(pem)
      .map((l) => `    ${l}`)
      .join('\n')}\n`,
  blankLineInside: (pem: string) => {
    const all = lines(pem);
    return `${[...all.slice(0, 4), '', ...all.slice(4)].join('\n')}\n`;
  },
  /** One line with literal backslash-n escapes, as inside a JSON string (`\n`) or escaped twice (`\\n`). */
  oneLineEscaped: (pem: string, escape: '\\n' | '\\\\n') => lines(pem).join(escape) + escape,
  crlf: (pem: string) => pem.replace(/\r?\n/g, '\r\n'),
  bom: (pem: string) => `\ufeff${pem}`,
  der: (pem: string) => Buffer.from(new x509.X509Certificate(pem).rawData),
  /** A PKCS#7 (.p7b) certificate bundle, binary or PEM (label PKCS7, as AD CS and OpenSSL write it). */
  pkcs7: (pems: string[], format: 'der' | 'pem') => {
    const raw = new x509.X509Certificates(pems.map((p) => new x509.X509Certificate(p))).export('raw');
    return format === 'der' ? Buffer.from(raw) : x509.PemConverter.encode(raw, 'PKCS7');
  },
};
