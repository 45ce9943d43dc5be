/**
 * A throwaway lab for the benchmarks: its own Temporal dev server, PyKMIP and a simulated cluster
 * with software encryption at rest and EKM configured (key pair, CSR signed by the KMIP test CA,
 * provider, server), plus the real worker in this process. Everything on loopback, in one folder.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { ClusterRegistry } from '../config/clusters';
import { loadRuntimeSettings } from '../config/runtime';
import { startPyKmip, type PyKmipServer } from '../devenv/pykmip';
import { startTemporalDevServer, type TemporalDevServer } from '../devenv/temporal';
import { ElementClient } from '../element';
import { issueCertificate } from '../pki/authority';
import { x509 } from '../pki/x509';
import { startSimulator, type RunningSimulator } from '../simulator';
import { createRunbookWorker } from '../../worker/create-worker';

export interface Lab {
  cluster: string;
  taskQueue: string;
  client: Client;
  sim: RunningSimulator;
  stop(): Promise<void>;
}

const PASSWORD_VARIABLE = 'EKM_BENCH_CLUSTER_PASSWORD';

async function configureEkm(element: ElementClient, kmip: PyKmipServer): Promise<void> {
  await element.call('CreatePublicPrivateKeyPair', {
    commonName: 'bench-cluster.example.test',
    organization: 'EKM bench',
    country: 'US',
  });
  const { clientCertificateSignRequest } = await element.call('GetClientCertificateSignRequest');
  const csr = new x509.Pkcs10CertificateRequest(clientCertificateSignRequest);
  const issued = await issueCertificate(kmip.pki.ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] });
  const { kmipKeyProvider } = await element.call('CreateKeyProviderKmip', { keyProviderName: 'bench-provider' });
  const { kmipKeyServer } = await element.call('CreateKeyServerKmip', {
    kmipKeyServerName: 'bench-kmip',
    kmipKeyServerHostnames: [kmip.host],
    kmipKeyServerPort: kmip.port,
    kmipCaCertificate: kmip.pki.ca.certificatePem,
    kmipClientCertificate: issued.certificatePem,
  });
  await element.call('AddKeyServerToProviderKmip', {
    keyProviderID: kmipKeyProvider.keyProviderID,
    keyServerID: kmipKeyServer.keyServerID,
  });
}

export async function startLab(dir: string, log: (line: string) => void): Promise<Lab> {
  const cluster = 'bench';
  const taskQueue = 'ekm-bench';
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    log('starting Temporal dev server and PyKMIP');
    const [temporal, kmip]: [TemporalDevServer, PyKmipServer] = await Promise.all([
      startTemporalDevServer({ dir: path.join(dir, 'temporal') }),
      startPyKmip({ dir: path.join(dir, 'pykmip') }),
    ]);
    stops.push(
      () => temporal.stop(),
      () => kmip.stop(),
    );

    const password = randomBytes(12).toString('base64url');
    process.env[PASSWORD_VARIABLE] = password;
    const sim = await startSimulator({
      stateFile: path.join(dir, 'simulator', 'state.json'),
      admin: { username: 'admin', password },
      cluster: { name: cluster, softwareEncryptionAtRest: true },
      durations: { tickMs: 100 },
    });
    stops.push(() => sim.stop());
    const caFile = path.join(dir, 'cluster-ca.pem');
    fs.writeFileSync(caFile, sim.caPem ?? '');
    const element = new ElementClient({
      endpoint: sim.url,
      apiVersion: sim.apiVersion,
      username: 'admin',
      password,
      caPem: sim.caPem,
      connectTimeoutMs: 5000,
      responseTimeoutMs: 15_000,
    });
    log('configuring EKM on the simulated cluster');
    await configureEkm(element, kmip);

    const registry: ClusterRegistry = {
      clusters: {
        [cluster]: {
          mvip: sim.url,
          apiVersion: sim.apiVersion,
          username: 'admin',
          password: { env: PASSWORD_VARIABLE },
          caBundle: caFile,
          connectTimeoutMs: 5000,
          responseTimeoutMs: 15_000,
        },
      },
      signers: {},
    };
    log('starting the worker (bundling workflows)');
    const settings = loadRuntimeSettings({ TEMPORAL_ADDRESS: temporal.address, EKM_TASK_QUEUE: taskQueue });
    const { worker, close } = await createRunbookWorker(settings, { registry });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
      await close();
    });

    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    return { cluster, taskQueue, client: new Client({ connection }), sim, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
