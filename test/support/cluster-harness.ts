import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { ClusterRegistry } from '../../src/config/clusters';
import { ElementClient } from '../../src/element';
import { withKmipSession } from '../../src/kmip';
import { issueKeyAndCertificate, loadCertificateAuthority } from '../../src/pki/authority';
import { configureEkmByHand as configureEkm } from '../../tools/devenv/ekm-by-hand';
import { startSimulatedCluster, type SimulatedClusterOptions } from '../../tools/devenv/simulated-cluster';
import { kmipKeyIdAttribute, type RunningSimulator } from '../../tools/simulator';
import { testEnv } from './test-env';

/**
 * A simulated cluster registered under `name`, as the worker sees it: a registry (and the same as
 * a clusters file, for worker processes) whose password is a file reference, and the simulator's
 * CA bundle for TLS verification.
 */
export interface ClusterHarness {
  name: string;
  sim: RunningSimulator;
  dir: string;
  registry: ClusterRegistry;
  clustersFile: string;
  password: string;
  /** A client to the simulator with the admin account, for test setup and assertions. */
  client(): ElementClient;
  stop(): Promise<void>;
  /** Stops and starts the simulator again on the same state file and port. */
  restart(): Promise<void>;
}

/** Faults refresh this often in tests (a cluster: about every 30 s, the simulator's default). */
export const TEST_FAULT_REFRESH_MS = 50;

export async function startClusterHarness(
  name: string,
  options: Pick<
    SimulatedClusterOptions,
    'durations' | 'apiVersion' | 'softwareEncryptionAtRest' | 'demoNode' | 'hardwareEncryptionAtRest'
  > = {},
): Promise<ClusterHarness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ekm-${name}-`));
  const cluster = await startSimulatedCluster({
    name,
    dir,
    ...options,
    durations: { faultRefreshMs: TEST_FAULT_REFRESH_MS, ...options.durations },
  });
  const registry: ClusterRegistry = { clusters: { [name]: cluster.entry }, signers: {} };
  const clustersFile = path.join(dir, 'clusters.yaml');
  fs.writeFileSync(clustersFile, YAML.stringify(registry));
  return {
    name,
    get sim() {
      return cluster.sim;
    },
    dir,
    registry,
    clustersFile,
    password: cluster.password,
    client: () => cluster.adminClient(),
    restart: () => cluster.restart(),
    async stop() {
      await cluster.stop();
      if (!process.env.EKM_KEEP_TEST_DIR) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Procedure 1 steps 1-2 done by hand, with a client certificate from the shared KMIP test CA. */
export async function configureEkmByHand(
  client: ElementClient,
  options: { providerName?: string; serverName?: string; commonName: string; clientNotAfter?: Date },
): Promise<{ keyProviderID: number; keyServerID: number }> {
  const kmip = testEnv().kmip;
  const issuer = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
  return configureEkm(client, { host: kmip.host, port: kmip.port, caPem: kmip.caPem }, issuer, options);
}

/**
 * Looks a key up on the real KMIP server by the attribute the cluster tags it with
 * (x-SolidFire-KeyID-<keyID>): PyKMIP owns objects by the client certificate's CN, so this uses a
 * certificate with the cluster's CN.
 */
export async function kmipKeyExists(commonName: string, keyID: string): Promise<boolean> {
  const { name, value } = kmipKeyIdAttribute(keyID);
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
    async (session) => (await session.locateByCustomAttribute(name, value)).length > 0,
  );
}

/**
 * Gives the harness's cluster a kmipCheck identity (files in its folder): a client certificate from
 * the KMIP test CA with the common name the cluster's own certificate has, so PyKMIP lets it see the
 * cluster's keys. Returns the registry entry's setting, to change or remove in a test.
 */
export async function addKmipCheckIdentity(harness: ClusterHarness, commonName: string) {
  const kmip = testEnv().kmip;
  const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
  const identity = await issueKeyAndCertificate(ca, { subject: `CN=${commonName}`, usages: ['client'] });
  const certificate = path.join(harness.dir, 'kmip-check.crt');
  const privateKey = path.join(harness.dir, 'kmip-check.key');
  fs.writeFileSync(certificate, identity.certificatePem);
  fs.writeFileSync(privateKey, identity.privateKeyPem, { mode: 0o600 });
  const entry = harness.registry.clusters[harness.name]!;
  entry.kmipCheck = { certificate, privateKey: { file: privateKey } };
  return entry.kmipCheck;
}
