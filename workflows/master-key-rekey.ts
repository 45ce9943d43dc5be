/**
 * The software encryption-at-rest master-key rekey (procedure 2, steps 2-4), shared by the rekey
 * runbook and setup's software mode: start RekeySoftwareEncryptionAtRestMasterKey (or attach to
 * the rekey already running), wait for its async job, verify GetSoftwareEncryptionAtRestInfo,
 * and for an external key confirm it on the key server itself. The asyncHandle is in history as
 * soon as the job starts, so every wait survives a restart and a rekey is never started twice.
 */
import type { RetryPolicy } from '@temporalio/workflow';
import type { KmipKeyCheck } from '../activities/kmip-check';
import type { RekeyJobResult, RekeyPrecheck, VerifiedMasterKey } from '../activities/rekey';
import type { PollSettings } from '../activities/async-jobs';
import { CLUSTER_CALL_RETRY, clusterCalls, pollingCalls } from './calls';

export interface RekeyTiming {
  /** Longest a single cluster call may take before it is retried. */
  activityTimeoutMs: number;
  /** How long the rekey job may run before the runbook gives up on it. */
  jobDeadlineMs: number;
  polling: PollSettings;
}

export interface ConfirmedMasterKey {
  key: VerifiedMasterKey;
  /** External keys: whether the worker found the key on the key server itself (clusters file kmipCheck). */
  kmipCheck?: KmipKeyCheck;
}

/** The target of a rekey: internal keys, or external keys from this provider. */
export type MasterKeyTarget = { keyManagement: 'internal' } | { keyManagement: 'external'; keyProviderID: number };

export class MasterKeyRekey {
  private readonly calls: ReturnType<typeof clusterCalls>;
  private readonly startCall: ReturnType<typeof clusterCalls>['startMasterKeyRekey'];
  private readonly awaitJob: ReturnType<typeof pollingCalls>['awaitMasterKeyRekey'];
  private job: { handle: number; attached: boolean; oldKeyID?: string } | undefined;

  /**
   * `startRetry`: the retry policy of the start, which makes the cluster reach the key server
   * (setup retries it on its key-server test budget before it asks a person).
   */
  constructor(
    private readonly cluster: string,
    private readonly target: MasterKeyTarget,
    private readonly timing: RekeyTiming,
    startRetry: RetryPolicy = CLUSTER_CALL_RETRY,
  ) {
    this.calls = clusterCalls({ timeoutMs: timing.activityTimeoutMs });
    this.startCall = clusterCalls({ timeoutMs: timing.activityTimeoutMs, retry: startRetry }).startMasterKeyRekey;
    this.awaitJob = pollingCalls(timing.polling, { deadlineMs: timing.jobDeadlineMs }).awaitMasterKeyRekey;
  }

  get asyncHandle(): number | undefined {
    return this.job?.handle;
  }

  /**
   * Starts the rekey, or attaches to the one the precheck found running. If the cluster's latest
   * handle moved since the precheck, that rekey is this run's (started before a crash; the cluster
   * lock excludes anyone else) and it is followed instead of starting another.
   */
  async start(precheck: RekeyPrecheck): Promise<{ handle: number; attached: boolean }> {
    const attached = precheck.inFlightHandle !== undefined;
    const handle =
      precheck.inFlightHandle ??
      (await this.startCall(this.cluster, {
        keyManagement: this.target.keyManagement,
        keyProviderID: this.target.keyManagement === 'external' ? this.target.keyProviderID : undefined,
        handleAtPrecheck: precheck.lastHandle,
      }));
    this.job = { handle, attached, oldKeyID: precheck.masterKey?.keyID };
    return { handle, attached };
  }

  /** Polls the job to its end. A job that failed is forgotten, so the next `run` starts anew. */
  async wait(): Promise<RekeyJobResult> {
    const job = this.job!;
    try {
      return await this.awaitJob(this.cluster, job.handle, this.timing.polling);
    } catch (err) {
      this.job = undefined;
      throw err;
    }
  }

  /** The end state the vendor's procedure checks, then (external keys) the key server's own word. */
  async verify(): Promise<ConfirmedMasterKey> {
    const job = this.job!;
    const key = await this.calls.verifyMasterKey(this.cluster, {
      oldKeyID: job.oldKeyID,
      keyManagement: this.target.keyManagement,
      keyProviderID: this.target.keyManagement === 'external' ? this.target.keyProviderID : undefined,
      handle: job.handle,
    });
    const kmipCheck =
      key.keyProviderID !== undefined
        ? await this.calls.confirmKeyOnKmipServer(this.cluster, { keyProviderID: key.keyProviderID, keyID: key.keyID })
        : undefined;
    return { key, kmipCheck };
  }

  /**
   * All of it in one go (setup's software mode): a precheck and a start unless this run's rekey is
   * already under way, then the wait and the verification. Run again after a failure it follows
   * the same rekey, unless the job itself failed.
   */
  async run(): Promise<ConfirmedMasterKey> {
    if (!this.job) {
      const target = this.target;
      const precheck = await this.calls.rekeyPrecheck(
        this.cluster,
        target.keyManagement === 'external' ? { keyManagement: 'external', provider: { id: target.keyProviderID } } : target,
      );
      await this.start(precheck);
    }
    await this.wait();
    return this.verify();
  }
}

/** One line for a step's detail: the new key, and whether the key server confirmed it. */
export function describeMasterKey({ key, kmipCheck }: ConfirmedMasterKey, prefix = 'master key'): string {
  const provider = key.keyProviderID !== undefined ? `, provider ${key.keyProviderID}` : '';
  const check =
    kmipCheck === undefined
      ? ''
      : kmipCheck.checked
        ? `; found on key server ${kmipCheck.server}`
        : `; not checked on the key server: ${kmipCheck.reason}`;
  return `${prefix} ${key.keyID} (${key.keyManagementType}${provider})${check}`;
}
