/**
 * The checks a CA-signed KMIP client certificate must pass before the setup runbook hands it to
 * the cluster. Every problem is reported (not only the first), each in words an operator can act
 * on, naming which input is wrong.
 */
import { spkiFingerprint } from './keys';
import { x509 } from './x509';

const DAY_MS = 86_400_000;
export const MIN_REMAINING_VALIDITY_DAYS = 30;
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
const EXTENDED_KEY_USAGE_OID = '2.5.29.37';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

export interface PemBlock {
  label: string;
  text: string;
}

export function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1]!, text: m[0] }));
}

/** The CSR as PEM: Element may answer a full PEM or, per its docs sample, bare base64. */
export function normalizeCsrPem(csr: string): string {
  const trimmed = csr.trim();
  if (trimmed.startsWith('-----BEGIN')) return `${trimmed}\n`;
  const body = trimmed.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE REQUEST-----\n`;
}

export interface CsrSummary {
  subject: string;
  /** SHA-256 of the request's public key (SubjectPublicKeyInfo DER), hex. */
  keyFingerprint: string;
}

export async function summarizeCsr(csrPem: string): Promise<CsrSummary> {
  const csr = new x509.Pkcs10CertificateRequest(normalizeCsrPem(csrPem));
  return { subject: csr.subject, keyFingerprint: await spkiFingerprint(csr.publicKey) };
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the certificate DER, hex with colons. */
  fingerprint: string;
  keyFingerprint: string;
}

export interface CertificateCheck {
  problems: string[];
  summary?: CertificateSummary;
}

function parseCertificate(block: PemBlock | undefined, field: string, problems: string[]): x509.X509Certificate | undefined {
  if (!block) {
    problems.push(`${field}: not PEM (expected a -----BEGIN CERTIFICATE----- block)`);
    return undefined;
  }
  if (block.label !== 'CERTIFICATE') {
    problems.push(`${field}: is a ${block.label.toLowerCase()}, not a certificate`);
    return undefined;
  }
  try {
    return new x509.X509Certificate(block.text);
  } catch (err) {
    problems.push(`${field}: not a certificate (${(err as Error).message})`);
    return undefined;
  }
}

function colonHex(buffer: ArrayBuffer): string {
  return Buffer.from(buffer).toString('hex').toUpperCase().match(/.{2}/g)!.join(':');
}

/**
 * certificatePem: the signed client certificate (one PEM; more blocks after the first are
 * ignored). caChainPem: the CA certificate(s) that issued it. csrPem: what the cluster asked for.
 */
export async function checkSignedCertificate(
  input: { csrPem: string; certificatePem: string; caChainPem: string },
  now: Date = new Date(),
): Promise<CertificateCheck> {
  const problems: string[] = [];
  const certificate = parseCertificate(pemBlocks(input.certificatePem)[0], 'certificate', problems);
  const caBlocks = pemBlocks(input.caChainPem);
  const cas =
    caBlocks.length === 0
      ? [parseCertificate(undefined, 'ca', problems)]
      : caBlocks.map((b, i) => parseCertificate(b, caBlocks.length > 1 ? `ca[${i}]` : 'ca', problems));
  if (!certificate) return { problems };

  const csr = await summarizeCsr(input.csrPem);
  const keyFingerprint = await spkiFingerprint(certificate.publicKey);
  if (keyFingerprint !== csr.keyFingerprint) {
    problems.push("certificate: its public key is not the cluster's (it was not signed from this runbook's CSR)");
  }

  const notBefore = certificate.notBefore.getTime();
  const notAfter = certificate.notAfter.getTime();
  if (notBefore > now.getTime()) problems.push(`certificate: not valid yet (valid from ${certificate.notBefore.toISOString()})`);
  if (notAfter <= now.getTime()) problems.push(`certificate: expired on ${certificate.notAfter.toISOString()}`);
  else if (notAfter - now.getTime() < MIN_REMAINING_VALIDITY_DAYS * DAY_MS) {
    problems.push(
      `certificate: expires within ${MIN_REMAINING_VALIDITY_DAYS} days (on ${certificate.notAfter.toISOString()}); ask for a longer validity`,
    );
  }

  const eku = certificate.getExtension(EXTENDED_KEY_USAGE_OID);
  const usages = eku ? new x509.ExtendedKeyUsageExtension(eku.rawData).usages.map(String) : [];
  if (!usages.includes(CLIENT_AUTH_OID)) {
    problems.push(
      'certificate: no clientAuth extended key usage (KMIP servers refuse such a client certificate); sign with a client profile',
    );
  }

  const candidates = cas.filter((ca): ca is x509.X509Certificate => ca !== undefined);
  if (candidates.length > 0) {
    let issued = false;
    for (const ca of candidates) {
      if (ca.subject !== certificate.issuer) continue;
      if (await certificate.verify({ publicKey: ca.publicKey, signatureOnly: true })) issued = true;
    }
    if (!issued) {
      const names = candidates.map((c) => c.subject).join('; ');
      problems.push(`certificate: not issued by the given CA (issuer "${certificate.issuer}", given CA: ${names})`);
    }
  }

  return {
    problems,
    summary: {
      subject: certificate.subject,
      issuer: certificate.issuer,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      fingerprint: colonHex(await certificate.getThumbprint('SHA-256')),
      keyFingerprint,
    },
  };
}
