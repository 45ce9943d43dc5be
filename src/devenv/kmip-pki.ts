import fs from 'node:fs';
import path from 'node:path';
import { createCertificateAuthority, issueKeyAndCertificate, type CertificateAuthority } from '../pki/authority';

/** PEM files of the KMIP server's test PKI, generated at run time (never committed). */
export interface KmipPki {
  ca: CertificateAuthority;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** A client identity for tests that talk KMIP directly (EKU clientAuth). */
  client: { certificatePem: string; privateKeyPem: string; commonName: string };
}

export async function createKmipPki(dir: string): Promise<KmipPki> {
  fs.mkdirSync(dir, { recursive: true });
  const ca = await createCertificateAuthority('EKM Test KMIP CA');
  const server = await issueKeyAndCertificate(ca, {
    subject: 'CN=localhost',
    usages: ['server'],
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  const commonName = 'ekm-test-client';
  const client = await issueKeyAndCertificate(ca, { subject: `CN=${commonName}`, usages: ['client'] });
  const write = (name: string, pem: string, mode = 0o644) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, pem, { mode });
    return file;
  };
  return {
    ca,
    caFile: write('ca.pem', ca.certificatePem),
    serverCertFile: write('server.pem', server.certificatePem),
    serverKeyFile: write('server-key.pem', server.privateKeyPem, 0o600),
    client: { certificatePem: client.certificatePem, privateKeyPem: client.privateKeyPem, commonName },
  };
}
