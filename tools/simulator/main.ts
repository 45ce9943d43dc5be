/**
 * The simulator as its own process: `ekm simulator --port P --state FILE ...` calls
 * runSimulatorMain(argv). It runs until SIGINT or SIGTERM, then stops cleanly (state persisted).
 * Secrets never come from the command line: the admin password and the control token are read
 * from files (generated, mode 0600, beside the state file when not given).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { DurationsInput } from './durations';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from './index';
import { untilStopSignal } from './stop-signal';

export const SIMULATOR_USAGE = `Usage: ekm simulator [options]

Runs a simulated NetApp Element cluster (JSON-RPC API, KMIP key management, drives, faults)
and its fault-injection control API, until interrupted. State survives restarts.

Options:
  --state FILE                  state file (default .data/simulator/state.json)
  --host ADDR                   JSON-RPC listen address (default 127.0.0.1)
  --port N                      JSON-RPC port (default 8443; 0 = any free port)
  --http                        plain HTTP instead of HTTPS
  --control-host ADDR           control API listen address (default 127.0.0.1)
  --control-port N              control API port (default 8444; 0 = any free port)
  --control-token-file FILE     bearer token of the control API (default <state>.control-token, generated)
  --admin-user NAME             cluster admin user (default admin)
  --admin-password-file FILE    cluster admin password (default <state>.admin-password, generated)
  --api-version V               current Element API version (default 12.3)
  --csr-version 0|2             version field of the cluster's CSRs: 2 as a real 11.7 cluster (default), 0 as PKCS#10
  --ca-out FILE                 where to write the HTTPS CA certificate (default <state>.ca.pem)
  Cluster creation (ignored when the state file exists):
  --cluster-name NAME           (default sim-cluster)
  --software-encryption         create the cluster with software encryption at rest
  --nodes N                     (default 4)
  --block-drives N              block drives per node (default 4)
  --demo-node                   an Element demo VM: EnableEncryptionAtRest answers xAPINotPermitted
  --hardware-ear-internal       create the cluster with hardware encryption at rest on its internal key
  Durations in milliseconds:
  --ear-transition-ms N  --rekey-ms N  --drive-add-ms N  --drive-remove-ms N
  --slice-settle-ms N  --slice-warning-ms N  --kmip-retry-ms N  --restart-downtime-ms N
  --tick-ms N  --fault-refresh-ms N (default 30000, as a cluster)
  --kmip-connect-timeout-ms N  --kmip-response-timeout-ms N
  --certificate-fault-warning-ms N  kmipCertificateFault this long before a certificate expires (default 30 days; UNCONFIRMED)
  --quiet                       no log lines
  --help
  Many clusters from one process: ekm simulator --clusters N | --fleet FILE (ekm simulator --clusters 1 --help)
`;

export const DURATION_FLAGS = {
  'ear-transition-ms': 'earTransitionMs',
  'rekey-ms': 'rekeyMs',
  'drive-add-ms': 'driveAddMs',
  'drive-remove-ms': 'driveRemoveMs',
  'slice-settle-ms': 'sliceSettleMs',
  'slice-warning-ms': 'sliceWarningMs',
  'kmip-retry-ms': 'kmipRetryMs',
  'restart-downtime-ms': 'restartDowntimeMs',
  'tick-ms': 'tickMs',
  'fault-refresh-ms': 'faultRefreshMs',
  'kmip-connect-timeout-ms': 'kmipConnectTimeoutMs',
  'kmip-response-timeout-ms': 'kmipResponseTimeoutMs',
  'certificate-fault-warning-ms': 'certificateFaultWarningMs',
} as const satisfies Record<string, keyof DurationsInput>;

export class SimulatorUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorUsageError';
  }
}

const NonNegativeInt = z.coerce.number().int().nonnegative();

function number(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = NonNegativeInt.safeParse(value);
  if (!parsed.success || value.trim() === '')
    throw new SimulatorUsageError(`--${flag} must be a whole number >= 0 (got "${value}")`);
  return parsed.data;
}

/** Reads a secret file (first line, trimmed) or creates one with a random value, mode 0600. */
function secretFile(file: string, what: string, create: boolean): string {
  if (fs.existsSync(file)) {
    const value = fs.readFileSync(file, 'utf8').split(/\r?\n/)[0]!.trim();
    if (!value) throw new SimulatorUsageError(`${what} file ${file} is empty`);
    return value;
  }
  if (!create) throw new SimulatorUsageError(`${what} file ${file} does not exist`);
  const value = randomBytes(18).toString('base64url');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

export interface ParsedSimulatorArgs {
  help: boolean;
  options: SimulatorOptions;
  caOut: string | undefined;
  files: { adminPassword: string; controlToken: string };
}

/** Parses the command line into startSimulator options (reading or creating the secret files). */
export function parseSimulatorArgs(argv: string[]): ParsedSimulatorArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        state: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        http: { type: 'boolean' },
        'control-host': { type: 'string' },
        'control-port': { type: 'string' },
        'control-token-file': { type: 'string' },
        'admin-user': { type: 'string' },
        'admin-password-file': { type: 'string' },
        'api-version': { type: 'string' },
        'csr-version': { type: 'string' },
        'demo-node': { type: 'boolean' },
        'hardware-ear-internal': { type: 'boolean' },
        'ca-out': { type: 'string' },
        'cluster-name': { type: 'string' },
        'software-encryption': { type: 'boolean' },
        nodes: { type: 'string' },
        'block-drives': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
        ...Object.fromEntries(Object.keys(DURATION_FLAGS).map((f) => [f, { type: 'string' as const }])),
      },
    }));
  } catch (err) {
    throw new SimulatorUsageError((err as Error).message);
  }
  const str = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const stateFile = path.resolve(str('state') ?? path.join('.data', 'simulator', 'state.json'));
  const durations: DurationsInput = {};
  for (const [flag, key] of Object.entries(DURATION_FLAGS)) {
    const v = number(flag, str(flag));
    if (v !== undefined) durations[key] = v;
  }
  const help = values.help === true;
  const csrVersionText = str('csr-version');
  if (csrVersionText !== undefined && csrVersionText !== '0' && csrVersionText !== '2') {
    throw new SimulatorUsageError(`--csr-version must be 0 or 2 (got "${csrVersionText}")`);
  }
  const passwordFile = path.resolve(str('admin-password-file') ?? `${stateFile}.admin-password`);
  const tokenFile = path.resolve(str('control-token-file') ?? `${stateFile}.control-token`);
  const options: SimulatorOptions = {
    stateFile,
    host: str('host') ?? '127.0.0.1',
    port: number('port', str('port')) ?? 8443,
    http: values.http === true,
    controlHost: str('control-host') ?? '127.0.0.1',
    controlPort: number('control-port', str('control-port')) ?? 8444,
    admin: {
      username: str('admin-user') ?? 'admin',
      password: help ? '' : secretFile(passwordFile, 'admin password', str('admin-password-file') === undefined),
    },
    controlToken: help ? undefined : secretFile(tokenFile, 'control token', str('control-token-file') === undefined),
    apiVersion: str('api-version'),
    csrVersion: csrVersionText === undefined ? undefined : (Number(csrVersionText) as 0 | 2),
    cluster: {
      name: str('cluster-name'),
      softwareEncryptionAtRest: values['software-encryption'] === true,
      nodes: number('nodes', str('nodes')),
      blockDrivesPerNode: number('block-drives', str('block-drives')),
      demoNode: values['demo-node'] === true ? true : undefined,
      hardwareEncryptionAtRest: values['hardware-ear-internal'] === true ? 'internal' : undefined,
    },
    durations,
    log: values.quiet === true ? () => undefined : (line) => process.stderr.write(`[simulator] ${line}\n`),
  };
  if (options.cluster?.nodes === 0) throw new SimulatorUsageError('--nodes must be at least 1');
  return {
    help,
    options,
    caOut: str('ca-out') ?? `${stateFile}.ca.pem`,
    files: { adminPassword: passwordFile, controlToken: tokenFile },
  };
}

/**
 * Runs the simulator until SIGINT/SIGTERM. Resolves after a clean stop; rejects with
 * SimulatorUsageError on bad arguments (the CLI prints it with the usage).
 */
export async function runSimulatorMain(
  argv: string[],
  out: (text: string) => void = (t) => process.stdout.write(t),
): Promise<void> {
  if (argv.some((a) => /^--(clusters|fleet)(=|$)/.test(a))) {
    const { runFleetMain } = await import('./fleet-main');
    return runFleetMain(argv, out);
  }
  const parsed = parseSimulatorArgs(argv);
  if (parsed.help) {
    out(SIMULATOR_USAGE);
    return;
  }
  const sim: RunningSimulator = await startSimulator(parsed.options);
  if (sim.caPem && parsed.caOut) fs.writeFileSync(parsed.caOut, sim.caPem);
  out(
    [
      `Element cluster simulator ${sim.created ? 'created a new cluster' : 'resumed its cluster'} (uuid ${sim.clusterUuid})`,
      `  JSON-RPC:  ${sim.endpoint()}  (user ${parsed.options.admin.username}, password in ${parsed.files.adminPassword})`,
      sim.caPem ? `  HTTPS CA:  ${parsed.caOut}` : '  plain HTTP',
      `  control:   ${sim.controlUrl}/control  (bearer token in ${parsed.files.controlToken})`,
      `  state:     ${sim.stateFile}`,
      '',
    ].join('\n'),
  );
  await untilStopSignal();
  await sim.stop();
  out('Element cluster simulator stopped; state saved.\n');
}
