/** The recovery runbooks' pure decisions: how a key server failure is classified, which drives a slice fault is about. */
import { faultDrives, refusals } from '../../activities/drives';
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
    expect(refusals([1], drives, [])).toEqual(['drive 1 is not named by a current sliceServiceUnhealthy fault']);
  });
});
