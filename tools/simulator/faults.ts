/**
 * Cluster faults as consequences of conditions. At each refresh (faultRefreshMs, a cluster's ~30 s
 * cadence by default) the conditions that hold are compared
 * with the unresolved faults: a new condition raises a fault (a new clusterFaultID), a condition
 * that no longer holds resolves its fault (resolved true, resolvedDate set), and one that still
 * holds keeps its fault up to date (severity, details). Clearing a current fault that still holds
 * makes it come back with a new ID, as on a real cluster.
 */
import { X509Certificate } from 'node:crypto';
import type { Durations } from './durations';
import type { Json } from './model';
import type { ClusterState, FaultRecord } from './state';
import { isoMicros, nowMicros } from './time';

export type FaultSpec = Omit<FaultRecord, 'clusterFaultID' | 'dateUs' | 'resolvedUs'>;

export const SLICE_SERVICE_DETAILS = 'SolidFire Application cannot communicate with a metadata service.';

/** Drives whose contents need the hardware EAR key while the cluster is locked. */
export function lockedDriveIDs(state: ClusterState): number[] {
  if (state.keyAccess.status !== 'locked') return [];
  const hardwareExternal = state.ear.state !== 'disabled' && state.ear.key?.keyManagementType === 'external';
  return hardwareExternal ? state.drives.filter((d) => d.status === 'active').map((d) => d.driveID) : [];
}

const DAY_MS = 86_400_000;

const notAfterCache = new Map<string, number[]>();

/** notAfter (ms) of each certificate in a PEM bundle; cached, since faults are reconciled every tick. */
function notAfterOf(pem: string): number[] {
  const cached = notAfterCache.get(pem);
  if (cached) return cached;
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const dates: number[] = [];
  for (const block of blocks) {
    try {
      dates.push(Date.parse(new X509Certificate(block).validTo));
    } catch {
      // Validated when stored; nothing to report here.
    }
  }
  if (notAfterCache.size > 200) notAfterCache.clear();
  notAfterCache.set(pem, dates);
  return dates;
}

/** A certificate within durations.certificateFaultWarningMs of its notAfter raises kmipCertificateFault (when a real cluster does is UNCONFIRMED). */
function certificateFaults(state: ClusterState, now: number, warningMs: number, out: Map<string, FaultSpec>): void {
  for (const server of state.keyServers) {
    const checks: { which: 'client' | 'ca'; pem: string; label: string; remedy: string }[] = [
      {
        which: 'client',
        pem: server.kmipClientCertificate,
        label: 'KMIP client certificate',
        remedy:
          'get a new certificate signed from the cluster CSR (GetClientCertificateSignRequest), valid at least 30 more days, and install it with ModifyKeyServerKmip',
      },
      {
        which: 'ca',
        pem: server.kmipCaCertificate,
        label: 'root CA certificate',
        remedy: 'get the renewed root CA certificate, valid at least 30 more days, and install it with ModifyKeyServerKmip',
      },
    ];
    for (const check of checks) {
      const soonest = Math.min(...notAfterOf(check.pem));
      if (!Number.isFinite(soonest) || soonest - now > warningMs) continue;
      const expired = soonest <= now;
      const when = new Date(soonest).toISOString();
      const condition = `kmipCertificateFault:${server.keyServerID}:${check.which}`;
      out.set(condition, {
        condition,
        code: 'kmipCertificateFault',
        type: 'cluster',
        severity: expired ? 'error' : 'warning',
        details: expired
          ? `The ${check.label} of key server '${server.kmipKeyServerName}' (keyServerID ${server.keyServerID}) expired on ${when}; ${check.remedy}.`
          : `The ${check.label} of key server '${server.kmipKeyServerName}' (keyServerID ${server.keyServerID}) expires on ${when} (in ${Math.ceil((soonest - now) / DAY_MS)} days); ${check.remedy}.`,
        nodeID: 0,
        driveIDs: [],
        serviceID: 0,
        data: { keyServerID: server.keyServerID, certificate: check.which, notAfter: when, expired },
      });
    }
  }
}

/** The faults the current state calls for, by condition. */
export function desiredFaults(state: ClusterState, now: number, durations: Durations): Map<string, FaultSpec> {
  const out = new Map<string, FaultSpec>();
  const access = state.keyAccess;
  if (access.status === 'locked' && access.lastError) {
    const prefix =
      access.lastError.category === 'connection'
        ? 'Connection failure'
        : access.lastError.category === 'authentication'
          ? 'Authentication failure'
          : 'Server error';
    const data: Json = {
      keyID: access.lastError.keyID,
      keyServerIDs: access.lastError.keyServerIDs,
      reason: access.lastError.category,
    };
    if (access.lastError.keyProviderID !== undefined) data.keyProviderID = access.lastError.keyProviderID;
    out.set('kmipServerFault', {
      condition: 'kmipServerFault',
      code: 'kmipServerFault',
      type: 'cluster',
      severity: 'error',
      details: `${prefix}: the cluster cannot fetch key ${access.lastError.keyID} from its key server: ${access.lastError.details}`,
      nodeID: 0,
      driveIDs: lockedDriveIDs(state),
      serviceID: 0,
      data,
    });
  }
  for (const incident of state.sliceIncidents) {
    const condition = `sliceServiceUnhealthy:${incident.driveID}`;
    out.set(condition, {
      condition,
      code: 'sliceServiceUnhealthy',
      type: 'service',
      severity: now - incident.raisedAt >= durations.sliceWarningMs ? 'error' : 'warning',
      details: SLICE_SERVICE_DETAILS,
      nodeID: incident.faultNames === 'none' ? 0 : incident.nodeID,
      driveIDs: incident.faultNames === 'drive' ? [incident.driveID] : [],
      serviceID: incident.serviceID,
      data: null,
    });
  }
  certificateFaults(state, now, durations.certificateFaultWarningMs, out);
  const availableByNode = new Map<number, number[]>();
  for (const drive of state.drives) {
    if (drive.status !== 'available') continue;
    availableByNode.set(drive.nodeID, [...(availableByNode.get(drive.nodeID) ?? []), drive.driveID]);
  }
  for (const [nodeID, driveIDs] of availableByNode) {
    const condition = `driveAvailable:${nodeID}`;
    // As recorded on a real cluster: the node and a count, no drive ids (driveIDs [], driveID 0).
    out.set(condition, {
      condition,
      code: 'driveAvailable',
      type: 'drive',
      severity: 'warning',
      details: `Node ID ${nodeID} has ${driveIDs.length} available drive(s).`,
      nodeID,
      driveIDs: [],
      serviceID: 0,
      data: null,
    });
  }
  return out;
}

/**
 * Brings the fault list up to date when the refresh is due (every faultRefreshMs, as a cluster
 * refreshes its faults about every 30 s): until then ListClusterFaults shows what held at the last
 * refresh.
 */
export function refreshFaults(state: ClusterState, now: number, durations: Durations): void {
  if (now - state.faultsRefreshedAt < durations.faultRefreshMs) return;
  reconcileFaults(state, now, durations);
  state.faultsRefreshedAt = now;
}

export function reconcileFaults(state: ClusterState, now: number, durations: Durations): void {
  const desired = desiredFaults(state, now, durations);
  for (const fault of state.faults) {
    if (fault.resolvedUs !== null) continue;
    const spec = desired.get(fault.condition);
    if (!spec) {
      fault.resolvedUs = nowMicros(now);
      continue;
    }
    fault.severity = spec.severity;
    fault.details = spec.details;
    fault.driveIDs = spec.driveIDs;
    fault.data = spec.data;
    desired.delete(fault.condition);
  }
  for (const spec of desired.values()) {
    state.faults.push({ ...spec, clusterFaultID: state.counters.clusterFaultID++, dateUs: nowMicros(now), resolvedUs: null });
  }
}

/**
 * blocksUpgrade per code. driveAvailable: true, as recorded on a real cluster; the others are
 * UNCONFIRMED (the simulator's guess: faults that stop the cluster from serving its keys or data
 * block an upgrade, a certificate nearing expiry does not).
 */
export const BLOCKS_UPGRADE: Readonly<Record<string, boolean>> = {
  driveAvailable: true,
  kmipServerFault: true,
  sliceServiceUnhealthy: true,
  kmipCertificateFault: false,
};

/** A ListClusterFaults entry with every documented member (networkInterface and externalSource "" as recorded). */
export function faultJson(fault: FaultRecord): Json {
  return {
    blocksUpgrade: BLOCKS_UPGRADE[fault.code] ?? false,
    clusterFaultID: fault.clusterFaultID,
    code: fault.code,
    data: fault.data,
    date: isoMicros(fault.dateUs),
    details: fault.details,
    driveID: fault.driveIDs[0] ?? 0,
    driveIDs: [...fault.driveIDs],
    externalSource: '',
    networkInterface: '',
    nodeHardwareFaultID: 0,
    nodeID: fault.nodeID,
    resolved: fault.resolvedUs !== null,
    resolvedDate: fault.resolvedUs === null ? '' : isoMicros(fault.resolvedUs),
    serviceID: fault.serviceID,
    severity: fault.severity,
    type: fault.type,
  };
}
