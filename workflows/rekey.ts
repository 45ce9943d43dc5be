/**
 * Procedure 2: rekey the software encryption-at-rest master key (runbooks.md). A new key always
 * replaces the old one; the asyncHandle is recorded in history as soon as the job starts, so the
 * wait survives any restart, and a rekey already in flight is attached to, never duplicated.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { KmipKeyCheck } from '../activities/kmip-check';
import type { RekeyPrecheck } from '../activities/rekey';
import { ClusterLockClient } from './cluster-lock';
import { parseInput, rekeyInput, type RekeyInput } from './inputs';
import { OperatorChannel } from './operator';
import { RunbookTracker } from './progress';

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

const STEPS = [
  ['lock', 'Cluster lock (one mutating runbook per cluster)'],
  ['precheck', 'Precheck: software encryption enabled, provider chosen'],
  ['test-provider', 'TestKeyProviderKmip'],
  ['start', 'RekeySoftwareEncryptionAtRestMasterKey'],
  ['wait', 'Wait for the rekey job (GetAsyncResult)'],
  ['verify', 'Verify GetSoftwareEncryptionAtRestInfo'],
] as const;

export async function rekeyRunbook(rawInput: RekeyInput): Promise<RekeyResult> {
  const input = parseInput(rekeyInput, rawInput);
  const tracker = new RunbookTracker('rekey', input.cluster, STEPS);
  const operator = new OperatorChannel(tracker);
  const lock = new ClusterLockClient(input.cluster);
  const startedAt = new Date().toISOString();
  const cluster_ = proxyActivities<Activities>({
    startToCloseTimeout: input.activityTimeout,
    retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: 10 },
  });
  const waitForJob = proxyActivities<Activities>({
    startToCloseTimeout: input.polling.attemptWindowMs + 60_000,
    // A poll heartbeats at least every maxInterval; a dead worker is noticed after three missed ones.
    heartbeatTimeout: Math.max(10_000, 3 * input.polling.maxIntervalMs),
    scheduleToCloseTimeout: input.jobDeadline,
    retry: { initialInterval: input.polling.initialIntervalMs, backoffCoefficient: 1 },
  }).awaitMasterKeyRekey;

  try {
    await tracker.run('lock', () => lock.acquire(tracker, 'lock', input.ifBusy));
    const target =
      input.keyManagement === 'external'
        ? ({ keyManagement: 'external', provider: input.provider ?? { active: true } } as const)
        : ({ keyManagement: 'internal' } as const);

    let precheck: RekeyPrecheck = await tracker.run(
      'precheck',
      () => cluster_.rekeyPrecheck(input.cluster, target),
      (p) =>
        [
          `current key ${p.masterKey?.keyID ?? 'unknown'} (${p.masterKey?.keyManagementType ?? '?'})`,
          p.provider ? `target provider ${p.provider.id} "${p.provider.name}"` : 'target internal',
          p.inFlightHandle !== undefined ? `rekey ${p.inFlightHandle} already running: attaching` : undefined,
        ]
          .filter(Boolean)
          .join('; '),
    );

    let handle: number;
    let attached = false;
    if (precheck.inFlightHandle !== undefined) {
      attached = true;
      handle = precheck.inFlightHandle;
      tracker.skip('test-provider', 'attached to the rekey already running');
      tracker.skip('start', `attached to running rekey ${handle}`);
      tracker.note(
        `a rekey was already running on the cluster (asyncHandle ${handle}); attached to it instead of starting another`,
      );
      const attachedResult = await tracker.run('wait', () => waitForJob(input.cluster, handle, input.polling));
      const matches =
        attachedResult.newKey.keyManagementType === input.keyManagement &&
        (input.keyManagement === 'internal' || attachedResult.newKey.keyProviderID === precheck.provider?.id);
      if (!matches) {
        // The running rekey went elsewhere than asked: now run ours, from the state it left.
        tracker.note(
          `the attached rekey ended with a ${attachedResult.newKey.keyManagementType} key; starting the rekey that was asked for`,
        );
        attached = false;
        precheck = await tracker.run('precheck', () => cluster_.rekeyPrecheck(input.cluster, target));
      }
    }

    if (!attached) {
      if (precheck.provider) {
        const providerId = precheck.provider.id;
        await tracker.run('test-provider', () => cluster_.testKeyProvider(input.cluster, providerId));
      } else {
        tracker.skip('test-provider', 'internal key management: no provider to test');
      }
      handle = await tracker.run(
        'start',
        () =>
          cluster_.startMasterKeyRekey(input.cluster, {
            keyManagement: input.keyManagement,
            keyProviderID: precheck.provider?.id,
            handleAtPrecheck: precheck.lastHandle,
          }),
        (h) => `asyncHandle ${h}`,
      );
      await tracker.run(
        'wait',
        () => waitForJob(input.cluster, handle, input.polling),
        (r) => `${r.operation} (${r.state})`,
      );
    }

    const { newKey, kmipCheck } = await tracker.run(
      'verify',
      async () => {
        const key = await cluster_.verifyMasterKey(input.cluster, {
          oldKeyID: precheck.masterKey?.keyID,
          keyManagement: input.keyManagement,
          keyProviderID: precheck.provider?.id,
          handle: handle!,
        });
        // The cluster's word is not enough for an external key: ask the key server (runs before this patch did not).
        const onServer =
          key.keyProviderID !== undefined && patched('rekey-confirms-key-on-kmip-server')
            ? await cluster_.confirmKeyOnKmipServer(input.cluster, { keyProviderID: key.keyProviderID, keyID: key.keyID })
            : undefined;
        return { newKey: key, kmipCheck: onServer };
      },
      ({ newKey: k, kmipCheck: c }) =>
        `new master key ${k.keyID} (${k.keyManagementType}${k.keyProviderID !== undefined ? `, provider ${k.keyProviderID}` : ''})` +
        (c === undefined ? '' : c.checked ? `; found on key server ${c.server}` : `; not checked on the key server: ${c.reason}`),
    );
    tracker.finish('completed');
    await operator.notify(
      'completed',
      `master key of ${input.cluster} replaced: ${precheck.masterKey?.keyID ?? '?'} -> ${newKey.keyID}`,
    );
    return {
      cluster: input.cluster,
      asyncHandle: handle!,
      attachedToRunningRekey: attached,
      oldKey: precheck.masterKey,
      newKey,
      kmipCheck,
      provider: precheck.provider,
      startedAt,
      completedAt: new Date().toISOString(),
    };
  } catch (err) {
    // Like every runbook: a failure is announced, a cancellation recorded as cancelled (before this patch: failed, silently).
    if (patched('rekey-ends-like-the-others')) await operator.recordEnd(err, `rekey of ${input.cluster}`);
    else tracker.finish('failed', err);
    throw err;
  } finally {
    await lock.release();
  }
}
