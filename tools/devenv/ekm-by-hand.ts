import type { ElementClient } from '../../src/element';
import { issueCertificate, type CertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';

export interface KmipServerForCluster {
  host: string;
  port: number;
  /** The KMIP server's CA certificate (what the cluster verifies the server with). */
  caPem: string;
}

/**
 * Procedure 1 steps 1-2 done by hand through the client, for runbooks that need EKM configured
 * already (rekey, recoveries, benchmarks): key pair, CSR signed by `issuer` (a CA the KMIP server
 * trusts), provider, server, assignment.
 */
export async function configureEkmByHand(
  client: ElementClient,
  kmip: KmipServerForCluster,
  issuer: CertificateAuthority,
  names: {
    commonName: string;
    providerName?: string;
    serverName?: string;
    organization?: string;
    /** The client certificate's notAfter (default: a year); a renewal rehearsal gives one that expires soon. */
    clientNotAfter?: Date;
  },
): Promise<{ keyProviderID: number; keyServerID: number }> {
  await client.call('CreatePublicPrivateKeyPair', {
    commonName: names.commonName,
    organization: names.organization ?? 'EKM tests',
    country: 'US',
  });
  const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
  const csr = new x509.Pkcs10CertificateRequest(clientCertificateSignRequest);
  const issued = await issueCertificate(issuer, {
    subject: csr.subject,
    publicKey: csr.publicKey,
    usages: ['client'],
    notAfter: names.clientNotAfter,
  });
  const { kmipKeyProvider } = await client.call('CreateKeyProviderKmip', {
    keyProviderName: names.providerName ?? 'kmip-provider',
  });
  const { kmipKeyServer } = await client.call('CreateKeyServerKmip', {
    kmipKeyServerName: names.serverName ?? 'kmip-server',
    kmipKeyServerHostnames: [kmip.host],
    kmipKeyServerPort: kmip.port,
    kmipCaCertificate: kmip.caPem,
    kmipClientCertificate: issued.certificatePem,
  });
  await client.call('AddKeyServerToProviderKmip', {
    keyProviderID: kmipKeyProvider.keyProviderID,
    keyServerID: kmipKeyServer.keyServerID,
  });
  return { keyProviderID: kmipKeyProvider.keyProviderID, keyServerID: kmipKeyServer.keyServerID };
}
