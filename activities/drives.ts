/**
 * Metadata (slice) drives for the sliceServiceUnhealthy recovery (procedure 4): which drives the
 * fault is about, adding exactly those back once, and what the cluster shows afterwards.
 */
import type { ElementClient } from '../src/element';
import { Failure } from '../workflows/failures';
import { DriveAddAsyncResult, EkmFaultCode, type AsyncHandleInfo, type Drive } from '../src/element/objects';
import { DEFAULT_POLL, pollAsyncJob, type PollSettings } from './async-jobs';
import type { ActivityContext } from './context';
import { refuse, withElement } from './element';
import { currentFaults, keepAlive, type FaultSummary } from './faults';

export interface DriveSummary {
  driveID: number;
  nodeID: number;
  status: string;
  type: string;
}

export interface DriveAddOutcome {
  /** The DriveAdd job to wait for; undefined when every drive was already active. */
  asyncHandle?: number;
  /** True when a DriveAdd for these drives was already running (started before a crash, or by hand). */
  attached: boolean;
  added: number[];
  alreadyActive: number[];
}

export interface SliceFaultStatus {
  cleared: boolean;
  faults: FaultSummary[];
  drives: DriveSummary[];
  at: string;
}

function summarizeDrive(d: Drive): DriveSummary {
  return { driveID: d.driveID, nodeID: d.nodeID, status: d.status, type: d.type };
}

/**
 * The failed metadata drives of the faults, from ListDrives: the drives a fault names; for a fault
 * that names none (it may carry driveIDs [] and driveID 0), the available metadata (volume) drives
 * on its node, or on every node when it names no node either. One such drive is the fault's;
 * several are `ambiguous`: a person picks, the runbook does not add them all.
 */
export function faultDriveCandidates(faults: FaultSummary[], drives: Drive[]): { chosen: Drive[]; ambiguous: Drive[] } {
  const chosen = new Map<number, Drive>();
  const ambiguous = new Map<number, Drive>();
  for (const fault of faults) {
    const named = fault.driveIDs.filter((id) => id !== 0);
    if (named.length > 0) {
      for (const d of drives) if (named.includes(d.driveID) && d.type === 'volume') chosen.set(d.driveID, d);
      continue;
    }
    const pool = drives.filter(
      (d) => d.type === 'volume' && d.status === 'available' && (fault.nodeID === 0 || d.nodeID === fault.nodeID),
    );
    for (const d of pool) (pool.length === 1 ? chosen : ambiguous).set(d.driveID, d);
  }
  for (const id of chosen.keys()) ambiguous.delete(id);
  const sorted = (m: Map<number, Drive>) => [...m.values()].sort((a, b) => a.driveID - b.driveID);
  return { chosen: sorted(chosen), ambiguous: sorted(ambiguous) };
}

/** The metadata drives a fault is about, when that is clear (see faultDriveCandidates). */
export function faultDrives(faults: FaultSummary[], drives: Drive[]): Drive[] {
  return faultDriveCandidates(faults, drives).chosen;
}

/**
 * Why each explicitly requested drive may not be added; empty when all are available metadata
 * drives among `allowed` (the faults' drives and, where the faults name none, the candidates).
 */
export function refusals(requested: number[], drives: Drive[], allowed: Drive[]): string[] {
  const problems: string[] = [];
  for (const id of requested) {
    const drive = drives.find((d) => d.driveID === id);
    if (!drive) problems.push(`drive ${id} does not exist`);
    else if (drive.type !== 'volume') problems.push(`drive ${id} is a ${drive.type} drive, not a metadata (volume) drive`);
    else if (drive.status !== 'available') problems.push(`drive ${id} is ${drive.status}, not available`);
    else if (!allowed.some((d) => d.driveID === id))
      problems.push(`drive ${id} is not a failed metadata drive of a current sliceServiceUnhealthy fault`);
  }
  return problems;
}

const listDrives = (drives: Drive[]) => drives.map((d) => `${d.driveID} (node ${d.nodeID})`).join(', ');

/** A fault that names neither drive nor node may be about these drives: it counts. */
function belongs(fault: FaultSummary, driveIDs: number[], nodeIDs: number[]): boolean {
  if (fault.driveIDs.length > 0) return fault.driveIDs.some((id) => driveIDs.includes(id));
  return fault.nodeID === 0 || nodeIDs.includes(fault.nodeID);
}

async function runningDriveAdd(client: ElementClient, driveIDs: number[]): Promise<number | undefined> {
  const { asyncHandles } = await client.call('ListAsyncResults', { asyncResultTypes: ['DriveAdd'] });
  return runningDriveAddFor(asyncHandles, driveIDs);
}

/** The DriveAdd still running for any of these drives (ListAsyncResults), to wait for instead of adding again. */
export function runningDriveAddFor(asyncHandles: AsyncHandleInfo[], driveIDs: number[]): number | undefined {
  const running = asyncHandles.filter((h) => !h.completed && h.resultType === 'DriveAdd');
  const ours = running.find((h) => {
    const ids = h.data.driveIDs;
    // A running DriveAdd that does not say which drives it adds may be ours: wait for it rather than add twice.
    return !Array.isArray(ids) || ids.some((id) => typeof id === 'number' && driveIDs.includes(id));
  });
  return ours?.asyncResultID;
}

/** What the sliceServiceUnhealthy recovery reads before it adds drives (read-only methods only). */
export interface SliceRecoveryState {
  faults: FaultSummary[];
  drives: Drive[];
  /** ListAsyncResults DriveAdd (a DriveAdd still running is waited for, not repeated). */
  asyncHandles: AsyncHandleInfo[];
}

/** ListClusterFaults; with a sliceServiceUnhealthy fault current, ListDrives and ListAsyncResults (DriveAdd). */
export async function readSliceRecoveryState(client: ElementClient): Promise<SliceRecoveryState> {
  const faults = await currentFaults(client, [EkmFaultCode.sliceServiceUnhealthy]);
  if (faults.length === 0) return { faults, drives: [], asyncHandles: [] };
  const { drives } = await client.call('ListDrives');
  const { asyncHandles } = await client.call('ListAsyncResults', { asyncResultTypes: ['DriveAdd'] });
  return { faults, drives, asyncHandles };
}

export function driveActivities(ctx: ActivityContext) {
  return {
    /**
     * The failed metadata drives of the faults (faultDriveCandidates). When the faults name no
     * drive and several available metadata drives could be theirs, it refuses to guess
     * (DrivesAmbiguous, listing them) so the runbook asks a person. Explicit driveIDs (the
     * runbook's input or a person's answer) are checked against the candidates and refused
     * (DrivesRefused, naming each drive and why) unless every one is one of them; nothing is sent
     * to the cluster in either case.
     */
    async selectFailedMetadataDrives(
      cluster: string,
      input: { faults: FaultSummary[]; driveIDs?: number[] },
    ): Promise<DriveSummary[]> {
      return keepAlive(() =>
        withElement(ctx, cluster, async (client) => {
          const { drives } = await client.call('ListDrives');
          const { chosen, ambiguous } = faultDriveCandidates(input.faults, drives);
          if (input.driveIDs) {
            const problems = refusals(input.driveIDs, drives, [...chosen, ...ambiguous]);
            if (problems.length > 0) {
              throw refuse(
                Failure.DrivesRefused,
                `refusing to add drives that are not the failed metadata drives: ${problems.join('; ')}` +
                  (ambiguous.length > 0 ? `; the candidates are ${listDrives([...chosen, ...ambiguous])}` : ''),
              );
            }
            return drives.filter((d) => input.driveIDs!.includes(d.driveID)).map(summarizeDrive);
          }
          if (ambiguous.length > 0) {
            const also = chosen.length > 0 ? `; the faults name ${listDrives(chosen)}, include those too` : '';
            throw refuse(
              Failure.DrivesAmbiguous,
              `the sliceServiceUnhealthy faults name no drive, and ${ambiguous.length} available metadata drives could be the failed ones: ` +
                `${listDrives(ambiguous)}${also}. Answer change with the drive ids to add (ekm answer <run> change --drives ${[
                  ...chosen,
                  ...ambiguous,
                ]
                  .map((d) => d.driveID)
                  .join(',')}, or fewer), or abort`,
            );
          }
          return chosen.map(summarizeDrive);
        }),
      );
    },

    /**
     * AddDrives for those of the drives still available, at most once: a DriveAdd already running
     * for them is attached to, and drives already active are left alone (a retry after a crash
     * between AddDrives and its answer finds one or the other).
     */
    async ensureDrivesAdded(cluster: string, driveIDs: number[]): Promise<DriveAddOutcome> {
      return keepAlive(() =>
        withElement(ctx, cluster, async (client) => {
          const running = await runningDriveAdd(client, driveIDs);
          if (running !== undefined) return { asyncHandle: running, attached: true, added: [], alreadyActive: [] };
          const { drives } = await client.call('ListDrives');
          const ours = driveIDs.map((id) => drives.find((d) => d.driveID === id));
          const missing = driveIDs.filter((_, i) => !ours[i]);
          if (missing.length > 0) throw refuse(Failure.DrivesRefused, `drives ${missing.join(', ')} no longer exist`);
          const available = ours.filter((d): d is Drive => d?.status === 'available');
          const alreadyActive = ours.filter((d): d is Drive => d?.status === 'active').map((d) => d.driveID);
          if (available.length === 0) return { attached: false, added: [], alreadyActive };
          const { asyncHandle } = await client.call('AddDrives', {
            drives: available.map((d) => ({ driveID: d.driveID, type: 'slice' as const })),
          });
          if (asyncHandle === undefined) throw refuse(Failure.UnexpectedResponse, 'AddDrives answered without an asyncHandle');
          return { asyncHandle, attached: false, added: available.map((d) => d.driveID), alreadyActive };
        }),
      );
    },

    /** Polls the DriveAdd job to its end (history-flat: see pollAsyncJob). */
    async awaitDriveAdd(cluster: string, handle: number, poll: PollSettings = DEFAULT_POLL): Promise<{ driveIDs?: number[] }> {
      return keepAlive(() =>
        withElement(ctx, cluster, async (client) => {
          const result = await pollAsyncJob(client, handle, poll);
          const parsed = DriveAddAsyncResult.safeParse(result);
          return { driveIDs: parsed.success ? parsed.data.driveIDs : undefined };
        }),
      );
    },

    /** Is the sliceServiceUnhealthy fault for these drives gone? With what the cluster shows now. */
    async sliceFaultStatus(cluster: string, driveIDs: number[]): Promise<SliceFaultStatus> {
      return keepAlive(() =>
        withElement(ctx, cluster, async (client) => {
          const { drives } = await client.call('ListDrives');
          const ours = drives.filter((d) => driveIDs.includes(d.driveID));
          const nodeIDs = [...new Set(ours.map((d) => d.nodeID))];
          const faults = (await currentFaults(client, [EkmFaultCode.sliceServiceUnhealthy])).filter((f) =>
            belongs(f, driveIDs, nodeIDs),
          );
          return { cleared: faults.length === 0, faults, drives: ours.map(summarizeDrive), at: new Date().toISOString() };
        }),
      );
    },
  };
}
