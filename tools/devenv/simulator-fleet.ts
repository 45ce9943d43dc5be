/**
 * The multi-cluster simulator as its own process (`ekm simulator --clusters N`, from dist/), for
 * tools that measure the worker apart from the clusters (the fleet benchmark): waits until its
 * clusters file exists and gives each cluster's admin password and control API.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { DurationsInput } from '../simulator';
import { SimulatorControlClient } from '../simulator/control-client';
import { startProcess, tail, type ManagedProcess } from './child';

export interface FleetSimulatorMember {
  name: string;
  url: string;
  password: string;
  control: SimulatorControlClient;
}

export interface FleetSimulatorProcess {
  process: ManagedProcess;
  clustersFile: string;
  caPem: string;
  members: FleetSimulatorMember[];
  /** Peak resident memory of the simulator process so far (VmHWM), bytes; undefined off Linux. */
  peakRssBytes(): number | undefined;
  stop(): Promise<void>;
}

const DIST_CLI = path.resolve(__dirname, '../../src/cli/main.js');

const FLAG_OF: Record<string, string> = {
  rekeyMs: 'rekey-ms',
  tickMs: 'tick-ms',
  faultRefreshMs: 'fault-refresh-ms',
  earTransitionMs: 'ear-transition-ms',
};

export async function startFleetSimulatorProcess(options: {
  dir: string;
  clusters: number;
  prefix?: string;
  durations?: DurationsInput;
  timeoutMs?: number;
}): Promise<FleetSimulatorProcess> {
  fs.mkdirSync(options.dir, { recursive: true });
  const clustersFile = path.join(options.dir, 'clusters.yaml');
  fs.rmSync(clustersFile, { force: true });
  const durationFlags = Object.entries(options.durations ?? {}).flatMap(([key, value]) => {
    if (!FLAG_OF[key]) throw new Error(`startFleetSimulatorProcess: no flag for duration ${key}`);
    return [`--${FLAG_OF[key]}`, String(value)];
  });
  const child = startProcess(
    'simulator-fleet',
    process.execPath,
    [
      DIST_CLI,
      'simulator',
      '--clusters',
      String(options.clusters),
      '--prefix',
      options.prefix ?? 'sim-',
      '--dir',
      options.dir,
      '--clusters-file',
      clustersFile,
      '--memory-calls',
      '--quiet',
      ...durationFlags,
    ],
    { logFile: path.join(options.dir, 'simulator.log') },
  );
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  while (!fs.existsSync(clustersFile)) {
    if (!child.isAlive() || Date.now() > deadline) {
      await child.stop();
      throw new Error(`the fleet simulator did not start:\n${tail(child.logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await new Promise((r) => setTimeout(r, 200)); // the file is written in one go; let it land
  const document = YAML.parse(fs.readFileSync(clustersFile, 'utf8')) as { clusters: Record<string, { mvip: string }> };
  const members = Object.entries(document.clusters).map(([name, entry]) => {
    const ports = JSON.parse(fs.readFileSync(path.join(options.dir, name, 'ports.json'), 'utf8')) as {
      controlPort: number;
      controlToken: string;
    };
    return {
      name,
      url: entry.mvip,
      password: fs.readFileSync(path.join(options.dir, name, 'admin-password'), 'utf8').trim(),
      control: new SimulatorControlClient(`http://127.0.0.1:${ports.controlPort}`, ports.controlToken),
    };
  });
  return {
    process: child,
    clustersFile,
    caPem: fs.readFileSync(path.join(options.dir, 'ca.pem'), 'utf8'),
    members,
    peakRssBytes() {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : undefined;
      } catch {
        return undefined;
      }
    },
    stop: () => child.stop(),
  };
}
