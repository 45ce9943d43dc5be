import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterEntry } from '../../src/config/clusters';
import { ElementClient } from '../../src/element';
import { startSimulator, type DurationsInput, type RunningSimulator, type SimulatorOptions } from '../simulator';

/**
 * A simulated Element cluster as the worker sees a real one: its clusters-file entry (the admin
 * password in a file under `dir/secrets`, the simulator's CA bundle for TLS verification) and an
 * admin client for setting things up and checking results. Used by tests, the demo, the
 * benchmark and the history recorder.
 */
export interface SimulatedCluster {
  readonly name: string;
  readonly sim: RunningSimulator;
  readonly dir: string;
  readonly password: string;
  readonly entry: ClusterEntry;
  /** A new admin client (close it when done). */
  adminClient(): ElementClient;
  /** Stops and starts the simulator again on the same state file and ports. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface SimulatedClusterOptions {
  name: string;
  dir: string;
  softwareEncryptionAtRest?: boolean;
  /** An Element demo VM (EnableEncryptionAtRest refused). */
  demoNode?: boolean;
  /** 'internal': created with hardware encryption at rest on the cluster's internal key. */
  hardwareEncryptionAtRest?: 'disabled' | 'internal';
  durations?: DurationsInput;
  apiVersion?: string;
  port?: number;
  controlPort?: number;
  controlToken?: string;
}

const TIMEOUTS = { connectTimeoutMs: 5000, responseTimeoutMs: 30_000 };

/** The admin password kept in dir/secrets (made on first use), so a restarted cluster keeps it. */
function adminPassword(dir: string): { password: string; file: string } {
  const file = path.join(dir, 'secrets', 'admin-password');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, randomBytes(18).toString('base64url'), { mode: 0o600 });
  }
  return { password: fs.readFileSync(file, 'utf8'), file };
}

export async function startSimulatedCluster(options: SimulatedClusterOptions): Promise<SimulatedCluster> {
  fs.mkdirSync(options.dir, { recursive: true });
  const { password, file: passwordFile } = adminPassword(options.dir);
  const simulatorOptions: SimulatorOptions = {
    stateFile: path.join(options.dir, 'state.json'),
    admin: { username: 'admin', password },
    apiVersion: options.apiVersion,
    port: options.port,
    controlPort: options.controlPort,
    controlToken: options.controlToken,
    cluster: {
      name: options.name,
      softwareEncryptionAtRest: options.softwareEncryptionAtRest ?? false,
      demoNode: options.demoNode,
      hardwareEncryptionAtRest: options.hardwareEncryptionAtRest,
    },
    durations: options.durations,
  };
  let sim = await startSimulator(simulatorOptions);
  // A resumed state file keeps its own durations: apply the ones asked for now.
  if (options.durations) await sim.control.setDurations(options.durations);
  const caBundle = path.join(options.dir, 'cluster-ca.pem');
  fs.writeFileSync(caBundle, sim.caPem ?? '');
  const entry: ClusterEntry = {
    mvip: sim.url,
    apiVersion: sim.apiVersion,
    username: 'admin',
    password: { file: passwordFile },
    caBundle,
    ...TIMEOUTS,
  };
  return {
    name: options.name,
    get sim() {
      return sim;
    },
    dir: options.dir,
    password,
    entry,
    adminClient: () =>
      new ElementClient({
        endpoint: sim.url,
        apiVersion: sim.apiVersion,
        username: 'admin',
        password,
        caPem: sim.caPem,
        ...TIMEOUTS,
      }),
    async restart() {
      await sim.stop();
      sim = await startSimulator({
        ...simulatorOptions,
        port: sim.port,
        controlPort: Number(new URL(sim.controlUrl).port),
        controlToken: sim.controlToken,
      });
    },
    stop: () => sim.stop(),
  };
}
