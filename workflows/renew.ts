/**
 * Procedure 5: renew the key server certificates (docs/procedures.md). The cluster's KMIP client
 * certificate, signed once during setup, and the key server's CA certificate expire; Element
 * raises kmipCertificateFault, and NetApp's remedy is a new signature for the cluster's CSR (30+
 * days), installed with ModifyKeyServerKmip. The key pair is kept unless a new one is asked for:
 * that opens a window (the installed certificate no longer matches the cluster's key until the
 * new one is in), so the provider is proven healthy and the window accepted first. A certificate
 * that fails the key server's tests is taken back — the previous one still works until it
 * expires — before a person is asked, so the cluster is never left with an untested certificate.
 */
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RenewalPrecheck } from '../activities/renew';
import type { CertificateSummary } from '../src/pki/certificate-checks';
import { formatDuration } from '../src/durations';
import { clusterCalls } from './calls';
import { ClusterLockClient } from './cluster-lock';
import { describeFailure, Failure } from './failures';
import { parseInput } from './inputs';
import { renewInput, type RenewInput, type RenewOptions } from './inputs-renew';
import { abortedBy, isAbort } from './operator';
import { now, RunbookTracker } from './progress';
import { windowRanOut } from './recover-kmip-server-fault';
import { CertificateInstaller, keyPairWindowAbort, testRetry } from './renew-install';
import { obtainSignedCertificate } from './signing';

export const RENEW_STEPS = [
  ['lock', 'Cluster lock (one mutating runbook per cluster)'],
  ['precheck', 'Precheck: provider, key server, its certificates and the CSR they certify'],
  ['window', 'New key pair only: provider healthy (TestKeyProviderKmip), the key-pair window accepted'],
  ['key-pair', 'New key pair only: CreatePublicPrivateKeyPair'],
  ['csr', 'GetClientCertificateSignRequest'],
  ['signing', 'The CA signs the CSR (valid longer than the current certificate)'],
  ['install', 'ModifyKeyServerKmip, then TestKeyServerKmip and TestKeyProviderKmip'],
  ['confirm', 'The cluster clears kmipCertificateFault (ListClusterFaults)'],
] as const;
export type RenewRun = RunbookTracker<(typeof RENEW_STEPS)[number][0]>;

export async function renewRunbook(rawInput: RenewInput): Promise<RenewResult> {
  const input = parseInput(renewInput, rawInput);
  const cluster = input.cluster;
  const run: RenewRun = new RunbookTracker('renew', cluster, RENEW_STEPS);
  const lock = new ClusterLockClient(cluster);
  const calls = clusterCalls({ timeoutMs: input.activityTimeoutMs });
  let installer: CertificateInstaller | undefined;
  try {
    await run.step('lock', () => lock.acquire(run, input.ifBusy));
    // What the cluster uses now: the provider's key server, its certificates, the CSR they certify.
    const precheck = await run.step('precheck', () => calls.renewPrecheck(cluster, precheckInput(input)), describePrecheck);
    for (const note of precheck.notes) run.note(note);
    // The key pair: kept (the default), or replaced once the provider is healthy and the window accepted.
    const keyPair = input.newKeyPair ? await replaceKeyPair(run, input, precheck) : keepKeyPair(run, precheck);
    // GetClientCertificateSignRequest: the CSR of that key pair is what the CA signs.
    const csr = await run.step(
      'csr',
      () => calls.fetchCsr(cluster),
      (c) => `${c.subject}, key ${c.keyFingerprint.slice(0, 16)}…`,
    );
    if (csr.keyFingerprint !== keyPair.fingerprint) throw keyPairChanged();
    run.publishCsr(csr.csrPem);
    // The CA signs it: the same wait and checks as setup, and valid longer than the current certificate.
    const certificate = await obtainSignedCertificate(run, {
      cluster,
      csrPem: csr.csrPem,
      signer: input.signer,
      deadlineMs: input.signingDeadlineMs,
      reminderEveryMs: input.reminderEveryMs,
      activityTimeoutMs: input.activityTimeoutMs,
      signerRetry: testRetry(input),
      mustOutlive: { notAfter: precheck.client.notAfter, what: 'the current certificate' },
      ...(keyPair.window ? { abortRequires: keyPairWindowAbort(cluster) } : {}),
    });
    // ModifyKeyServerKmip, then the tests; a failure puts the previous certificate back before anyone is asked.
    installer = new CertificateInstaller(run, input, precheck, csr.csrPem, keyPair.window !== undefined);
    const installed = await installer.install(certificate);
    if (keyPair.window) closeWindow(run, keyPair.window);
    // The cluster clears kmipCertificateFault at its next fault refresh.
    await awaitFaultCleared(run, input, precheck);

    const renewed = installed.certificate.summary;
    await run.completed(
      `key server ${precheck.keyServer.id} of ${cluster} renewed: client certificate valid until ${renewed.notAfter} (was ${precheck.client.notAfter})`,
    );
    return {
      cluster,
      keyProviderID: precheck.provider.id,
      keyServerID: precheck.keyServer.id,
      previous: brief(precheck.client),
      renewed: brief(renewed),
      kmipCa: installed.kmipCaReplaced
        ? { replaced: true, previousNotAfter: precheck.kmipCa.map((c) => c.notAfter), notAfter: installed.kmipCaNotAfter }
        : { replaced: false, previousNotAfter: precheck.kmipCa.map((c) => c.notAfter) },
      keyPair: input.newKeyPair ? 'replaced' : 'kept',
      keyFingerprint: keyPair.fingerprint,
      keyPairWindow: keyPair.window && { openedAt: keyPair.window.openedAt, closedAt: keyPair.window.closedAt! },
      modify: installed.modify,
      resolvedFaultIDs: precheck.certificateFaults.map((f) => f.clusterFaultID),
      startedAt: run.startedAt,
      completedAt: now(),
    };
  } catch (err) {
    if (isAbort(err)) await installer?.putBackAfterAbort();
    await run.end(err, `certificate renewal on ${cluster}`);
    throw err;
  } finally {
    await lock.release();
  }
}

export interface RenewResult {
  cluster: string;
  keyProviderID: number;
  keyServerID: number;
  /** The client certificate before and after: subject, issuer, notAfter, fingerprint. */
  previous: CertificateBrief;
  renewed: CertificateBrief;
  kmipCa: { replaced: boolean; previousNotAfter: string[]; notAfter?: string[] };
  keyPair: 'kept' | 'replaced';
  /** SHA-256 of the cluster's public key the new certificate certifies. */
  keyFingerprint: string;
  /** A new key pair: from CreatePublicPrivateKeyPair until the new certificate passed the tests. */
  keyPairWindow?: { openedAt: string; closedAt: string };
  /** What ModifyKeyServerKmip did on the try that passed ('already-installed': a retry found it applied). */
  modify: 'modified' | 'already-installed';
  /** The kmipCertificateFault faults current at the precheck, now resolved. */
  resolvedFaultIDs: number[];
  startedAt: string;
  completedAt: string;
}

export interface CertificateBrief {
  subject: string;
  issuer: string;
  notAfter: string;
  fingerprint: string;
}

function brief(c: CertificateSummary): CertificateBrief {
  return { subject: c.subject, issuer: c.issuer, notAfter: c.notAfter, fingerprint: c.fingerprint };
}

interface KeyPairWindow {
  openedAt: string;
  closedAt?: string;
}

interface KeyPairOutcome {
  fingerprint: string;
  window?: KeyPairWindow;
}

/** The default: the CA signs the CSR of the key pair the current certificate certifies. */
function keepKeyPair(run: RenewRun, precheck: RenewalPrecheck): KeyPairOutcome {
  run.skip('window', 'the key pair is kept: no window');
  run.skip('key-pair', `the key pair is kept (key ${precheck.keyFingerprint.slice(0, 16)}…)`);
  return { fingerprint: precheck.keyFingerprint };
}

/**
 * --new-key-pair: the provider must pass TestKeyProviderKmip first (a new key pair on an
 * unhealthy provider would leave nothing that works), the window is accepted (up front, or by a
 * person's `confirm`), then CreatePublicPrivateKeyPair, once: a retry finds the key it made.
 */
async function replaceKeyPair(run: RenewRun, input: RenewOptions, precheck: RenewalPrecheck): Promise<KeyPairOutcome> {
  const cluster = input.cluster;
  if (precheck.keyPairAlreadyReplaced) {
    // An earlier run ended inside its window: the pair is new already and the window open; close it.
    run.skip('window', 'the key pair was replaced already: the window is open, nothing to accept');
    run.skip(
      'key-pair',
      `no new key pair: the CA signs the CSR of the current one (key ${precheck.keyFingerprint.slice(0, 16)}…)`,
    );
    run.setKeyPairWindowOpen(true);
    run.note(`key-pair window open already: ${precheck.window}`);
    return { fingerprint: precheck.keyFingerprint, window: { openedAt: run.keyPairWindowSince ?? now() } };
  }
  const testing = clusterCalls({ timeoutMs: input.activityTimeoutMs, retry: testRetry(input) });
  await run.stepOrAsk(
    'window',
    () => testing.testKeyProvider(cluster, precheck.provider.id),
    {
      prompt: (step) =>
        `${step}: the provider fails TestKeyProviderKmip, and a new key pair must not be made while it does. Fix the cause and retry, or abort`,
      answers: ['retry', 'abort'],
      remindEveryMs: input.questionReminderEveryMs,
    },
    () => `provider ${precheck.provider.id} passes TestKeyProviderKmip`,
  );
  await acceptWindow(run, input, precheck);
  const calls = clusterCalls({ timeoutMs: input.activityTimeoutMs });
  const keyPair = await run.step(
    'key-pair',
    () => calls.ensureKeyPair(cluster, { subject: precheck.subject, fingerprintAtPrecheck: precheck.keyFingerprint }),
    (k) => `key ${k.fingerprint.slice(0, 16)}… ${k.created ? 'created' : 'made earlier by this run'}`,
  );
  run.setKeyPairWindowOpen(true);
  const window = { openedAt: run.keyPairWindowSince ?? now() };
  run.note(
    `key-pair window open: key server ${precheck.keyServer.id}'s certificate no longer matches the cluster's key until the new one is installed`,
  );
  return { fingerprint: keyPair.fingerprint, window };
}

/** The key-pair window is accepted up front (--accept-key-pair-window) or by a person's `confirm`. */
async function acceptWindow(run: RenewRun, input: RenewOptions, precheck: RenewalPrecheck): Promise<void> {
  if (input.acceptKeyPairWindow) {
    run.note(`key-pair window accepted up front (acceptKeyPairWindow): ${precheck.window}`);
    return;
  }
  const answer = await run.ask({
    step: 'window',
    prompt: `confirm to replace the cluster's key pair, or abort: ${precheck.window}`,
    answers: ['confirm', 'abort'],
    remindEveryMs: input.questionReminderEveryMs,
  });
  if (answer?.action === 'abort') throw abortedBy(answer);
  run.complete('window', `key-pair window accepted by ${answer?.by ?? 'an operator'}`);
}

function closeWindow(run: RenewRun, window: KeyPairWindow): void {
  window.closedAt = now();
  run.setKeyPairWindowOpen(false);
  const lasted = formatDuration(Date.parse(window.closedAt) - Date.parse(window.openedAt));
  run.note(`key-pair window closed after ${lasted}: the new certificate is installed and passed the tests`);
}

/**
 * The cluster refreshes its faults on a cadence (about every 30 s): one look per activity attempt,
 * a flat retry on the poll interval, the resolve window as the deadline.
 */
async function awaitFaultCleared(run: RenewRun, input: RenewOptions, precheck: RenewalPrecheck): Promise<void> {
  const { awaitCertificateFaultResolved } = proxyActivities<Activities>({
    // One look: a worker that died during it is noticed after the activity timeout, well inside the window.
    startToCloseTimeout: input.activityTimeoutMs,
    scheduleToCloseTimeout: input.resolveWindowMs,
    retry: { initialInterval: input.faultPollIntervalMs, backoffCoefficient: 1, maximumInterval: input.faultPollIntervalMs },
  });
  const ids = precheck.certificateFaults.map((f) => f.clusterFaultID);
  await run.step(
    'confirm',
    async () => {
      try {
        await awaitCertificateFaultResolved(input.cluster, precheck.keyServer.id);
      } catch (err) {
        if (!windowRanOut(err)) throw err;
        throw ApplicationFailure.nonRetryable(
          `the new certificate is installed and passes the tests, but kmipCertificateFault is still current ${formatDuration(input.resolveWindowMs)} later: ${describeFailure(err)}`,
          Failure.CertificateFaultNotResolved,
        );
      }
    },
    () => (ids.length > 0 ? `kmipCertificateFault ${ids.join(', ')} resolved` : 'no kmipCertificateFault current'),
  );
}

function precheckInput(input: RenewOptions) {
  return {
    provider: input.provider ?? { active: true as const },
    newKeyPair: input.newKeyPair,
    kmipCaCertificate: input.kmipCaCertificate,
    signer: input.signer.type,
  };
}

function describePrecheck(p: RenewalPrecheck): string {
  return `key server ${p.keyServer.id} "${p.keyServer.name}": client certificate valid until ${p.client.notAfter}${
    p.certificateFaults.length > 0 ? `; kmipCertificateFault ${p.certificateFaults.map((f) => f.clusterFaultID).join(', ')}` : ''
  }`;
}

function keyPairChanged(): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    "the cluster's key pair changed under the runbook (the CSR is for another key)",
    Failure.KeyPairChanged,
  );
}
