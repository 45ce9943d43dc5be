/**
 * Setup's key provider and key server (steps 2a and 2b): found by name or created, the server
 * updated when its settings differ, and what a person's `change` answer does to them (new
 * hostnames, port or KMIP CA, or a new client certificate for the cluster's key pair). It also
 * remembers what this run created, so an abort removes exactly that.
 */
import { ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import type { KeyServerSpec, SetupPrecheck } from '../activities/setup';
import type { clusterCalls } from './calls';
import type { OperatorAnswer } from './contract';
import { Failure } from './failures';
import type { SetupOptions } from './inputs';
import type { AskOnFailure, RunbookTracker } from './progress';
import { checkCertificate, waitUntilCertificateValid, type AcceptedCertificate } from './signing';

type KeyServerAction = 'created' | 'updated' | 'unchanged' | 'reused';

export class KeyServerSetup {
  /** The server's settings; a `change` answer replaces some of them. */
  private readonly settings: Omit<KeyServerSpec, 'kmipClientCertificate'>;
  /** The client certificate the server holds (or will): the signed one, or one a `change` answer gave. */
  certificate: AcceptedCertificate | undefined;
  keyServerID: number | undefined;
  action: KeyServerAction = 'reused';
  /** What this run created (an object absent at the precheck counts, even when a retry found it). */
  readonly created: { keyProviderID?: number; keyServerID?: number } = {};

  /** Retry, change the server, or abort: the question a failing step 2 or 3 asks. */
  readonly askOnFailure: AskOnFailure;

  constructor(
    private readonly run: RunbookTracker<'provider' | 'server'>,
    private readonly input: SetupOptions,
    private readonly calls: ReturnType<typeof clusterCalls>,
    private readonly precheck: Pick<SetupPrecheck, 'existingProvider' | 'existingServer'>,
  ) {
    this.settings = {
      name: input.keyServerName,
      hostnames: input.hostnames,
      port: input.port,
      kmipCaCertificate: input.kmipCaCertificate,
    };
    this.askOnFailure = {
      prompt: (step) =>
        `${step} keeps failing. Fix the cause and retry, change the key server's hostnames, port or CA or the client certificate, or abort`,
      answers: ['retry', 'change', 'abort'],
      changeFields: ['hostnames', 'port', 'kmipCaCertificate', 'clientCertificate'],
      remindEveryMs: input.questionReminderEveryMs,
      onAnswer: (answer) => this.change(answer),
    };
  }

  /** 2a: CreateKeyProviderKmip, or the provider of that name. */
  async ensureProvider(): Promise<number> {
    const provider = await this.run.step(
      'provider',
      () => this.calls.ensureKeyProvider(this.input.cluster, this.input.keyProviderName),
      (p) => `key provider ${p.id} ${p.created ? 'created' : 'reused'}`,
    );
    if (provider.created || !this.precheck.existingProvider) this.created.keyProviderID = provider.id;
    return provider.id;
  }

  /** 2b: CreateKeyServerKmip with the client certificate, or ModifyKeyServerKmip of the server of that name. */
  async configure(certificate: AcceptedCertificate): Promise<number> {
    this.certificate = certificate;
    await this.waitUntilValid(certificate);
    const result = await this.run.stepOrAsk(
      'server',
      () =>
        this.calls.ensureKeyServer(this.input.cluster, { ...this.settings, kmipClientCertificate: certificate.certificatePem }),
      this.askOnFailure,
      (r) => `key server ${r.id} ${r.action}${r.changed.length ? ` (${r.changed.join(', ')})` : ''}`,
    );
    this.keyServerID = result.id;
    this.action = result.action;
    if (result.action === 'created' || !this.precheck.existingServer) {
      this.created.keyServerID = result.id;
      if (this.action === 'unchanged') this.action = 'created';
    }
    return result.id;
  }

  /** A certificate whose notBefore is a little ahead reaches the cluster only once it is valid (a durable wait). */
  private async waitUntilValid(certificate: AcceptedCertificate): Promise<void> {
    await waitUntilCertificateValid(this.run, 'server', certificate);
  }

  /** A person's `change`: new settings and/or client certificate, then the server is configured again. */
  private async change(answer: OperatorAnswer): Promise<void> {
    if (answer.action !== 'change') return;
    if (answer.hostnames) this.settings.hostnames = answer.hostnames;
    if (answer.port !== undefined) this.settings.port = answer.port;
    if (answer.kmipCaCertificate) this.settings.kmipCaCertificate = answer.kmipCaCertificate;
    this.run.note(
      `key server settings changed by ${answer.by ?? 'an operator'}: ${this.settings.hostnames.join(', ')}:${this.settings.port}`,
    );
    if (answer.clientCertificate) await this.replaceCertificate(answer.clientCertificate);
    if (this.certificate) await this.configure(this.certificate);
  }

  /** A client certificate from a `change` answer passes the checks a signed submission does, or is refused with a note. */
  private async replaceCertificate(candidate: { certificatePem: string; caChainPem: string }): Promise<void> {
    const { csrPem } = await this.calls.fetchCsr(this.input.cluster);
    try {
      this.certificate = await checkCertificate(this.calls, csrPem, {
        ...candidate,
        names: { certificate: '--client-cert', ca: '--client-ca' },
      });
    } catch (err) {
      if (!(err instanceof ApplicationFailure && err.type === Failure.CertificateRejected)) throw err;
      this.run.note(`client certificate refused: ${err.message}`);
      return;
    }
    for (const note of this.certificate.notes ?? []) this.run.note(note);
    const { subject, issuer, notAfter } = this.certificate.summary;
    this.run.note(`client certificate replaced: ${subject}, issued by ${issuer}, valid until ${notAfter}`);
  }

  /** Abort's compensation: removes the server and provider this run created, when nothing uses them. */
  async removeCreated(): Promise<void> {
    if (this.created.keyServerID === undefined && this.created.keyProviderID === undefined) return;
    await CancellationScope.nonCancellable(async () => {
      const outcome = await this.calls.removeCreatedObjects(this.input.cluster, this.created);
      for (const r of outcome.removed) this.run.note(`abort: removed ${r}`);
      for (const k of outcome.kept) this.run.note(`abort: left ${k}`);
    });
  }
}
