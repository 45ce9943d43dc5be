import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClusterRegistry, readClusterCredentials } from '../../src/config/clusters';
import { ElementClient } from '../../src/element';
import { runFleetMain } from '../../tools/simulator/fleet-main';
import { readFleetFile, startSimulatorFleet, type FleetClusterSpec, type RunningFleet } from '../../tools/simulator/fleet';

/** The multi-cluster simulator in process: separate clusters, and a clusters file the product reads. */
describe('multi-cluster simulator and its clusters file', () => {
  let dir: string;
  let fleet: RunningFleet | undefined;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-sim-fleet-'));
  });
  afterAll(async () => {
    await fleet?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves each cluster with its own state, credentials and call log at its own MVIP; restarts on the same ports', async () => {
    const clusters: FleetClusterSpec[] = [
      { name: 'ams-1', labels: { site: 'ams' } },
      { name: 'ams-2', labels: { site: 'ams' }, softwareEncryption: false },
      { name: 'fra-1', labels: { site: 'fra', env: 'prod' } },
    ];
    fleet = await startSimulatorFleet({ dir: path.join(dir, 'sim'), clusters, durations: { tickMs: 1000 } });
    const file = path.join(dir, 'etc', 'clusters.yaml');
    fleet.writeClustersFile(file);
    const registry = loadClusterRegistry(file);
    expect(Object.keys(registry.clusters)).toEqual(['ams-1', 'ams-2', 'fra-1']);
    expect(registry.clusters['fra-1']!.labels).toEqual({ site: 'fra', env: 'prod' });
    expect(new Set(Object.values(registry.clusters).map((c) => c.mvip)).size).toBe(3);
    const passwords = Object.entries(registry.clusters).map(([name, entry]) => readClusterCredentials(name, entry).password);
    expect(new Set(passwords).size).toBe(3);

    const clientOf = (name: string, password: string) =>
      new ElementClient({
        endpoint: registry.clusters[name]!.mvip,
        apiVersion: '12.3',
        username: 'admin',
        password,
        caPem: fs.readFileSync(registry.clusters[name]!.caBundle!, 'utf8'),
        connectTimeoutMs: 5000,
        responseTimeoutMs: 10_000,
      });
    const ams1 = clientOf('ams-1', passwords[0]!);
    const info = await ams1.call('GetClusterInfo');
    expect(info.clusterInfo.name).toBe('ams-1');
    expect((await ams1.call('GetSoftwareEncryptionAtRestInfo')).state).toBe('enabled');
    await ams1.close();
    const ams2 = clientOf('ams-2', passwords[1]!);
    expect((await ams2.call('GetClusterInfo')).clusterInfo.name).toBe('ams-2');
    await ams2.close();
    // Another cluster's password is refused: the credentials are each cluster's own.
    const wrong = clientOf('fra-1', passwords[0]!);
    await expect(wrong.call('GetClusterInfo')).rejects.toThrow();
    await wrong.close();
    // Each call log holds only its own cluster's calls.
    expect((await fleet.member('ams-1').sim.control.calls()).map((c) => c.method)).toEqual([
      'GetClusterInfo',
      'GetSoftwareEncryptionAtRestInfo',
    ]);
    expect((await fleet.member('fra-1').sim.control.calls()).every((c) => c.outcome === 'unauthorized')).toBe(true);

    const before = fleet.members.map((m) => m.sim.url);
    await fleet.stop();
    fleet = await startSimulatorFleet({ dir: path.join(dir, 'sim'), clusters });
    expect(fleet.members.map((m) => m.sim.url)).toEqual(before);
    expect(fleet.members.every((m) => m.sim.created === false)).toBe(true);
  }, 60_000);

  it('a --fleet file that is missing or not YAML: the file named in words, not the library message', () => {
    const missing = path.join(dir, 'no-such-fleet.yaml');
    expect(() => readFleetFile(missing)).toThrow(`${missing}: cannot read it: no such file`);
    const broken = path.join(dir, 'broken-fleet.yaml');
    fs.writeFileSync(broken, 'nope: :\n  - [');
    expect(() => readFleetFile(broken)).toThrow(`${broken}: not YAML or JSON: `);
  });

  it('--clusters N with a --prefix that makes no cluster name: refused naming --prefix, nothing started', async () => {
    await expect(runFleetMain(['--clusters', '2', '--prefix', 'BAD_', '--dir', path.join(dir, 'never')], () => undefined)).rejects.toThrow(
      '--prefix "BAD_": cluster names are lowercase letters, digits and dashes',
    );
    expect(fs.existsSync(path.join(dir, 'never'))).toBe(false);
  });
});
