/**
 * One multi-cluster simulator per --dir: a second one on the same folder is refused at start (it
 * would rewrite the ports and the clusters file of the first), the lock goes when the first stops,
 * and a lock left by a process that is gone is taken over.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runFleetMain } from '../../tools/simulator/fleet-main';
import { startSimulatorFleet, type RunningFleet } from '../../tools/simulator/fleet';

let dir: string;
let fleet: RunningFleet | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-sim-lock-'));
});
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

const lockFile = () => path.join(dir, 'sim', 'simulator.lock');
const lockedBy = () => (JSON.parse(fs.readFileSync(lockFile(), 'utf8')) as { pid: number }).pid;

it('a second simulator on the same --dir is refused naming the folder and the pid; its clusters file is untouched', async () => {
  const simDir = path.join(dir, 'sim');
  fleet = await startSimulatorFleet({ dir: simDir, clusters: [{ name: 'one-1' }], durations: { tickMs: 1000 } });
  const clustersFile = path.join(simDir, 'clusters.yaml');
  fleet.writeClustersFile(clustersFile);
  const written = fs.readFileSync(clustersFile, 'utf8');
  expect(lockedBy()).toBe(process.pid);

  await expect(
    runFleetMain(['--clusters', '2', '--prefix', 'two-', '--dir', simDir, '--quiet'], () => undefined),
  ).rejects.toThrow(`another simulator is using ${simDir} (pid ${process.pid})`);
  expect(fs.readFileSync(clustersFile, 'utf8')).toBe(written);
  expect(fs.existsSync(path.join(simDir, 'two-1'))).toBe(false);

  await fleet.stop();
  fleet = undefined;
  expect(fs.existsSync(lockFile())).toBe(false);
  // Free again: the next one starts.
  fleet = await startSimulatorFleet({ dir: simDir, clusters: [{ name: 'one-1' }], durations: { tickMs: 1000 } });
  expect(lockedBy()).toBe(process.pid);
}, 30_000);

it('a lock held by another live process refuses the start with that pid', async () => {
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    fs.mkdirSync(path.join(dir, 'sim'), { recursive: true });
    fs.writeFileSync(lockFile(), JSON.stringify({ pid: other.pid, startedAt: new Date().toISOString() }));
    await expect(startSimulatorFleet({ dir: path.join(dir, 'sim'), clusters: [{ name: 'one-1' }] })).rejects.toThrow(
      `another simulator is using ${path.join(dir, 'sim')} (pid ${other.pid})`,
    );
    expect(lockedBy()).toBe(other.pid); // not ours to remove
  } finally {
    other.kill('SIGKILL');
  }
});

it('a stale lock (its process is gone) is taken over', async () => {
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(gone.stdout);
  expect(deadPid).toBeGreaterThan(0);
  fs.mkdirSync(path.join(dir, 'sim'), { recursive: true });
  fs.writeFileSync(lockFile(), JSON.stringify({ pid: deadPid, startedAt: '2026-01-01T00:00:00.000Z' }));
  fleet = await startSimulatorFleet({ dir: path.join(dir, 'sim'), clusters: [{ name: 'one-1' }], durations: { tickMs: 1000 } });
  expect(lockedBy()).toBe(process.pid);
  await fleet.stop();
  fleet = undefined;
  expect(fs.existsSync(lockFile())).toBe(false);
}, 30_000);

it("each cluster's start line names the cluster (one process serves many), not only its uuid", async () => {
  const lines: string[] = [];
  fleet = await startSimulatorFleet({
    dir: path.join(dir, 'sim'),
    clusters: [{ name: 'ams-1' }, { name: 'fra-1' }],
    durations: { tickMs: 1000 },
    log: (line) => lines.push(line),
  });
  for (const name of ['ams-1', 'fra-1'])
    expect(lines.filter((l) => new RegExp(`created cluster ${name} \\([0-9a-f-]{36}\\): https://`).test(l))).toHaveLength(1);
});
