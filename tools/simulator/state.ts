/**
 * The simulated cluster's whole state, as one JSON document validated by zod, and its atomic
 * persistence: write a temporary file beside the state file, fsync it, rename it over the state
 * file, fsync the folder. A crash leaves either the old or the new state, never half of one.
 * The file holds the cluster's private key, so it is created with mode 0600.
 */
import { randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const Id = z.int().nonnegative();
const Ms = z.number().nonnegative();
const Json = z.record(z.string(), z.unknown());

export const KeyManagementType = z.enum(['internal', 'external']);
export type KeyManagementType = z.infer<typeof KeyManagementType>;

/** A key the cluster uses (hardware EAR authentication key or SEAR master key). */
export const KeyRecord = z.strictObject({
  /** The cluster's own UUID for the key (EncryptionKeyInfo keyID). */
  keyID: z.uuid(),
  keyManagementType: KeyManagementType,
  keyProviderID: Id.optional(),
  /** External keys: the server's unique identifier (the key carries x-SolidFire-KeyID-<keyID> there). */
  kmipUniqueIdentifier: z.string().optional(),
  createdAt: Ms,
});
export type KeyRecord = z.infer<typeof KeyRecord>;

export const KeyPairRecord = z.strictObject({
  /** PKCS#8 PEM. Never leaves the simulator through the JSON-RPC or control APIs. */
  privateKeyPem: z.string(),
  /** SHA-256 of the SubjectPublicKeyInfo DER, hex. */
  publicKeyFingerprint: z.string(),
  subject: z.record(z.string(), z.string()),
  csrPem: z.string(),
  createdAt: Ms,
});
export type KeyPairRecord = z.infer<typeof KeyPairRecord>;

export const KeyServerRecord = z.strictObject({
  keyServerID: Id,
  kmipKeyServerName: z.string(),
  kmipKeyServerHostnames: z.array(z.string()).min(1),
  kmipKeyServerPort: z.int().min(1).max(65535),
  kmipCaCertificate: z.string(),
  kmipClientCertificate: z.string(),
  keyProviderID: Id.nullable(),
});
export type KeyServerRecord = z.infer<typeof KeyServerRecord>;

export const KeyProviderRecord = z.strictObject({
  keyProviderID: Id,
  keyProviderName: z.string(),
  keyServerIDs: z.array(Id),
});
export type KeyProviderRecord = z.infer<typeof KeyProviderRecord>;

export const EarState = z.enum(['disabled', 'enabling', 'enabled', 'disabling']);
export type EarState = z.infer<typeof EarState>;

export const NodeRecord = z.strictObject({
  nodeID: Id,
  name: z.string(),
  uuid: z.uuid(),
  mip: z.string(),
  cip: z.string(),
  sip: z.string(),
  sliceServiceID: Id,
});
export type NodeRecord = z.infer<typeof NodeRecord>;

export const DriveStatus = z.enum(['available', 'active', 'erasing', 'failed', 'removing']);
export type DriveStatus = z.infer<typeof DriveStatus>;

export const DriveRecord = z.strictObject({
  driveID: Id,
  nodeID: Id,
  slot: z.int(),
  serial: z.string(),
  capacity: z.int().nonnegative(),
  type: z.enum(['volume', 'block']),
  status: DriveStatus,
  serviceID: Id,
  failureDetail: z.string().optional(),
});
export type DriveRecord = z.infer<typeof DriveRecord>;

export const AsyncError = z.looseObject({ name: z.string(), message: z.string() });
export type AsyncError = z.infer<typeof AsyncError>;

/** A planned failure of an async job (control API). */
export const JobFailure = z.strictObject({
  name: z.string().min(1),
  message: z.string(),
  /** Rekey only: the state at which the job fails (default RewrapDataEncryptionKeys). */
  atState: z.enum(['Ready', 'CreateNewMasterKey', 'RewrapDataEncryptionKeys', 'DecommissionOldMasterKey']).optional(),
});
export type JobFailure = z.infer<typeof JobFailure>;

export const RekeyStage = z.enum(['Ready', 'CreateNewMasterKey', 'RewrapDataEncryptionKeys', 'DecommissionOldMasterKey']);
export type RekeyStage = z.infer<typeof RekeyStage>;

export const RekeyJob = z.strictObject({
  kind: z.literal('rekey'),
  fromKey: KeyRecord,
  target: z.strictObject({ keyManagementType: KeyManagementType, keyProviderID: Id.optional() }),
  /** Chosen when the job starts, so a resumed job finds a key it created before a crash (by its x-SolidFire-KeyID attribute). */
  newKeyID: z.uuid(),
  newKey: KeyRecord.optional(),
  stage: RekeyStage,
  /** Last failure to create the new key on the KMIP server; the job keeps retrying until it fails for good. */
  lastKeyError: AsyncError.optional(),
  keyAttempts: z.int().nonnegative().default(0),
});
export type RekeyJob = z.infer<typeof RekeyJob>;

export const DriveJob = z.strictObject({
  kind: z.enum(['driveAdd', 'driveRemoval']),
  driveIDs: z.array(Id),
});
export type DriveJob = z.infer<typeof DriveJob>;

export const AsyncRecord = z.strictObject({
  asyncResultID: Id,
  resultType: z.string(),
  createTime: Ms,
  lastUpdateTime: Ms,
  durationMs: z.number().nonnegative(),
  failure: JobFailure.optional(),
  job: z.discriminatedUnion('kind', [RekeyJob, DriveJob]),
  outcome: z
    .discriminatedUnion('success', [
      z.strictObject({ success: z.literal(true), result: Json }),
      z.strictObject({ success: z.literal(false), error: AsyncError }),
    ])
    .optional(),
});
export type AsyncRecord = z.infer<typeof AsyncRecord>;

export const FaultRecord = z.strictObject({
  clusterFaultID: Id,
  /** Which condition raised it; not on the wire. */
  condition: z.string(),
  code: z.string(),
  type: z.enum(['node', 'drive', 'cluster', 'service', 'volume']),
  severity: z.enum(['warning', 'error', 'critical', 'bestPractice']),
  details: z.string(),
  /** Microseconds since the epoch. */
  dateUs: z.number().nonnegative(),
  resolvedUs: z.number().nonnegative().nullable(),
  nodeID: Id,
  driveIDs: z.array(Id),
  serviceID: Id,
  data: Json.nullable(),
});
export type FaultRecord = z.infer<typeof FaultRecord>;

/** Failed metadata drives put back to available (sliceServiceUnhealthy scenario). */
export const SliceIncident = z.strictObject({
  driveID: Id,
  nodeID: Id,
  serviceID: Id,
  raisedAt: Ms,
  /** When the drive became active again (AddDrives completed); the settle time runs from here. */
  activeAt: Ms.nullable(),
  /** false: adding the drive back does not clear the fault (escalation rehearsal). */
  addingHelps: z.boolean(),
  /**
   * What its sliceServiceUnhealthy fault names (UNCONFIRMED on real clusters): the drive
   * (driveIDs), only the node (driveIDs []), or neither (driveIDs [], nodeID 0).
   */
  faultNames: z.enum(['drive', 'node', 'none']).default('drive'),
});
export type SliceIncident = z.infer<typeof SliceIncident>;

export const KeyAccess = z.strictObject({
  /** locked: after a restart or key re-read, until every external key in use was fetched. */
  status: z.enum(['unlocked', 'locked']),
  since: Ms,
  nextAttemptAt: Ms,
  attempts: z.int().nonnegative(),
  lastError: z
    .strictObject({
      category: z.enum(['connection', 'authentication', 'server']),
      details: z.string(),
      keyID: z.string(),
      keyProviderID: Id.optional(),
      keyServerIDs: z.array(Id),
    })
    .nullable(),
});
export type KeyAccess = z.infer<typeof KeyAccess>;

export const HttpFaultRule = z.strictObject({
  kind: z.enum(['http5xx', 'reset', 'timeout', 'busy', 'error']),
  /** Chance each matching request is hit (0..1). */
  probability: z.number().min(0).max(1).default(1),
  /** How many more times the rule may fire; absent = no limit. */
  remaining: z.int().nonnegative().optional(),
  /** Only these JSON-RPC methods; absent = all. */
  methods: z.array(z.string()).optional(),
  /** Let this many matching requests through first (e.g. the second TestKeyServerKmip of a run). */
  skip: z.int().nonnegative().optional(),
  /**
   * before: the request fails without being executed. after: the method runs (and its effects
   * stay), then the answer is lost; how a client learns to make creates idempotent.
   * busy and error are always before.
   */
  phase: z.enum(['before', 'after']).default('before'),
  /** http5xx: the status (default 503). */
  status: z.int().min(500).max(599).optional(),
  /** error: the Element error to answer. */
  error: z.strictObject({ name: z.string().min(1), message: z.string() }).optional(),
});
export type HttpFaultRule = z.infer<typeof HttpFaultRule>;

/** A plan for the next async job(s) of a result type: slower, or failing with an Element error. */
export const JobPlan = z.strictObject({
  resultType: z.string().min(1),
  durationMs: z.int().nonnegative().optional(),
  failure: JobFailure.optional(),
  /** How many jobs this plan applies to; absent = every following job. */
  remaining: z.int().positive().optional(),
});
export type JobPlan = z.infer<typeof JobPlan>;

export const Injection = z.strictObject({
  latencyMs: z.int().nonnegative().default(0),
  jitterMs: z.int().nonnegative().default(0),
  rules: z.array(HttpFaultRule).default([]),
  /** KMIP hostnames the cluster cannot reach (connection refused). */
  unreachableHosts: z.array(z.string()).default([]),
  /** KMIP unique identifiers the server is made to answer Item Not Found for (reversible). */
  withheldKeys: z.array(z.string()).default([]),
  /**
   * What ModifyKeyServerKmip does with a change (when a real cluster keeps a change whose contact
   * failed is UNCONFIRMED): verify (default) contacts the server with the new settings and keeps
   * them only if that works; keep contacts it and answers the failure but keeps the new settings;
   * store keeps them without contacting the server (as CreateKeyServerKmip).
   */
  modifyKeyServer: z.enum(['verify', 'keep', 'store']).default('verify'),
  /** Plans for the next async jobs of a type (consumed in order). */
  jobPlans: z.array(JobPlan).default([]),
  /**
   * false: keys the cluster creates on the KMIP server from now on lack the x-SolidFire-KeyID
   * attribute (to rehearse a key server that drops it; the check on the key server then fails).
   */
  tagKeys: z.boolean().default(true),
  /**
   * EnableEncryptionAtRest with a keyProviderID answers this error (nothing changes) the next
   * `remaining` times, or until cleared when remaining is null. Without a keyProviderID (internal
   * keys) it is not affected.
   */
  enableFailure: z
    .strictObject({ remaining: z.int().positive().nullable(), error: z.strictObject({ name: z.string().min(1), message: z.string() }) })
    .nullable()
    .default(null),
});
export type Injection = z.infer<typeof Injection>;

/** 2: keys tagged by attribute instead of named; fault refresh cadence; demo nodes. */
export const STATE_SCHEMA_VERSION = 2;

export const ClusterStateSchema = z.strictObject({
  schemaVersion: z.literal(STATE_SCHEMA_VERSION),
  cluster: z.strictObject({
    name: z.string(),
    uuid: z.uuid(),
    uniqueID: z.string(),
    mvip: z.string(),
    svip: z.string(),
    createdAt: Ms,
    /** The CreateCluster enableSoftwareEncryptionAtRest flag; fixed for the cluster's life. */
    softwareEncryptionAtRest: z.boolean(),
    /** An Element demo VM: EnableEncryptionAtRest answers xAPINotPermitted. */
    demoNode: z.boolean(),
    restarts: z.int().nonnegative(),
    downUntil: Ms.nullable(),
  }),
  /** Next identifiers to hand out (never reused). */
  counters: z.strictObject({ keyServerID: Id, keyProviderID: Id, asyncHandle: Id, clusterFaultID: Id }),
  keyPair: KeyPairRecord.nullable(),
  keyServers: z.array(KeyServerRecord),
  keyProviders: z.array(KeyProviderRecord),
  ear: z.strictObject({ state: EarState, since: Ms, key: KeyRecord.nullable() }),
  sear: z.strictObject({
    enabled: z.boolean(),
    version: z.int().nonnegative(),
    masterKey: KeyRecord.nullable(),
    rekeyAsyncResultID: Id.nullable(),
  }),
  nodes: z.array(NodeRecord),
  drives: z.array(DriveRecord),
  asyncResults: z.array(AsyncRecord),
  faults: z.array(FaultRecord),
  /** When ListClusterFaults' list was last brought up to date (the cluster refreshes it on a cadence). */
  faultsRefreshedAt: Ms,
  sliceIncidents: z.array(SliceIncident),
  keyAccess: KeyAccess,
  injection: Injection,
  /** The simulator's HTTPS identity (a throwaway CA and server certificate), kept across restarts. */
  tls: z.strictObject({ caPem: z.string(), certPem: z.string(), keyPem: z.string() }).nullable(),
});
export type ClusterState = z.infer<typeof ClusterStateSchema>;

export interface NewClusterOptions {
  name: string;
  softwareEncryptionAtRest: boolean;
  /** Hardware encryption at rest at creation: disabled, or enabled with the cluster's internal key. */
  hardwareEncryptionAtRest: 'disabled' | 'internal';
  demoNode: boolean;
  nodeCount: number;
  blockDrivesPerNode: number;
  mvip: string;
  svip: string;
  now: number;
}

function uniqueId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 4; i += 1) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** A freshly created cluster: nodes with one metadata (volume) drive and block drives each, all active. */
export function newClusterState(options: NewClusterOptions): ClusterState {
  const nodes: NodeRecord[] = [];
  const drives: DriveRecord[] = [];
  let driveID = 1;
  let serviceID = 10 + randomInt(20);
  for (let n = 1; n <= options.nodeCount; n += 1) {
    const sliceServiceID = serviceID++;
    nodes.push({
      nodeID: n,
      name: `${options.name}-n${n}`,
      uuid: randomUUID(),
      mip: `10.117.60.${10 + n}`,
      cip: `10.117.62.${10 + n}`,
      sip: `10.117.64.${10 + n}`,
      sliceServiceID,
    });
    drives.push({
      driveID: driveID++,
      nodeID: n,
      slot: -1,
      serial: `scsi-SATA_VRFSD3400GNCVMT${String(204_500 + n * 17).padStart(7, '0')}-part2`,
      capacity: 300_069_052_416,
      type: 'volume',
      status: 'active',
      serviceID: sliceServiceID,
    });
    for (let s = 0; s < options.blockDrivesPerNode; s += 1) {
      drives.push({
        driveID: driveID++,
        nodeID: n,
        slot: s,
        serial: `scsi-SATA_SAMSUNG_MZ7LM96S2UJNX0J${String(n * 100 + s).padStart(5, '0')}`,
        capacity: 960_197_124_096,
        type: 'block',
        status: 'active',
        serviceID: serviceID++,
      });
    }
  }
  const now = options.now;
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    cluster: {
      name: options.name,
      uuid: randomUUID(),
      uniqueID: uniqueId(),
      mvip: options.mvip,
      svip: options.svip,
      createdAt: now,
      softwareEncryptionAtRest: options.softwareEncryptionAtRest,
      demoNode: options.demoNode,
      restarts: 0,
      downUntil: null,
    },
    // Identifiers of a cluster that has been in use for a while: not 1, not predictable.
    counters: {
      keyServerID: 7 + randomInt(30),
      keyProviderID: 2 + randomInt(12),
      asyncHandle: 40 + randomInt(400),
      clusterFaultID: 20 + randomInt(200),
    },
    keyPair: null,
    keyServers: [],
    keyProviders: [],
    ear:
      options.hardwareEncryptionAtRest === 'internal'
        ? { state: 'enabled', since: now, key: { keyID: randomUUID(), keyManagementType: 'internal', createdAt: now } }
        : { state: 'disabled', since: now, key: null },
    sear: options.softwareEncryptionAtRest
      ? {
          enabled: true,
          version: 1,
          masterKey: { keyID: randomUUID(), keyManagementType: 'internal', createdAt: now },
          rekeyAsyncResultID: null,
        }
      : { enabled: false, version: 0, masterKey: null, rekeyAsyncResultID: null },
    nodes,
    drives,
    asyncResults: [],
    faults: [],
    faultsRefreshedAt: now,
    sliceIncidents: [],
    keyAccess: { status: 'unlocked', since: now, nextAttemptAt: now, attempts: 0, lastError: null },
    injection: Injection.parse({}),
    tls: null,
  };
}

export class StateFileError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`simulator state file ${file}: ${detail}`);
    this.name = 'StateFileError';
  }
}

/** Reads and validates a state file; undefined when it does not exist. */
export function loadStateFile(file: string): ClusterState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(file, `cannot be read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(file, `is not JSON: ${(err as Error).message}`);
  }
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version === 'number' && version !== STATE_SCHEMA_VERSION) {
    throw new StateFileError(
      file,
      `holds a cluster of state schema ${version}; this simulator reads schema ${STATE_SCHEMA_VERSION}: start a new cluster with another state file (the demo: --fresh)`,
    );
  }
  const parsed = ClusterStateSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new StateFileError(file, `is not a valid simulator state: ${problems.slice(0, 5).join('; ')}`);
  }
  return parsed.data;
}

/** Writes the state atomically (temp file + fsync + rename + fsync of the folder), mode 0600. */
export function writeStateFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomInt(1e9)}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dirFd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

/** Keeps the last text written so unchanged state is not rewritten on every tick. */
export class StateStore {
  private lastWritten: string | undefined;

  constructor(readonly file: string) {}

  /** Removes temporary files a crash in the middle of a write left behind. */
  removeStaleTemporaries(): void {
    const dir = path.dirname(this.file);
    const prefix = `.${path.basename(this.file)}.`;
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
    }
  }

  save(state: ClusterState): boolean {
    const text = `${JSON.stringify(state, null, 1)}\n`;
    if (text === this.lastWritten) return false;
    writeStateFileAtomic(this.file, text);
    this.lastWritten = text;
    return true;
  }

  markLoaded(state: ClusterState): void {
    this.lastWritten = `${JSON.stringify(state, null, 1)}\n`;
  }
}
