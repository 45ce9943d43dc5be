/**
 * The Element cluster simulator, in-process: `startSimulator(options)` starts the JSON-RPC
 * endpoint and the control API and returns a handle to stop them. The runbooks never import
 * this; they talk to it over HTTP like to a real cluster. README.md in this folder has the whole
 * story (routes, errors, durations, what is UNCONFIRMED).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CallLog } from './call-log';
import { SimulatedCluster } from './cluster';
import { ControlApi } from './control';
import { SimulatorControlClient } from './control-client';
import { createTlsIdentity, DEFAULT_CSR_VERSION, type CsrVersion } from './crypto';
import { resolveDurations, type Durations, type DurationsInput } from './durations';
import { JsonRpcFrontEnd, type AdminAccount } from './server';
import { DEFAULT_API_VERSION, isKnownVersion } from './versions';

export interface SimulatorClusterOptions {
  name?: string;
  /** The CreateCluster enableSoftwareEncryptionAtRest flag (default false). */
  softwareEncryptionAtRest?: boolean;
  /** Default 4. */
  nodes?: number;
  /** Block drives per node besides its metadata drive (default 4). */
  blockDrivesPerNode?: number;
  /** An Element demo VM: EnableEncryptionAtRest answers xAPINotPermitted "Encryption is not supported on demo nodes." (default false). */
  demoNode?: boolean;
  /** Hardware encryption at rest at creation: 'internal' enables it with the cluster's internal key (default 'disabled'). */
  hardwareEncryptionAtRest?: 'disabled' | 'internal';
  mvip?: string;
  svip?: string;
}

export interface SimulatorOptions {
  /** The state file. Default: state.json in a new temporary folder. */
  stateFile?: string;
  /** Listen address of the JSON-RPC endpoint (default 127.0.0.1) and port (default 0: any free port). */
  host?: string;
  port?: number;
  /** Listen address of the control API (default 127.0.0.1) and port (default 0). */
  controlHost?: string;
  controlPort?: number;
  /** Serve JSON-RPC over plain HTTP instead of HTTPS. */
  http?: boolean;
  /** The cluster admin account (HTTP basic auth). */
  admin: AdminAccount;
  /** Bearer token of the control API (default: 32 random bytes, hex). */
  controlToken?: string;
  /** The cluster's current API version (default 12.3); endpoints up to it are served. */
  apiVersion?: string;
  /** The version field of the CSRs the cluster makes: 2 (default) as a real 11.7 cluster, or 0 as PKCS#10 requires. */
  csrVersion?: CsrVersion;
  /** How the cluster is created. Ignored when the state file already exists. */
  cluster?: SimulatorClusterOptions;
  durations?: DurationsInput;
  /** Extra names for the HTTPS certificate (localhost, 127.0.0.1 and ::1 are always in it). */
  tlsNames?: { dns?: string[]; ips?: string[] };
  /** An HTTPS identity to use when the state has none yet (a fleet shares one CA and certificate; default: a new one). */
  tls?: { caPem: string; certPem: string; keyPem: string };
  /** The call log file; default `<stateFile>.calls.jsonl`; false keeps it in memory only. */
  callLogFile?: string | false;
  log?: (line: string) => void;
}

export interface RunningSimulator {
  /** Base URL of the cluster, e.g. https://127.0.0.1:40123 */
  readonly url: string;
  readonly port: number;
  /** The JSON-RPC endpoint URL of a version (default: the current version). */
  endpoint(version?: string): string;
  readonly apiVersion: string;
  /** PEM of the CA that issued the HTTPS certificate; undefined with plain HTTP. */
  readonly caPem: string | undefined;
  readonly controlUrl: string;
  readonly controlToken: string;
  readonly control: SimulatorControlClient;
  readonly stateFile: string;
  readonly callLogFile: string | undefined;
  /** True when this start created the cluster (no state file existed). */
  readonly created: boolean;
  readonly clusterUuid: string;
  readonly durations: Durations;
  stop(): Promise<void>;
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function urlHost(host: string): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return net.isIPv6(h) ? `[${h}]` : h;
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const apiVersion = options.apiVersion ?? DEFAULT_API_VERSION;
  if (!isKnownVersion(apiVersion)) throw new Error(`unknown Element API version ${apiVersion}`);
  if (!options.admin.username || !options.admin.password) throw new Error('the admin account needs a username and a password');
  const csrVersion = options.csrVersion ?? DEFAULT_CSR_VERSION;
  if (csrVersion !== 0 && csrVersion !== 2) throw new Error(`csrVersion must be 0 or 2 (got ${String(csrVersion)})`);
  const stateFile = path.resolve(
    options.stateFile ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'element-sim-')), 'state.json'),
  );
  fs.mkdirSync(path.dirname(stateFile), { recursive: true });
  const log = options.log ?? (() => undefined);
  const durations = resolveDurations(options.durations);
  const host = options.host ?? '127.0.0.1';
  const c = options.cluster ?? {};
  const { cluster, created } = SimulatedCluster.open(
    stateFile,
    {
      name: c.name ?? 'sim-cluster',
      softwareEncryptionAtRest: c.softwareEncryptionAtRest ?? false,
      demoNode: c.demoNode ?? false,
      hardwareEncryptionAtRest: c.hardwareEncryptionAtRest ?? 'disabled',
      nodeCount: c.nodes ?? 4,
      blockDrivesPerNode: c.blockDrivesPerNode ?? 4,
      mvip: c.mvip ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host),
      svip: c.svip ?? '10.117.64.100',
    },
    { apiVersion, csrVersion, durations, log },
  );

  if (!created && options.cluster && Object.values(options.cluster).some((v) => v !== undefined)) {
    log(`cluster creation options ignored: ${stateFile} already holds a cluster`);
  }

  let caPem: string | undefined;
  let tls: { certPem: string; keyPem: string } | undefined;
  if (!options.http) {
    const existing = await cluster.run((state) => state.tls);
    const identity =
      existing ??
      options.tls ??
      (await createTlsIdentity({
        dns: ['localhost', ...(options.tlsNames?.dns ?? [])],
        ips: [
          '127.0.0.1',
          '::1',
          ...(options.tlsNames?.ips ?? []),
          ...(net.isIP(host) && host !== '0.0.0.0' && host !== '::' ? [host] : []),
        ],
      }));
    if (!existing) await cluster.run((state) => void (state.tls = identity));
    caPem = identity.caPem;
    tls = identity;
  }

  const callLogFile = options.callLogFile === false ? undefined : (options.callLogFile ?? `${stateFile}.calls.jsonl`);
  const callLog = new CallLog(callLogFile);
  const frontEnd = new JsonRpcFrontEnd(cluster, callLog, options.admin);
  const rpcServer: http.Server = tls
    ? https.createServer({ cert: tls.certPem, key: tls.keyPem }, frontEnd.handle)
    : http.createServer(frontEnd.handle);
  const controlToken = options.controlToken ?? randomBytes(32).toString('hex');
  const controlApi = new ControlApi(cluster, callLog, controlToken);
  const controlServer = http.createServer(controlApi.handle);

  let port: number;
  let controlPort: number;
  let binding = '--port';
  try {
    port = await listen(rpcServer, options.port ?? 0, host);
    binding = '--control-port';
    controlPort = await listen(controlServer, options.controlPort ?? 0, options.controlHost ?? '127.0.0.1');
  } catch (err) {
    rpcServer.close();
    controlServer.close();
    await cluster.stop();
    // Said with the flag that chose the port (the control API has its own, 8444 by default).
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new Error(`${binding}: ${(err as NodeJS.ErrnoException & { port?: number }).port ?? ''} is in use (choose another port, or 0 for any free one)`);
    throw err;
  }
  cluster.start();
  const url = `${tls ? 'https' : 'http'}://${urlHost(host)}:${port}`;
  const controlUrl = `http://${urlHost(options.controlHost ?? '127.0.0.1')}:${controlPort}`;
  const { uuid: clusterUuid, name: clusterName } = await cluster.run((state) => state.cluster);
  // The name first: one process may serve many clusters (ekm simulator --clusters N).
  log(
    `Element simulator ${created ? 'created' : 'resumed'} cluster ${clusterName} (${clusterUuid}): ${url}/json-rpc/${apiVersion}, control ${controlUrl}`,
  );

  let stopped = false;
  return {
    url,
    port,
    endpoint: (version = apiVersion) => `${url}/json-rpc/${version}`,
    apiVersion,
    caPem,
    controlUrl,
    controlToken,
    control: new SimulatorControlClient(controlUrl, controlToken),
    stateFile,
    callLogFile,
    created,
    clusterUuid,
    durations,
    async stop() {
      if (stopped) return;
      stopped = true;
      frontEnd.dropHeldRequests();
      await Promise.all([closeServer(rpcServer), closeServer(controlServer)]);
      await cluster.stop();
    },
  };
}

export { kmipKeyIdAttribute, NO_KEY_ID } from './model';
export { DEMO_NODE_MESSAGE } from './methods/encryption';
export { createTlsIdentity, DEFAULT_CSR_VERSION, type CsrVersion } from './crypto';
export { SimulatorControlClient, ControlApiError } from './control-client';
export type { CallRecordJson } from './control-client';
export type { Durations, DurationsInput } from './durations';
export { ErrorNames } from './errors';
export type { ClusterState } from './state';
