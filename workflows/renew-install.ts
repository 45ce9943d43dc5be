/**
 * Renewal's install step (docs/procedures.md, procedure 5): ModifyKeyServerKmip with the new
 * client certificate, the key server's tests, and the previous certificate put back when they fail.
 */
import { ApplicationFailure, CancellationScope, isCancellation, type RetryPolicy } from '@temporalio/workflow';
import type { RenewalPrecheck } from '../activities/renew';
import { clusterCalls } from './calls';
import type { OperatorAnswer, WaitingFor } from './contract';
import { describeFailure, Failure } from './failures';
import { sameCertificates } from '../src/pki/same-certificates';
import type { RenewOptions } from './inputs-renew';
import type { AskOnFailure } from './progress';
import type { RenewRun } from './renew';
import { checkCertificate, waitUntilCertificateValid, type AcceptedCertificate } from './signing';

export interface Installed {
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
export class CertificateInstaller {
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
    if (precheck.newKmipCa && sameCertificates(precheck.newKmipCa, precheck.kmipCa)) {
      // The key server's CA did not rotate: nothing to replace, and the result must not say it was.
      this.kmipCaCertificate = undefined;
      run.note('kmipCaCertificate: the CA given is the one the key server already has; it is left as it is');
    }
    this.calls = clusterCalls({ timeoutMs: input.activityTimeoutMs });
    // ModifyKeyServerKmip and the tests make the cluster reach the key server: the test budget.
    this.reaches = clusterCalls({ timeoutMs: input.activityTimeoutMs, retry: testRetry(input) });
    this.askOnFailure = {
      prompt: (step) =>
        `${step} failed. ${this.stateInWords()} Fix the cause and retry, change the client certificate or the KMIP CA, or abort`,
      answers: ['retry', 'change', 'abort'],
      changeFields: ['clientCertificate', 'kmipCaCertificate'],
      ...(keyPairReplaced ? { abortRequires: keyPairWindowAbort(input.cluster) } : {}),
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

/** Calls that make the cluster reach the key server retry on the test budget, growing, before a person is asked. */
export function testRetry(input: RenewOptions): RetryPolicy {
  return {
    maximumAttempts: input.testAttempts,
    initialInterval: input.testRetryIntervalMs,
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
  };
}

/**
 * Inside the key-pair window an abort leaves the cluster with a certificate that does not match its
 * key: confirmed by the cluster's name, like setup --replace-internal-key's.
 */
export function keyPairWindowAbort(cluster: string): NonNullable<WaitingFor['abortRequires']> {
  return {
    confirmUnprotected: cluster,
    leaves: `the key-pair window open: ${cluster}'s installed certificate does not match its key, so a restart could not fetch its keys (renew --new-key-pair again to close it)`,
  };
}
