/**
 * The cluster's real cryptography: its RSA-2048 key pair and PKCS#10 CSR (shaped like a real
 * Element 11.7 CSR: subject CN, O, OU, L, ST, C, emailAddress in that order and an extension
 * request for critical keyUsage digitalSignature|keyEncipherment and EKU clientAuth), PEM
 * certificate checks, and the simulator's own HTTPS identity.
 */
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
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

/** Makes a new RSA-2048 key pair and its CSR. */
export async function createClusterKeyPair(subject: SubjectInput, now: number): Promise<KeyPairRecord> {
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
  return {
    privateKeyPem,
    publicKeyFingerprint: privateKeyFingerprint(privateKeyPem),
    subject: stored,
    csrPem: normalizePem(csr.toString('pem')),
    createdAt: now,
  };
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
