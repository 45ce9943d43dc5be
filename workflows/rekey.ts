/**
 * Procedure 2: rekey the software encryption-at-rest master key (docs/procedures.md). A new key
 * always replaces the old one; the asyncHandle is recorded in history as soon as the job starts,
 * so the wait survives any restart, and a rekey already in flight is attached to, never
 * duplicated.
 */
import type { KmipKeyCheck } from '../activities/kmip-check';
import type { RekeyPrecheck, RekeyTarget } from '../activities/rekey';
import { clusterCalls } from './calls';
import { ClusterLockClient } from './cluster-lock';
import { parseInput, rekeyInput, type RekeyInput } from './inputs';
import { describeMasterKey, MasterKeyRekey } from './master-key-rekey';
import { now, RunbookTracker } from './progress';

export const REKEY_STEPS = [
  ['lock', 'Cluster lock (one mutating runbook per cluster)'],
  ['precheck', 'Precheck: software encryption enabled, provider chosen'],
  ['test-provider', 'TestKeyProviderKmip'],
  ['start', 'RekeySoftwareEncryptionAtRestMasterKey'],
  ['wait', 'Wait for the rekey job (GetAsyncResult)'],
  ['verify', 'Verify GetSoftwareEncryptionAtRestInfo'],
] as const;

export async function rekeyRunbook(rawInput: RekeyInput): Promise<RekeyResult> {
  const input = parseInput(rekeyInput, rawInput);
  const cluster = input.cluster;
  const run = new RunbookTracker('rekey', cluster, REKEY_STEPS);
  const lock = new ClusterLockClient(cluster);
  const calls = clusterCalls({ timeoutMs: input.activityTimeoutMs });
  const target: RekeyTarget =
    input.keyManagement === 'external'
      ? { keyManagement: 'external', provider: input.provider ?? { active: true } }
      : { keyManagement: 'internal' };
  try {
    await run.step('lock', () => lock.acquire(run, input.ifBusy));
    // 1. ListKeyProvidersKmip: pick the provider; software encryption must be enabled.
    let precheck = await run.step('precheck', () => calls.rekeyPrecheck(cluster, target), describePrecheck);
    let rekey = rekeyOf(precheck);
    let attached = false;

    // A rekey already running is followed; if it went elsewhere than asked, ours runs after it.
    if (precheck.inFlightHandle !== undefined) {
      const { handle } = await rekey.start(precheck);
      run.skip('test-provider', 'attached to the rekey already running');
      run.skip('start', `attached to running rekey ${handle}`);
      run.note(`a rekey was already running on the cluster (asyncHandle ${handle}); attached to it instead of starting another`);
      const ended = await run.step('wait', () => rekey.wait());
      attached =
        ended.newKey.keyManagementType === input.keyManagement &&
        (input.keyManagement === 'internal' || ended.newKey.keyProviderID === precheck.provider?.id);
      if (!attached) {
        run.note(`the attached rekey ended with a ${ended.newKey.keyManagementType} key; starting the rekey that was asked for`);
        precheck = await run.step('precheck', () => calls.rekeyPrecheck(cluster, target));
        rekey = rekeyOf(precheck);
      }
    }

    if (!attached) {
      // TestKeyProviderKmip passes for the provider to be used.
      if (precheck.provider) {
        const keyProviderID = precheck.provider.id;
        await run.step('test-provider', () => calls.testKeyProvider(cluster, keyProviderID));
      } else run.skip('test-provider', 'internal key management: no provider to test');
      // 2. RekeySoftwareEncryptionAtRestMasterKey; 3. GetAsyncResult until complete.
      await run.step(
        'start',
        () => rekey.start(precheck),
        (s) => `asyncHandle ${s.handle}`,
      );
      await run.step(
        'wait',
        () => rekey.wait(),
        (r) => `${r.operation} (${r.state})`,
      );
    }

    // 4. GetSoftwareEncryptionAtRestInfo shows the new key; an external key is also asked of the key server.
    const confirmed = await run.step(
      'verify',
      () => rekey.verify(),
      (c) => describeMasterKey(c, 'new master key'),
    );
    await run.completed(`master key of ${cluster} replaced: ${precheck.masterKey?.keyID ?? '?'} -> ${confirmed.key.keyID}`);
    return {
      cluster,
      asyncHandle: rekey.asyncHandle!,
      attachedToRunningRekey: attached,
      oldKey: precheck.masterKey,
      newKey: confirmed.key,
      kmipCheck: confirmed.kmipCheck,
      provider: precheck.provider,
      startedAt: run.startedAt,
      completedAt: now(),
    };
  } catch (err) {
    await run.end(err, `rekey of ${cluster}`);
    throw err;
  } finally {
    await lock.release();
  }

  function rekeyOf(precheck: RekeyPrecheck): MasterKeyRekey {
    return new MasterKeyRekey(
      cluster,
      precheck.provider ? { keyManagement: 'external', keyProviderID: precheck.provider.id } : { keyManagement: 'internal' },
      { activityTimeoutMs: input.activityTimeoutMs, jobDeadlineMs: input.jobDeadlineMs, polling: input.polling },
    );
  }
}

export interface RekeyResult {
  cluster: string;
  asyncHandle: number;
  attachedToRunningRekey: boolean;
  oldKey?: { keyID?: string; keyManagementType: string; keyProviderID?: number };
  newKey: { keyID: string; keyManagementType: string; keyProviderID?: number; keyCreatedTime?: string };
  provider?: { id: number; name: string };
  /** External keys: whether the worker found the new key on the key server itself (clusters file kmipCheck). */
  kmipCheck?: KmipKeyCheck;
  startedAt: string;
  completedAt: string;
}

function describePrecheck(p: RekeyPrecheck): string {
  return [
    `current key ${p.masterKey?.keyID ?? 'unknown'} (${p.masterKey?.keyManagementType ?? '?'})`,
    p.provider ? `target provider ${p.provider.id} "${p.provider.name}"` : 'target internal',
    p.inFlightHandle !== undefined ? `rekey ${p.inFlightHandle} already running: attaching` : undefined,
  ]
    .filter(Boolean)
    .join('; ');
}
