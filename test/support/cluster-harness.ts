import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { ClusterRegistry } from '../../src/config/clusters';
import { ElementClient } from '../../src/element';
import { withKmipSession } from '../../src/kmip';
import { issueCertificate, issueKeyAndCertificate, loadCertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator';
import { testEnv } from './test-env';

/**
 * A simulated cluster registered under `name`, as the worker sees it: a clusters file whose
 * password is an environment variable reference (set in this process and handed to spawned
 * workers), and the simulator's CA bundle for TLS verification.
 */
export interface ClusterHarness {
  name: string;
  sim: RunningSimulator;
  dir: string;
  registry: ClusterRegistry;
  clustersFile: string;
  /** Variables a worker process needs (the password the registry refers to). */
  workerEnv: Record<string, string>;
  password: string;
  /** A client to the simulator with the admin account, for test setup and assertions. */
  client(): ElementClient;
  stop(): Promise<void>;
  /** Stops and starts the simulator again on the same state file and port. */
  restart(): Promise<void>;
}

export async function startClusterHarness(
  name: string,
  options: Pick<SimulatorOptions, 'durations' | 'apiVersion'> & { softwareEncryptionAtRest?: boolean } = {},
): Promise<ClusterHarness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ekm-${name}-`));
  const password = randomBytes(12).toString('base64url');
  const passwordVariable = `EKM_TEST_PASSWORD_${name.replace(/-/g, '_').toUpperCase()}`;
  process.env[passwordVariable] = password;
  const simulatorOptions: SimulatorOptions = {
    stateFile: path.join(dir, 'state.json'),
    admin: { username: 'admin', password },
    apiVersion: options.apiVersion,
    cluster: { name, softwareEncryptionAtRest: options.softwareEncryptionAtRest ?? false },
    durations: options.durations,
  };
  let sim = await startSimulator(simulatorOptions);
  const caFile = path.join(dir, 'cluster-ca.pem');
  fs.writeFileSync(caFile, sim.caPem ?? '');
  const registry: ClusterRegistry = {
    clusters: {
      [name]: {
        mvip: sim.url,
        apiVersion: sim.apiVersion,
        username: 'admin',
        password: { env: passwordVariable },
        caBundle: caFile,
        connectTimeoutMs: 5000,
        responseTimeoutMs: 15_000,
      },
    },
    signers: {},
  };
  const clustersFile = path.join(dir, 'clusters.yaml');
  fs.writeFileSync(clustersFile, YAML.stringify(registry));
  const harness: ClusterHarness = {
    name,
    get sim() {
      return sim;
    },
    dir,
    registry,
    clustersFile,
    workerEnv: { [passwordVariable]: password },
    password,
    client: () =>
      new ElementClient({
        endpoint: sim.url,
        apiVersion: sim.apiVersion,
        username: 'admin',
        password,
        caPem: sim.caPem,
        connectTimeoutMs: 5000,
        responseTimeoutMs: 15_000,
      }),
    async stop() {
      await sim.stop();
      if (!process.env.EKM_KEEP_TEST_DIR) fs.rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await sim.stop();
      sim = await startSimulator({ ...simulatorOptions, port: sim.port });
    },
  };
  return harness;
}

/**
 * Procedure 1 steps 1-2 done by hand through the client (for runbooks that need EKM already
 * configured): key pair, CSR signed by the KMIP test CA, provider, server, assignment.
 */
export async function configureEkmByHand(
  client: ElementClient,
  options: { providerName?: string; serverName?: string; commonName: string },
): Promise<{ keyProviderID: number; keyServerID: number }> {
  const kmip = testEnv().kmip;
  await client.call('CreatePublicPrivateKeyPair', { commonName: options.commonName, organization: 'EKM tests', country: 'US' });
  const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
  const csr = new x509.Pkcs10CertificateRequest(clientCertificateSignRequest);
  const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
  const issued = await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] });
  const { kmipKeyProvider } = await client.call('CreateKeyProviderKmip', {
    keyProviderName: options.providerName ?? 'kmip-provider',
  });
  const { kmipKeyServer } = await client.call('CreateKeyServerKmip', {
    kmipKeyServerName: options.serverName ?? 'kmip-server',
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

/**
 * Looks a key up on the real KMIP server by its Name, as the cluster would: PyKMIP owns objects
 * by the client certificate's CN, so this uses a certificate with the cluster's CN.
 */
export async function kmipKeyExists(commonName: string, keyName: string): Promise<boolean> {
  const kmip = testEnv().kmip;
  const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
  const identity = await issueKeyAndCertificate(ca, { subject: `CN=${commonName}`, usages: ['client'] });
  return withKmipSession(
    {
      host: kmip.host,
      port: kmip.port,
      caPem: kmip.caPem,
      certificatePem: identity.certificatePem,
      privateKeyPem: identity.privateKeyPem,
    },
    async (session) => (await session.locateByName(keyName)).length > 0,
  );
}
