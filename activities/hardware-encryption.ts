/**
 * Hardware encryption at rest moved from the cluster's internal keys to a key provider (setup with
 * replaceInternalKey): the disable, the waits, the re-enable with internal keys, and what key the
 * drives are under. EnableEncryptionAtRest and DisableEncryptionAtRest answer no async handle, so
 * every activity here looks at GetClusterInfo encryptionAtRestState first: a retry after a worker
 * died mid-call finds the change under way instead of making it twice.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ElementClient } from '../src/element';
import { Failure, type FailureType } from '../workflows/failures';
import { DEFAULT_POLL, pollUntil, type PollSettings } from './async-jobs';
import type { ActivityContext } from './context';
import { refuse, withElement } from './element';

/** ListDrives' keyID on drives not under a key. */
const NO_KEY_ID = '00000000-0000-0000-0000-000000000000';

export interface HardwareEncryption {
  /** GetClusterInfo encryptionAtRestState: enabling, enabled, disabling, disabled. */
  encryptionAtRestState: string;
  /**
   * Whose key the active drives are under (ListDrives keyID, keyProviderID): none, the cluster's
   * internal key (keyProviderID 0), an external key of a provider, or a mix (a change under way).
   */
  keyManagementType: 'none' | 'internal' | 'external' | 'mixed';
  /** The providers of the drives' keys (external keys only). */
  keyProviderIDs: number[];
  keyIDs: string[];
}

/** The cluster's hardware encryption: its state and the key its active drives are under. */
export async function readHardwareEncryption(client: ElementClient): Promise<HardwareEncryption> {
  const { clusterInfo } = await client.call('GetClusterInfo');
  const { drives } = await client.call('ListDrives');
  const keyed = drives.filter((d) => d.status === 'active' && d.keyID !== undefined && d.keyID !== NO_KEY_ID);
  const keyProviderIDs = [...new Set(keyed.map((d) => d.keyProviderID ?? 0).filter((id) => id !== 0))];
  const internal = keyed.some((d) => !d.keyProviderID);
  return {
    encryptionAtRestState: clusterInfo.encryptionAtRestState,
    keyManagementType:
      keyed.length === 0 ? 'none' : internal && keyProviderIDs.length > 0 ? 'mixed' : internal ? 'internal' : 'external',
    keyProviderIDs,
    keyIDs: [...new Set(keyed.map((d) => d.keyID!))],
  };
}

/** "internal key 1f2e…", "key from provider 12", for progress lines and refusals. */
export function describeDriveKeys(h: HardwareEncryption): string {
  switch (h.keyManagementType) {
    case 'none':
      return 'no drive under a key';
    case 'internal':
      return `drives under the cluster's internal key ${h.keyIDs.join(', ')}`;
    case 'external':
      return `drives under a key from key provider ${h.keyProviderIDs.join(', ')}`;
    default:
      return `drives under several keys (internal and from key provider ${h.keyProviderIDs.join(', ')})`;
  }
}

/**
 * Hardware encryption already on without the provider: the cluster's internal keys are replaced
 * (disabled, then enabled with the provider) only when replaceInternalKey asks for it; a
 * provider's key is never replaced here. Enabling (a change under way) is waited out.
 */
export function internalKeyToReplace(
  cluster: string,
  state: string,
  current: HardwareEncryption,
  input: { keyProviderName: string; replaceInternalKey?: boolean },
): true {
  if (current.keyManagementType === 'internal' && !input.replaceInternalKey) {
    throw refuse(
      Failure.EncryptionAlreadyEnabled,
      `hardware encryption at rest is already ${state} on cluster ${cluster} with the cluster's internal keys; to move it to provider "${input.keyProviderName}", start the setup with --replace-internal-key (input replaceInternalKey: true): it disables encryption at rest and enables it again with the provider, and the drives are not locked in between`,
    );
  }
  if (current.keyManagementType !== 'internal') {
    throw refuse(
      Failure.EncryptionAlreadyEnabled,
      `hardware encryption at rest is already ${state} on cluster ${cluster} without provider "${input.keyProviderName}" (${describeDriveKeys(current)}); --replace-internal-key replaces only the cluster's internal keys`,
    );
  }
  if (state === 'enabling')
    throw ApplicationFailure.retryable(`hardware encryption at rest is enabling on cluster ${cluster}`, Failure.ClusterBusy);
  return true;
}

/** Polls encryptionAtRestState until `target`; only the transition to it (`via`) may show meanwhile. */
function awaitState(
  ctx: ActivityContext,
  cluster: string,
  poll: PollSettings,
  target: 'enabled' | 'disabled',
  via: 'enabling' | 'disabling',
  failure: FailureType,
): Promise<void> {
  return withElement(ctx, cluster, (client) =>
    pollUntil(poll, `encryption at rest is still ${via}`, async (signal) => {
      const { clusterInfo } = await client.call('GetClusterInfo', undefined, { signal });
      const state = clusterInfo.encryptionAtRestState;
      if (state === target) return { done: true, value: undefined };
      if (state !== via) throw refuse(failure, `encryptionAtRestState is ${state} while waiting for ${target}`);
      return { done: false, progress: { state } };
    }),
  );
}

export function hardwareEncryptionActivities(ctx: ActivityContext) {
  return {
    /** The cluster's hardware encryption state and the key its drives are under (read only). */
    async readHardwareEncryption(cluster: string): Promise<HardwareEncryption> {
      return withElement(ctx, cluster, (client) => readHardwareEncryption(client));
    },

    /**
     * DisableEncryptionAtRest, unless the cluster is already disabling or disabled (a retry after
     * the call went through). Only the cluster's internal key is given up this way: drives under a
     * provider's key are refused (the move is for internal keys only).
     */
    async disableHardwareEncryption(cluster: string): Promise<{ issued: boolean; state: string }> {
      return withElement(ctx, cluster, async (client) => {
        const current = await readHardwareEncryption(client);
        const state = current.encryptionAtRestState;
        if (state === 'disabling' || state === 'disabled') return { issued: false, state };
        if (state !== 'enabled')
          throw ApplicationFailure.retryable(
            `encryption at rest is ${state}; it can be disabled once enabled`,
            Failure.StillRunning,
          );
        if (current.keyManagementType !== 'internal') {
          throw refuse(
            Failure.EncryptionAlreadyEnabled,
            `hardware encryption at rest on cluster ${cluster} is not on the cluster's internal key (${describeDriveKeys(current)}); only an internal key is replaced`,
          );
        }
        await client.call('DisableEncryptionAtRest');
        return { issued: true, state: 'disabling' };
      });
    },

    /** Polls GetClusterInfo until encryptionAtRestState is disabled (no async handle exists for it). */
    async awaitHardwareEncryptionDisabled(cluster: string, poll: PollSettings = DEFAULT_POLL): Promise<void> {
      await awaitState(ctx, cluster, poll, 'disabled', 'disabling', Failure.EncryptionNotDisabling);
    },

    /**
     * EnableEncryptionAtRest without a provider: the cluster's internal keys, so the drives are
     * locked again. Nothing when it is already enabling or enabled (a retry, or the provider's
     * enable went through after all: readHardwareEncryption tells which).
     */
    async enableInternalHardwareEncryption(cluster: string): Promise<{ started: boolean; state: string }> {
      return withElement(ctx, cluster, async (client) => {
        const { clusterInfo } = await client.call('GetClusterInfo');
        const state = clusterInfo.encryptionAtRestState;
        if (state === 'enabling' || state === 'enabled') return { started: false, state };
        if (state === 'disabling')
          throw ApplicationFailure.retryable(
            'encryption at rest is still disabling; it can be enabled once disabled',
            Failure.StillRunning,
          );
        await client.call('EnableEncryptionAtRest', {});
        return { started: true, state: 'enabling' };
      });
    },
  };
}
