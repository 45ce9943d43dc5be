/**
 * Asynchronous jobs (asyncHandle + GetAsyncResult): a SEAR master-key rekey and drive
 * add/removal. Progress is a function of wall-clock time since the job started, so a restarted
 * simulator continues a job where the clock says it is. Plans from the control API can make the
 * next job of a type slower or fail with a given Element error.
 */
import { randomUUID } from 'node:crypto';
import type { SimulatedCluster } from './cluster';
import { keyProviderDoesNotExist } from './errors';
import { createActiveKey, revokeKey, toLinkError } from './kmip-link';
import { keyInfoJson, rekeyOperationText, serversOfProvider } from './model';
import type { AsyncRecord, ClusterState, JobFailure, KeyRecord, RekeyJob, RekeyStage } from './state';

export const ResultTypes = {
  rekey: 'RekeySoftwareEncryptionAtRestMasterKey',
  driveAdd: 'DriveAdd',
  driveRemoval: 'DriveRemoval',
} as const;

/** When each rekey state begins, as a fraction of the job's duration. */
const REKEY_STAGES: readonly (readonly [RekeyStage, number])[] = [
  ['Ready', 0],
  ['CreateNewMasterKey', 0.1],
  ['RewrapDataEncryptionKeys', 0.4],
  ['DecommissionOldMasterKey', 0.85],
];

/** UNCONFIRMED: the state a completed rekey reports (back to Ready). */
export const REKEY_FINAL_STATE: RekeyStage = 'Ready';

function stageIndex(stage: RekeyStage): number {
  return REKEY_STAGES.findIndex(([s]) => s === stage);
}

function stageAt(fraction: number): RekeyStage {
  let current: RekeyStage = 'Ready';
  for (const [stage, start] of REKEY_STAGES) if (fraction >= start) current = stage;
  return current;
}

/** Takes the first control-API plan for this result type (duration, failure), consuming one use. */
function takePlan(state: ClusterState, resultType: string): { durationMs?: number; failure?: JobFailure } {
  const plans = state.injection.jobPlans;
  const index = plans.findIndex((p) => p.resultType === resultType);
  if (index < 0) return {};
  const plan = plans[index]!;
  if (plan.remaining !== undefined) {
    if (plan.remaining <= 1) plans.splice(index, 1);
    else plan.remaining -= 1;
  }
  return { durationMs: plan.durationMs, failure: plan.failure };
}

function startJob(
  state: ClusterState,
  now: number,
  resultType: string,
  defaultDurationMs: number,
  job: AsyncRecord['job'],
): AsyncRecord {
  const plan = takePlan(state, resultType);
  const record: AsyncRecord = {
    asyncResultID: state.counters.asyncHandle++,
    resultType,
    createTime: now,
    lastUpdateTime: now,
    durationMs: plan.durationMs ?? defaultDurationMs,
    failure: plan.failure,
    job,
  };
  state.asyncResults.push(record);
  return record;
}

export function startRekey(
  state: ClusterState,
  now: number,
  durationMs: number,
  fromKey: KeyRecord,
  target: RekeyJob['target'],
): AsyncRecord {
  const job: RekeyJob = {
    kind: 'rekey',
    fromKey: structuredClone(fromKey),
    target,
    newKeyID: randomUUID(),
    stage: 'Ready',
    keyAttempts: 0,
  };
  const record = startJob(state, now, ResultTypes.rekey, durationMs, job);
  state.sear.rekeyAsyncResultID = record.asyncResultID;
  return record;
}

export function startDriveJob(
  state: ClusterState,
  now: number,
  kind: 'driveAdd' | 'driveRemoval',
  driveIDs: number[],
  durationMs: number,
): AsyncRecord {
  const resultType = kind === 'driveAdd' ? ResultTypes.driveAdd : ResultTypes.driveRemoval;
  return startJob(state, now, resultType, durationMs, { kind, driveIDs: [...driveIDs] });
}

function fail(record: AsyncRecord, now: number, error: { name: string; message: string }): void {
  record.outcome = { success: false, error: { name: error.name, message: error.message } };
  record.lastUpdateTime = now;
}

export function advanceJobs(cluster: SimulatedCluster, state: ClusterState, now: number): void {
  for (const record of state.asyncResults) {
    if (record.outcome) continue;
    const fraction = record.durationMs <= 0 ? 1 : (now - record.createTime) / record.durationMs;
    if (record.job.kind === 'rekey') advanceRekey(cluster, state, record, record.job, now, fraction);
    else advanceDriveJob(state, record, record.job.kind, now, fraction);
  }
}

function advanceDriveJob(
  state: ClusterState,
  record: AsyncRecord,
  kind: 'driveAdd' | 'driveRemoval',
  now: number,
  fraction: number,
): void {
  if (fraction < 1 || record.job.kind === 'rekey') return;
  const drives = state.drives.filter((d) => record.job.kind !== 'rekey' && record.job.driveIDs.includes(d.driveID));
  if (record.failure) {
    // The drives stay where they were before the job (removal: back to active).
    if (kind === 'driveRemoval') for (const d of drives) if (d.status === 'removing') d.status = 'active';
    fail(record, now, record.failure);
    return;
  }
  for (const d of drives) {
    if (kind === 'driveAdd' && d.status === 'available') d.status = 'active';
    if (kind === 'driveRemoval' && d.status === 'removing') d.status = 'available';
  }
  record.outcome = {
    success: true,
    result: { driveIDs: drives.map((d) => d.driveID), message: kind === 'driveAdd' ? 'Drives added.' : 'Drives removed.' },
  };
  record.lastUpdateTime = now;
}

function advanceRekey(
  cluster: SimulatedCluster,
  state: ClusterState,
  record: AsyncRecord,
  job: RekeyJob,
  now: number,
  fraction: number,
): void {
  const desired = stageAt(Math.min(fraction, 0.999));
  const failAt = record.failure ? stageIndex(record.failure.atState ?? 'RewrapDataEncryptionKeys') : Infinity;
  if (record.failure && stageIndex(desired) >= failAt) {
    setStage(record, job, REKEY_STAGES[failAt]![0], now);
    fail(record, now, record.failure);
    cluster.log(`rekey ${record.asyncResultID} failed as planned: ${record.failure.name}`);
    return;
  }
  if (stageIndex(desired) >= stageIndex('CreateNewMasterKey') && !job.newKey) {
    setStage(record, job, 'CreateNewMasterKey', now);
    createNewMasterKey(cluster, state, record, job, now);
    if (!job.newKey) return;
  }
  setStage(record, job, desired, now);
  if (fraction < 1 || !job.newKey) return;

  // Complete: the new key replaces the old one; the old one is decommissioned.
  const newKey = job.newKey;
  state.sear.masterKey = structuredClone(newKey);
  record.outcome = {
    success: true,
    result: {
      keyToDecommission: keyInfoJson(job.fromKey),
      newKey: keyInfoJson(newKey),
      operation: rekeyOperationText(job),
      state: REKEY_FINAL_STATE,
    },
  };
  record.lastUpdateTime = now;
  cluster.log(
    `rekey ${record.asyncResultID} complete: master key ${job.fromKey.keyID} -> ${newKey.keyID} (${newKey.keyManagementType})`,
  );
  retireOldKey(cluster, state, job.fromKey);
}

function setStage(record: AsyncRecord, job: RekeyJob, stage: RekeyStage, now: number): void {
  if (job.stage === stage) return;
  job.stage = stage;
  record.lastUpdateTime = now;
}

function createNewMasterKey(
  cluster: SimulatedCluster,
  state: ClusterState,
  record: AsyncRecord,
  job: RekeyJob,
  now: number,
): void {
  if (job.target.keyManagementType === 'internal') {
    job.newKey = { keyID: job.newKeyID, keyManagementType: 'internal', createdAt: now };
    return;
  }
  const providerID = job.target.keyProviderID;
  const provider = state.keyProviders.find((p) => p.keyProviderID === providerID);
  if (providerID === undefined || !provider) {
    const missing = keyProviderDoesNotExist(providerID ?? 0);
    fail(record, now, { name: missing.elementName, message: missing.message });
    return;
  }
  const servers = structuredClone(serversOfProvider(state, provider));
  const keyID = job.newKeyID;
  const tag = state.injection.tagKeys;
  const ctx = cluster.kmipContext(state);
  const id = record.asyncResultID;
  cluster.schedule(`rekey-create:${id}`, async () => {
    let created: { uniqueIdentifier: string } | undefined;
    let failure: { name: string; message: string } | undefined;
    try {
      created = await createActiveKey(servers, ctx, keyID, { tag });
    } catch (err) {
      const fault = toLinkError(err, servers, 'creating the new master key').toElementFault();
      failure = { name: fault.elementName, message: fault.message };
    }
    await cluster.run((s, t) => {
      const current = s.asyncResults.find((r) => r.asyncResultID === id);
      if (!current || current.outcome || current.job.kind !== 'rekey' || current.job.newKey) return;
      current.job.keyAttempts += 1;
      if (created) {
        current.job.newKey = {
          keyID: current.job.newKeyID,
          keyManagementType: 'external',
          keyProviderID: providerID,
          kmipUniqueIdentifier: created.uniqueIdentifier,
          createdAt: t,
        };
        cluster.log(`rekey ${id}: new master key created on the KMIP server (unique identifier ${created.uniqueIdentifier})`);
      } else if (failure) {
        current.job.lastKeyError = failure;
        fail(current, t, failure);
        cluster.log(`rekey ${id} failed: ${failure.message}`);
      }
    });
  });
}

/** Best effort: revoke the decommissioned external key on its KMIP server (it is never reused). */
function retireOldKey(cluster: SimulatedCluster, state: ClusterState, oldKey: KeyRecord): void {
  if (oldKey.keyManagementType !== 'external' || !oldKey.kmipUniqueIdentifier) return;
  const provider = state.keyProviders.find((p) => p.keyProviderID === oldKey.keyProviderID);
  if (!provider) return;
  const servers = structuredClone(serversOfProvider(state, provider));
  const ctx = cluster.kmipContext(state);
  const uid = oldKey.kmipUniqueIdentifier;
  cluster.schedule(`revoke:${uid}`, async () => {
    try {
      await revokeKey(servers, ctx, uid);
      cluster.log(`decommissioned master key ${oldKey.keyID} revoked on the KMIP server`);
    } catch (err) {
      cluster.log(`could not revoke decommissioned key ${oldKey.keyID}: ${(err as Error).message}`);
    }
  });
}
