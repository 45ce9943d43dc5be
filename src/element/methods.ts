/**
 * The one registry of Element JSON-RPC methods this project calls: for each method the API version
 * that introduced it, a schema for its params and one for its result. The client validates both
 * sides with these; workflow code may import the types. Imports only zod (no I/O here).
 */
import { z } from 'zod';
import {
  ApiInfo,
  AsyncHandleInfo,
  AsyncResult,
  ClusterFault,
  ClusterInfo,
  Drive,
  ElementId,
  FaultSelection,
  KeyProviderKmip,
  KeyServerKmip,
  SoftwareEncryptionAtRestInfo,
} from './objects';

/** An Element API version as it appears in the endpoint path, e.g. "12.3". */
export type ApiVersion = `${number}.${number}`;

export interface ElementMethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  /** First API version that has the method. */
  readonly since: ApiVersion;
  /** Parameters that appeared in a later version than the method itself. */
  readonly paramsSince?: Readonly<Partial<Record<keyof z.input<P> & string, ApiVersion>>>;
  /** Strict: a misspelt parameter would be silently ignored by the cluster, so it is refused here. */
  readonly params: P;
  /** Loose: unknown extra fields pass, missing required ones fail. */
  readonly result: R;
}

function method<P extends z.ZodType, R extends z.ZodType>(spec: ElementMethodSpec<P, R>): ElementMethodSpec<P, R> {
  return spec;
}

const NoParams = z.strictObject({});
/** Methods documented as having no return values answer `{}`. */
const EmptyResult = z.looseObject({});

const NonEmptyString = z.string().min(1);
const PemCertificate = z
  .string()
  .regex(/-----BEGIN CERTIFICATE-----/, { error: 'must be PEM text containing -----BEGIN CERTIFICATE-----' });
const TcpPort = z.int().min(1).max(65535);

const KeyServerResult = z.looseObject({ kmipKeyServer: KeyServerKmip });
const KeyProviderResult = z.looseObject({ kmipKeyProvider: KeyProviderKmip });
const AsyncHandleResult = z.looseObject({ asyncHandle: ElementId });

/** RekeySoftwareEncryptionAtRestMasterKey `keyManagementType`, in the casing of the documented value list. */
export const RekeyKeyManagementType = z.enum(['Internal', 'External']);
export type RekeyKeyManagementType = z.infer<typeof RekeyKeyManagementType>;

/**
 * AddDrives drive `type` (an input only: ListDrives reports `volume`, `block` or `unknown`);
 * omit it, or send `automatic`, and the cluster picks.
 */
export const AddDriveType = z.enum(['slice', 'block', 'volume', 'automatic']);
export type AddDriveType = z.infer<typeof AddDriveType>;

export const elementMethods = {
  // -- cluster key pair and CSR ---------------------------------------------------------------
  /** Replaces the cluster's only key pair: see docs/procedures.md (procedure 1) before calling it twice. */
  CreatePublicPrivateKeyPair: method({
    since: '11.7',
    params: z.strictObject({
      commonName: z.string().optional(),
      organization: z.string().optional(),
      organizationalUnit: z.string().optional(),
      locality: z.string().optional(),
      state: z.string().optional(),
      country: z.string().optional(),
      emailAddress: z.string().optional(),
    }),
    result: EmptyResult,
  }),
  GetClientCertificateSignRequest: method({
    since: '11.7',
    params: NoParams,
    /** PEM (or, per the docs sample, bare base64) PKCS#10 request. */
    result: z.looseObject({ clientCertificateSignRequest: z.string() }),
  }),

  // -- key servers -------------------------------------------------------------------------------
  /** Does not contact the key server. */
  CreateKeyServerKmip: method({
    since: '11.7',
    params: z.strictObject({
      kmipCaCertificate: PemCertificate,
      kmipClientCertificate: PemCertificate,
      kmipKeyServerHostnames: z.array(NonEmptyString).min(1),
      kmipKeyServerName: NonEmptyString,
      kmipKeyServerPort: TcpPort.optional(),
    }),
    result: KeyServerResult,
  }),
  /** Given fields replace the old values; contacts the key server, so it can fail on connectivity. */
  ModifyKeyServerKmip: method({
    since: '11.7',
    params: z.strictObject({
      keyServerID: ElementId,
      kmipCaCertificate: PemCertificate.optional(),
      kmipClientCertificate: PemCertificate.optional(),
      kmipKeyServerHostnames: z.array(NonEmptyString).min(1).optional(),
      kmipKeyServerName: NonEmptyString.optional(),
      kmipKeyServerPort: TcpPort.optional(),
    }),
    result: KeyServerResult,
  }),
  DeleteKeyServerKmip: method({
    since: '11.7',
    params: z.strictObject({ keyServerID: ElementId }),
    result: EmptyResult,
  }),
  GetKeyServerKmip: method({
    since: '11.7',
    params: z.strictObject({ keyServerID: ElementId }),
    result: KeyServerResult,
  }),
  ListKeyServersKmip: method({
    since: '11.7',
    params: z.strictObject({
      keyProviderID: ElementId.optional(),
      kmipAssignedProviderIsActive: z.boolean().optional(),
      kmipHasProviderAssigned: z.boolean().optional(),
    }),
    result: z.looseObject({ kmipKeyServers: z.array(KeyServerKmip) }),
  }),
  /** `{}` when the key server works; any failure comes back as an Element error. */
  TestKeyServerKmip: method({
    since: '11.7',
    params: z.strictObject({ keyServerID: ElementId }),
    result: EmptyResult,
  }),

  // -- key providers -----------------------------------------------------------------------------
  CreateKeyProviderKmip: method({
    since: '11.7',
    params: z.strictObject({ keyProviderName: NonEmptyString }),
    result: KeyProviderResult,
  }),
  /** Only inactive providers can be deleted. */
  DeleteKeyProviderKmip: method({
    since: '11.7',
    params: z.strictObject({ keyProviderID: ElementId }),
    result: EmptyResult,
  }),
  GetKeyProviderKmip: method({
    since: '11.7',
    params: z.strictObject({ keyProviderID: ElementId }),
    result: KeyProviderResult,
  }),
  ListKeyProvidersKmip: method({
    since: '11.7',
    params: z.strictObject({
      keyProviderIsActive: z.boolean().optional(),
      kmipKeyProviderHasServerAssigned: z.boolean().optional(),
    }),
    result: z.looseObject({ kmipKeyProviders: z.array(KeyProviderKmip) }),
  }),
  TestKeyProviderKmip: method({
    since: '11.7',
    params: z.strictObject({ keyProviderID: ElementId }),
    result: EmptyResult,
  }),
  /** Re-adding an assigned pair is a no-op; contacts the server and may sync keys. */
  AddKeyServerToProviderKmip: method({
    since: '11.7',
    params: z.strictObject({ keyProviderID: ElementId, keyServerID: ElementId }),
    result: EmptyResult,
  }),
  /** No-op when unassigned; refused for the last server of an active provider. */
  RemoveKeyServerFromProviderKmip: method({
    since: '11.7',
    params: z.strictObject({ keyServerID: ElementId }),
    result: EmptyResult,
  }),

  // -- encryption at rest ------------------------------------------------------------------------
  /** Asynchronous without a handle: poll GetClusterInfo encryptionAtRestState (enabling -> enabled). */
  EnableEncryptionAtRest: method({
    since: '5.0',
    paramsSince: { keyProviderID: '11.7' },
    params: z.strictObject({ keyProviderID: ElementId.optional() }),
    result: EmptyResult,
  }),
  /** Asynchronous without a handle: poll GetClusterInfo encryptionAtRestState (disabling -> disabled). */
  DisableEncryptionAtRest: method({
    since: '5.0',
    params: NoParams,
    result: EmptyResult,
  }),
  GetSoftwareEncryptionAtRestInfo: method({
    since: '12.3',
    params: NoParams,
    result: SoftwareEncryptionAtRestInfo,
  }),
  /** Asynchronous: poll the handle; the completed result is a RekeyMasterKeyAsyncResult. */
  RekeySoftwareEncryptionAtRestMasterKey: method({
    since: '12.3',
    params: z
      .strictObject({
        /** Omitted: rekey with the current key management mode. */
        keyManagementType: RekeyKeyManagementType.optional(),
        keyProviderID: ElementId.optional(),
      })
      .superRefine((params, ctx) => {
        if (params.keyManagementType === 'External' && params.keyProviderID === undefined) {
          ctx.addIssue({ code: 'custom', path: ['keyProviderID'], message: 'is required when keyManagementType is External' });
        }
        if (params.keyManagementType === 'Internal' && params.keyProviderID !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['keyProviderID'],
            message: 'must be omitted when keyManagementType is Internal',
          });
        }
      }),
    result: AsyncHandleResult,
  }),

  // -- cluster -----------------------------------------------------------------------------------
  GetAPI: method({
    since: '1.0',
    params: NoParams,
    result: ApiInfo,
  }),
  GetClusterInfo: method({
    since: '1.0',
    params: NoParams,
    result: z.looseObject({ clusterInfo: ClusterInfo }),
  }),

  // -- asynchronous results ----------------------------------------------------------------------
  /** Without keepResult: true the cluster forgets a completed result once it has been returned. */
  GetAsyncResult: method({
    since: '1.0',
    params: z.strictObject({ asyncHandle: ElementId, keepResult: z.boolean().optional() }),
    result: AsyncResult,
  }),
  ListAsyncResults: method({
    since: '9.0',
    params: z.strictObject({ asyncResultTypes: z.array(NonEmptyString).optional() }),
    result: z.looseObject({ asyncHandles: z.array(AsyncHandleInfo) }),
  }),

  // -- faults ------------------------------------------------------------------------------------
  ListClusterFaults: method({
    since: '1.0',
    params: z.strictObject({
      bestPractices: z.boolean().optional(),
      /** Default all. */
      faultTypes: FaultSelection.optional(),
    }),
    result: z.looseObject({ faults: z.array(ClusterFault) }),
  }),
  ClearClusterFaults: method({
    since: '1.0',
    /** Default resolved. */
    params: z.strictObject({ faultTypes: FaultSelection.optional() }),
    result: EmptyResult,
  }),

  // -- drives ------------------------------------------------------------------------------------
  ListDrives: method({
    since: '1.0',
    params: NoParams,
    result: z.looseObject({ drives: z.array(Drive) }),
  }),
  /** Only available drives; asynchronous (resultType DriveAdd). */
  AddDrives: method({
    since: '1.0',
    params: z.strictObject({
      drives: z.array(z.strictObject({ driveID: ElementId, type: AddDriveType.optional() })).min(1),
    }),
    // The SDK marks the handle optional; callers that need it must check.
    result: z.looseObject({ asyncHandle: ElementId.optional() }),
  }),
} as const;

export type ElementMethods = typeof elementMethods;
export type ElementMethodName = keyof ElementMethods;
/** What a caller passes (optional members may be left out). */
export type ElementParams<M extends ElementMethodName> = z.input<ElementMethods[M]['params']>;
/** What a caller gets back, after validation. */
export type ElementResult<M extends ElementMethodName> = z.output<ElementMethods[M]['result']>;

export function isElementMethodName(name: string): name is ElementMethodName {
  return Object.prototype.hasOwnProperty.call(elementMethods, name);
}

/**
 * Methods that change nothing on the cluster (reads and tests), so sending one again after an
 * answer was lost cannot do anything twice. Every other method is retried by the client only when
 * the failure shows it was not executed (a busy answer, no connection made).
 */
export function isRepeatableMethod(name: string): boolean {
  return /^(Get|List|Test)[A-Z]/.test(name) || name === 'ClearClusterFaults';
}

// ---------------------------------------------------------------------------------------------
// API versions

const API_VERSION_PATTERN = /^\d+\.\d+$/;

export function isApiVersion(value: string): value is ApiVersion {
  return API_VERSION_PATTERN.test(value);
}

/** Negative when a is older than b, 0 when equal, positive when newer. */
export function compareApiVersions(a: ApiVersion, b: ApiVersion): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor;
}

/** What a call needs that the pinned version lacks: the method itself or one of its parameters. */
export interface VersionShortfall {
  /** "the method" or "parameter keyProviderID". */
  feature: string;
  requiredVersion: ApiVersion;
}

/** Checks a call against the pinned API version, as the vendor SDK does before sending anything. */
export function findVersionShortfall(
  name: ElementMethodName,
  apiVersion: ApiVersion,
  params: Readonly<Record<string, unknown>>,
): VersionShortfall | undefined {
  const spec: ElementMethodSpec = elementMethods[name];
  if (compareApiVersions(apiVersion, spec.since) < 0) return { feature: 'the method', requiredVersion: spec.since };
  const paramsSince: Readonly<Record<string, ApiVersion | undefined>> = spec.paramsSince ?? {};
  for (const [param, since] of Object.entries(paramsSince)) {
    if (since !== undefined && params[param] !== undefined && compareApiVersions(apiVersion, since) < 0) {
      return { feature: `parameter ${param}`, requiredVersion: since };
    }
  }
  return undefined;
}
