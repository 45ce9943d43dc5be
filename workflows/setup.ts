/**
 * Procedure 1: set up external key management (docs/procedures.md). Trust first (key pair, CSR,
 * the CA's signature: a wait of minutes to weeks), then the key provider and key server with
 * their tests, then encryption: hardware (EnableEncryptionAtRest) or software (master-key rekey).
 * A step that keeps failing asks a person (retry, change the server settings, abort); abort
 * removes what this run created, when nothing uses it.
 */
import { ApplicationFailure, type RetryPolicy } from '@temporalio/workflow';
import type { KmipKeyCheck } from '../activities/kmip-check';
import type { VerifiedMasterKey } from '../activities/rekey';
import type { SetupPrecheck } from '../activities/setup';
import { clusterCalls, pollingCalls } from './calls';
import { ClusterLockClient } from './cluster-lock';
import { Failure } from './failures';
import { parseInput, setupInput, type SetupInput, type SetupOptions } from './inputs';
import { KeyServerSetup } from './key-server';
import { describeMasterKey, MasterKeyRekey, type ConfirmedMasterKey } from './master-key-rekey';
import { isAbort } from './operator';
import { now, RunbookTracker } from './progress';
import { replaceInternalKey, skipInternalKeyReplacement, type UnlockedWindow } from './replace-internal-key';
import { obtainSignedCertificate, type AcceptedCertificate } from './signing';

export const SETUP_STEPS = [
  ['lock', 'Cluster lock (one mutating runbook per cluster)'],
  ['precheck', 'Precheck: API version, encryption state, what already exists'],
  ['key-pair', '1a CreatePublicPrivateKeyPair'],
  ['csr', '1b GetClientCertificateSignRequest'],
  ['signing', '1c The CA signs the CSR'],
  ['provider', '2a CreateKeyProviderKmip (or reuse by name)'],
  ['server', '2b CreateKeyServerKmip (or update by name)'],
  ['test-server', '2b TestKeyServerKmip'],
  ['attach', '2c AddKeyServerToProviderKmip'],
  ['test-provider', '2c TestKeyProviderKmip'],
  // Only with --replace-internal-key (hardware encryption on the cluster's internal keys): replace-internal-key.ts.
  ['retest-server', 'TestKeyServerKmip again, just before the disable'],
  ['retest-provider', 'TestKeyProviderKmip again, just before the disable'],
  ['disable', 'DisableEncryptionAtRest (the drives are not locked until enabled again)'],
  ['await-disabled', 'Wait for encryptionAtRestState disabled'],
  ['enable', '3 Turn on encryption with the provider'],
  ['enable-internal', 'EnableEncryptionAtRest with internal keys (only if answered enable-internal)'],
  ['await-enabled', 'Wait for encryptionAtRestState enabled'],
  ['verify', 'Verify the end state'],
] as const;
type SetupRun = RunbookTracker<(typeof SETUP_STEPS)[number][0]>;

export async function setupRunbook(rawInput: SetupInput): Promise<SetupResult> {
  const input = parseInput(setupInput, rawInput);
  const cluster = input.cluster;
  const run: SetupRun = new RunbookTracker('setup', cluster, SETUP_STEPS);
  const lock = new ClusterLockClient(cluster);
  const calls = clusterCalls({ timeoutMs: input.activityTimeoutMs });
  const reachesKeyServer = clusterCalls({ timeoutMs: input.activityTimeoutMs, retry: testRetry(input) });
  let keyServer: KeyServerSetup | undefined;
  try {
    await run.step('lock', () => lock.acquire(run, input.ifBusy));
    const precheck = await run.step('precheck', () => calls.setupPrecheck(cluster, precheckInput(input)), describePrecheck);
    for (const reused of precheck.reuse) run.note(`reusing ${reused}`);
    if (precheck.alreadyDone && precheck.existingProvider && precheck.existingServer) return alreadySetUp(run, input, precheck);
    if (precheck.replacesInternalKey) run.note(REPLACING_INTERNAL_KEY);
    else skipInternalKeyReplacement(run, 'only with --replace-internal-key on hardware encryption with internal keys');
    const server = (keyServer = new KeyServerSetup(run, input, calls, precheck));

    // 1. Establish trust with the key server (a certificate that still serves the key pair is kept).
    let trust: Trust;
    if (precheck.reusableCertificate) trust = reuseTrust(run, precheck.reusableCertificate);
    else {
      // 1a. CreatePublicPrivateKeyPair, made once: a retry finds the key this run made.
      const keyPair = await run.step(
        'key-pair',
        () => calls.ensureKeyPair(cluster, { subject: input.subject, fingerprintAtPrecheck: precheck.keyFingerprint }),
        (k) => `key ${k.fingerprint.slice(0, 16)}… ${k.created ? 'created' : 'made earlier by this run'}`,
      );
      // 1b. GetClientCertificateSignRequest, only ever read after that.
      const csr = await run.step(
        'csr',
        () => calls.fetchCsr(cluster),
        (c) => `${c.subject}, key ${c.keyFingerprint.slice(0, 16)}…`,
      );
      if (csr.keyFingerprint !== keyPair.fingerprint) throw keyPairChanged();
      run.publishCsr(csr.csrPem);
      // 1c. The CA signs the CSR: a person, or a signer the worker runs.
      const certificate = await obtainSignedCertificate(run, {
        cluster,
        csrPem: csr.csrPem,
        signer: input.signer,
        deadlineMs: input.signingDeadlineMs,
        reminderEveryMs: input.reminderEveryMs,
        activityTimeoutMs: input.activityTimeoutMs,
        signerRetry: testRetry(input),
      });
      trust = { keyFingerprint: keyPair.fingerprint, certificate };
    }

    // 2a. The key provider.
    const keyProviderID = await server.ensureProvider();
    // 2b. The key server with the signed client certificate, then TestKeyServerKmip.
    const keyServerID = await server.configure(trust.certificate);
    await run.stepOrAsk(
      'test-server',
      () => reachesKeyServer.testKeyServer(cluster, keyServerID),
      server.askOnFailure,
      () => 'key server answers over KMIP',
    );
    // 2c. AddKeyServerToProviderKmip, then TestKeyProviderKmip.
    await run.stepOrAsk(
      'attach',
      () => reachesKeyServer.attachKeyServer(cluster, { keyProviderID, keyServerID: server.keyServerID! }),
      server.askOnFailure,
    );
    await run.stepOrAsk(
      'test-provider',
      () => reachesKeyServer.testKeyProvider(cluster, keyProviderID),
      server.askOnFailure,
      () => 'provider answers over KMIP',
    );

    // 3. Turn encryption on with the provider: hardware or software (or stop here: mode none).
    //    Hardware on the cluster's internal keys: tested again, disabled, enabled with the provider.
    const unlocked = precheck.replacesInternalKey
      ? await replaceInternalKey(run, input, { keyProviderID, server, testRetry: testRetry(input) })
      : undefined;
    const masterKey = unlocked ? undefined : await enableEncryption(run, input, keyProviderID, server);

    // Verify the end state.
    const end = await run.step(
      'verify',
      () =>
        calls.verifySetup(cluster, {
          keyProviderID,
          keyServerID: server.keyServerID!,
          mode: input.mode,
          ...(unlocked ? { drivesUnderProvider: true } : {}),
        }),
      (v) => `provider ${v.providerActive ? 'active' : 'inactive'}, encryptionAtRestState ${v.encryptionAtRestState}`,
    );
    await run.completed(`external key management is set up on ${cluster} (${input.mode})`);
    const { subject, notAfter, fingerprint } = server.certificate!.summary;
    return {
      cluster,
      mode: input.mode,
      keyProviderID,
      keyServerID: server.keyServerID!,
      createdProvider: server.created.keyProviderID !== undefined,
      keyServerAction: server.action,
      keyFingerprint: trust.keyFingerprint,
      certificate: { subject, notAfter, fingerprint },
      masterKey: masterKey?.key,
      kmipCheck: masterKey?.kmipCheck,
      encryptionAtRestState: end.encryptionAtRestState,
      encryptionAtRestDisabled: unlocked,
      alreadySetUp: false,
      startedAt: run.startedAt,
      completedAt: now(),
    };
  } catch (err) {
    if (isAbort(err)) await keyServer?.removeCreated();
    await run.end(err, `setup of ${cluster}`);
    throw err;
  } finally {
    await lock.release();
  }
}

export interface SetupResult {
  cluster: string;
  mode: SetupOptions['mode'];
  keyProviderID: number;
  keyServerID: number;
  /** True when this run created the provider (false: reused). */
  createdProvider: boolean;
  keyServerAction: 'created' | 'updated' | 'unchanged' | 'reused';
  keyFingerprint?: string;
  certificate?: { subject: string; notAfter: string; fingerprint: string };
  masterKey?: VerifiedMasterKey;
  /** Software mode: whether the worker found the new master key on the key server itself (clusters file kmipCheck). */
  kmipCheck?: KmipKeyCheck;
  encryptionAtRestState?: string;
  /** replaceInternalKey: when hardware encryption at rest was disabled (the drives not locked) on the way to the provider. */
  encryptionAtRestDisabled?: UnlockedWindow;
  alreadySetUp: boolean;
  startedAt: string;
  completedAt: string;
}

interface Trust {
  keyFingerprint: string;
  certificate: AcceptedCertificate;
}

/**
 * Step 3: hardware, EnableEncryptionAtRest with the provider and the wait for `enabled` (no async
 * handle exists for it); software, the master-key rekey to the provider. Both make the cluster
 * reach the key server, so they retry on the test budget and then ask, like the tests. A demo
 * node's refusal (xAPINotPermitted "Encryption is not supported on demo nodes.") ends the run.
 */
async function enableEncryption(
  run: SetupRun,
  input: SetupOptions,
  keyProviderID: number,
  server: KeyServerSetup,
): Promise<ConfirmedMasterKey | undefined> {
  const cluster = input.cluster;
  if (input.mode === 'none') {
    run.skip('enable', 'mode none: stop after the provider test');
    return undefined;
  }
  if (input.mode === 'software') {
    const rekey = new MasterKeyRekey(
      cluster,
      { keyManagement: 'external', keyProviderID },
      { activityTimeoutMs: input.activityTimeoutMs, jobDeadlineMs: 24 * 3_600_000, polling: input.polling },
      testRetry(input),
    );
    return run.stepOrAsk(
      'enable',
      () => rekey.run(),
      server.askOnFailure,
      (k) => describeMasterKey(k),
    );
  }
  const reachesKeyServer = clusterCalls({ timeoutMs: input.activityTimeoutMs, retry: testRetry(input) });
  const wait = pollingCalls(input.polling, { deadlineMs: 24 * 3_600_000 });
  await run.stepOrAsk(
    'enable',
    async () => {
      const started = await reachesKeyServer.enableHardwareEncryption(cluster, keyProviderID);
      await wait.awaitHardwareEncryption(cluster, input.polling);
      return started;
    },
    server.askOnFailure,
    (s) =>
      s.started ? 'EnableEncryptionAtRest with the provider: enabled' : `encryption was already ${s.state}: waited for enabled`,
  );
  return undefined;
}

function keyPairChanged(): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    "the cluster's key pair changed under the runbook (the CSR is for another key)",
    Failure.KeyPairChanged,
  );
}

/** A key server certificate that still serves the cluster's key pair: no new key pair, no new CA round. */
function reuseTrust(run: SetupRun, reusable: NonNullable<SetupPrecheck['reusableCertificate']>): Trust {
  const { summary } = reusable;
  run.skip('key-pair', `reusing the cluster's key pair (key ${summary.keyFingerprint.slice(0, 16)}…)`);
  run.skip('csr', `key server ${reusable.keyServerID} already has a certificate for this key pair`);
  run.skip('signing', `reusing ${summary.subject}, valid until ${summary.notAfter}`);
  return {
    keyFingerprint: summary.keyFingerprint,
    certificate: { certificatePem: reusable.certificatePem, caChainPem: '', summary },
  };
}

/** A setup that already completed on this cluster ends at once, saying so. */
function alreadySetUp(run: SetupRun, input: SetupOptions, precheck: SetupPrecheck): SetupResult {
  const provider = precheck.existingProvider!;
  for (const [id] of SETUP_STEPS.slice(2)) run.skip(id, `already set up with provider ${provider.id}`);
  run.finish('completed');
  return {
    cluster: input.cluster,
    mode: input.mode,
    keyProviderID: provider.id,
    keyServerID: precheck.existingServer!.id,
    createdProvider: false,
    keyServerAction: 'reused',
    encryptionAtRestState: precheck.encryptionAtRestState,
    alreadySetUp: true,
    startedAt: run.startedAt,
    completedAt: now(),
  };
}

function precheckInput(input: SetupOptions) {
  return {
    mode: input.mode,
    keyProviderName: input.keyProviderName,
    keyServerName: input.keyServerName,
    newKeyPair: input.newKeyPair,
    commonName: input.subject.commonName,
    replaceInternalKey: input.replaceInternalKey,
  };
}

const REPLACING_INTERNAL_KEY =
  "hardware encryption at rest is on with the cluster's internal keys: once the provider passes its tests again it is disabled and enabled with the provider (--replace-internal-key); the drives are not locked in between";

function describePrecheck(p: SetupPrecheck): string {
  return p.reuse.length ? `reusing ${p.reuse.join('; ')}` : 'nothing to reuse';
}

/**
 * The calls that make the cluster reach the key server (tests, attach, enable) fail while it is
 * down: they retry on the test budget, growing, before a person is asked.
 */
function testRetry(input: SetupOptions): RetryPolicy {
  return {
    maximumAttempts: input.testAttempts,
    initialInterval: input.testRetryIntervalMs,
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
  };
}
