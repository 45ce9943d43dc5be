/**
 * `ekm simulator --clusters N` (or `--fleet FILE`): many simulated clusters from one process, and
 * the clusters file that reaches them. Runs until SIGINT or SIGTERM; state survives restarts (the
 * same ports are taken again).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { DurationsInput } from './durations';
import { numberedClusters, readFleetFile, startSimulatorFleet } from './fleet';
import { DURATION_FLAGS, SimulatorUsageError } from './main';
import { untilStopSignal } from './stop-signal';

export const FLEET_USAGE = `Usage: ekm simulator --clusters N | --fleet FILE [options]

Serves many simulated Element clusters from one process, each with its own state, admin password,
faults, control API and call log, at its own MVIP (its own port), and writes the clusters file
that reaches them (one entry per cluster, with its labels).

Options:
  --clusters N              N clusters named <prefix>1..N, software encryption at rest enabled
  --prefix P                name prefix with --clusters (default sim-)
  --fleet FILE              YAML/JSON: clusters: [{ name, labels: { site: ams }, softwareEncryption }]
  --dir DIR                 where the clusters live (default .data/fleet); one simulator per DIR
                            (DIR/simulator.lock: a second one is refused while the first runs)
  --clusters-file FILE      the clusters file to write (default <dir>/clusters.yaml)
  --host ADDR               listen address (default 127.0.0.1)
  --api-version V           Element API version (default 12.3)
  --memory-calls            keep the call logs in memory only
  --quiet                   no log lines
  Durations in milliseconds: as ekm simulator (--rekey-ms N, --tick-ms N, ...)
`;

const count = z.coerce.number().int().min(1).max(5000);

export async function runFleetMain(argv: string[], out: (text: string) => void): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        clusters: { type: 'string' },
        prefix: { type: 'string' },
        fleet: { type: 'string' },
        dir: { type: 'string' },
        'clusters-file': { type: 'string' },
        host: { type: 'string' },
        'api-version': { type: 'string' },
        'memory-calls': { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
        ...Object.fromEntries(Object.keys(DURATION_FLAGS).map((f) => [f, { type: 'string' as const }])),
      },
    }));
  } catch (err) {
    throw new SimulatorUsageError((err as Error).message);
  }
  if (values.help) {
    out(FLEET_USAGE);
    return;
  }
  const str = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  if ((str('clusters') === undefined) === (str('fleet') === undefined))
    throw new SimulatorUsageError('give --clusters N or --fleet FILE (one of them)');
  let specs;
  if (str('clusters') !== undefined) {
    const n = count.safeParse(str('clusters'));
    if (!n.success) throw new SimulatorUsageError(`--clusters must be a whole number from 1 to 5000 (got "${str('clusters')}")`);
    specs = numberedClusters(n.data, str('prefix') ?? 'sim-');
    const bad = specs.find((c) => !/^[a-z0-9][a-z0-9-]{0,62}$/.test(c.name));
    if (bad)
      throw new SimulatorUsageError(
        `--prefix "${str('prefix')}": cluster names are lowercase letters, digits and dashes, at most 63 (would make "${bad.name}")`,
      );
  } else {
    try {
      specs = readFleetFile(str('fleet')!);
    } catch (err) {
      throw new SimulatorUsageError(`--fleet ${(err as Error).message}`);
    }
  }
  const durations: DurationsInput = {};
  for (const [flag, key] of Object.entries(DURATION_FLAGS)) {
    const v = str(flag);
    if (v === undefined) continue;
    if (!/^\d+$/.test(v)) throw new SimulatorUsageError(`--${flag} must be a whole number >= 0 (got "${v}")`);
    durations[key] = Number(v);
  }
  const dir = path.resolve(str('dir') ?? path.join('.data', 'fleet'));
  const clustersFile = path.resolve(str('clusters-file') ?? path.join(dir, 'clusters.yaml'));
  const fleet = await startSimulatorFleet({
    dir,
    clusters: specs,
    host: str('host'),
    apiVersion: str('api-version'),
    durations,
    callLogInMemory: values['memory-calls'] === true,
    log: values.quiet === true ? undefined : (line) => process.stderr.write(`[simulator] ${line}\n`),
  });
  fleet.writeClustersFile(clustersFile);
  const first = fleet.members[0]!;
  const last = fleet.members[fleet.members.length - 1]!;
  out(
    [
      fleet.members.length === 1
        ? `Element cluster simulator: 1 cluster (${first.name} at ${first.sim.url})`
        : `Element cluster simulator: ${fleet.members.length} clusters (${first.name} at ${first.sim.url} ... ${last.name} at ${last.sim.url})`,
      `  clusters file: ${clustersFile}`,
      `  HTTPS CA:      ${fleet.caFile}`,
      `  state:         ${dir}/<cluster>/ (admin-password, ports.json with the control port and token)`,
      '',
    ].join('\n'),
  );
  await untilStopSignal();
  await fleet.stop();
  out('Element cluster simulator stopped; state saved.\n');
}
