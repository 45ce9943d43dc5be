/**
 * The recovery runbooks' pure decisions: how a key server failure is classified, which drives a
 * slice fault is about (and when that is for a person to say), and the answer that says it.
 */
import { faultDriveCandidates, faultDrives, refusals } from '../../activities/drives';
import { buildAnswer } from '../../src/cli/commands/runs';
import { CliError } from '../../src/cli/exit-codes';
import { answerUpdate } from '../../workflows/contract';
import { classifyKmipFailure, type FaultSummary } from '../../activities/faults';
import type { Drive } from '../../src/element/objects';

describe('classifyKmipFailure', () => {
  it.each([
    [
      'xKmipConnectionFailure',
      "TestKeyServerKmip on key server 'k' (keyServerID 8): 127.0.0.1:5696: connection refused",
      'unreachable',
    ],
    [
      'xKmipAuthenticationFailure',
      "key server 'k': the KMIP client certificate does not match the cluster's private key",
      'tls-rejected',
    ],
    [
      'xKmipServerError',
      'KMIP server rejected the Get request: Item Not Found (0x01): Could not locate object: 1',
      'key-missing',
    ],
    ['xUnknownFailure', 'TLS handshake failed: unable to verify the first certificate', 'tls-rejected'],
    ['xUnknownFailure', 'connect ETIMEDOUT 10.0.0.9:5696', 'unreachable'],
    ['xUnknownFailure', 'getaddrinfo ENOTFOUND kms.example.test', 'unreachable'],
    ['xKmipServerError', 'KMIP server answered Operation Failed: internal error', 'other'],
  ])('%s "%s" -> %s', (name, text, expected) => {
    expect(classifyKmipFailure(text, name)).toBe(expected);
  });

  it.each([
    [
      'Connection failure: the cluster cannot fetch key 9b93 from its key server: fetching key 1: connection refused',
      'unreachable',
    ],
    ['Authentication failure: the cluster cannot fetch key 9b93 from its key server: certificate rejected', 'tls-rejected'],
    ['Server error: the cluster cannot fetch key 9b93 from its key server: Item Not Found (0x01)', 'key-missing'],
    ['Server error: the key server is in maintenance', 'other'],
  ])('fault details "%s" -> %s', (details, expected) => {
    expect(classifyKmipFailure(details)).toBe(expected);
  });
});

describe('which drives a sliceServiceUnhealthy fault is about', () => {
  const drive = (driveID: number, nodeID: number, type: Drive['type'], status: Drive['status']): Drive =>
    ({
      driveID,
      nodeID,
      type,
      status,
      slot: -1,
      chassisSlot: '',
      serial: `s${driveID}`,
      capacity: 1,
      usableCapacity: 1,
      segmentFileSize: 1,
      attributes: {},
    }) as Drive;
  const drives = [
    drive(1, 1, 'volume', 'available'),
    drive(2, 1, 'block', 'active'),
    drive(3, 2, 'volume', 'active'),
    drive(4, 2, 'block', 'available'),
  ];
  const fault = (over: Partial<FaultSummary>): FaultSummary => ({
    clusterFaultID: 9,
    code: 'sliceServiceUnhealthy',
    type: 'service',
    severity: 'warning',
    details: '',
    date: '',
    nodeID: 1,
    driveIDs: [1],
    serviceID: 5,
    ...over,
  });

  it('takes the metadata drives the fault names, else the available metadata drives on its node', () => {
    expect(faultDrives([fault({ driveIDs: [1] })], drives).map((d) => d.driveID)).toEqual([1]);
    expect(faultDrives([fault({ driveIDs: [], nodeID: 1 })], drives).map((d) => d.driveID)).toEqual([1]);
    // Node 2's metadata drive is active and its available drive is a block drive: nothing to add there.
    expect(faultDrives([fault({ driveIDs: [], nodeID: 2 })], drives)).toEqual([]);
  });

  it('refuses every requested drive that is not an available metadata drive of the fault, saying why', () => {
    const ofFault = faultDrives([fault({})], drives);
    expect(refusals([1], drives, ofFault)).toEqual([]);
    expect(refusals([1, 2, 3, 4, 99], drives, ofFault)).toEqual([
      'drive 2 is a block drive, not a metadata (volume) drive',
      'drive 3 is active, not available',
      'drive 4 is a block drive, not a metadata (volume) drive',
      'drive 99 does not exist',
    ]);
    expect(refusals([1], drives, [])).toEqual([
      'drive 1 is not a failed metadata drive of a current sliceServiceUnhealthy fault',
    ]);
  });

  describe('a fault that names no drive (driveIDs [], driveID 0)', () => {
    // Three nodes with a failed metadata drive each, back to available; node 4's is healthy.
    const cluster = [
      drive(11, 1, 'volume', 'available'),
      drive(12, 2, 'volume', 'available'),
      drive(13, 3, 'volume', 'available'),
      drive(14, 4, 'volume', 'active'),
      drive(21, 1, 'block', 'available'),
    ];
    const ids = (list: Drive[]) => list.map((d) => d.driveID);

    it('on a node with one available metadata drive: that drive, nothing to ask', () => {
      const result = faultDriveCandidates([fault({ driveIDs: [], nodeID: 2 })], cluster);
      expect([ids(result.chosen), ids(result.ambiguous)]).toEqual([[12], []]);
    });

    it('naming no node either: every available metadata drive is a candidate, none is chosen', () => {
      const result = faultDriveCandidates([fault({ driveIDs: [], nodeID: 0 })], cluster);
      expect([ids(result.chosen), ids(result.ambiguous)]).toEqual([[], [11, 12, 13]]);
      expect(faultDrives([fault({ driveIDs: [], nodeID: 0 })], cluster)).toEqual([]);
    });

    it('a drive another fault names is chosen, not a candidate', () => {
      const result = faultDriveCandidates([fault({ driveIDs: [13] }), fault({ driveIDs: [], nodeID: 0 })], cluster);
      expect([ids(result.chosen), ids(result.ambiguous)]).toEqual([[13], [11, 12]]);
    });

    it('a chosen id among the candidates passes; one that is not is refused, saying why', () => {
      const { chosen, ambiguous } = faultDriveCandidates([fault({ driveIDs: [], nodeID: 0 })], cluster);
      expect(refusals([11, 13], cluster, [...chosen, ...ambiguous])).toEqual([]);
      expect(refusals([14, 21], cluster, [...chosen, ...ambiguous])).toEqual([
        'drive 14 is active, not available',
        'drive 21 is a block drive, not a metadata (volume) drive',
      ]);
    });
  });
});

describe("the answer to the slice recovery's question", () => {
  it('ekm answer … change --drives 12,13 gives the drive ids, which the contract accepts on their own', () => {
    const answer = buildAnswer('change', { drives: '12, 13', by: 'on-call' });
    expect(answer).toEqual({ action: 'change', by: 'on-call', driveIDs: [12, 13] });
    expect(answerUpdate.argument.safeParse(answer).success).toBe(true);
  });

  it('refuses what is not a drive id, naming --drives', () => {
    expect(() => buildAnswer('change', { drives: '12,x13' })).toThrow(
      new CliError('--drives: "x13" is not a drive id (give ids like 12,13)', 2),
    );
    expect(() => buildAnswer('change', { drives: ',' })).toThrow(/^change: --drives: must be a non-empty list of drive ids$/);
  });

  it('a change with nothing in it names every field it could carry', () => {
    const parsed = answerUpdate.argument.safeParse({ action: 'change' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe(
      'give at least one of hostnames, port, kmipCaCertificate, clientCertificate, driveIDs',
    );
  });
});
