/**
 * The client's schemas accept what real clusters were recorded answering (docs/element-api.md,
 * evidence table): drives not under external keys with "None" strings, keyProviderID 0 and an
 * all-zero keyID; faults with blocksUpgrade, networkInterface and externalSource, and a
 * driveAvailable fault that names no drive. The fixtures are built here from the documented
 * member lists, with our own values; only the shapes follow the recordings.
 */
import type { z } from 'zod';
import { ClusterFault, describeIssues, Drive, elementMethods } from '../../src/element';

const ZERO_KEY_ID = '00000000-0000-0000-0000-000000000000';

function problems(schema: z.ZodType, value: unknown, subject: 'response field' | 'parameter' = 'response field'): string[] {
  const parsed = schema.safeParse(value, { reportInput: true });
  return parsed.success ? [] : describeIssues(parsed.error.issues, subject);
}

/** A ListDrives entry with every documented member. */
function drive(overrides: Record<string, unknown> = {}) {
  return {
    attributes: {},
    capacity: 480_103_981_056,
    chassisSlot: '3',
    driveFailureDetail: 'None',
    driveID: 17,
    driveSecurityFaultReason: 'None',
    keyID: ZERO_KEY_ID,
    keyProviderID: 0,
    nodeID: 3,
    segmentFileSize: 10_485_760,
    serial: 'scsi-SATA_EKMTEST0000000017',
    slot: 3,
    status: 'active',
    type: 'block',
    usableCapacity: 480_103_981_056,
    ...overrides,
  };
}

/** A ListClusterFaults entry with every documented member. */
function fault(overrides: Record<string, unknown> = {}) {
  return {
    blocksUpgrade: true,
    clusterFaultID: 311,
    code: 'driveAvailable',
    data: null,
    date: '2026-03-02T08:15:42.123456Z',
    details: 'Node ID 3 has 2 available drive(s).',
    driveID: 0,
    driveIDs: [],
    externalSource: '',
    networkInterface: '',
    nodeHardwareFaultID: 0,
    nodeID: 3,
    resolved: false,
    resolvedDate: '',
    serviceID: 0,
    severity: 'warning',
    type: 'drive',
    ...overrides,
  };
}

describe('ListDrives entries', () => {
  it('accepts a drive not under external keys: "None" strings, keyProviderID 0, an all-zero keyID', () => {
    const parsed = Drive.parse(drive());
    expect(parsed).toMatchObject({
      driveFailureDetail: 'None',
      driveSecurityFaultReason: 'None',
      keyProviderID: 0,
      keyID: ZERO_KEY_ID,
    });
  });

  it.each(['volume', 'block', 'unknown'])('accepts type %s', (type) => {
    expect(problems(Drive, drive({ type }))).toEqual([]);
  });

  it('refuses slice as a ListDrives type (it is an AddDrives input only), naming the field', () => {
    expect(problems(Drive, drive({ type: 'slice' }))).toEqual([
      'response field type must be one of "volume", "block", "unknown" (got "slice")',
    ]);
  });

  it('refuses a negative keyProviderID and a numeric keyID, naming each field', () => {
    expect(problems(Drive, drive({ keyProviderID: -1, keyID: 0 }))).toEqual([
      'response field keyProviderID must be at least 0 (got -1)',
      'response field keyID must be string (got 0)',
    ]);
  });
});

describe('ListClusterFaults entries', () => {
  it('accepts a driveAvailable fault that names no drive (driveIDs [], driveID 0) with blocksUpgrade', () => {
    const parsed = ClusterFault.parse(fault());
    expect(parsed).toMatchObject({ code: 'driveAvailable', driveID: 0, driveIDs: [], blocksUpgrade: true });
    expect([parsed.networkInterface, parsed.externalSource]).toEqual(['', '']);
  });

  it.each(['warning', 'error', 'critical', 'bestPractice'])('accepts severity %s', (severity) => {
    expect(problems(ClusterFault, fault({ severity }))).toEqual([]);
  });

  it.each(['kmipServerFault', 'kmipCertificateFault', 'sliceServiceUnhealthy'])('accepts code %s with its members', (code) => {
    expect(problems(ClusterFault, fault({ code, type: 'cluster', blocksUpgrade: false }))).toEqual([]);
  });

  it('refuses blocksUpgrade as a string, naming the field', () => {
    expect(problems(ClusterFault, fault({ blocksUpgrade: 'true' }))).toEqual([
      'response field blocksUpgrade must be boolean (got "true")',
    ]);
  });
});

describe('AddDrives params', () => {
  const params = elementMethods.AddDrives.params;

  it.each(['slice', 'block', 'volume', 'automatic'])('accepts the input type %s', (type) => {
    expect(problems(params, { drives: [{ driveID: 12, type }] }, 'parameter')).toEqual([]);
  });

  it('refuses unknown (a ListDrives value, not an input), naming the drive', () => {
    expect(problems(params, { drives: [{ driveID: 12, type: 'unknown' }] }, 'parameter')).toEqual([
      'parameter drives[0].type must be one of "slice", "block", "volume", "automatic" (got "unknown")',
    ]);
  });
});
