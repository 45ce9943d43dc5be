/**
 * Cluster faults and the kmipServerFault diagnosis (procedure 3). Everything here only reads or
 * tests: the recovery never creates, changes or rekeys anything on the cluster.
 */
import { Context } from '@temporalio/activity';
import { Failure } from '../workflows/failures';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { ElementApiError, type ElementClient } from '../src/element';
import {
  EkmFaultCode,
  hasFaultCode,
  type ClusterFault,
  type JsonObject,
  type KeyProviderKmip,
  type KeyServerKmip,
} from '../src/element/objects';
import type { ActivityContext } from './context';
import { refuse, withElement } from './element';

/** What a runbook keeps of a fault (in history and progress): small, no secrets. */
export interface FaultSummary {
  clusterFaultID: number;
  code: string;
  type: string;
  severity: string;
  details: string;
  date: string;
  nodeID: number;
  driveIDs: number[];
  serviceID: number;
  data?: JsonObject | null;
}

export type KmipFailureClass = 'unreachable' | 'tls-rejected' | 'key-missing' | 'other';

export interface KeyServerRef {
  keyServerID: number;
  name: string;
  hostnames: string[];
  port: number;
  keyProviderID: number;
}

export interface KeyServerDiagnosis extends KeyServerRef {
  ok: boolean;
  failure?: KmipFailureClass;
  errorName?: string;
  error?: string;
}

export interface KmipDiagnosis {
  at: string;
  /** The current kmipServerFault; undefined once it has resolved. */
  fault?: FaultSummary;
  /** What the fault's own details say is wrong. */
  faultClass?: KmipFailureClass;
  servers: KeyServerDiagnosis[];
  allServersPass: boolean;
}

export interface KmipKeyServers {
  providers: { keyProviderID: number; name: string }[];
  servers: KeyServerRef[];
}

const KEY_MISSING = /item not found|key (is )?(missing|not found|unavailable|destroyed|does not exist)|no such key/i;
const TLS_REJECTED = /certificate|\btls\b|\bssl\b|handshake|authentication|unknown ca|x\.?509|self[- ]signed|permission denied/i;
const UNREACHABLE =
  /connection (refused|reset|failure|timed out)|unreachable|timed out|timeout|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|ETIMEDOUT|getaddrinfo|no route/i;

/**
 * Classifies a key server failure from the Element error name and text (TestKeyServerKmip) or a
 * fault's details ("Connection failure: …", "Authentication failure: …", "Server error: …", the
 * documented sub-cases). Error names for KMIP failures are unconfirmed, so the text decides too.
 */
export function classifyKmipFailure(text: string, errorName?: string): KmipFailureClass {
  const name = errorName?.toLowerCase() ?? '';
  if (KEY_MISSING.test(text)) return 'key-missing';
  if (name.includes('connection') || /^connection failure/i.test(text)) return 'unreachable';
  if (name.includes('authentication') || /^authentication failure/i.test(text)) return 'tls-rejected';
  if (TLS_REJECTED.test(text)) return 'tls-rejected';
  if (UNREACHABLE.test(text)) return 'unreachable';
  return 'other';
}

export function summarizeFault(fault: ClusterFault): FaultSummary {
  return {
    clusterFaultID: fault.clusterFaultID,
    code: fault.code,
    type: fault.type,
    severity: fault.severity,
    details: fault.details,
    date: fault.date,
    nodeID: fault.nodeID,
    driveIDs: fault.driveIDs ?? (fault.driveID ? [fault.driveID] : []),
    serviceID: fault.serviceID,
    data: fault.data,
  };
}

/**
 * Heartbeats every second while fn runs, so a worker that died mid-call is noticed after the
 * activity's heartbeatTimeout instead of its (much longer) startToCloseTimeout.
 */
export async function keepAlive<T>(fn: () => Promise<T>): Promise<T> {
  const context = Context.current();
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), 1000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

export async function currentFaults(client: ElementClient, codes: readonly string[]): Promise<FaultSummary[]> {
  const { faults } = await client.call('ListClusterFaults', { faultTypes: 'current' });
  return faults.filter((f) => !f.resolved && hasFaultCode(f, ...codes)).map(summarizeFault);
}

function numberIn(data: JsonObject | null | undefined, key: string): number | undefined {
  const value = data?.[key];
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

async function testServer(client: ElementClient, server: KeyServerRef): Promise<KeyServerDiagnosis> {
  try {
    await client.call('TestKeyServerKmip', { keyServerID: server.keyServerID });
    return { ...server, ok: true };
  } catch (err) {
    if (!(err instanceof ElementApiError)) throw err;
    return {
      ...server,
      ok: false,
      failure: classifyKmipFailure(err.elementMessage, err.name),
      errorName: err.name,
      error: err.elementMessage,
    };
  }
}

/**
 * The key servers whose keys the cluster cannot fetch (no I/O): those of the provider the fault
 * names, else of every active provider; refuses (NoActiveKeyProvider) when there is none.
 */
export function kmipKeyServersOf(
  cluster: string,
  fault: FaultSummary,
  kmipKeyProviders: KeyProviderKmip[],
  kmipKeyServers: KeyServerKmip[],
): KmipKeyServers {
  const named = numberIn(fault.data, 'keyProviderID');
  const providers = kmipKeyProviders.filter((p) => (named !== undefined ? p.keyProviderID === named : p.keyProviderIsActive));
  if (providers.length === 0) {
    const known = kmipKeyProviders.map((p) => `${p.keyProviderID}${p.keyProviderIsActive ? ' (active)' : ''}`).join(', ');
    throw refuse(
      Failure.NoActiveKeyProvider,
      named !== undefined
        ? `the fault names key provider ${named}, which the cluster does not list (providers: ${known || 'none'})`
        : `no active key provider on cluster ${cluster} (providers: ${known || 'none'}); this fault needs a person`,
    );
  }
  const servers: KeyServerRef[] = [];
  for (const provider of providers) {
    for (const s of kmipKeyServers.filter((k) => k.keyProviderID === provider.keyProviderID)) {
      servers.push({
        keyServerID: s.keyServerID,
        name: s.kmipKeyServerName,
        hostnames: s.kmipKeyServerHostnames,
        port: s.kmipKeyServerPort,
        keyProviderID: provider.keyProviderID,
      });
    }
  }
  return { providers: providers.map((p) => ({ keyProviderID: p.keyProviderID, name: p.keyProviderName })), servers };
}

/** What the kmipServerFault recovery reads before its tests (read-only methods only). */
export interface KmipRecoveryState {
  /** The current kmipServerFault, if any. */
  fault?: FaultSummary;
  providers: KeyProviderKmip[];
  servers: KeyServerKmip[];
}

/** ListClusterFaults; with a kmipServerFault current, ListKeyProvidersKmip and ListKeyServersKmip. */
export async function readKmipRecoveryState(client: ElementClient): Promise<KmipRecoveryState> {
  const [fault] = await currentFaults(client, [EkmFaultCode.kmipServerFault]);
  if (!fault) return { providers: [], servers: [] };
  const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip', {});
  const { kmipKeyServers } = await client.call('ListKeyServersKmip', {});
  return { fault, providers: kmipKeyProviders, servers: kmipKeyServers };
}

export function faultActivities(ctx: ActivityContext) {
  return {
    /** Current (unresolved) faults with one of the codes, compared case-insensitively. */
    async listCurrentFaults(cluster: string, codes: string[]): Promise<FaultSummary[]> {
      return keepAlive(() => withElement(ctx, cluster, (client) => currentFaults(client, codes)));
    },

    /**
     * The key servers whose keys the cluster cannot fetch: those of the provider the fault names,
     * else of every active provider.
     */
    async findKmipKeyServers(cluster: string, fault: FaultSummary): Promise<KmipKeyServers> {
      return keepAlive(() =>
        withElement(ctx, cluster, async (client) => {
          const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip', {});
          const { kmipKeyServers } = await client.call('ListKeyServersKmip', {});
          return kmipKeyServersOf(cluster, fault, kmipKeyProviders, kmipKeyServers);
        }),
      );
    },

    /** TestKeyServerKmip on each server, each failure classified, plus the fault as it stands now. */
    async diagnoseKmipServers(cluster: string, servers: KeyServerRef[]): Promise<KmipDiagnosis> {
      return keepAlive(() =>
        withElement(ctx, cluster, async (client) => {
          const [fault] = await currentFaults(client, [EkmFaultCode.kmipServerFault]);
          const tested: KeyServerDiagnosis[] = [];
          for (const server of servers) tested.push(await testServer(client, server));
          return {
            at: new Date().toISOString(),
            fault,
            faultClass: fault ? classifyKmipFailure(fault.details) : undefined,
            servers: tested,
            allServersPass: tested.every((s) => s.ok),
          };
        }),
      );
    },

    /**
     * One look at the faults (the infrequent-poll pattern): returns once no kmipServerFault is
     * current, else fails retryably so the activity's flat retry policy looks again later.
     */
    async awaitKmipFaultResolved(cluster: string): Promise<void> {
      const faults = await keepAlive(() =>
        withElement(ctx, cluster, (client) => currentFaults(client, [EkmFaultCode.kmipServerFault])),
      );
      if (faults.length > 0) {
        // BENIGN: an expected "not yet", logged at DEBUG rather than as a failed activity each poll.
        throw ApplicationFailure.create({
          message: `kmipServerFault ${faults[0]!.clusterFaultID} is still current: ${faults[0]!.details}`,
          type: Failure.FaultStillPresent,
          category: ApplicationFailureCategory.BENIGN,
        });
      }
    },
  };
}
