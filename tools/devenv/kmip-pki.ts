import fs from 'node:fs';
import path from 'node:path';
import {
  createCertificateAuthority,
  issueKeyAndCertificate,
  loadCertificateAuthority,
  type CertificateAuthority,
} from '../../src/pki/authority';

/** PEM files of the KMIP server's test PKI, generated at run time (never committed). */
export interface KmipPki {
  ca: CertificateAuthority;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** A client identity for tests that talk KMIP directly (EKU clientAuth). */
  client: { certificatePem: string; privateKeyPem: string; commonName: string };
}

const FILES = {
  ca: 'ca.pem',
  caKey: 'ca-key.pem',
  server: 'server.pem',
  serverKey: 'server-key.pem',
  client: 'client.pem',
  clientKey: 'client-key.pem',
} as const;
const CLIENT_CN = 'ekm-test-client';

/** Loads the PKI kept in `dir`, or makes one there: a CA, a server certificate for 127.0.0.1/localhost, a client certificate. */
export async function createKmipPki(dir: string): Promise<KmipPki> {
  fs.mkdirSync(dir, { recursive: true });
  const file = (name: keyof typeof FILES) => path.join(dir, FILES[name]);
  if (!Object.keys(FILES).every((name) => fs.existsSync(file(name as keyof typeof FILES)))) {
    const ca = await createCertificateAuthority('EKM Test KMIP CA');
    const server = await issueKeyAndCertificate(ca, {
      subject: 'CN=localhost',
      usages: ['server'],
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    const client = await issueKeyAndCertificate(ca, { subject: `CN=${CLIENT_CN}`, usages: ['client'] });
    fs.writeFileSync(file('caKey'), ca.privateKeyPem, { mode: 0o600 });
    fs.writeFileSync(file('serverKey'), server.privateKeyPem, { mode: 0o600 });
    fs.writeFileSync(file('clientKey'), client.privateKeyPem, { mode: 0o600 });
    fs.writeFileSync(file('server'), server.certificatePem);
    fs.writeFileSync(file('client'), client.certificatePem);
    fs.writeFileSync(file('ca'), ca.certificatePem); // written last: its presence means the set is complete
  }
  const read = (name: keyof typeof FILES) => fs.readFileSync(file(name), 'utf8');
  return {
    ca: await loadCertificateAuthority(read('ca'), read('caKey')),
    caFile: file('ca'),
    serverCertFile: file('server'),
    serverKeyFile: file('serverKey'),
    client: { certificatePem: read('client'), privateKeyPem: read('clientKey'), commonName: CLIENT_CN },
  };
}
