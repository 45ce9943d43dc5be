/**
 * Zod schemas for the objects the Element JSON-RPC API returns (see docs/element-api.md).
 *
 * Response objects are loose: fields a newer Element release adds pass through untouched, while a
 * missing required field or a wrong type fails. This module imports only zod so workflow code can
 * use its types and pure helpers.
 */
import { z } from 'zod';

/** A JSON object whose members we do not model (attributes, fault data, async details). */
export const JsonObject = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof JsonObject>;

/** Cluster-assigned numeric identifier (keyServerID, keyProviderID, driveID, asyncHandle...). */
export const ElementId = z.int().nonnegative();

/**
 * A field that is null when the object is not assigned to anything. Real clusters send the key
 * with an explicit null; the SDK marks it optional, so an absent key reads as null too.
 */
function nullWhenUnassigned<T extends z.ZodType>(schema: T) {
  return schema.nullable().default(null);
}

// ---------------------------------------------------------------------------------------------
// KMIP key servers and key providers (Element 11.7+)

export const KeyServerKmip = z.looseObject({
  keyServerID: ElementId,
  kmipKeyServerName: z.string(),
  kmipKeyServerHostnames: z.array(z.string()),
  kmipKeyServerPort: z.int(),
  /** PEM root CA(s) of the external key server; several CAs are concatenated. */
  kmipCaCertificate: z.string(),
  /** PEM certificate the cluster's KMIP client presents (signed from the cluster's CSR). */
  kmipClientCertificate: z.string(),
  keyProviderID: nullWhenUnassigned(ElementId),
  kmipAssignedProviderIsActive: nullWhenUnassigned(z.boolean()),
});
export type KeyServerKmip = z.infer<typeof KeyServerKmip>;

export const KeyProviderKmip = z.looseObject({
  keyProviderID: ElementId,
  keyProviderName: z.string(),
  /** True while keys this provider created are in use (after EnableEncryptionAtRest or a SEAR rekey to it). */
  keyProviderIsActive: z.boolean(),
  keyServerIDs: z.array(ElementId),
  /** Free text describing the KMIP library (e.g. "SSL"); a plain string, not an object. */
  kmipCapabilities: z.string(),
});
export type KeyProviderKmip = z.infer<typeof KeyProviderKmip>;

// ---------------------------------------------------------------------------------------------
// Encryption at rest

export const KeyManagementType = z.enum(['internal', 'external']);
export type KeyManagementType = z.infer<typeof KeyManagementType>;

export const EncryptionKeyInfo = z.looseObject({
  keyManagementType: KeyManagementType,
  /** The cluster's own key UUID (for KMIP keys: attribute x-SolidFire-KeyID-<keyID>, not the KMIP unique id). */
  keyID: z.string().optional(),
  /** Only present for external keys. */
  keyProviderID: ElementId.optional(),
  keyCreatedTime: z.string().optional(),
});
export type EncryptionKeyInfo = z.infer<typeof EncryptionKeyInfo>;

/** Hardware (SED) encryption at rest, as GetClusterInfo reports it; lowercase on the wire. */
export const EncryptionAtRestState = z.enum(['enabling', 'enabled', 'disabling', 'disabled']);
export type EncryptionAtRestState = z.infer<typeof EncryptionAtRestState>;

export const SoftwareEncryptionAtRestState = z.enum(['disabled', 'enabled']);
export type SoftwareEncryptionAtRestState = z.infer<typeof SoftwareEncryptionAtRestState>;

export const SoftwareEncryptionAtRestInfo = z.looseObject({
  state: SoftwareEncryptionAtRestState,
  /** Bumps each time SEAR is enabled. */
  version: z.int(),
  masterKeyInfo: EncryptionKeyInfo.optional(),
  /** Handle of the latest master-key rekey, while the cluster still holds its result. */
  rekeyMasterKeyAsyncResultID: ElementId.optional(),
});
export type SoftwareEncryptionAtRestInfo = z.infer<typeof SoftwareEncryptionAtRestInfo>;

export const SearRekeyMasterKeyState = z.enum([
  'Ready',
  'CreateNewMasterKey',
  'RewrapDataEncryptionKeys',
  'DecommissionOldMasterKey',
]);
export type SearRekeyMasterKeyState = z.infer<typeof SearRekeyMasterKeyState>;

/** GetAsyncResult `result` of a completed RekeySoftwareEncryptionAtRestMasterKey (resultType of the same name). */
export const RekeyMasterKeyAsyncResult = z.looseObject({
  keyToDecommission: EncryptionKeyInfo,
  newKey: EncryptionKeyInfo,
  /** Free text. */
  operation: z.string(),
  state: SearRekeyMasterKeyState,
});
export type RekeyMasterKeyAsyncResult = z.infer<typeof RekeyMasterKeyAsyncResult>;

// ---------------------------------------------------------------------------------------------
// Cluster

/** GetClusterInfo `clusterInfo`: the fields the runbooks rely on; every other field passes through. */
export const ClusterInfo = z.looseObject({
  name: z.string(),
  mvip: z.string(),
  svip: z.string(),
  mvipNodeID: z.int(),
  svipNodeID: z.int(),
  ensemble: z.array(z.string()),
  repCount: z.int(),
  uniqueID: z.string(),
  uuid: z.string(),
  attributes: JsonObject,
  encryptionAtRestState: EncryptionAtRestState,
  // Absent on releases older than software encryption at rest (12.x); its full value set is not
  // documented, so it stays a string.
  softwareEncryptionAtRestState: z.string().optional(),
  // Protection schemes arrived after 11.7 (the oldest release with EKM), so they are optional here.
  defaultProtectionScheme: z.string().optional(),
  enabledProtectionSchemes: z.array(z.string()).optional(),
  supportedProtectionSchemes: z.array(z.string()).optional(),
  mvipInterface: z.string().optional(),
  mvipVlanTag: z.string().optional(),
  svipInterface: z.string().optional(),
  svipVlanTag: z.string().optional(),
  volumeLoadBalanceOnActualIopsState: z.string().optional(),
});
export type ClusterInfo = z.infer<typeof ClusterInfo>;

/** GetAPI result: also carries a key named after the current version listing its methods. */
export const ApiInfo = z.looseObject({
  currentVersion: z.string(),
  supportedVersions: z.array(z.string()),
});
export type ApiInfo = z.infer<typeof ApiInfo>;

// ---------------------------------------------------------------------------------------------
// Faults

export const FaultType = z.enum(['node', 'drive', 'cluster', 'service', 'volume']);
export type FaultType = z.infer<typeof FaultType>;

export const FaultSeverity = z.enum(['warning', 'error', 'critical', 'bestPractice']);
export type FaultSeverity = z.infer<typeof FaultSeverity>;

/** Which faults ListClusterFaults returns / ClearClusterFaults clears. */
export const FaultSelection = z.enum(['current', 'resolved', 'all']);
export type FaultSelection = z.infer<typeof FaultSelection>;

export const ClusterFault = z.looseObject({
  clusterFaultID: ElementId,
  /** Compare with {@link faultCodeEquals}: the docs spell some codes with varying case. */
  code: z.string(),
  type: FaultType,
  severity: FaultSeverity,
  details: z.string(),
  date: z.string(),
  resolved: z.boolean(),
  /** Empty string while unresolved. */
  resolvedDate: z.string(),
  /** 0 when not tied to a node. */
  nodeID: z.int(),
  /** First of driveIDs, 0 when none. */
  driveID: z.int(),
  driveIDs: z.array(z.int()).optional(),
  /** 0 when not tied to a service. */
  serviceID: z.int(),
  nodeHardwareFaultID: z.int(),
  data: JsonObject.nullable().optional(),
  /** "" when not tied to one (recorded answers carry it; the SDK 12.3 model has no such member). */
  networkInterface: z.string().optional(),
  externalSource: z.string().optional(),
  /** Documented and recorded on every fault, absent from the SDK 12.3 model: optional here. */
  blocksUpgrade: z.boolean().optional(),
});
export type ClusterFault = z.infer<typeof ClusterFault>;

/** Fault codes the EKM runbooks react to, in the spelling of the documented code list. */
export const EkmFaultCode = {
  kmipServerFault: 'kmipServerFault',
  kmipCertificateFault: 'kmipCertificateFault',
  enableDriveSecurityFailed: 'enableDriveSecurityFailed',
  disableDriveSecurityFailed: 'disableDriveSecurityFailed',
  driveFailed: 'driveFailed',
  driveAvailable: 'driveAvailable',
  sliceServiceUnhealthy: 'sliceServiceUnhealthy',
  blockServiceUnhealthy: 'blockServiceUnhealthy',
  fipsDrivesMismatch: 'fipsDrivesMismatch',
  fipsDrivesOutOfCompliance: 'fipsDrivesOutOfCompliance',
  nodeHardwareFault: 'nodeHardwareFault',
} as const;
export type EkmFaultCode = (typeof EkmFaultCode)[keyof typeof EkmFaultCode];

/**
 * Fault codes compared case-insensitively: the documentation writes both "kmipServerFault" and
 * "KmipServerFault" and the wire spelling is unconfirmed.
 */
export function faultCodeEquals(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** True when the fault carries one of the given codes (case-insensitively). */
export function hasFaultCode(fault: Pick<ClusterFault, 'code'>, ...codes: string[]): boolean {
  return codes.some((code) => faultCodeEquals(fault.code, code));
}

// ---------------------------------------------------------------------------------------------
// Drives

/** Lowercase on the wire. */
export const DriveStatus = z.enum(['available', 'active', 'erasing', 'failed', 'removing']);
export type DriveStatus = z.infer<typeof DriveStatus>;

/** `volume` is a metadata (slice) drive. */
export const DriveType = z.enum(['volume', 'block', 'unknown']);
export type DriveType = z.infer<typeof DriveType>;

export const Drive = z.looseObject({
  driveID: ElementId,
  nodeID: z.int(),
  /** -1 for the internal SATADimm. */
  slot: z.int(),
  chassisSlot: z.string(),
  serial: z.string(),
  capacity: z.int(),
  usableCapacity: z.int(),
  segmentFileSize: z.int(),
  status: DriveStatus,
  type: DriveType,
  attributes: JsonObject,
  /** Recorded answers carry "None" when the drive has not failed. */
  driveFailureDetail: z.string().optional(),
  /** Recorded answers carry "None" when the drive's security is fine. */
  driveSecurityFaultReason: z.string().optional(),
  /** 0 (with an all-zero keyID) on drives not under external key management. */
  keyProviderID: ElementId.optional(),
  keyID: z.string().optional(),
});
export type Drive = z.infer<typeof Drive>;

/**
 * GetAsyncResult `result` of a completed AddDrives (resultType "DriveAdd"). No public sample of
 * this payload exists, so nothing is required; confirm the outcome with ListDrives (status active).
 */
export const DriveAddAsyncResult = z.looseObject({
  driveIDs: z.array(ElementId).optional(),
  message: z.string().optional(),
});
export type DriveAddAsyncResult = z.infer<typeof DriveAddAsyncResult>;

// ---------------------------------------------------------------------------------------------
// Asynchronous results

/** ListAsyncResults entry. Listing never purges a result. */
export const AsyncHandleInfo = z.looseObject({
  asyncResultID: ElementId,
  completed: z.boolean(),
  success: z.boolean(),
  resultType: z.string(),
  createTime: z.string(),
  lastUpdateTime: z.string(),
  /** The job's result, or its error when success is false. */
  data: JsonObject,
});
export type AsyncHandleInfo = z.infer<typeof AsyncHandleInfo>;

/** Why an asynchronous job failed (GetAsyncResult `result.error`); may carry extra keys such as volumeID. */
export const AsyncJobError = z.looseObject({
  name: z.string(),
  message: z.string(),
});
export type AsyncJobError = z.infer<typeof AsyncJobError>;

const asyncResultTimes = {
  resultType: z.string(),
  createTime: z.string(),
  lastUpdateTime: z.string(),
};

export const RunningAsyncResult = z.looseObject({
  status: z.literal('running'),
  ...asyncResultTimes,
  /** Progress information specific to the operation. */
  details: JsonObject,
});
export type RunningAsyncResult = z.infer<typeof RunningAsyncResult>;

export const SucceededAsyncResult = z.looseObject({
  status: z.literal('complete'),
  ...asyncResultTimes,
  /** The operation's own result: apply its schema (e.g. RekeyMasterKeyAsyncResult). */
  result: JsonObject,
  error: z.never({ error: 'must not be present together with result' }).optional(),
});
export type SucceededAsyncResult = z.infer<typeof SucceededAsyncResult>;

export const FailedAsyncResult = z.looseObject({
  status: z.literal('complete'),
  ...asyncResultTimes,
  error: AsyncJobError,
  result: z.never({ error: 'must not be present together with error' }).optional(),
});
export type FailedAsyncResult = z.infer<typeof FailedAsyncResult>;

/** A finished job carries exactly one of `result` (success) or `error` (the job failed). */
export type CompleteAsyncResult = SucceededAsyncResult | FailedAsyncResult;

/**
 * GetAsyncResult result: narrow on `status`, then on `error !== undefined`. An ElementApiError
 * from the call itself means GetAsyncResult failed (e.g. unknown handle), not the job.
 */
export const AsyncResult = z.union([RunningAsyncResult, SucceededAsyncResult, FailedAsyncResult]);
export type AsyncResult = z.infer<typeof AsyncResult>;
