/**
 * The cluster's real cryptography: its RSA-2048 key pair and PKCS#10 CSR (shaped like a real
 * Element 11.7 CSR: subject CN, O, OU, L, ST, C, emailAddress in that order, an extension request
 * for critical keyUsage digitalSignature|keyEncipherment and EKU clientAuth, sha256WithRSA, and
 * version field 2 where PKCS#10 allows only 0), PEM certificate checks, and the simulator's own
 * HTTPS identity.
 */
import { createHash, createPrivateKey, createPublicKey, sign, X509Certificate } from 'node:crypto';
import { createCertificateAuthority, issueKeyAndCertificate } from '../../src/pki/authority';
import { generateRsaKeyPair, privateKeyToPem, RSA_SHA256 } from '../../src/pki/keys';
import { x509 } from '../../src/pki/x509';
import type { KeyPairRecord } from './state';

/** CreatePublicPrivateKeyPair params, in the order the real CSR lists them. */
export const SUBJECT_FIELDS = [
  ['commonName', 'CN'],
  ['organization', 'O'],
  ['organizationalUnit', 'OU'],
  ['locality', 'L'],
  ['state', 'ST'],
  ['country', 'C'],
  ['emailAddress', 'E'],
] as const;

export type SubjectField = (typeof SUBJECT_FIELDS)[number][0];
export type SubjectInput = Partial<Record<SubjectField, string>>;

/**
 * The CSR's version field: 2 as a real Element 11.7 cluster writes it (OpenSSL 3.0 and cfssl sign
 * such a CSR; OpenSSL 3.4+ and Python's cryptography 38+ refuse it), or 0 as PKCS#10 says.
 */
export type CsrVersion = 0 | 2;
export const DEFAULT_CSR_VERSION: CsrVersion = 2;

/** Makes a new RSA-2048 key pair and its CSR. */
export async function createClusterKeyPair(
  subject: SubjectInput,
  now: number,
  csrVersion: CsrVersion = DEFAULT_CSR_VERSION,
): Promise<KeyPairRecord> {
  const keys = await generateRsaKeyPair();
  const name: Record<string, string[]>[] = [];
  const stored: Record<string, string> = {};
  for (const [field, attr] of SUBJECT_FIELDS) {
    const value = subject[field];
    if (value !== undefined && value !== '') {
      name.push({ [attr]: [value] });
      stored[field] = value;
    }
  }
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: RSA_SHA256,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
    ],
  });
  const privateKeyPem = normalizePem(await privateKeyToPem(keys.privateKey));
  const der = Buffer.from(csr.rawData);
  return {
    privateKeyPem,
    publicKeyFingerprint: privateKeyFingerprint(privateKeyPem),
    subject: stored,
    csrPem: toPem(csrVersion === 0 ? der : withCsrVersion(der, csrVersion, privateKeyPem), 'CERTIFICATE REQUEST'),
    createdAt: now,
  };
}

/** One DER element: where its content starts and where it ends. */
function derElement(der: Buffer, offset: number): { tag: number; contentStart: number; end: number } {
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    length = 0;
    for (let i = 0; i < bytes; i += 1) length = length * 256 + der[offset + 2 + i]!;
    contentStart += bytes;
  }
  return { tag, contentStart, end: contentStart + length };
}

/**
 * The same CSR with another version number in CertificationRequestInfo, signed again with the
 * cluster's key (sha256WithRSA). The version INTEGER keeps its one-byte length and an RSA-2048
 * signature its size, so every length stays as it was.
 */
function withCsrVersion(der: Buffer, version: number, privateKeyPem: string): Buffer {
  const out = Buffer.from(der);
  const request = derElement(out, 0);
  const info = derElement(out, request.contentStart);
  const versionField = derElement(out, info.contentStart);
  if (info.tag !== 0x30 || versionField.tag !== 0x02 || versionField.end - versionField.contentStart !== 1) {
    throw new Error('unexpected CSR layout: CertificationRequestInfo does not start with a one-byte version');
  }
  out[versionField.contentStart] = version;
  const algorithm = derElement(out, info.end);
  const signature = derElement(out, algorithm.end);
  const signed = sign('sha256', out.subarray(request.contentStart, info.end), privateKeyPem);
  // BIT STRING: one byte of unused bits (0), then the signature.
  if (signature.tag !== 0x03 || signature.end - signature.contentStart !== signed.length + 1) {
    throw new Error('unexpected CSR layout: the signature is not an RSA-2048 BIT STRING');
  }
  signed.copy(out, signature.contentStart + 1);
  return out;
}

function toPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** PEM text with \n line endings and one trailing newline (how the cluster returns certificates). */
export function normalizePem(text: string): string {
  return `${text.replace(/\r\n?/g, '\n').trim()}\n`;
}

function sha256Hex(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

export function privateKeyFingerprint(privateKeyPem: string): string {
  const spki = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' });
  return sha256Hex(spki);
}

export function certificateFingerprint(cert: X509Certificate): string {
  return sha256Hex(cert.publicKey.export({ type: 'spki', format: 'der' }));
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/**
 * Parses PEM text holding one or more certificates (a CA bundle is several concatenated).
 * Throws a sentence saying what is wrong.
 */
export function parsePemCertificates(text: string): X509Certificate[] {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new Error('is not PEM text (no -----BEGIN CERTIFICATE----- block)');
  const certs: X509Certificate[] = [];
  blocks.forEach((block, i) => {
    const label = block[1];
    if (label !== 'CERTIFICATE') throw new Error(`holds a "${label}" PEM block; only certificates are accepted`);
    try {
      certs.push(new X509Certificate(block[0]));
    } catch (err) {
      throw new Error(`certificate ${i + 1} cannot be parsed: ${(err as Error).message}`);
    }
  });
  return certs;
}

/** The simulator's HTTPS identity: a throwaway CA and a server certificate for the given names. */
export async function createTlsIdentity(names: {
  dns: string[];
  ips: string[];
}): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const ca = await createCertificateAuthority('Element Cluster Simulator CA');
  const server = await issueKeyAndCertificate(ca, {
    subject: 'CN=element-simulator',
    usages: ['server'],
    dnsNames: names.dns,
    ipAddresses: names.ips,
  });
  return { caPem: ca.certificatePem, certPem: server.certificatePem, keyPem: server.privateKeyPem };
}
