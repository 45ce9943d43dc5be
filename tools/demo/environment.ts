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
import type { ClusterRegistry } from '../../src/config/clusters';
import { issueKeyAndCertificate } from '../../src/pki/authority';
import { loadRuntimeSettings, type RuntimeSettings } from '../../src/config/runtime';
import { Authenticator, loadUsersFile } from '../../src/console/auth';
import { buildConsole } from '../../src/console/server';
import { startLocalStack, type LocalStack } from '../devenv/stack';
import { freePort } from '../devenv/ports';
import type { RunbookEvent } from '../../src/notify/notifier';
import type { DurationsInput } from '../simulator';
import { startLocalWorker } from '../devenv/local-worker';
import { startSimulatedCluster, type SimulatedCluster } from '../devenv/simulated-cluster';

export const DEMO_CLUSTER = 'demo';
export const DEMO_TASK_QUEUE = 'ekm-demo';
/** The common name of the demo cluster's client certificate (and of the worker's kmipCheck identity). */
export const DEMO_COMMON_NAME = 'demo-cluster.ekm.local';

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
  cluster: SimulatedCluster;
  registry: ClusterRegistry;
  uiUrl: string;
  /** The operations console (ekm console) on loopback, and the demo user's login token. */
  console: { url: string; user: string; token: string };
  events: RunbookEvent[];
  stop(): Promise<void>;
}

export async function startDemoEnvironment(
  folder: string,
  durations: DurationsInput,
  log: (line: string) => void,
): Promise<DemoEnvironment> {
  // Absolute, so the clusters file written below works from any folder (`ekm` commands against the demo).
  const dataDir = path.resolve(folder);
  fs.mkdirSync(path.join(dataDir, 'secrets'), { recursive: true, mode: 0o700 });
  const ports = await demoPorts(dataDir);
  log('starting the Temporal dev server, PyKMIP and the cfssl CA');
  const stack = await startLocalStack(dataDir, {
    temporal: ports.temporal,
    temporalUi: ports.temporalUi,
    kmip: ports.kmip,
    cfssl: ports.cfssl,
  });
  const stops: (() => Promise<void>)[] = [() => stack.stop()];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const cluster = await startSimulatedCluster({
      name: DEMO_CLUSTER,
      dir: path.join(dataDir, 'simulator'),
      softwareEncryptionAtRest: true,
      port: ports.simulator,
      controlPort: ports.simulatorControl,
      controlToken: secret(path.join(dataDir, 'secrets', 'simulator-control-token')),
      durations,
    });
    stops.push(() => cluster.stop());
    // The worker's own KMIP identity, so the rekey can confirm its new key on the key server.
    const identity = await issueKeyAndCertificate(stack.kmip.pki.ca, { subject: `CN=${DEMO_COMMON_NAME}`, usages: ['client'] });
    const kmipCheckFiles = {
      certificate: path.join(dataDir, 'kmip-check.pem'),
      key: path.join(dataDir, 'secrets', 'kmip-check.key'),
    };
    fs.mkdirSync(path.dirname(kmipCheckFiles.key), { recursive: true });
    fs.writeFileSync(kmipCheckFiles.certificate, identity.certificatePem);
    fs.writeFileSync(kmipCheckFiles.key, identity.privateKeyPem, { mode: 0o600 });
    const entry = {
      ...cluster.entry,
      kmipCheck: {
        certificate: kmipCheckFiles.certificate,
        privateKey: { file: kmipCheckFiles.key },
      },
    };
    const registry: ClusterRegistry = { clusters: { [DEMO_CLUSTER]: entry }, signers: {} };
    const clustersFile = path.join(dataDir, 'clusters.yaml');
    fs.writeFileSync(clustersFile, YAML.stringify(registry));
    const events: RunbookEvent[] = [];
    const settings = loadRuntimeSettings({
      TEMPORAL_ADDRESS: stack.temporal.address,
      EKM_TASK_QUEUE: DEMO_TASK_QUEUE,
      EKM_CLUSTERS_FILE: clustersFile,
      EKM_AUDIT_LOG: path.join(dataDir, 'audit.jsonl'),
    });
    log('starting a worker');
    const worker = await startLocalWorker(settings, { registry, notifier: { send: async (event) => void events.push(event) } });
    stops.push(() => worker.stop());
    const uiUrl = `http://127.0.0.1:${ports.temporalUi}`;
    log('starting the console');
    const consoleServer = await startDemoConsole(dataDir, settings, uiUrl);
    stops.push(() => consoleServer.close());
    return { dataDir, stack, cluster, registry, uiUrl, console: consoleServer.login, events, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The console for the demo: one user, `demo`, whose token is made once and kept in the demo's
 * secrets folder (so a resumed demo keeps it); on loopback, on a free port.
 */
async function startDemoConsole(dataDir: string, settings: RuntimeSettings, temporalUiUrl: string) {
  const secrets = path.join(dataDir, 'secrets');
  fs.mkdirSync(secrets, { recursive: true });
  const tokenFile = path.join(secrets, 'console-demo.token');
  if (!fs.existsSync(tokenFile)) fs.writeFileSync(tokenFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  const usersFile = path.join(dataDir, 'console-users.yaml');
  fs.writeFileSync(usersFile, YAML.stringify({ users: { demo: { tokenFile } } }));
  const auth = new Authenticator({ users: loadUsersFile(usersFile), secure: false });
  const { app } = await buildConsole({ settings, auth, temporalUiUrl, auditLogFile: settings.EKM_AUDIT_LOG });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { login: { url, user: 'demo', token: fs.readFileSync(tokenFile, 'utf8').trim() }, close: () => app.close() };
}
