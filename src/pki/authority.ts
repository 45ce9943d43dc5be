import { randomBytes } from 'node:crypto';
import { x509, type CryptoKey, type CryptoKeyPair, type X509 } from './x509';
import { generateRsaKeyPair, importRsaKeyPair, privateKeyToPem, RSA_SHA256 } from './keys';

/** A certificate authority held in memory: its certificate and signing key. */
export interface CertificateAuthority {
  certificate: X509.X509Certificate;
  keys: CryptoKeyPair;
  certificatePem: string;
  privateKeyPem: string;
}

export interface IssuedCertificate {
  certificate: X509.X509Certificate;
  certificatePem: string;
  /** Present when the key was generated here (not when signing someone else's CSR). */
  privateKeyPem?: string;
}

export type Usage = 'server' | 'client';

export interface IssueOptions {
  subject: string;
  publicKey: CryptoKey | X509.PublicKey;
  usages: Usage[];
  dnsNames?: string[];
  ipAddresses?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Leave out the extended key usage extension entirely (to test servers that require it). */
  omitExtendedKeyUsage?: boolean;
}

const DAY_MS = 86_400_000;

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

export async function createCertificateAuthority(commonName: string, days = 3650): Promise<CertificateAuthority> {
  const keys = await generateRsaKeyPair();
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * DAY_MS),
    keys,
    signingAlgorithm: RSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certificate,
    keys,
    certificatePem: certificate.toString('pem'),
    privateKeyPem: await privateKeyToPem(keys.privateKey),
  };
}

/** A CA from its PEM certificate and private key (e.g. one kept on disk between runs). */
export async function loadCertificateAuthority(certificatePem: string, privateKeyPem: string): Promise<CertificateAuthority> {
  return {
    certificate: new x509.X509Certificate(certificatePem),
    keys: await importRsaKeyPair(privateKeyPem),
    certificatePem,
    privateKeyPem,
  };
}

export async function issueCertificate(ca: CertificateAuthority, options: IssueOptions): Promise<IssuedCertificate> {
  const now = Date.now();
  const ekus = options.usages.map((u) => (u === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth));
  const names: X509.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    await x509.SubjectKeyIdentifierExtension.create(options.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (!options.omitExtendedKeyUsage) extensions.push(new x509.ExtendedKeyUsageExtension(ekus, false));
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: options.subject,
    issuer: ca.certificate.subject,
    notBefore: options.notBefore ?? new Date(now - 60_000),
    notAfter: options.notAfter ?? new Date(now + 365 * DAY_MS),
    publicKey: options.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: RSA_SHA256,
    extensions,
  });
  return { certificate, certificatePem: certificate.toString('pem') };
}

/** Generates a key pair and a certificate for it, signed by the CA. */
export async function issueKeyAndCertificate(
  ca: CertificateAuthority,
  options: Omit<IssueOptions, 'publicKey'>,
): Promise<Required<IssuedCertificate>> {
  const keys = await generateRsaKeyPair();
  const issued = await issueCertificate(ca, { ...options, publicKey: keys.publicKey });
  return { ...issued, privateKeyPem: await privateKeyToPem(keys.privateKey) };
}
