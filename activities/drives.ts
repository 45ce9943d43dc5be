/**
 * Metadata (slice) drives for the sliceServiceUnhealthy recovery (procedure 4): which drives the
 * fault is about, adding exactly those back once, and what the cluster shows afterwards.
 */
import type { ElementClient } from '../src/element';
import { Failure } from '../workflows/failures';
import { DriveAddAsyncResult, EkmFaultCode, type Drive } from '../src/element/objects';
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

/** The metadata drives a fault is about: the ones it names, else the available ones on its node. */
export function faultDrives(faults: FaultSummary[], drives: Drive[]): Drive[] {
  const chosen = new Map<number, Drive>();
  for (const fault of faults) {
    const matches =
      fault.driveIDs.length > 0
        ? drives.filter((d) => fault.driveIDs.includes(d.driveID) && d.type === 'volume')
        : drives.filter((d) => d.nodeID === fault.nodeID && d.type === 'volume' && d.status === 'available');
    for (const d of matches) chosen.set(d.driveID, d);
  }
  return [...chosen.values()].sort((a, b) => a.driveID - b.driveID);
}

/** Why each explicitly requested drive may not be added; empty when all are failed metadata drives. */
export function refusals(requested: number[], drives: Drive[], ofFault: Drive[]): string[] {
  const problems: string[] = [];
  for (const id of requested) {
    const drive = drives.find((d) => d.driveID === id);
    if (!drive) problems.push(`drive ${id} does not exist`);
    else if (drive.type !== 'volume') problems.push(`drive ${id} is a ${drive.type} drive, not a metadata (volume) drive`);
    else if (drive.status !== 'available') problems.push(`drive ${id} is ${drive.status}, not available`);
    else if (!ofFault.some((d) => d.driveID === id))
      problems.push(`drive ${id} is not named by a current sliceServiceUnhealthy fault`);
  }
  return problems;
}

function belongs(fault: FaultSummary, driveIDs: number[], nodeIDs: number[]): boolean {
  return fault.driveIDs.length > 0 ? fault.driveIDs.some((id) => driveIDs.includes(id)) : nodeIDs.includes(fault.nodeID);
}

async function runningDriveAdd(client: ElementClient, driveIDs: number[]): Promise<number | undefined> {
  const { asyncHandles } = await client.call('ListAsyncResults', { asyncResultTypes: ['DriveAdd'] });
  const running = asyncHandles.filter((h) => !h.completed && h.resultType === 'DriveAdd');
  const ours = running.find((h) => {
    const ids = h.data.driveIDs;
    // A running DriveAdd that does not say which drives it adds may be ours: wait for it rather than add twice.
    return !Array.isArray(ids) || ids.some((id) => typeof id === 'number' && driveIDs.includes(id));
  });
  return ours?.asyncResultID;
}

export function driveActivities(ctx: ActivityContext) {
  return {
    /**
     * The failed metadata drives of the faults. Explicit driveIDs are checked against them and
     * refused (non-retryable, naming each drive and why) unless every one is an available
     * metadata drive the fault names; nothing is sent to the cluster in that case.
     */
    async selectFailedMetadataDrives(
      cluster: string,
      input: { faults: FaultSummary[]; driveIDs?: number[] },
    ): Promise<DriveSummary[]> {
      return keepAlive(() =>
        withElement(ctx, cluster, async (client) => {
          const { drives } = await client.call('ListDrives');
          const ofFault = faultDrives(input.faults, drives);
          if (input.driveIDs) {
            const problems = refusals(input.driveIDs, drives, ofFault);
            if (problems.length > 0) {
              throw refuse(
                Failure.DrivesRefused,
                `refusing to add drives that are not the failed metadata drives: ${problems.join('; ')}`,
              );
            }
            return drives.filter((d) => input.driveIDs!.includes(d.driveID)).map(summarizeDrive);
          }
          return ofFault.map(summarizeDrive);
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
