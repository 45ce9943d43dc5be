/**
 * Pure questions about the cluster state and the wire shapes of its objects (docs/element-api.md,
 * checked against the vendor SDK's models: every required member present, null-valued keys sent
 * explicitly, certificates with \n line endings).
 */
import { keyProviderDoesNotExist, keyServerDoesNotExist } from './errors';
import type { AsyncRecord, ClusterState, DriveRecord, KeyProviderRecord, KeyRecord, KeyServerRecord } from './state';
import { isoSeconds } from './time';

export type Json = Record<string, unknown>;

export function findKeyServer(state: ClusterState, id: number): KeyServerRecord {
  const server = state.keyServers.find((s) => s.keyServerID === id);
  if (!server) throw keyServerDoesNotExist(id);
  return server;
}

export function findKeyProvider(state: ClusterState, id: number): KeyProviderRecord {
  const provider = state.keyProviders.find((p) => p.keyProviderID === id);
  if (!provider) throw keyProviderDoesNotExist(id);
  return provider;
}

/** The provider's servers in their assignment order. */
export function serversOfProvider(state: ClusterState, provider: KeyProviderRecord): KeyServerRecord[] {
  return provider.keyServerIDs
    .map((id) => state.keyServers.find((s) => s.keyServerID === id))
    .filter((s): s is KeyServerRecord => s !== undefined);
}

/** Running (not yet completed) rekey jobs. */
export function runningRekeys(state: ClusterState): AsyncRecord[] {
  return state.asyncResults.filter((r) => r.job.kind === 'rekey' && r.outcome === undefined);
}

/**
 * Providers whose keys are in use: the hardware EAR key while EAR is not disabled, the SEAR master
 * key, and the new key of a rekey in flight.
 */
export function activeProviderIDs(state: ClusterState): Set<number> {
  const ids = new Set<number>();
  const add = (key: KeyRecord | null | undefined) => {
    if (key?.keyManagementType === 'external' && key.keyProviderID !== undefined) ids.add(key.keyProviderID);
  };
  if (state.ear.state !== 'disabled') add(state.ear.key);
  if (state.sear.enabled) add(state.sear.masterKey);
  for (const record of runningRekeys(state)) if (record.job.kind === 'rekey') add(record.job.newKey);
  return ids;
}

export function isProviderActive(state: ClusterState, id: number): boolean {
  return activeProviderIDs(state).has(id);
}

/** External keys the cluster needs at boot: what it must fetch from the KMIP server to unlock. */
export function externalKeysInUse(state: ClusterState): { key: KeyRecord; purpose: 'hardware' | 'software' }[] {
  const out: { key: KeyRecord; purpose: 'hardware' | 'software' }[] = [];
  if (state.ear.state !== 'disabled' && state.ear.key?.keyManagementType === 'external')
    out.push({ key: state.ear.key, purpose: 'hardware' });
  if (state.sear.enabled && state.sear.masterKey?.keyManagementType === 'external')
    out.push({ key: state.sear.masterKey, purpose: 'software' });
  return out;
}

/**
 * The custom attribute the cluster attaches to each key it creates on the KMIP server: the name
 * x-SolidFire-KeyID-<keyID> is documented (the vendor SDKs' EncryptionKeyInfo); its value is
 * UNCONFIRMED, and the simulator gives it the keyID. Keys carry no KMIP Name.
 */
export function kmipKeyIdAttribute(keyID: string): { name: string; value: string } {
  return { name: `x-SolidFire-KeyID-${keyID}`, value: keyID };
}

// ---------------------------------------------------------------------------------------------
// Wire shapes

export function keyServerJson(state: ClusterState, server: KeyServerRecord): Json {
  const assigned = server.keyProviderID;
  return {
    keyProviderID: assigned,
    keyServerID: server.keyServerID,
    kmipAssignedProviderIsActive: assigned === null ? null : isProviderActive(state, assigned),
    kmipCaCertificate: server.kmipCaCertificate,
    kmipClientCertificate: server.kmipClientCertificate,
    kmipKeyServerHostnames: [...server.kmipKeyServerHostnames],
    kmipKeyServerName: server.kmipKeyServerName,
    kmipKeyServerPort: server.kmipKeyServerPort,
  };
}

/** The KMIP library the cluster's key providers report (a plain string, as on the wire). */
export const KMIP_CAPABILITIES = 'SSL';

export function keyProviderJson(state: ClusterState, provider: KeyProviderRecord): Json {
  return {
    keyProviderID: provider.keyProviderID,
    keyProviderIsActive: isProviderActive(state, provider.keyProviderID),
    keyProviderName: provider.keyProviderName,
    keyServerIDs: [...provider.keyServerIDs],
    kmipCapabilities: KMIP_CAPABILITIES,
  };
}

/** EncryptionKeyInfo: keyProviderID only for external keys. */
export function keyInfoJson(key: KeyRecord): Json {
  const info: Json = {
    keyCreatedTime: isoSeconds(key.createdAt),
    keyID: key.keyID,
    keyManagementType: key.keyManagementType,
  };
  if (key.keyManagementType === 'external' && key.keyProviderID !== undefined) info.keyProviderID = key.keyProviderID;
  return info;
}

/** The keyID recorded answers carry on drives not under a key. */
export const NO_KEY_ID = '00000000-0000-0000-0000-000000000000';

/**
 * A ListDrives entry, with every member recorded answers carry: "None" in driveFailureDetail and
 * driveSecurityFaultReason when there is nothing to say, keyProviderID 0 and an all-zero keyID on
 * drives not under an external key.
 */
export function driveJson(state: ClusterState, drive: DriveRecord): Json {
  const earKey = state.ear.key;
  const keyed = state.ear.state !== 'disabled' && drive.status === 'active' && earKey !== null;
  return {
    attributes: {},
    capacity: drive.capacity,
    chassisSlot: String(drive.slot),
    driveFailureDetail: drive.status === 'failed' && drive.failureDetail ? drive.failureDetail : 'None',
    driveID: drive.driveID,
    driveSecurityFaultReason: 'None',
    keyID: keyed ? earKey.keyID : NO_KEY_ID,
    keyProviderID: keyed && earKey.keyManagementType === 'external' ? (earKey.keyProviderID ?? 0) : 0,
    nodeID: drive.nodeID,
    segmentFileSize: drive.type === 'volume' ? 0 : 960_197_124_096,
    serial: drive.serial,
    slot: drive.slot,
    status: drive.status,
    type: drive.type,
    usableCapacity: drive.type === 'volume' ? 240_057_401_344 : 960_197_124_096,
  };
}

/** GetAsyncResult's result for a record (before any purge). */
export function asyncResultJson(record: AsyncRecord): Json {
  const base: Json = {
    createTime: isoSeconds(record.createTime),
    lastUpdateTime: isoSeconds(record.lastUpdateTime),
    resultType: record.resultType,
  };
  if (!record.outcome) return { ...base, details: asyncDetails(record), status: 'running' };
  if (record.outcome.success) return { ...base, result: record.outcome.result, status: 'complete' };
  return { ...base, error: record.outcome.error, status: 'complete' };
}

/** ListAsyncResults entry. */
export function asyncHandleJson(record: AsyncRecord): Json {
  const outcome = record.outcome;
  return {
    asyncResultID: record.asyncResultID,
    completed: outcome !== undefined,
    createTime: isoSeconds(record.createTime),
    data: outcome === undefined ? asyncDetails(record) : outcome.success ? outcome.result : outcome.error,
    lastUpdateTime: isoSeconds(record.lastUpdateTime),
    resultType: record.resultType,
    success: outcome?.success ?? false,
  };
}

export function rekeyOperationText(job: Extract<AsyncRecord['job'], { kind: 'rekey' }>): string {
  const to =
    job.target.keyManagementType === 'external' ? `external (keyProviderID ${String(job.target.keyProviderID)})` : 'internal';
  return `Rekey software encryption at rest master key: ${job.fromKey.keyManagementType} -> ${to}`;
}

function asyncDetails(record: AsyncRecord): Json {
  const job = record.job;
  if (job.kind === 'rekey') {
    const details: Json = {
      keyToDecommission: keyInfoJson(job.fromKey),
      operation: rekeyOperationText(job),
      state: job.stage,
    };
    if (job.newKey) details.newKey = keyInfoJson(job.newKey);
    return details;
  }
  return { driveIDs: [...job.driveIDs], message: job.kind === 'driveAdd' ? 'Adding drives.' : 'Removing drives.' };
}
