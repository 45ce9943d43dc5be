import type { z } from 'zod';
import {
  AsyncResult,
  ClusterFault,
  ClusterInfo,
  compareApiVersions,
  describeIssues,
  DriveAddAsyncResult,
  Drive,
  EkmFaultCode,
  ElementApiError,
  elementMethods,
  ElementTransportError,
  faultCodeEquals,
  findVersionShortfall,
  hasFaultCode,
  isRetryableElementError,
  KeyProviderKmip,
  KeyServerKmip,
  RekeyMasterKeyAsyncResult,
  type ElementMethodName,
} from '../../src/element';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

/** The problems a schema reports for a value, as the client would word them. */
function problems(schema: z.ZodType, value: unknown): string[] {
  const parsed = schema.safeParse(value, { reportInput: true });
  return parsed.success ? [] : describeIssues(parsed.error.issues, 'response field');
}

describe('KeyServerKmip', () => {
  const unassigned = {
    keyServerID: 11,
    kmipKeyServerName: 'keysecure',
    kmipKeyServerHostnames: ['10.0.0.20'],
    kmipKeyServerPort: 5696,
    kmipCaCertificate: PEM,
    kmipClientCertificate: PEM,
    keyProviderID: null,
    kmipAssignedProviderIsActive: null,
  };

  it('accepts an unassigned server with explicit nulls, as 11.7 sends it', () => {
    const server = KeyServerKmip.parse(unassigned);
    expect(server.keyProviderID).toBeNull();
    expect(server.kmipAssignedProviderIsActive).toBeNull();
    expect(server.kmipKeyServerHostnames).toEqual(['10.0.0.20']);
  });

  it('reads an absent assignment as null, so callers test one value', () => {
    const { keyProviderID: _p, kmipAssignedProviderIsActive: _a, ...withoutAssignment } = unassigned;
    const server = KeyServerKmip.parse(withoutAssignment);
    expect(server.keyProviderID).toBeNull();
    expect(server.kmipAssignedProviderIsActive).toBeNull();
  });

  it('rejects a quoted ID and a missing certificate', () => {
    const { kmipCaCertificate: _ca, ...withoutCa } = unassigned;
    expect(problems(KeyServerKmip, { ...withoutCa, keyProviderID: '3' })).toEqual([
      'response field kmipCaCertificate is required (string)',
      'response field keyProviderID must be number (got "3")',
    ]);
  });
});

describe('KeyProviderKmip', () => {
  it('takes kmipCapabilities as a plain string', () => {
    const provider = KeyProviderKmip.parse({
      keyProviderID: 1,
      keyProviderName: 'ProviderA',
      keyProviderIsActive: false,
      keyServerIDs: [],
      kmipCapabilities: 'SSL',
    });
    expect(provider.kmipCapabilities).toBe('SSL');
    expect(provider.keyServerIDs).toEqual([]);
  });

  it('rejects a kmipCapabilities object', () => {
    expect(
      problems(KeyProviderKmip, {
        keyProviderID: 1,
        keyProviderName: 'ProviderA',
        keyProviderIsActive: true,
        keyServerIDs: [11],
        kmipCapabilities: { fips: true },
      }),
    ).toEqual(['response field kmipCapabilities must be string (got an object)']);
  });
});

describe('GetSoftwareEncryptionAtRestInfo result', () => {
  const schema = elementMethods.GetSoftwareEncryptionAtRestInfo.result;

  it('parses an external master key with a rekey handle', () => {
    const info = schema.parse({
      state: 'enabled',
      version: 1,
      masterKeyInfo: {
        keyCreatedTime: '2021-03-30T21:08:53Z',
        keyID: '9f7e4b5c-0a51-4a4a-9c62-3a2d8f1e1f01',
        keyManagementType: 'external',
        keyProviderID: 2,
      },
      rekeyMasterKeyAsyncResultID: 1,
    });
    expect(info.state).toBe('enabled');
    expect(info.masterKeyInfo?.keyManagementType).toBe('external');
    expect(info.masterKeyInfo?.keyProviderID).toBe(2);
    expect(info.rekeyMasterKeyAsyncResultID).toBe(1);
  });

  it('parses a cluster without SEAR (no master key, no rekey)', () => {
    const info = schema.parse({ state: 'disabled', version: 0 });
    expect(info.masterKeyInfo).toBeUndefined();
  });

  it('does not accept the docs typo "status" for state', () => {
    expect(problems(schema, { status: 'enabled', version: 1 })).toEqual([
      'response field state is required (one of "disabled", "enabled")',
    ]);
  });
});

describe('GetAsyncResult result', () => {
  const times = { createTime: '2024-05-01T10:00:00Z', lastUpdateTime: '2024-05-01T10:05:00Z' };
  const key = (type: 'internal' | 'external', id: string) => ({
    keyManagementType: type,
    keyID: id,
    keyCreatedTime: '2024-05-01T10:00:00Z',
  });

  it('parses a completed rekey, whose result the rekey schema then types', () => {
    const parsed = AsyncResult.parse({
      ...times,
      resultType: 'RekeySoftwareEncryptionAtRestMasterKey',
      status: 'complete',
      result: {
        keyToDecommission: key('internal', 'a1b2c3d4-0000-4000-8000-000000000001'),
        newKey: { ...key('external', 'a1b2c3d4-0000-4000-8000-000000000002'), keyProviderID: 1 },
        operation:
          'Rekeying Master Key. Master Key management being transferred from Internal Key Management to External Key Server',
        state: 'Ready',
      },
    });
    if (parsed.status !== 'complete' || parsed.error !== undefined)
      throw new Error(`expected a successful result, got ${parsed.status}`);
    const rekey = RekeyMasterKeyAsyncResult.parse(parsed.result);
    expect(rekey.state).toBe('Ready');
    expect(rekey.newKey.keyProviderID).toBe(1);
    expect(rekey.keyToDecommission.keyManagementType).toBe('internal');
  });

  it('parses a running job with its details', () => {
    const parsed = AsyncResult.parse({ ...times, resultType: 'DriveAdd', status: 'running', details: { percent: 40 } });
    expect(parsed.status).toBe('running');
    if (parsed.status === 'running') expect(parsed.details).toEqual({ percent: 40 });
  });

  it('parses a failed job, keeping the extra error members', () => {
    const parsed = AsyncResult.parse({
      ...times,
      resultType: 'BulkVolume',
      status: 'complete',
      error: { name: 'xBulkVolumeScriptFailure', message: 'Bulk volume job failed', bvID: 1, volumeID: 34 },
    });
    if (parsed.status !== 'complete' || parsed.error === undefined) throw new Error('expected a failed job');
    expect(parsed.error.name).toBe('xBulkVolumeScriptFailure');
    expect(parsed.error.volumeID).toBe(34);
  });

  it('explains a complete job with neither or both of result and error, and an unknown status', () => {
    const complete = { ...times, resultType: 'DriveAdd', status: 'complete' };
    expect(problems(AsyncResult, complete)).toEqual(['response needs one of result or error']);
    expect(problems(AsyncResult, { ...complete, result: {}, error: { name: 'x', message: 'y' } })).toEqual([
      'response has both error and result; only one may be present',
    ]);
    expect(problems(AsyncResult, { ...complete, status: 'finished', result: {} })).toEqual([
      'response field status must be one of "running", "complete" (got "finished")',
    ]);
  });

  it('needs details on a running job', () => {
    expect(problems(AsyncResult, { ...times, resultType: 'DriveAdd', status: 'running' })).toEqual([
      'response field details is required (object)',
    ]);
  });

  it('accepts any DriveAdd payload shape it does not know (no public sample)', () => {
    expect(DriveAddAsyncResult.parse({ driveIDs: [5, 6], message: 'Drives added.' }).driveIDs).toEqual([5, 6]);
    expect(DriveAddAsyncResult.safeParse({ driveIDs: ['5'] }).success).toBe(false);
  });
});

describe('ListAsyncResults entries', () => {
  it('parses an AsyncHandle entry', () => {
    const result = elementMethods.ListAsyncResults.result.parse({
      asyncHandles: [
        {
          asyncResultID: 47,
          completed: true,
          createTime: '2024-05-01T22:29:19Z',
          data: { driveIDs: [5] },
          lastUpdateTime: '2024-05-01T22:45:43Z',
          resultType: 'DriveAdd',
          success: true,
        },
      ],
    });
    expect(result.asyncHandles[0]!.asyncResultID).toBe(47);
    expect(problems(elementMethods.ListAsyncResults.result, { asyncHandles: [{ asyncResultID: 1 }] })[0]).toBe(
      'response field asyncHandles[0].completed is required (boolean)',
    );
  });
});

describe('ClusterFault', () => {
  const fault = {
    clusterFaultID: 43,
    code: 'KmipServerFault',
    data: null,
    date: '2024-05-01T21:16:43.318893Z',
    details: 'Connection to the external key server failed.',
    driveID: 0,
    driveIDs: [],
    nodeHardwareFaultID: 0,
    nodeID: 0,
    resolved: false,
    resolvedDate: '',
    serviceID: 0,
    severity: 'critical',
    type: 'cluster',
    externalSource: '',
  };

  it('parses a current fault with null data and matches its code case-insensitively', () => {
    const parsed = ClusterFault.parse(fault);
    expect(parsed.resolvedDate).toBe('');
    expect(parsed.data).toBeNull();
    expect(hasFaultCode(parsed, EkmFaultCode.kmipServerFault)).toBe(true);
    expect(hasFaultCode(parsed, EkmFaultCode.kmipCertificateFault, EkmFaultCode.driveFailed)).toBe(false);
    expect(faultCodeEquals('sliceServiceUnhealthy', 'SLICESERVICEUNHEALTHY')).toBe(true);
  });

  it('rejects an unknown severity and a capitalised type', () => {
    expect(problems(ClusterFault, { ...fault, severity: 'fatal', type: 'Cluster' })).toEqual([
      'response field type must be one of "node", "drive", "cluster", "service", "volume" (got "Cluster")',
      'response field severity must be one of "warning", "error", "critical", "bestPractice" (got "fatal")',
    ]);
  });
});

describe('Drive and ClusterInfo', () => {
  const drive = {
    driveID: 5,
    nodeID: 2,
    slot: -1,
    chassisSlot: '',
    serial: 'scsi-SATA_VRFSD3400GNCVMT205581853-part2',
    capacity: 32_000_000_000,
    usableCapacity: 31_000_000_000,
    segmentFileSize: 2_000_000,
    status: 'failed',
    type: 'volume',
    attributes: {},
    driveSecurityFaultReason: 'none',
  };

  it('parses a failed metadata drive and refuses a capitalised status', () => {
    expect(Drive.parse(drive).status).toBe('failed');
    expect(problems(Drive, { ...drive, status: 'Failed' })).toEqual([
      'response field status must be one of "available", "active", "erasing", "failed", "removing" (got "Failed")',
    ]);
  });

  it('passes unknown cluster info fields and types encryptionAtRestState', () => {
    const info = ClusterInfo.parse({
      name: 'cluster-a',
      mvip: '10.0.0.5',
      svip: '10.0.1.5',
      mvipNodeID: 1,
      svipNodeID: 1,
      ensemble: ['10.0.2.1', '10.0.2.2', '10.0.2.3'],
      repCount: 2,
      uniqueID: 'ab12',
      uuid: '6f6e2d4b-6c1a-4c1b-9d52-0f7f6c1e2a33',
      attributes: {},
      encryptionAtRestState: 'enabling',
      softwareEncryptionAtRestState: 'enabled',
      defaultProtectionScheme: 'doubleHelix',
      brandNewField: [1, 2],
    });
    expect(info.encryptionAtRestState).toBe('enabling');
    expect(info.brandNewField).toEqual([1, 2]);
    expect(problems(ClusterInfo, { ...info, encryptionAtRestState: 'Enabled' })[0]).toContain(
      'encryptionAtRestState must be one of',
    );
  });
});

describe('method registry', () => {
  const expected: Record<ElementMethodName, string> = {
    CreatePublicPrivateKeyPair: '11.7',
    GetClientCertificateSignRequest: '11.7',
    CreateKeyServerKmip: '11.7',
    ModifyKeyServerKmip: '11.7',
    DeleteKeyServerKmip: '11.7',
    GetKeyServerKmip: '11.7',
    ListKeyServersKmip: '11.7',
    TestKeyServerKmip: '11.7',
    CreateKeyProviderKmip: '11.7',
    DeleteKeyProviderKmip: '11.7',
    GetKeyProviderKmip: '11.7',
    ListKeyProvidersKmip: '11.7',
    TestKeyProviderKmip: '11.7',
    AddKeyServerToProviderKmip: '11.7',
    RemoveKeyServerFromProviderKmip: '11.7',
    EnableEncryptionAtRest: '5.0',
    DisableEncryptionAtRest: '5.0',
    GetAPI: '1.0',
    GetClusterInfo: '1.0',
    GetSoftwareEncryptionAtRestInfo: '12.3',
    RekeySoftwareEncryptionAtRestMasterKey: '12.3',
    GetAsyncResult: '1.0',
    ListAsyncResults: '9.0',
    ListClusterFaults: '1.0',
    ClearClusterFaults: '1.0',
    ListDrives: '1.0',
    AddDrives: '1.0',
  };

  it('has exactly the methods the runbooks use, with the version each appeared in', () => {
    const actual = Object.fromEntries(Object.entries(elementMethods).map(([name, spec]) => [name, spec.since]));
    expect(actual).toEqual(expected);
  });

  it('answers {} methods with a schema that accepts {} and extra members', () => {
    expect(elementMethods.TestKeyServerKmip.result.parse({})).toEqual({});
    expect(elementMethods.DeleteKeyProviderKmip.result.parse({ unusedParameters: { x: 1 } })).toEqual({
      unusedParameters: { x: 1 },
    });
  });

  it('checks params: AddDrives needs a drive, rekey needs a provider only for External', () => {
    expect(elementMethods.AddDrives.params.safeParse({ drives: [] }).success).toBe(false);
    expect(elementMethods.AddDrives.params.safeParse({ drives: [{ driveID: 5 }, { driveID: 6, type: 'slice' }] }).success).toBe(
      true,
    );
    const rekey = elementMethods.RekeySoftwareEncryptionAtRestMasterKey.params;
    expect(rekey.safeParse({ keyManagementType: 'External', keyProviderID: 1 }).success).toBe(true);
    expect(rekey.safeParse({ keyManagementType: 'Internal', keyProviderID: 1 }).success).toBe(false);
    expect(rekey.safeParse({}).success).toBe(true);
    expect(
      elementMethods.CreateKeyServerKmip.params.safeParse({
        kmipCaCertificate: '/etc/ssl/ca.pem',
        kmipClientCertificate: PEM,
        kmipKeyServerHostnames: ['kms'],
        kmipKeyServerName: 'kms',
      }).success,
    ).toBe(false);
  });

  it('compares versions numerically and finds what a pinned version lacks', () => {
    expect(compareApiVersions('12.10', '12.3')).toBeGreaterThan(0);
    expect(compareApiVersions('9.0', '11.7')).toBeLessThan(0);
    expect(compareApiVersions('12.3', '12.3')).toBe(0);
    expect(findVersionShortfall('ListKeyServersKmip', '11.5', {})).toEqual({ feature: 'the method', requiredVersion: '11.7' });
    expect(findVersionShortfall('EnableEncryptionAtRest', '11.5', { keyProviderID: 1 })).toEqual({
      feature: 'parameter keyProviderID',
      requiredVersion: '11.7',
    });
    expect(findVersionShortfall('EnableEncryptionAtRest', '11.5', {})).toBeUndefined();
    expect(findVersionShortfall('RekeySoftwareEncryptionAtRestMasterKey', '12.3', {})).toBeUndefined();
  });
});

describe('retry classification', () => {
  it('retries busy Element answers and transport faults, nothing else', () => {
    const api = (name: string) => new ElementApiError({ method: 'ListDrives', name, message: 'm', code: 500 });
    for (const busy of [
      'xDBVersionMismatch',
      'xDBConnectionLoss',
      'xNotReadyForIO',
      'xNotPrimary',
      'xSliceNotRegistered',
      'xRpcTimeout',
    ]) {
      expect(isRetryableElementError(api(busy))).toBe(true);
    }
    for (const final of ['xUnknownAccount', 'xInvalidParameter', 'xAPINotPermitted', 'xAsyncHandleDoesNotExist']) {
      expect(isRetryableElementError(api(final))).toBe(false);
    }
    expect(isRetryableElementError(new ElementTransportError('reset', { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryableElementError(new Error('xDBVersionMismatch'))).toBe(false);
  });
});
