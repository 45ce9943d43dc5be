/**
 * Many simulated clusters in one process: each its own SimulatedCluster (state file, admin
 * password, control API with its own token, faults, call log) at its own MVIP (its own port on
 * the listen address). They share one HTTPS identity (one CA bundle), so starting 500 does not
 * make 500 RSA keys. `writeClustersFile` writes the matching clusters-file entries (with labels).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { createTlsIdentity } from './crypto';
import { lockSimulatorDir } from './dir-lock';
import type { DurationsInput } from './durations';
import { startSimulator, type RunningSimulator } from './index';

const CLUSTER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** One cluster of a fleet file. */
export const fleetClusterSpec = z.strictObject({
  name: z.string().regex(CLUSTER_NAME, 'must be lowercase letters, digits and dashes'),
  labels: z.record(z.string(), z.string()).default({}),
  softwareEncryption: z.boolean().default(true),
});
export type FleetClusterSpec = z.input<typeof fleetClusterSpec>;

/** A fleet file (YAML or JSON): `clusters: [{ name, labels, softwareEncryption }]`. */
export const fleetFileSchema = z.strictObject({
  clusters: z.array(fleetClusterSpec).min(1, 'name at least one cluster'),
});

/** `count` clusters named `<prefix>1` ... `<prefix>N` (zero-padded), with software encryption. */
export function numberedClusters(count: number, prefix = 'sim-'): FleetClusterSpec[] {
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => ({ name: `${prefix}${String(i + 1).padStart(width, '0')}` }));
}

export interface SimulatorFleetOptions {
  /** Each cluster lives in `<dir>/<name>/` (state.json, admin-password, calls); the shared CA in `<dir>/ca.pem`. */
  dir: string;
  clusters: FleetClusterSpec[];
  /** Listen address of every cluster (default 127.0.0.1); ports are free ones, kept across restarts. */
  host?: string;
  apiVersion?: string;
  durations?: DurationsInput;
  /** Keep call logs in memory only (no JSONL file per cluster). */
  callLogInMemory?: boolean;
  log?: (line: string) => void;
}

export interface FleetMember {
  name: string;
  labels: Record<string, string>;
  sim: RunningSimulator;
  passwordFile: string;
  password: string;
}

export interface RunningFleet {
  readonly members: FleetMember[];
  member(name: string): FleetMember;
  readonly caFile: string;
  readonly caPem: string;
  /** The clusters-file document for every member (password as a file reference, the shared CA). */
  clustersFileDocument(relativeTo?: string): { clusters: Record<string, unknown> };
  /** Writes that document as YAML (paths relative to the file). */
  writeClustersFile(file: string): void;
  stop(): Promise<void>;
}

interface Ports {
  port: number;
  controlPort: number;
  controlToken: string;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function secret(file: string): string {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, randomBytes(18).toString('base64url'), { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

/**
 * Starts every cluster of the fleet (a few at a time); on a failure stops the ones started. Holds
 * `<dir>/simulator.lock` until stop(): a second fleet on the same folder is refused with
 * SimulatorDirBusyError (tools/simulator/dir-lock.ts).
 */
export async function startSimulatorFleet(options: SimulatorFleetOptions): Promise<RunningFleet> {
  const specs = options.clusters.map((c) => fleetClusterSpec.parse(c));
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name)) throw new Error(`cluster ${s.name} is named twice`);
    names.add(s.name);
  }
  // Refused (SimulatorDirBusyError) while another simulator serves this folder.
  const lock = lockSimulatorDir(options.dir);
  try {
    return await startMembers(options, specs, lock.release);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startMembers(
  options: SimulatorFleetOptions,
  specs: z.output<typeof fleetClusterSpec>[],
  releaseLock: () => void,
): Promise<RunningFleet> {
  const tlsFile = path.join(options.dir, 'tls.json');
  const tls =
    readJson<{ caPem: string; certPem: string; keyPem: string }>(tlsFile) ??
    (await createTlsIdentity({ dns: ['localhost'], ips: ['127.0.0.1', '::1'] }));
  fs.writeFileSync(tlsFile, JSON.stringify(tls), { mode: 0o600 });
  const caFile = path.join(options.dir, 'ca.pem');
  fs.writeFileSync(caFile, tls.caPem);

  const members: FleetMember[] = [];
  const startOne = async (spec: z.output<typeof fleetClusterSpec>): Promise<FleetMember> => {
    const dir = path.join(options.dir, spec.name);
    const passwordFile = path.join(dir, 'admin-password');
    const password = secret(passwordFile);
    const portsFile = path.join(dir, 'ports.json');
    const ports = readJson<Ports>(portsFile);
    const sim = await startSimulator({
      stateFile: path.join(dir, 'state.json'),
      host: options.host,
      port: ports?.port ?? 0,
      controlPort: ports?.controlPort ?? 0,
      controlToken: ports?.controlToken,
      admin: { username: 'admin', password },
      apiVersion: options.apiVersion,
      cluster: { name: spec.name, softwareEncryptionAtRest: spec.softwareEncryption },
      durations: options.durations,
      tls,
      callLogFile: options.callLogInMemory ? false : undefined,
      log: options.log,
    });
    if (options.durations) await sim.control.setDurations(options.durations);
    const kept: Ports = { port: sim.port, controlPort: Number(new URL(sim.controlUrl).port), controlToken: sim.controlToken };
    fs.writeFileSync(portsFile, JSON.stringify(kept), { mode: 0o600 });
    return { name: spec.name, labels: spec.labels, sim, passwordFile, password };
  };
  try {
    for (let i = 0; i < specs.length; i += 20) {
      members.push(...(await Promise.all(specs.slice(i, i + 20).map(startOne))));
    }
  } catch (err) {
    await Promise.all(members.map((m) => m.sim.stop()));
    throw err;
  }
  const byName = new Map(members.map((m) => [m.name, m]));

  const document = (relativeTo?: string) => {
    const rel = (file: string) => (relativeTo ? path.relative(relativeTo, file) : file);
    return {
      clusters: Object.fromEntries(
        members.map((m) => [
          m.name,
          {
            mvip: m.sim.url,
            apiVersion: m.sim.apiVersion,
            username: 'admin',
            password: { file: rel(m.passwordFile) },
            caBundle: rel(caFile),
            connectTimeoutMs: 5000,
            responseTimeoutMs: 30_000,
            ...(Object.keys(m.labels).length > 0 ? { labels: m.labels } : {}),
          },
        ]),
      ),
    };
  };
  return {
    members,
    member(name) {
      const m = byName.get(name);
      if (!m) throw new Error(`no simulated cluster ${name} in this fleet`);
      return m;
    },
    caFile,
    caPem: tls.caPem,
    clustersFileDocument: document,
    writeClustersFile(file) {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      fs.writeFileSync(file, YAML.stringify(document(path.dirname(path.resolve(file)))));
    },
    async stop() {
      await Promise.all(members.map((m) => m.sim.stop()));
      releaseLock();
    },
  };
}

/** Reads a fleet file (YAML or JSON); a mistake names the file and the field. */
export function readFleetFile(file: string): FleetClusterSpec[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read it${code === 'ENOENT' ? ': no such file' : code ? ` (${code})` : ''}`);
  }
  let document: unknown;
  try {
    document = YAML.parse(text);
  } catch (err) {
    throw new Error(`${file}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = fleetFileSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file}: ${issue.path.join('.') || '(file)'}: ${issue.message}`);
  }
  return parsed.data.clusters;
}
