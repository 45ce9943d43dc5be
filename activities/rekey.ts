import { ElementApiError, type ElementClient } from '../src/element';
import {
  RekeyMasterKeyAsyncResult,
  type EncryptionKeyInfo,
  type KeyProviderKmip,
  type SoftwareEncryptionAtRestInfo,
} from '../src/element/objects';
import { Failure } from '../workflows/failures';
import { DEFAULT_POLL, isAsyncHandleGone, pollAsyncJobOrGone, type PollSettings } from './async-jobs';
import type { ActivityContext } from './context';
import { refuse, withElement } from './element';

export type ProviderSelector = { id: number } | { name: string } | { active: true };

export type RekeyTarget = { keyManagement: 'internal' } | { keyManagement: 'external'; provider: ProviderSelector };

export interface RekeyPrecheck {
  masterKey?: EncryptionKeyInfo;
  /** The provider the new key will come from (external only). */
  provider?: { id: number; name: string };
  /** rekeyMasterKeyAsyncResultID as found, to tell our own rekey from an older one. */
  lastHandle?: number;
  /** A rekey still running on the cluster: attach to it rather than start another. */
  inFlightHandle?: number;
}

export interface RekeyJobResult {
  /** Absent when the job's result was purged and the outcome read from GetSoftwareEncryptionAtRestInfo. */
  keyToDecommission?: EncryptionKeyInfo;
  newKey: EncryptionKeyInfo;
  operation: string;
  state: string;
  /** Set when the job's own result was gone (purged): what the outcome was read from instead. */
  decidedFrom?: 'GetSoftwareEncryptionAtRestInfo';
}

export interface VerifiedMasterKey {
  keyID: string;
  keyManagementType: 'internal' | 'external';
  keyProviderID?: number;
  keyCreatedTime?: string;
}

function describeProvider(selector: ProviderSelector): string {
  if ('id' in selector) return `key provider id ${selector.id}`;
  if ('name' in selector) return `key provider named "${selector.name}"`;
  return 'active key provider, and not exactly one provider to default to';
}

/** By id, by name, or by default the active provider (or the only one, when none is active yet). */
export function pickProvider(providers: KeyProviderKmip[], selector: ProviderSelector): KeyProviderKmip {
  let matches = providers.filter((p) =>
    'id' in selector
      ? p.keyProviderID === selector.id
      : 'name' in selector
        ? p.keyProviderName === selector.name
        : p.keyProviderIsActive,
  );
  if ('active' in selector && matches.length === 0 && providers.length === 1) matches = providers;
  if (matches.length === 0) {
    const known = providers
      .map((p) => `${p.keyProviderID} "${p.keyProviderName}"${p.keyProviderIsActive ? ' (active)' : ''}`)
      .join(', ');
    throw refuse(
      Failure.KeyProviderNotFound,
      `no ${describeProvider(selector)} on the cluster (providers: ${known || 'none'}); choose one by id or name`,
    );
  }
  if (matches.length > 1) {
    const ids = matches.map((p) => p.keyProviderID).join(', ');
    throw refuse(
      Failure.KeyProviderAmbiguous,
      `${describeProvider(selector)} matches several providers (ids ${ids}); choose one by id`,
    );
  }
  return matches[0]!;
}

async function isRunning(client: ElementClient, handle: number): Promise<boolean> {
  try {
    const answer = await client.call('GetAsyncResult', { asyncHandle: handle, keepResult: true });
    return answer.status === 'running';
  } catch (err) {
    if (isAsyncHandleGone(err)) return false;
    throw err;
  }
}

function describeKey(key: EncryptionKeyInfo | undefined): string {
  if (!key) return 'no masterKeyInfo';
  const provider = key.keyProviderID !== undefined ? `, provider ${key.keyProviderID}` : '';
  return `master key ${key.keyID ?? '?'} (${key.keyManagementType}${provider})`;
}

/**
 * The rekey's result is gone from GetAsyncResult (purged: someone read it without keepResult). A
 * result is only purged once the job has ended, so GetSoftwareEncryptionAtRestInfo tells how: if
 * it still names this rekey as the latest, its master key is what the rekey left (verifyMasterKey
 * then checks it is the key asked for). If it names none or another, nothing can tell; the run
 * stops rather than guess or rekey again.
 */
async function decideFromInfo(client: ElementClient, handle: number, gone: ElementApiError): Promise<RekeyJobResult> {
  const info = await client.call('GetSoftwareEncryptionAtRestInfo');
  const latest = info.rekeyMasterKeyAsyncResultID;
  if (latest !== handle || !info.masterKeyInfo) {
    const names = latest === undefined ? 'names no rekey' : `names rekey ${latest}`;
    throw refuse(
      Failure.RekeyOutcomeUnknown,
      `GetAsyncResult answered ${gone.name} for rekey ${handle} (its result was purged), and GetSoftwareEncryptionAtRestInfo ` +
        `${names} as the latest with ${describeKey(info.masterKeyInfo)}: how rekey ${handle} ended cannot be told. ` +
        'No other rekey was started; check the master key on the cluster before rekeying again.',
    );
  }
  return {
    newKey: info.masterKeyInfo,
    operation:
      `the result of rekey ${handle} was purged (${gone.name}); GetSoftwareEncryptionAtRestInfo names it as the latest rekey ` +
      `and shows ${describeKey(info.masterKeyInfo)}`,
    state: 'ended',
    decidedFrom: 'GetSoftwareEncryptionAtRestInfo',
  };
}

/** What the rekey's precheck reads from the cluster (read-only methods only). */
export interface RekeyClusterState {
  softwareEncryption: SoftwareEncryptionAtRestInfo;
  /** External target only: ListKeyProvidersKmip. */
  providers?: KeyProviderKmip[];
  /** The latest rekey (rekeyMasterKeyAsyncResultID) is still running (GetAsyncResult with keepResult: true). */
  latestRekeyRunning: boolean;
}

/**
 * Reads what the rekey's precheck needs, with read-only calls only: GetSoftwareEncryptionAtRestInfo,
 * ListKeyProvidersKmip (external target), GetAsyncResult of the latest rekey with keepResult: true.
 */
export async function readRekeyState(client: ElementClient, target: RekeyTarget): Promise<RekeyClusterState> {
  const info = await client.call('GetSoftwareEncryptionAtRestInfo');
  if (info.state !== 'enabled') return { softwareEncryption: info, latestRekeyRunning: false };
  const providers =
    target.keyManagement === 'external' ? (await client.call('ListKeyProvidersKmip', {})).kmipKeyProviders : undefined;
  const handle = info.rekeyMasterKeyAsyncResultID;
  return { softwareEncryption: info, providers, latestRekeyRunning: handle !== undefined && (await isRunning(client, handle)) };
}

/**
 * The rekey's precheck without I/O: software encryption must be enabled
 * (SoftwareEncryptionNotEnabled); an external target's provider is picked (KeyProviderNotFound,
 * KeyProviderAmbiguous) and must hold a key server (KeyProviderHasNoServer); a rekey still running
 * is attached to.
 */
export function assessRekey(cluster: string, state: RekeyClusterState, target: RekeyTarget): RekeyPrecheck {
  const info = state.softwareEncryption;
  if (info.state !== 'enabled') {
    throw refuse(
      Failure.SoftwareEncryptionNotEnabled,
      `software encryption at rest is ${info.state} on cluster ${cluster}; it can only be enabled when the cluster is created`,
    );
  }
  const precheck: RekeyPrecheck = { masterKey: info.masterKeyInfo, lastHandle: info.rekeyMasterKeyAsyncResultID };
  if (target.keyManagement === 'external') {
    const provider = pickProvider(state.providers ?? [], target.provider);
    if (provider.keyServerIDs.length === 0) {
      throw refuse(
        Failure.KeyProviderHasNoServer,
        `key provider ${provider.keyProviderID} "${provider.keyProviderName}" has no key server`,
      );
    }
    precheck.provider = { id: provider.keyProviderID, name: provider.keyProviderName };
  }
  if (state.latestRekeyRunning) precheck.inFlightHandle = info.rekeyMasterKeyAsyncResultID;
  return precheck;
}

export function rekeyActivities(ctx: ActivityContext) {
  return {
    /** Software encryption at rest must be enabled; finds the provider; notices a rekey already in flight (readRekeyState, then assessRekey). */
    async rekeyPrecheck(cluster: string, target: RekeyTarget): Promise<RekeyPrecheck> {
      return withElement(ctx, cluster, async (client) => assessRekey(cluster, await readRekeyState(client, target), target));
    },

    async testKeyProvider(cluster: string, keyProviderID: number): Promise<void> {
      await withElement(ctx, cluster, (client) => client.call('TestKeyProviderKmip', { keyProviderID }), {
        retryApiErrors: true,
      });
    },

    /**
     * Starts the rekey and returns its asyncHandle. If the cluster's latest rekey handle changed
     * since the precheck, that rekey is ours (started before a crash; the cluster lock excludes
     * anyone else), so it is returned instead of starting a second one.
     */
    async startMasterKeyRekey(
      cluster: string,
      input: { keyManagement: 'internal' | 'external'; keyProviderID?: number; handleAtPrecheck?: number },
    ): Promise<number> {
      return withElement(ctx, cluster, async (client) => {
        const info = await client.call('GetSoftwareEncryptionAtRestInfo');
        const latest = info.rekeyMasterKeyAsyncResultID;
        if (latest !== undefined && latest !== input.handleAtPrecheck) return latest;
        const { asyncHandle } = await client.call(
          'RekeySoftwareEncryptionAtRestMasterKey',
          input.keyManagement === 'external'
            ? { keyManagementType: 'External', keyProviderID: input.keyProviderID }
            : { keyManagementType: 'Internal' },
        );
        return asyncHandle;
      });
    },

    /**
     * Polls the rekey job to its end (see pollAsyncJob for the history-friendly retry pattern). A
     * result purged before it was read is decided from GetSoftwareEncryptionAtRestInfo.
     */
    async awaitMasterKeyRekey(cluster: string, handle: number, poll: PollSettings = DEFAULT_POLL): Promise<RekeyJobResult> {
      return withElement(ctx, cluster, async (client) => {
        const outcome = await pollAsyncJobOrGone(client, handle, poll);
        if ('gone' in outcome) return decideFromInfo(client, handle, outcome.gone);
        const parsed = RekeyMasterKeyAsyncResult.safeParse(outcome.result);
        if (!parsed.success) {
          throw refuse(
            Failure.UnexpectedAsyncResult,
            `async job ${handle} completed without the rekey result fields: ${parsed.error.message}`,
          );
        }
        return parsed.data;
      });
    },

    /** The end state the vendor's procedure checks: a new key of the asked type and provider, from our handle. */
    async verifyMasterKey(
      cluster: string,
      expected: { oldKeyID?: string; keyManagement: 'internal' | 'external'; keyProviderID?: number; handle: number },
    ): Promise<VerifiedMasterKey> {
      return withElement(ctx, cluster, async (client) => {
        const info = await client.call('GetSoftwareEncryptionAtRestInfo');
        const key = info.masterKeyInfo;
        const problems: string[] = [];
        if (!key?.keyID) problems.push('masterKeyInfo.keyID is missing');
        else if (key.keyID === expected.oldKeyID) problems.push(`masterKeyInfo.keyID is still the old key ${expected.oldKeyID}`);
        if (key?.keyManagementType !== expected.keyManagement) {
          problems.push(`masterKeyInfo.keyManagementType is ${key?.keyManagementType}, expected ${expected.keyManagement}`);
        }
        if (expected.keyManagement === 'external' && key?.keyProviderID !== expected.keyProviderID) {
          problems.push(`masterKeyInfo.keyProviderID is ${key?.keyProviderID}, expected ${expected.keyProviderID}`);
        }
        if (info.rekeyMasterKeyAsyncResultID !== expected.handle) {
          problems.push(`rekeyMasterKeyAsyncResultID is ${info.rekeyMasterKeyAsyncResultID}, expected ${expected.handle}`);
        }
        if (problems.length > 0)
          throw refuse(
            Failure.RekeyNotVerified,
            `after the rekey, GetSoftwareEncryptionAtRestInfo disagrees: ${problems.join('; ')}`,
          );
        return {
          keyID: key!.keyID!,
          keyManagementType: expected.keyManagement,
          keyProviderID: key!.keyProviderID,
          keyCreatedTime: key!.keyCreatedTime,
        };
      });
    },
  };
}
