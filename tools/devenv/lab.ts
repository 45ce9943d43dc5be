/**
 * A throwaway lab for tools (benchmarks, the history recorder): its own in-memory Temporal dev
 * server, PyKMIP, simulated clusters added on demand, and the real worker in this process (one
 * registry it reads at call time). Everything on loopback, in one folder.
 */
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { ClusterRegistry } from '../../src/config/clusters';
import { loadRuntimeSettings } from '../../src/config/runtime';
import type { ElementClient } from '../../src/element';
import type { DurationsInput } from '../simulator';
import type { LockTiming } from '../../workflows/cluster-lock';
import { configureEkmByHand } from './ekm-by-hand';
import { startLocalWorker } from './local-worker';
import { startPyKmip, type PyKmipServer } from './pykmip';
import { startSimulatedCluster, type SimulatedCluster } from './simulated-cluster';
import { startTemporalDevServer } from './temporal';

export interface LabCluster extends SimulatedCluster {
  /** An admin client, closed with the lab. */
  element: ElementClient;
  /** Key pair, CSR signed by the lab's KMIP CA, provider and server, as procedure 1 leaves them. */
  configureEkm(commonName: string): Promise<{ keyProviderID: number; keyServerID: number }>;
}

export interface Lab {
  dir: string;
  taskQueue: string;
  client: Client;
  kmip: PyKmipServer;
  /** A simulated cluster known to the worker under `name`. */
  addCluster(name: string, options: { softwareEncryptionAtRest: boolean; durations?: DurationsInput }): Promise<LabCluster>;
  stop(): Promise<void>;
}

export async function startLab(
  dir: string,
  options: { taskQueue: string; lockTiming?: LockTiming; log: (line: string) => void },
): Promise<Lab> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    options.log('starting a Temporal dev server and PyKMIP');
    const [temporal, kmip] = await Promise.all([
      startTemporalDevServer({ dir: path.join(dir, 'temporal') }),
      startPyKmip({ dir: path.join(dir, 'pykmip') }),
    ]);
    stops.push(
      () => temporal.stop(),
      () => kmip.stop(),
    );
    const registry: ClusterRegistry = { clusters: {}, signers: {} };
    options.log('starting the worker');
    const settings = loadRuntimeSettings({ TEMPORAL_ADDRESS: temporal.address, EKM_TASK_QUEUE: options.taskQueue });
    const worker = await startLocalWorker(settings, {
      registry,
      lockTiming: options.lockTiming,
      notifier: { send: async () => undefined },
    });
    stops.push(() => worker.stop());
    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    const kmipForCluster = { host: kmip.host, port: kmip.port, caPem: kmip.pki.ca.certificatePem };
    return {
      dir,
      taskQueue: options.taskQueue,
      client: new Client({ connection, namespace: temporal.namespace }),
      kmip,
      stop,
      async addCluster(name, clusterOptions) {
        const cluster = await startSimulatedCluster({ name, dir: path.join(dir, 'clusters', name), ...clusterOptions });
        stops.push(() => cluster.stop());
        registry.clusters[name] = cluster.entry;
        const element = cluster.adminClient();
        stops.push(() => element.close());
        return Object.assign(cluster, {
          element,
          configureEkm: (commonName: string) => configureEkmByHand(element, kmipForCluster, kmip.pki.ca, { commonName }),
        });
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
