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
import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RenewalPrecheck } from '../activities/renew';
import type { CertificateSummary } from '../src/pki/certificate-checks';
import { formatDuration } from '../src/durations';
import { clusterCalls } from './calls';
import { ClusterLockClient } from './cluster-lock';
import type { OperatorAnswer } from './contract';
import { describeFailure, Failure } from './failures';
import { parseInput } from './inputs';
import { renewInput, type RenewInput, type RenewOptions } from './inputs-renew';
import { abortedBy, isAbort } from './operator';
import { now, RunbookTracker, type AskOnFailure } from './progress';
import { windowRanOut } from './recover-kmip-server-fault';
import { checkCertificate, obtainSignedCertificate, waitUntilCertificateValid, type AcceptedCertificate } from './signing';

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
type RenewRun = RunbookTracker<(typeof RENEW_STEPS)[number][0]>;

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
  const testing = clusterCalls({ timeoutMs: input.activityTimeoutMs, retry: testRetry(input) });
  await run.stepOrAsk(
    'window',
    () => testing.testKeyProvider(cluster, precheck.provider.id),
    {
      prompt: (title) =>
        `${title}: the provider fails TestKeyProviderKmip, and a new key pair must not be made while it does. Fix the cause and retry, or abort`,
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
  const window = { openedAt: now() };
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
  const lasted = formatDuration(Date.parse(window.closedAt) - Date.parse(window.openedAt));
  run.note(`key-pair window closed after ${lasted}: the new certificate is installed and passed the tests`);
}

interface Installed {
  certificate: AcceptedCertificate;
  modify: 'modified' | 'already-installed';
  kmipCaReplaced: boolean;
  kmipCaNotAfter?: string[];
}

/**
 * The install step: ModifyKeyServerKmip with the new client certificate (and the renewed KMIP CA),
 * then TestKeyServerKmip and TestKeyProviderKmip on the test budget. When they fail, the previous
 * certificates go back on the key server before the runbook asks retry / change / abort. (With a
 * new key pair the previous certificate certifies a key the cluster no longer has, so it is not
 * put back: the question says the window is open.)
 */
class CertificateInstaller {
  private certificate: AcceptedCertificate | undefined;
  private kmipCaCertificate: string | undefined;
  /** Client certificates this run handed to the cluster (a retry may find any of them there). */
  private readonly installed: string[] = [];
  /** The key server may hold a certificate that has not passed the tests. */
  private untested = false;
  private readonly reaches: ReturnType<typeof clusterCalls>;
  private readonly calls: ReturnType<typeof clusterCalls>;
  readonly askOnFailure: AskOnFailure;

  constructor(
    private readonly run: RenewRun,
    private readonly input: RenewOptions,
    private readonly precheck: RenewalPrecheck,
    private readonly csrPem: string,
    private readonly keyPairReplaced: boolean,
  ) {
    this.kmipCaCertificate = input.kmipCaCertificate;
    this.calls = clusterCalls({ timeoutMs: input.activityTimeoutMs });
    // ModifyKeyServerKmip and the tests make the cluster reach the key server: the test budget.
    this.reaches = clusterCalls({ timeoutMs: input.activityTimeoutMs, retry: testRetry(input) });
    this.askOnFailure = {
      prompt: (title) =>
        `${title} failed. ${this.stateInWords()} Fix the cause and retry, change the client certificate or the KMIP CA, or abort`,
      answers: ['retry', 'change', 'abort'],
      remindEveryMs: input.questionReminderEveryMs,
      onAnswer: (answer) => this.change(answer),
    };
  }

  async install(certificate: AcceptedCertificate): Promise<Installed> {
    this.certificate = certificate;
    return this.run.stepOrAsk(
      'install',
      () => this.attempt(),
      this.askOnFailure,
      (i) =>
        `${i.modify === 'modified' ? 'ModifyKeyServerKmip' : 'found installed'}: ${i.certificate.summary.subject}, valid until ${i.certificate.summary.notAfter}; both tests pass`,
    );
  }

  private async attempt(): Promise<Installed> {
    const certificate = this.certificate!;
    const { cluster } = this.input;
    const keyServerID = this.precheck.keyServer.id;
    await waitUntilCertificateValid(this.run, 'install', certificate);
    if (!this.installed.includes(certificate.certificatePem)) this.installed.push(certificate.certificatePem);
    this.untested = true;
    let modify: 'modified' | 'already-installed';
    try {
      const result = await this.reaches.installKeyServerCertificate(cluster, {
        keyServerID,
        clientCertificatePem: certificate.certificatePem,
        kmipCaCertificate: this.kmipCaCertificate,
        replaceable: [this.precheck.clientCertificatePem, ...this.installed],
      });
      modify = result.action;
      if (result.modifyError) {
        throw ApplicationFailure.nonRetryable(
          `ModifyKeyServerKmip answered ${result.modifyError}, and the cluster kept the new certificate anyway`,
          Failure.CertificateRejected,
        );
      }
      if (result.action === 'already-installed')
        this.run.note('the new certificate was already on the key server (ModifyKeyServerKmip applied before a restart)');
      else this.run.note(`ModifyKeyServerKmip: ${result.changed.join(', ')} replaced; testing`);
      await this.reaches.testKeyServer(cluster, keyServerID);
      await this.reaches.testKeyProvider(cluster, this.precheck.provider.id);
    } catch (err) {
      if (isCancellation(err)) throw err;
      await this.putBack(err);
      throw err;
    }
    this.untested = false;
    const ca = this.kmipCaCertificate;
    return {
      certificate,
      modify,
      kmipCaReplaced: ca !== undefined,
      kmipCaNotAfter: ca === undefined ? undefined : this.precheck.newKmipCa?.map((c) => c.notAfter),
    };
  }

  /**
   * The previous certificates go back (they still work until they expire) before anyone is asked.
   * Not with a new key pair: the previous certificate is for a key the cluster no longer has.
   */
  private async putBack(cause: unknown, what = `the new certificate failed (${describeFailure(cause)})`): Promise<void> {
    if (this.keyPairReplaced) {
      this.run.note(
        `the tests failed (${describeFailure(cause)}); the previous certificate is not put back: it certifies the replaced key pair. The key-pair window stays open`,
      );
      return;
    }
    try {
      const restored = await this.reaches.restoreKeyServerCertificate(this.input.cluster, {
        keyServerID: this.precheck.keyServer.id,
        clientCertificatePem: this.precheck.clientCertificatePem,
        kmipCaCertificatePem: this.precheck.kmipCaCertificatePem,
        installed: this.installed,
      });
      this.untested = false;
      this.run.note(
        restored.action === 'restored'
          ? `${what}: the previous one was put back (valid until ${this.precheck.client.notAfter})`
          : `${what}: the key server still holds the previous one (valid until ${this.precheck.client.notAfter})`,
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.run.note(`the previous certificate could not be put back: ${describeFailure(err)}`);
      throw ApplicationFailure.nonRetryable(
        `${describeFailure(cause)}; then the previous certificate could not be put back (${describeFailure(err)}): the key server may hold the new, untested certificate`,
        Failure.PreviousCertificateNotRestored,
      );
    }
  }

  private stateInWords(): string {
    if (this.keyPairReplaced)
      return "The key-pair window is open: the key server's certificate does not match the cluster's new key until a new certificate passes.";
    if (this.untested) return 'The key server may hold the new, untested certificate (putting the previous one back failed).';
    return `The key server holds the previous certificate again (valid until ${this.precheck.client.notAfter}).`;
  }

  /** A person's `change`: another client certificate (checked like a signed one) and/or the renewed KMIP CA. */
  private async change(answer: OperatorAnswer): Promise<void> {
    if (answer.action !== 'change') return;
    const by = answer.by ?? 'an operator';
    if (answer.hostnames || answer.port !== undefined || answer.driveIDs)
      this.run.note(
        `${by}: hostnames, port and drives are not changed by a renewal (it changes the key server's certificates only)`,
      );
    if (answer.kmipCaCertificate) {
      this.kmipCaCertificate = answer.kmipCaCertificate;
      this.run.note(`KMIP CA certificate to install changed by ${by}`);
    }
    if (!answer.clientCertificate) return;
    try {
      this.certificate = await checkCertificate(
        this.calls,
        this.csrPem,
        { ...answer.clientCertificate, names: { certificate: '--client-cert', ca: '--client-ca' } },
        { notAfter: this.precheck.client.notAfter, what: 'the current certificate' },
      );
    } catch (err) {
      if (!(err instanceof ApplicationFailure && err.type === Failure.CertificateRejected)) throw err;
      this.run.note(`client certificate refused: ${err.message}`);
      return;
    }
    for (const note of this.certificate.notes ?? []) this.run.note(note);
    const { subject, issuer, notAfter } = this.certificate.summary;
    this.run.note(`client certificate replaced by ${by}: ${subject}, issued by ${issuer}, valid until ${notAfter}`);
  }

  /** An abort or a cancellation while the key server may hold an untested certificate: one more try to put the previous back. */
  async putBackAfterAbort(): Promise<void> {
    if (!this.untested || this.keyPairReplaced) return;
    await CancellationScope.nonCancellable(async () => {
      try {
        await this.putBack('the run was aborted', 'the run ended while the key server might hold the new, untested certificate');
      } catch (err) {
        this.run.note(`abort: ${describeFailure(err)}`);
      }
    });
  }
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

/** Calls that make the cluster reach the key server retry on the test budget, growing, before a person is asked. */
function testRetry(input: RenewOptions): RetryPolicy {
  return {
    maximumAttempts: input.testAttempts,
    initialInterval: input.testRetryIntervalMs,
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
  };
}
