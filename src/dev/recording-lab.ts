/**
 * The recorder's own world for scenarios the demo does not play: an in-memory Temporal dev
 * server, PyKMIP, simulated clusters added on demand, and the real worker in this process (one
 * registry it reads at call time). The cluster lock idles out quickly so its runs complete.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { ClusterRegistry } from '../config/clusters';
import { loadRuntimeSettings } from '../config/runtime';
import { startPyKmip, type PyKmipServer } from '../devenv/pykmip';
import { startTemporalDevServer } from '../devenv/temporal';
import { ElementClient } from '../element';
import { startSimulator, type DurationsInput, type RunningSimulator } from '../simulator';
import type { LockTiming } from '../../workflows/cluster-lock';
import { createRunbookWorker } from '../../worker/create-worker';

export const LAB_TASK_QUEUE = 'ekm-record';
export const LAB_LOCK_TIMING: LockTiming = { livenessCheckMs: 1000, idleExitMs: 2000 };

export interface LabCluster {
  name: string;
  sim: RunningSimulator;
  element: ElementClient;
}

export interface Lab {
  dir: string;
  client: Client;
  kmip: PyKmipServer;
  /** A simulated cluster known to the worker under `name`. */
  addCluster(name: string, options: { softwareEncryptionAtRest: boolean; durations?: DurationsInput }): Promise<LabCluster>;
  stop(): Promise<void>;
}

export async function startLab(dir: string, log: (line: string) => void): Promise<Lab> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    log('starting a Temporal dev server and PyKMIP for the direct scenarios');
    const [temporal, kmip] = await Promise.all([
      startTemporalDevServer({ dir: path.join(dir, 'temporal') }),
      startPyKmip({ dir: path.join(dir, 'pykmip') }),
    ]);
    stops.push(
      () => temporal.stop(),
      () => kmip.stop(),
    );
    const registry: ClusterRegistry = { clusters: {}, signers: {} };
    const settings = loadRuntimeSettings({ TEMPORAL_ADDRESS: temporal.address, EKM_TASK_QUEUE: LAB_TASK_QUEUE });
    const { worker, close } = await createRunbookWorker(settings, {
      registry,
      lockTiming: LAB_LOCK_TIMING,
      notifier: { send: async () => undefined },
    });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
      await close();
    });
    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());

    return {
      dir,
      client: new Client({ connection, namespace: temporal.namespace }),
      kmip,
      stop,
      async addCluster(name, options) {
        const clusterDir = path.join(dir, 'clusters', name);
        fs.mkdirSync(path.join(clusterDir, 'secrets'), { recursive: true });
        const password = randomBytes(12).toString('base64url');
        // Under secrets/ so the history scan looks for it.
        const passwordFile = path.join(clusterDir, 'secrets', 'admin-password');
        fs.writeFileSync(passwordFile, password, { mode: 0o600 });
        const sim = await startSimulator({
          stateFile: path.join(clusterDir, 'state.json'),
          admin: { username: 'admin', password },
          cluster: { name, softwareEncryptionAtRest: options.softwareEncryptionAtRest },
          durations: options.durations,
        });
        stops.push(() => sim.stop());
        const caBundle = path.join(clusterDir, 'cluster-ca.pem');
        fs.writeFileSync(caBundle, sim.caPem ?? '');
        const timeouts = { connectTimeoutMs: 5000, responseTimeoutMs: 15_000 };
        registry.clusters[name] = {
          mvip: sim.url,
          apiVersion: sim.apiVersion,
          username: 'admin',
          password: { file: passwordFile },
          caBundle,
          ...timeouts,
        };
        const element = new ElementClient({
          endpoint: sim.url,
          apiVersion: sim.apiVersion,
          username: 'admin',
          password,
          caPem: sim.caPem,
          ...timeouts,
        });
        stops.push(() => element.close());
        return { name, sim, element };
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
