import { createPrivateKey, createPublicKey } from 'node:crypto';
import { subtle, x509, type CryptoKey, type CryptoKeyPair, type X509 } from './x509';

export const RSA_SHA256 = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;

/** An RSA-2048 key pair usable for signing (certificates, CSRs) and exportable as PEM. */
export async function generateRsaKeyPair(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(RSA_SHA256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function publicKeyToPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('spki', key);
  return x509.PemConverter.encode(der, 'PUBLIC KEY');
}

/** Imports a PEM private key (PKCS#8 or PKCS#1) as a WebCrypto RSA signing key pair. */
export async function importRsaKeyPair(privateKeyPem: string): Promise<CryptoKeyPair> {
  const pkcs8 = createPrivateKey(privateKeyPem).export({ format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKeyPem).export({ format: 'der', type: 'spki' });
  const privateKey = await subtle.importKey('pkcs8', pkcs8, RSA_SHA256, true, ['sign']);
  const publicKey = await subtle.importKey('spki', spki, RSA_SHA256, true, ['verify']);
  return { privateKey, publicKey };
}

/** SHA-256 of the SubjectPublicKeyInfo DER, hex: identifies a key across CSR and certificate. */
export async function spkiFingerprint(publicKey: X509.PublicKey): Promise<string> {
  const digest = await subtle.digest('SHA-256', publicKey.rawData);
  return Buffer.from(digest).toString('hex');
}
