/**
 * One reader for certificates and CA bundles as they arrive: from a Windows CA, a web portal, a
 * JSON API, a ticket attachment or a signing command. Everywhere a certificate enters the product
 * (CLI flags, the Update handlers' checks, the signers' output, the clusters file) it goes through
 * here and comes out as clean PEM: LF line endings, one block per certificate, 64-column base64.
 *
 * It accepts, and says when it converted:
 *  - PEM with a UTF-8 BOM, CRLF, trailing whitespace, indentation, blank lines (also inside the
 *    base64), text around the blocks (OpenSSL's "subject=" and "Bag Attributes" lines);
 *  - a PEM pasted as one line with literal `\n` or `\\n` escapes (a JSON string, copied raw);
 *  - DER (.cer, .crt) and PKCS#7 (.p7b, what AD CS hands out), binary or PEM;
 *  - base64 of a DER certificate without PEM markers.
 * Anything else is refused with an error naming the input and saying, in an operator's words,
 * what it is instead. Parsing itself is @peculiar/x509's; no library message reaches the operator.
 */
import { CERTIFICATE_INPUT_LIMIT_BYTES, certificateInputTooLarge } from '../../workflows/contract';
import { x509, type X509 } from './x509';

export { CERTIFICATE_INPUT_LIMIT_BYTES };

/** A certificate input that cannot be used; the message names the input (`--cert: ...`). */
export class CertificateInputError extends Error {
  constructor(
    readonly input: string,
    readonly problem: string,
  ) {
    super(`${input}: ${problem}`);
    this.name = 'CertificateInputError';
  }
}

export interface CertificateEntry {
  certificate: X509.X509Certificate;
  /** Where it came from, for messages: the input's name, or `name[2]` when the input holds several. */
  label: string;
  /** The certificate alone, as clean PEM. */
  pem: string;
}

export interface CertificateInput {
  name: string;
  certificates: CertificateEntry[];
  /** How the input was read when it was not plain PEM (DER, PKCS#7, escapes), and what was left out. */
  notes: string[];
}

export interface ReadOptions {
  /** Refuse inputs larger than this many bytes (the CLI and the Updates use CERTIFICATE_INPUT_LIMIT_BYTES). */
  limitBytes?: number;
  /**
   * A private key in the input is refused by default (it must never reach a runbook or its
   * history); files the worker reads from its own configuration may hold one next to the certificate.
   */
  privateKeys?: 'refuse' | 'ignore';
  /** An empty input is no certificate at all (an empty CA bundle, say) rather than an error. */
  allowEmpty?: boolean;
}

const BOM = /^\uFEFF+/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BEGIN = /-----BEGIN ([A-Z0-9 #]+?)-----/g;
const BLOCK = /-----BEGIN ([A-Z0-9 #]+?)-----([\s\S]*?)-----END ([A-Z0-9 #]+?)-----/g;

const CERTIFICATE_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']);
const PKCS7_LABELS = new Set(['PKCS7', 'PKCS #7 SIGNED DATA', 'CMS']);

/** What a PEM block that is not a certificate is, and what to do instead. */
function notACertificate(label: string): string {
  if (/CERTIFICATE REQUEST/.test(label))
    return 'is a certificate signing request (CSR), not a certificate: give the certificate the CA signed from it';
  if (/PRIVATE KEY/.test(label))
    return 'holds a private key: give the certificate alone (a private key must never be handed to the runbook)';
  if (/CRL/.test(label)) return 'is a certificate revocation list (CRL), not a certificate';
  if (/PUBLIC KEY/.test(label)) return 'is a bare public key, not a certificate';
  return `is a "${label}" PEM block, not a certificate`;
}

export function utf8Bytes(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
}

/** Certificates as one clean PEM text (LF only, a final newline); '' for none. */
export function certificatesToPem(certificates: readonly X509.X509Certificate[]): string {
  return certificates.map((c) => pemOf(c)).join('');
}

function pemOf(certificate: X509.X509Certificate): string {
  return `${x509.PemConverter.encode(certificate.rawData, 'CERTIFICATE').replace(/\r\n?/g, '\n').trimEnd()}\n`;
}

function parseCertificate(der: Uint8Array): X509.X509Certificate | undefined {
  try {
    const certificate = new x509.X509Certificate(der);
    // Touch what every check reads, so a certificate that parses only halfway is caught here.
    void certificate.subject;
    void certificate.publicKey.rawData;
    return certificate;
  } catch {
    return undefined;
  }
}

function parsePkcs7(der: Uint8Array): X509.X509Certificate[] | undefined {
  try {
    const bundle = new x509.X509Certificates();
    bundle.import(der);
    return [...bundle];
  } catch {
    return undefined;
  }
}

/** Text as an operator pasted it -> LF-only lines without BOM, indentation or trailing whitespace. */
function cleanText(text: string, notes: string[]): string {
  let t = text.replace(BOM, '').replace(/\r\n?/g, '\n');
  const trimmed = t.trim();
  // A PEM pasted as one line with literal \n (or \\n) escapes, maybe still in its JSON quotes.
  if (!trimmed.includes('\n') && trimmed.includes('-----BEGIN') && /\\+n/.test(trimmed)) {
    t = trimmed
      .replace(/^(["'])([\s\S]*)\1,?$/, '$2')
      .replace(/\\+r/g, '')
      .replace(/\\+n/g, '\n')
      .replace(/\\+\//g, '/');
    notes.push('one-line PEM with literal \\n escapes: the escapes were read as line breaks');
  }
  return t
    .split('\n')
    .map((line) => line.trim())
    .join('\n');
}

function base64Body(body: string): string | undefined {
  // RFC 1421 headers (Proc-Type: ...) carry no base64; everything else is the base64 text.
  const b64 = body
    .split('\n')
    .filter((line) => !line.includes(':'))
    .join('')
    .replace(/\s+/g, '');
  return BASE64.test(b64) && b64.length % 4 === 0 ? b64 : undefined;
}

function readDer(der: Uint8Array, name: string, notes: string[], how: string): X509.X509Certificate[] {
  const certificate = parseCertificate(der);
  if (certificate) {
    notes.push(`${how} DER certificate: converted to PEM`);
    return [certificate];
  }
  const bundle = parsePkcs7(der);
  if (bundle) {
    if (bundle.length === 0) throw new CertificateInputError(name, 'is a PKCS#7 bundle without any certificate in it');
    notes.push(`${how} PKCS#7 bundle (.p7b) of ${bundle.length} certificate${bundle.length > 1 ? 's' : ''}: converted to PEM`);
    return bundle;
  }
  throw new CertificateInputError(
    name,
    `is ${how === 'binary' ? 'a binary file' : 'base64'} but neither a DER certificate (.cer/.crt) nor a PKCS#7 bundle (.p7b)` +
      ' (a .pfx/.p12 file holds a private key too: export the certificate alone)',
  );
}

function readPem(text: string, name: string, notes: string[], options: ReadOptions): X509.X509Certificate[] {
  const found: X509.X509Certificate[] = [];
  const begins = [...text.matchAll(BEGIN)].length;
  const blocks = [...text.matchAll(BLOCK)];
  if (blocks.length < begins) {
    const unended = blocks.length + 1;
    throw new CertificateInputError(
      name,
      `PEM block ${unended} has a -----BEGIN line but no matching -----END line (the text was cut short?)`,
    );
  }
  const ignored: string[] = [];
  blocks.forEach((match, i) => {
    const [, label, body, endLabel] = match as unknown as [string, string, string, string];
    const where = blocks.length > 1 ? `PEM block ${i + 1}` : 'the PEM block';
    if (label !== endLabel)
      throw new CertificateInputError(name, `${where} begins as ${label} but ends as ${endLabel}: it is damaged`);
    const isCertificate = CERTIFICATE_LABELS.has(label);
    const isPkcs7 = PKCS7_LABELS.has(label);
    if (!isCertificate && !isPkcs7) {
      if (/PRIVATE KEY/.test(label) && options.privateKeys !== 'ignore')
        throw new CertificateInputError(name, notACertificate(label));
      ignored.push(`${where} (${label.toLowerCase()})`);
      return;
    }
    const b64 = base64Body(body);
    if (b64 === undefined || b64.length === 0)
      throw new CertificateInputError(
        name,
        `${where} is damaged: its text is not base64 (a character that does not belong, or lines missing)`,
      );
    const der = Buffer.from(b64, 'base64');
    if (isPkcs7) {
      const bundle = parsePkcs7(der);
      if (!bundle) throw new CertificateInputError(name, `${where} is labelled ${label} but is not a PKCS#7 certificate bundle`);
      notes.push(`PKCS#7 bundle (.p7b) of ${bundle.length} certificate${bundle.length > 1 ? 's' : ''}: converted to PEM`);
      found.push(...bundle);
      return;
    }
    const certificate = parseCertificate(der);
    if (!certificate) {
      // A certificate block holding a PKCS#7 bundle happens (some portals label everything CERTIFICATE).
      const bundle = parsePkcs7(der);
      if (bundle) {
        notes.push(`${where} holds a PKCS#7 bundle of ${bundle.length} certificates: converted to PEM`);
        found.push(...bundle);
        return;
      }
      throw new CertificateInputError(
        name,
        `${where} does not hold an X.509 certificate (its base64 decodes to something else, or it is damaged)`,
      );
    }
    found.push(certificate);
  });
  if (found.length === 0) {
    const first = blocks[0]?.[1];
    throw new CertificateInputError(name, first ? notACertificate(first) : 'holds no certificate');
  }
  if (ignored.length > 0) notes.push(`${name}: left out what is not a certificate: ${ignored.join(', ')}`);
  return found;
}

function readAny(data: string | Uint8Array, name: string, notes: string[], options: ReadOptions): X509.X509Certificate[] {
  const bytes = typeof data === 'string' ? undefined : data;
  // A binary file: DER starts with a SEQUENCE tag (which is also the digit 0: text is read as text).
  if (bytes && bytes.length > 0 && bytes[0] === 0x30) {
    const latin1 = Buffer.from(bytes).toString('latin1');
    const isText = /^[\t\n\r\x20-\x7e]*$/.test(latin1);
    if (!isText) return readDer(bytes, name, notes, 'binary');
  }
  const text = cleanText(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'), notes);
  if (text.includes('-----BEGIN')) return readPem(text, name, notes, options);
  const compact = text.replace(/\s+/g, '');
  if (compact.length >= 64 && BASE64.test(compact) && compact.length % 4 === 0)
    return readDer(Buffer.from(compact, 'base64'), name, notes, 'base64 (no PEM markers) of a');
  if (/^\s*[{[]/.test(text))
    throw new CertificateInputError(
      name,
      'looks like JSON, not a certificate: take the certificate (its PEM text) out of it and save that in a file',
    );
  throw new CertificateInputError(
    name,
    'is not a certificate: no -----BEGIN CERTIFICATE----- line, and not DER or PKCS#7 either',
  );
}

/**
 * Reads one input (a file's bytes, or text) holding one or more certificates. Identical
 * certificates given twice are kept once. Throws CertificateInputError naming the input.
 */
export function readCertificateInput(data: string | Uint8Array, name: string, options: ReadOptions = {}): CertificateInput {
  const size = utf8Bytes(data);
  if (options.limitBytes !== undefined) {
    const tooLarge = certificateInputTooLarge(size, options.limitBytes);
    if (tooLarge) throw new CertificateInputError(name, tooLarge);
  }
  const isEmpty = typeof data === 'string' ? data.replace(BOM, '').trim() === '' : size === 0;
  if (isEmpty) {
    if (options.allowEmpty) return { name, certificates: [], notes: [] };
    throw new CertificateInputError(name, 'is empty');
  }
  const notes: string[] = [];
  const certificates = readAny(data, name, notes, options);
  const seen = new Set<string>();
  const unique = certificates.filter((c) => {
    const key = Buffer.from(c.rawData).toString('base64');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return {
    name,
    notes: notes.map((n) => (n.startsWith(`${name}:`) ? n : `${name}: ${n}`)),
    certificates: unique.map((certificate, i) => ({
      certificate,
      label: unique.length > 1 ? `${name}[${i + 1}]` : name,
      pem: pemOf(certificate),
    })),
  };
}

/** A CA bundle (the clusters file's caBundle, a KMIP server's CA): every certificate in it, as clean PEM. */
export function normalizeCaBundle(data: string | Uint8Array, name: string, options: ReadOptions = {}): string {
  return certificatesToPem(readCertificateInput(data, name, options).certificates.map((c) => c.certificate));
}

/**
 * A client certificate for a private key the caller holds (a TLS client identity): the block
 * whose public key is the key's, first, then the others (its chain). Throws when none matches.
 */
export function normalizeClientCertificate(data: string | Uint8Array, name: string, publicKeySpkiDer: Uint8Array): string {
  const input = readCertificateInput(data, name, { privateKeys: 'ignore' });
  const wanted = Buffer.from(publicKeySpkiDer);
  const leaf = input.certificates.find((c) => Buffer.from(c.certificate.publicKey.rawData).equals(wanted));
  if (!leaf) {
    throw new CertificateInputError(
      name,
      input.certificates.length > 1
        ? `none of its ${input.certificates.length} certificates is for the private key it goes with`
        : 'is not the certificate of the private key it goes with',
    );
  }
  return (
    leaf.pem +
    input.certificates
      .filter((c) => c !== leaf)
      .map((c) => c.pem)
      .join('')
  );
}

// ---- CSRs

/**
 * The CSR as clean PEM: Element answers a PEM (or, per its docs sample, bare base64); an operator
 * may hand one over with a BOM, CRLF, escapes or as DER. The request's bytes are kept as they are
 * (a version-2 request stays version 2); only the text around them is cleaned.
 */
export function normalizeCsrPem(csr: string | Uint8Array, name = 'CSR'): string {
  let der: Uint8Array | undefined;
  if (typeof csr !== 'string' && csr.length > 0 && csr[0] === 0x30) der = csr;
  else {
    const text = cleanText(typeof csr === 'string' ? csr : Buffer.from(csr).toString('utf8'), []);
    const blocks = [...text.matchAll(BLOCK)];
    const request = blocks.find((b) => /CERTIFICATE REQUEST/.test(b[1]!));
    const b64 = request ? base64Body(request[2]!) : blocks.length === 0 ? base64Body(text) : undefined;
    if (b64 === undefined || b64.length === 0) {
      const what = blocks[0] ? `holds a ${blocks[0][1]!.toLowerCase()} block` : 'is not PEM or base64';
      throw new CertificateInputError(name, `is not a certificate signing request (it ${what})`);
    }
    der = Buffer.from(b64, 'base64');
  }
  return `${x509.PemConverter.encode(der, 'CERTIFICATE REQUEST').replace(/\r\n?/g, '\n').trimEnd()}\n`;
}

/** Reads a CSR; throws CertificateInputError naming the input when it is not one. */
export function readCsr(csr: string | Uint8Array, name = 'CSR'): X509.Pkcs10CertificateRequest {
  const pem = normalizeCsrPem(csr, name);
  try {
    const request = new x509.Pkcs10CertificateRequest(pem);
    void request.subject;
    void request.publicKey.rawData;
    return request;
  } catch {
    throw new CertificateInputError(name, 'is not a certificate signing request the tools can read (PKCS#10)');
  }
}
