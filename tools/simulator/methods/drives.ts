/** ListDrives, AddDrives and RemoveDrives (async), GetDriveHardwareInfo. */
import { z } from 'zod';
import { ElementFault, ErrorNames, invalidParameter } from '../errors';
import { lockedDriveIDs } from '../faults';
import { startDriveJob } from '../jobs';
import { driveJson } from '../model';
import { IntId } from '../params';
import type { ClusterState, DriveRecord } from '../state';
import { defineMethod, type MethodTable } from './types';

function findDrive(state: ClusterState, id: number): DriveRecord {
  const drive = state.drives.find((d) => d.driveID === id);
  if (!drive) throw new ElementFault(ErrorNames.driveDoesNotExist, `Drive ${id} does not exist`);
  return drive;
}

/** A drive already part of a running add or removal. */
function busyJob(state: ClusterState, driveID: number): number | undefined {
  const job = state.asyncResults.find((r) => !r.outcome && r.job.kind !== 'rekey' && r.job.driveIDs.includes(driveID));
  return job?.asyncResultID;
}

export const driveMethods: MethodTable = {
  ListDrives: defineMethod({
    since: '1.0',
    params: {},
    async run(ctx) {
      return ctx.cluster.run((state) => ({
        drives: [...state.drives].sort((a, b) => a.driveID - b.driveID).map((d) => driveJson(state, d)),
      }));
    },
  }),

  /** Only `available` drives; they become `active` when the DriveAdd job completes. */
  AddDrives: defineMethod({
    since: '1.0',
    params: {
      drives: z.array(z.object({ driveID: IntId, type: z.enum(['slice', 'block', 'volume', 'automatic']).optional() })).min(1),
    },
    async run(ctx, p) {
      return ctx.cluster.run((state, now) => {
        const ids: number[] = [];
        p.drives.forEach((entry, i) => {
          if (ids.includes(entry.driveID))
            throw invalidParameter(`drives[${i}].driveID`, `drive ${entry.driveID} is listed twice`);
          const drive = findDrive(state, entry.driveID);
          if (drive.status !== 'available') {
            throw new ElementFault(
              ErrorNames.driveNotAvailable,
              `Drive ${drive.driveID} is not available (status ${drive.status}); only available drives can be added.`,
            );
          }
          const busy = busyJob(state, drive.driveID);
          if (busy !== undefined)
            throw new ElementFault(
              ErrorNames.driveNotAvailable,
              `Drive ${drive.driveID} is already being added (asyncHandle ${busy}).`,
            );
          const wantsVolume = entry.type === 'slice' || entry.type === 'volume';
          if (entry.type !== undefined && entry.type !== 'automatic' && wantsVolume !== (drive.type === 'volume')) {
            throw invalidParameter(
              `drives[${i}].type`,
              `drive ${drive.driveID} is a ${drive.type === 'volume' ? 'metadata (slice)' : 'block'} drive`,
            );
          }
          ids.push(drive.driveID);
        });
        const record = startDriveJob(state, now, 'driveAdd', ids, ctx.cluster.durations.driveAddMs);
        return { asyncHandle: record.asyncResultID };
      });
    },
  }),

  /** Only `active` drives; `removing` until the DriveRemoval job completes, then `available`. */
  RemoveDrives: defineMethod({
    since: '1.0',
    params: { drives: z.array(IntId).min(1) },
    async run(ctx, p) {
      return ctx.cluster.run((state, now) => {
        const drives = p.drives.map((id) => findDrive(state, id));
        for (const drive of drives) {
          if (drive.status !== 'active') {
            throw new ElementFault(
              ErrorNames.driveNotActive,
              `Drive ${drive.driveID} is not active (status ${drive.status}); only active drives can be removed.`,
            );
          }
        }
        for (const drive of drives) drive.status = 'removing';
        const record = startDriveJob(
          state,
          now,
          'driveRemoval',
          drives.map((d) => d.driveID),
          ctx.cluster.durations.driveRemoveMs,
        );
        return { asyncHandle: record.asyncResultID };
      });
    },
  }),

  /** Security flags show whether the drive is locked (waiting for its key from the KMIP server). */
  GetDriveHardwareInfo: defineMethod({
    since: '1.0',
    params: { driveID: IntId },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const drive = findDrive(state, p.driveID);
        const securityEnabled = state.ear.state === 'enabled' || state.ear.state === 'disabling';
        return {
          driveHardwareInfo: {
            description: drive.type === 'volume' ? 'ATA Drive (metadata)' : 'ATA Drive',
            dev: `8:${drive.slot + 1}`,
            devpath: `/dev/disk/by-path/pci-0000:00:1f.2-ata-${drive.slot + 2}`,
            driveSecurityAtMaximum: false,
            driveSecurityFrozen: false,
            driveSecurityLocked: lockedDriveIDs(state).includes(drive.driveID),
            logicalname: `/dev/sd${String.fromCharCode(98 + Math.max(0, drive.slot))}`,
            product: drive.type === 'volume' ? 'VRFSD3400GNCVMT205' : 'SAMSUNG MZ7LM960HCHP',
            scsiCompatID: drive.serial,
            securityFeatureEnabled: securityEnabled,
            securityFeatureSupported: true,
            serial: drive.serial,
            size: drive.capacity,
            uuid: `00000000-0000-4000-8000-${String(drive.driveID).padStart(12, '0')}`,
            version: 'GXM1103Q',
          },
        };
      });
    },
  }),
};
