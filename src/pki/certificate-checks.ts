/**
 * The checks a CA-signed KMIP client certificate must pass before the setup runbook hands it to
 * the cluster, the same wherever it came from (a person's submission, a `change` answer, cfssl, a
 * signing command, `ekm cert check`). Every problem is reported (not only the first), each in
 * words an operator can act on, naming which input is wrong (`--cert`, `--ca[2]`).
 *
 * Inputs are read with certificate-input.ts (PEM in any shape, DER, PKCS#7). The client
 * certificate is the block whose public key is the CSR's, wherever it is; every other certificate
 * given is a CA candidate, and the chain is built from the client certificate up through them, in
 * any order, whatever their key types.
 */
import { createHash } from 'node:crypto';
import { CertificateInputError, readCertificateInput, readCsr, type CertificateEntry } from './certificate-input';
import { x509, type X509 } from './x509';

export { normalizeCsrPem } from './certificate-input';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
export const MIN_REMAINING_VALIDITY_DAYS = 30;
/** A CA whose clock runs this much ahead is tolerated: the runbook waits for notBefore before it uses the certificate. */
export const MAX_NOT_BEFORE_AHEAD_MS = 5 * MINUTE_MS;
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
const EXTENDED_KEY_USAGE_OID = '2.5.29.37';

export interface PemBlock {
  label: string;
  text: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

export function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1]!, text: m[0] }));
}

export interface CsrSummary {
  subject: string;
  /** SHA-256 of the request's public key (SubjectPublicKeyInfo DER), hex. */
  keyFingerprint: string;
}

function keyFingerprintOf(publicKey: X509.PublicKey): string {
  return createHash('sha256').update(Buffer.from(publicKey.rawData)).digest('hex');
}

/** Reads a CSR (any PKCS#10 version: a real Element 11.7 cluster answers version 2). */
export async function summarizeCsr(csrPem: string): Promise<CsrSummary> {
  const csr = readCsr(csrPem);
  return { subject: csr.subject, keyFingerprint: keyFingerprintOf(csr.publicKey) };
}

/** What a certificate says of itself (one a key server holds now, say): no judgement of it. */
export async function summarizeCertificate(certificate: X509.X509Certificate): Promise<CertificateSummary> {
  return {
    subject: certificate.subject,
    issuer: certificate.issuer,
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
    fingerprint: colonHex(await certificate.getThumbprint('SHA-256')),
    keyFingerprint: keyFingerprintOf(certificate.publicKey),
  };
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

/** One CA the chain went through, from the client certificate's issuer up. */
export interface ChainLink {
  /** The input it came from (`--ca[2]`, `--cert[1]`). */
  from: string;
  subject: string;
  notAfter: string;
  selfSigned: boolean;
}

export interface CertificateCheck {
  /** Every reason to refuse the certificate; empty when it may go to the cluster. */
  problems: string[];
  /** What the check did besides judging: conversions, which block is the client certificate, how the chain ends. */
  notes: string[];
  summary?: CertificateSummary;
  /** The client certificate alone, clean PEM (what CreateKeyServerKmip gets). */
  certificatePem?: string;
  /** The CA certificates, clean PEM: the chain from the client certificate's issuer up, then the others given. */
  caChainPem?: string;
  chain?: ChainLink[];
  /** The certificate's notBefore when it is (a little) ahead of now: the runbook waits until then. */
  waitUntil?: string;
}

/** What each input is called in messages. */
export interface InputNames {
  certificate: string;
  ca: string;
}

export const SUBMISSION_NAMES: InputNames = { certificate: '--cert', ca: '--ca' };

function colonHex(buffer: ArrayBuffer): string {
  return Buffer.from(buffer).toString('hex').toUpperCase().match(/.{2}/g)!.join(':');
}

function minutes(ms: number): string {
  const m = Math.round(ms / MINUTE_MS);
  return m < 1 ? `${Math.round(ms / 1000)} seconds` : `${m} minute${m === 1 ? '' : 's'}`;
}

async function signedBy(certificate: X509.X509Certificate, issuer: X509.X509Certificate): Promise<boolean> {
  try {
    return await certificate.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

function isSelfIssued(c: X509.X509Certificate): boolean {
  return c.subject === c.issuer;
}

function read(
  text: string,
  name: string,
  problems: string[],
  notes: string[],
  allowEmpty: boolean,
): CertificateEntry[] | undefined {
  try {
    const input = readCertificateInput(text, name, { allowEmpty });
    notes.push(...input.notes);
    return input.certificates;
  } catch (err) {
    if (!(err instanceof CertificateInputError)) throw err;
    problems.push(err.message);
    return undefined;
  }
}

/** A renewal: the new certificate must be valid longer than the one it replaces (`what` names that one). */
export interface MustOutlive {
  notAfter: string;
  what: string;
}

/**
 * certificatePem: the signed client certificate, alone or in a file with its chain (in any order).
 * caChainPem: the CA certificate(s) that issued it. csrPem: what the cluster asked for.
 * mustOutlive: a renewal's certificate must end later than the one it replaces.
 * `checkChain: false` leaves out who issued it (the key server is the judge of a certificate it already holds).
 */
export async function checkSignedCertificate(
  input: { csrPem: string; certificatePem: string; caChainPem: string; names?: InputNames; mustOutlive?: MustOutlive },
  options: { now?: Date; checkChain?: boolean } | Date = {},
): Promise<CertificateCheck> {
  const { now = new Date(), checkChain = true } = options instanceof Date ? { now: options } : options;
  const names = input.names ?? SUBMISSION_NAMES;
  const problems: string[] = [];
  const notes: string[] = [];
  const fromCert = read(input.certificatePem, names.certificate, problems, notes, false);
  const fromCa = checkChain ? read(input.caChainPem, names.ca, problems, notes, true) : [];
  if (!fromCert) return { problems, notes };

  const csr = await summarizeCsr(input.csrPem);
  const hasCsrKey = (e: CertificateEntry) => keyFingerprintOf(e.certificate.publicKey) === csr.keyFingerprint;

  // The client certificate: the block whose public key is the CSR's.
  let leaf: CertificateEntry;
  const matching = fromCert.filter(hasCsrKey);
  const matchingInCa = (fromCa ?? []).filter(hasCsrKey);
  if (matching.length > 1) {
    problems.push(
      `${names.certificate}: ${matching.map((m) => m.label).join(' and ')} are all certificates for the cluster's key: give one`,
    );
    leaf = matching[0]!;
  } else if (matching.length === 1) {
    leaf = matching[0]!;
    if (fromCert.length > 1)
      notes.push(
        `${names.certificate} holds ${fromCert.length} certificates: the client certificate is ${leaf.label} (its public key is the CSR's); the others are taken as CA certificates`,
      );
  } else if (matchingInCa.length === 1) {
    leaf = matchingInCa[0]!;
    notes.push(
      `the client certificate was found in ${leaf.label} (its public key is the CSR's); ${names.certificate} is taken as CA certificates`,
    );
  } else {
    leaf = fromCert.find((e) => !isCa(e.certificate)) ?? fromCert[0]!;
    problems.push(
      fromCert.length > 1
        ? `${names.certificate}: none of its ${fromCert.length} certificates has the cluster's public key (none was signed from this runbook's CSR)`
        : `${leaf.label}: its public key is not the cluster's (it was not signed from this runbook's CSR)`,
    );
  }
  const certificate = leaf.certificate;

  // Validity: a CA clock a few minutes fast is tolerated; the runbook then waits for notBefore.
  let waitUntil: string | undefined;
  const notBefore = certificate.notBefore.getTime();
  const notAfter = certificate.notAfter.getTime();
  const ahead = notBefore - now.getTime();
  if (ahead > MAX_NOT_BEFORE_AHEAD_MS) {
    problems.push(
      `${leaf.label}: not valid yet: its notBefore is ${certificate.notBefore.toISOString()}, ${minutes(ahead)} ahead of now (${now.toISOString()}); ` +
        `up to ${minutes(MAX_NOT_BEFORE_AHEAD_MS)} ahead is accepted: check the CA's clock, or submit it again after ${certificate.notBefore.toISOString()}`,
    );
  } else if (ahead > 0) {
    waitUntil = certificate.notBefore.toISOString();
    notes.push(
      `${leaf.label}: valid from ${waitUntil}, ${minutes(ahead)} ahead of now (the CA's clock runs fast): the runbook waits until then before it hands the certificate to the cluster`,
    );
  }
  if (notAfter <= now.getTime()) problems.push(`${leaf.label}: expired on ${certificate.notAfter.toISOString()}`);
  else if (notAfter - Math.max(now.getTime(), notBefore) < MIN_REMAINING_VALIDITY_DAYS * DAY_MS) {
    problems.push(
      `${leaf.label}: expires within ${MIN_REMAINING_VALIDITY_DAYS} days (on ${certificate.notAfter.toISOString()}); ask for a longer validity`,
    );
  }

  if (input.mustOutlive && notAfter <= Date.parse(input.mustOutlive.notAfter)) {
    problems.push(
      `${leaf.label}: valid until ${certificate.notAfter.toISOString()}, not longer than ${input.mustOutlive.what} (until ${input.mustOutlive.notAfter}): a renewal must be valid longer than the certificate it replaces`,
    );
  }

  const eku = certificate.getExtension(EXTENDED_KEY_USAGE_OID);
  let usages: string[] | undefined;
  try {
    usages = eku ? new x509.ExtendedKeyUsageExtension(eku.rawData).usages.map(String) : [];
  } catch {
    problems.push(`${leaf.label}: its extended key usage extension is damaged`);
  }
  if (usages && !usages.includes(CLIENT_AUTH_OID)) {
    problems.push(
      `${leaf.label}: no clientAuth extended key usage (KMIP servers refuse such a client certificate); sign with a client profile`,
    );
  }

  // The chain: from the client certificate up through every other certificate given.
  const candidates = uniqueByDer([...fromCert, ...(fromCa ?? [])].filter((e) => e !== leaf && !sameDer(e, leaf)));
  const chain: CertificateEntry[] = [];
  if (checkChain && fromCa) await buildChain(leaf, candidates, chain, problems, notes, names, now);

  const others = candidates.filter((c) => !chain.includes(c));
  return {
    problems,
    notes,
    certificatePem: leaf.pem,
    caChainPem: [...chain, ...others].map((c) => c.pem).join(''),
    chain: chain.map((c) => ({
      from: c.label,
      subject: c.certificate.subject,
      notAfter: c.certificate.notAfter.toISOString(),
      selfSigned: isSelfIssued(c.certificate),
    })),
    waitUntil,
    summary: await summarizeCertificate(certificate),
  };
}

function isCa(c: X509.X509Certificate): boolean {
  try {
    return c.getExtension(x509.BasicConstraintsExtension)?.ca === true;
  } catch {
    return false;
  }
}

function sameDer(a: CertificateEntry, b: CertificateEntry): boolean {
  return Buffer.from(a.certificate.rawData).equals(Buffer.from(b.certificate.rawData));
}

function uniqueByDer(entries: CertificateEntry[]): CertificateEntry[] {
  return entries.filter((e, i) => entries.findIndex((o) => sameDer(o, e)) === i);
}

async function buildChain(
  leaf: CertificateEntry,
  candidates: CertificateEntry[],
  chain: CertificateEntry[],
  problems: string[],
  notes: string[],
  names: InputNames,
  now: Date,
): Promise<void> {
  let current = leaf;
  for (;;) {
    if (current !== leaf && isSelfIssued(current.certificate) && (await signedBy(current.certificate, current.certificate)))
      return;
    const named = candidates.filter((c) => c.certificate.subject === current.certificate.issuer && !chain.includes(c));
    let issuer: CertificateEntry | undefined;
    for (const c of named) {
      if (await signedBy(current.certificate, c.certificate)) {
        issuer = c;
        break;
      }
    }
    if (!issuer) {
      const dn = current.certificate.issuer;
      const unused = candidates.filter((c) => !chain.includes(c));
      if (current === leaf && candidates.length === 0) {
        problems.push(`${names.ca}: no CA certificate given: add the CA that issued the certificate ("${dn}")`);
      } else if (named.length > 0) {
        problems.push(
          `${current.label}: not signed by ${named.map((n) => n.label).join(', ')} although the name matches ("${dn}"): that CA has another key; give the CA that really issued it`,
        );
      } else if (current === leaf || unused.length > 0) {
        problems.push(`${current.label}: issuer "${dn}" is not in the CA bundle: include the intermediate`);
      } else {
        notes.push(
          `the chain ends at "${current.certificate.subject}" (issued by "${dn}", not given): the key server must trust that CA`,
        );
      }
      return;
    }
    chain.push(issuer);
    const ca = issuer.certificate;
    if (ca.notAfter.getTime() <= now.getTime())
      problems.push(`${issuer.label} ("${ca.subject}"): this CA certificate expired on ${ca.notAfter.toISOString()}`);
    if (ca.notBefore.getTime() - now.getTime() > MAX_NOT_BEFORE_AHEAD_MS)
      problems.push(`${issuer.label} ("${ca.subject}"): this CA certificate is not valid until ${ca.notBefore.toISOString()}`);
    current = issuer;
  }
}
