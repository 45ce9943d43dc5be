/**
 * The demo's local world, all on 127.0.0.1 and kept in one data folder so that a second run
 * resumes: the Temporal dev server (UI on loopback, SQLite file), PyKMIP, a cfssl CA, a
 * simulated software-encryption cluster, the clusters file pointing at it, and a worker.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { ClusterRegistry } from '../config/clusters';
import { loadRuntimeSettings } from '../config/runtime';
import { startLocalStack, type LocalStack, type LocalStackPorts } from '../devenv/stack';
import { freePort } from '../devenv/ports';
import type { Notifier, RunbookEvent } from '../notify/notifier';
import { startSimulator, type DurationsInput, type RunningSimulator } from '../simulator';
import { createRunbookWorker, type RunbookWorker } from '../../worker/create-worker';

export const DEMO_CLUSTER = 'demo';
export const DEMO_TASK_QUEUE = 'ekm-demo';

const portsSchema = z.strictObject({
  temporal: z.number().int(),
  temporalUi: z.number().int(),
  kmip: z.number().int(),
  cfssl: z.number().int(),
  simulator: z.number().int(),
  simulatorControl: z.number().int(),
});
type DemoPorts = z.infer<typeof portsSchema>;

const PREFERRED: DemoPorts = {
  temporal: 7233,
  temporalUi: 8233,
  kmip: 5696,
  cfssl: 8888,
  simulator: 8443,
  simulatorControl: 8444,
};

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The first run takes the usual ports where they are free (another free port otherwise) and
 * records them: the simulated cluster keeps the KMIP port in its key server settings, so a
 * resumed demo must find everything where it was.
 */
async function demoPorts(dataDir: string): Promise<DemoPorts> {
  const file = path.join(dataDir, 'ports.json');
  if (fs.existsSync(file)) return portsSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  const ports = { ...PREFERRED };
  for (const key of Object.keys(ports) as (keyof DemoPorts)[]) {
    if (!(await isFree(ports[key]))) ports[key] = await freePort();
  }
  fs.writeFileSync(file, JSON.stringify(ports, null, 2));
  return ports;
}

function secret(file: string): string {
  if (!fs.existsSync(file)) fs.writeFileSync(file, randomBytes(18).toString('base64url'), { mode: 0o600 });
  return fs.readFileSync(file, 'utf8');
}

export interface DemoEnvironment {
  dataDir: string;
  stack: LocalStack;
  sim: RunningSimulator;
  registry: ClusterRegistry;
  clustersFile: string;
  uiUrl: string;
  events: RunbookEvent[];
  worker: RunbookWorker;
  stop(): Promise<void>;
}

export async function startDemoEnvironment(
  dataDir: string,
  durations: DurationsInput,
  log: (line: string) => void,
): Promise<DemoEnvironment> {
  fs.mkdirSync(path.join(dataDir, 'secrets'), { recursive: true, mode: 0o700 });
  const ports = await demoPorts(dataDir);
  const stackPorts: LocalStackPorts = {
    temporal: ports.temporal,
    temporalUi: ports.temporalUi,
    kmip: ports.kmip,
    cfssl: ports.cfssl,
  };
  log('starting the Temporal dev server, PyKMIP and the cfssl CA');
  const stack = await startLocalStack(dataDir, stackPorts);
  let sim: RunningSimulator | undefined;
  let worker: RunbookWorker | undefined;
  try {
    const password = secret(path.join(dataDir, 'secrets', 'demo-admin-password'));
    sim = await startSimulator({
      stateFile: path.join(dataDir, 'simulator', 'demo-cluster.json'),
      port: ports.simulator,
      controlPort: ports.simulatorControl,
      controlToken: secret(path.join(dataDir, 'secrets', 'simulator-control-token')),
      admin: { username: 'admin', password },
      cluster: { name: DEMO_CLUSTER, softwareEncryptionAtRest: true },
      durations,
    });
    await sim.control.setDurations(durations);
    const caFile = path.join(dataDir, 'simulator', 'demo-cluster-ca.pem');
    fs.writeFileSync(caFile, sim.caPem ?? '');
    const registry: ClusterRegistry = {
      clusters: {
        [DEMO_CLUSTER]: {
          mvip: sim.url,
          apiVersion: sim.apiVersion,
          username: 'admin',
          password: { file: path.join(dataDir, 'secrets', 'demo-admin-password') },
          caBundle: caFile,
          connectTimeoutMs: 5000,
          responseTimeoutMs: 30_000,
        },
      },
      signers: {},
    };
    const clustersFile = path.join(dataDir, 'clusters.yaml');
    fs.writeFileSync(clustersFile, YAML.stringify(registry));
    const events: RunbookEvent[] = [];
    const notifier: Notifier = { send: async (event) => void events.push(event) };
    const settings = loadRuntimeSettings({
      TEMPORAL_ADDRESS: stack.temporal.address,
      EKM_TASK_QUEUE: DEMO_TASK_QUEUE,
      EKM_CLUSTERS_FILE: clustersFile,
      EKM_AUDIT_LOG: path.join(dataDir, 'audit.jsonl'),
    });
    log('starting a worker');
    worker = await createRunbookWorker(settings, { registry, notifier });
    const running = worker.worker.run();
    const started = { sim, worker };
    return {
      dataDir,
      stack,
      sim,
      registry,
      clustersFile,
      uiUrl: `http://127.0.0.1:${ports.temporalUi}`,
      events,
      worker,
      async stop() {
        if (started.worker.worker.getState() === 'RUNNING') started.worker.worker.shutdown();
        await running.catch(() => undefined);
        await started.worker.close();
        await started.sim.stop();
        await stack.stop();
      },
    };
  } catch (err) {
    await worker?.close();
    await sim?.stop();
    await stack.stop();
    throw err;
  }
}
