/**
 * The step runner every runbook uses, and its bookkeeping: the progress query, the search
 * attributes and the UI's current details all come from here, so every runbook reports the same
 * way. A runbook runs each step through `step` (run it, record done or failed) or `stepOrAsk`
 * (retry it until it works or a person decides); it never writes progress fields itself.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { isCancellation, setCurrentDetails, setHandler, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import { EkmCluster, EkmRunbook, EkmState, EkmStep } from '../src/temporal/search-attributes';
import {
  ACCEPTED_CERTIFICATE_MEMO,
  progressQuery,
  riskBanners,
  type AnswerRecord,
  type OperatorAnswer,
  type RunbookName,
  type RunbookProgress,
  type RunbookState,
  type StepProgress,
  type WaitingFor,
} from './contract';
import { describeFailure, Failure, isUnchangeableRefusal } from './failures';
import { abortedBy, OperatorChannel, type AskOnFailure, type AskOptions, type NotificationKind } from './operator';
import { runMetrics } from './telemetry';

export type { AskOnFailure };

export type StepDefinitions<Id extends string> = ReadonlyArray<readonly [Id, string]>;

/** What a run hands to the next when it continues as new. */
export interface CarriedProgress {
  startedAt: string;
  currentStep?: string;
  steps: StepProgress[];
  notes: string[];
  answers: AnswerRecord[];
}

export function now(): string {
  return new Date().toISOString();
}

export class RunbookTracker<Id extends string> {
  private readonly progress: RunbookProgress;
  private readonly operator: OperatorChannel;

  constructor(runbook: RunbookName, cluster: string, steps: StepDefinitions<Id>, carried?: CarriedProgress) {
    this.progress = {
      runbook,
      cluster,
      state: 'running',
      startedAt: carried?.startedAt ?? now(),
      currentStep: carried?.currentStep,
      steps: carried?.steps ?? steps.map(([id, title]) => ({ id, title, state: 'pending', attempts: 0 })),
      notes: carried?.notes ?? [],
      answers: carried?.answers ?? [],
    };
    this.operator = new OperatorChannel(this);
    setHandler(progressQuery.definition, () => this.progress);
    upsertSearchAttributes([
      { key: EkmCluster, value: cluster },
      { key: EkmRunbook, value: runbook },
      { key: EkmState, value: 'running' },
    ]);
    if (!carried) runMetrics.started(runbook, cluster);
  }

  get runbook(): RunbookName {
    return this.progress.runbook;
  }
  get cluster(): string {
    return this.progress.cluster;
  }
  get startedAt(): string {
    return this.progress.startedAt;
  }
  get currentStep(): string | undefined {
    return this.progress.currentStep;
  }
  get waiting(): WaitingFor | undefined {
    return this.progress.waiting;
  }

  /** Progress to hand to the next run on continue-as-new (notes and answers bounded). */
  carry(note: string): CarriedProgress {
    return {
      startedAt: this.progress.startedAt,
      currentStep: this.progress.currentStep,
      steps: this.progress.steps,
      notes: [...this.progress.notes.slice(-99), `${now()} ${note}`],
      answers: this.progress.answers.slice(-50),
    };
  }

  stepOf(id: Id): Readonly<StepProgress> {
    const step = this.progress.steps.find((s) => s.id === id);
    if (!step) throw ApplicationFailure.nonRetryable(`unknown step ${id}`, Failure.InternalError);
    return step;
  }

  private mutable(id: Id): StepProgress {
    return this.stepOf(id) as StepProgress;
  }

  // ---- running steps

  /** Runs one step: running, then done (with the detail function's line) or failed (with the error). */
  async step<T>(id: Id, fn: () => Promise<T>, detail?: (result: T) => string | undefined): Promise<T> {
    this.begin(id);
    try {
      const result = await fn();
      this.complete(id, detail?.(result));
      return result;
    } catch (err) {
      if (!(err instanceof CancelledFailure)) this.fail(id, err);
      throw err;
    }
  }

  /**
   * Runs a step whose failure a person can fix: when it still fails after its activity retries,
   * the runbook asks (retry, abort, or what `ask.answers` offers), applies the answer and runs the
   * step again. Abort ends the run, and so does a refusal no answer can change (a demo node's
   * xAPINotPermitted, say): the step shows it failed, in the cluster's own words.
   */
  async stepOrAsk<T>(id: Id, fn: () => Promise<T>, ask: AskOnFailure, detail?: (result: T) => string | undefined): Promise<T> {
    for (;;) {
      try {
        return await this.step(id, fn, detail);
      } catch (err) {
        if (isCancellation(err) || isUnchangeableRefusal(err)) throw err;
        const answer = await this.ask({
          step: id,
          prompt: ask.prompt(stepInProse(id, this.stepOf(id).title)),
          answers: ask.answers,
          problem: describeFailure(err),
          remindEveryMs: ask.remindEveryMs,
          changeFields: ask.changeFields,
          abortRequires: ask.abortRequires,
        });
        if (answer?.action === 'abort') throw abortedBy(answer);
        if (answer && answer.action !== 'retry') await ask.onAnswer?.(answer);
      }
    }
  }

  /** `countAttempt` false: a step whose attempts are counted as they happen (`attempt`), such as a poll loop. */
  begin(id: Id, countAttempt = true): void {
    const step = this.mutable(id);
    step.state = 'running';
    if (countAttempt) step.attempts += 1;
    step.startedAt ??= now();
    step.endedAt = undefined;
    this.progress.currentStep = id;
    upsertSearchAttributes([{ key: EkmStep, value: id }]);
    this.publish();
  }

  complete(id: Id, detail?: string): void {
    const step = this.mutable(id);
    step.state = 'done';
    step.endedAt = now();
    if (detail) step.detail = detail;
    runMetrics.stepEnded(this.runbook, id, 'done', step.startedAt, step.endedAt);
    this.publish();
  }

  /** Marks the step failed with this error, without ending the run (the runbook decides what next). */
  fail(id: Id, error: unknown): void {
    const step = this.mutable(id);
    step.state = 'failed';
    step.lastError = typeof error === 'string' ? error : describeFailure(error);
    step.endedAt = now();
    runMetrics.stepEnded(this.runbook, id, 'failed', step.startedAt, step.endedAt);
    this.publish();
  }

  skip(id: Id, why: string): void {
    const step = this.mutable(id);
    step.state = 'skipped';
    step.detail = why;
    step.endedAt = now();
    runMetrics.stepEnded(this.runbook, id, 'skipped', step.startedAt, step.endedAt);
    this.publish();
  }

  /** An attempt that is not a run of its own (a background re-test, say): counted, its error kept or cleared. */
  attempt(id: Id, error?: unknown): void {
    const step = this.mutable(id);
    step.attempts += 1;
    step.lastError = error === undefined ? undefined : describeFailure(error);
    this.publish();
  }

  /** Records a failed attempt without ending the step (the runbook will ask or retry). */
  recordError(id: Id, error: unknown): void {
    this.mutable(id).lastError = typeof error === 'string' ? error : describeFailure(error);
    this.publish();
  }

  setDetail(id: Id, detail: string): void {
    this.mutable(id).detail = detail;
    this.publish();
  }

  note(text: string): void {
    this.progress.notes.push(`${now()} ${text}`);
    this.publish();
  }

  /** Setup: the cluster's CSR, once it exists (what `ekm csr` prints). */
  publishCsr(csrPem: string): void {
    this.progress.csrPem = csrPem;
  }

  /**
   * Setup: the certificate accepted for the CSR, so a repeated submission can be told so. Also in
   * the run's memo, which `describe` reads without a worker.
   */
  publishAcceptedCertificate(summary: { subject: string; notAfter: string; fingerprint: string }): void {
    const { subject, notAfter, fingerprint } = summary;
    this.progress.acceptedCertificate = { at: now(), subject, notAfter, fingerprint };
    upsertMemo({ [ACCEPTED_CERTIFICATE_MEMO]: this.progress.acceptedCertificate });
  }

  /**
   * Setup --replace-internal-key: hardware encryption at rest is disabled by this run (its drives
   * are not locked), or enabled again. `ekm status` and the UI's details show it first meanwhile.
   */
  setEncryptionAtRestDisabled(disabled: boolean): void {
    this.progress.encryptionAtRestDisabled = disabled ? (this.progress.encryptionAtRestDisabled ?? { since: now() }) : undefined;
    this.publish();
  }
  /** Renew --new-key-pair: the key pair was replaced (open) or the new certificate passed its tests (closed). */
  setKeyPairWindowOpen(open: boolean): void {
    this.progress.keyPairWindow = open ? (this.progress.keyPairWindow ?? { since: now() }) : undefined;
    this.publish();
  }
  get keyPairWindowSince(): string | undefined {
    return this.progress.keyPairWindow?.since;
  }
  get encryptionAtRestDisabledSince(): string | undefined {
    return this.progress.encryptionAtRestDisabled?.since;
  }

  // ---- people

  /** The open question was taken (an answer, a certificate); others are refused until the next one. */
  takeQuestion(what: string): void {
    this.operator.take(what);
  }

  /** Throws the refusal an Update validator gives once the open question was taken. */
  refuseWhenQuestionTaken(): void {
    this.operator.refuseWhenTaken();
  }

  /** Waits for a person's answer (see OperatorChannel.ask); undefined when its timeout passed first. */
  ask(options: AskOptions): Promise<OperatorAnswer | undefined> {
    return this.operator.ask(options);
  }

  recordAnswer(record: Omit<AnswerRecord, 'at'>): void {
    this.progress.answers.push({ at: now(), ...record });
    this.publish();
  }

  /** The open question's problem changed (a re-test found something new). */
  setProblem(problem: string): void {
    if (this.progress.waiting) this.progress.waiting.problem = problem;
  }

  /** Marks the open question escalated, once. */
  escalateQuestion(): void {
    const waiting = this.progress.waiting;
    if (waiting && !waiting.prompt.startsWith('ESCALATED')) waiting.prompt = `ESCALATED: ${waiting.prompt}`;
    this.publish();
  }

  /** Tells people without waiting (see OperatorChannel.notify): a failed notification is noted, never fatal. */
  notify(kind: NotificationKind, message: string, detail?: string, data?: Record<string, unknown>): void {
    this.operator.notify(kind, message, detail, data);
  }

  /** Waits until every notification sent so far was delivered or noted as failed (before the run ends or continues as new). */
  flushNotifications(): Promise<void> {
    return this.operator.flushNotifications();
  }

  /** The run completed: recorded, announced, and its notifications settled. */
  async completed(message: string): Promise<void> {
    this.finish('completed');
    this.notify('completed', message);
    await this.flushNotifications();
  }

  setWaiting(waiting: WaitingFor | undefined): void {
    const previous = this.progress.waiting;
    if (previous && previous !== waiting) runMetrics.waitEnded(this.runbook, previous, now());
    this.progress.waiting = waiting;
    // Queued behind another runbook's cluster lock is a wait nobody can answer: the run stays running
    // (out of the lists of runs waiting for a person), its waiting says for what.
    const forPerson = waiting !== undefined && waiting.kind !== 'cluster-lock';
    if (forPerson) this.mutable(waiting.step as Id).state = 'waiting-for-input';
    else if (this.progress.currentStep) {
      const step = this.mutable(this.progress.currentStep as Id);
      if (step.state === 'waiting-for-input') step.state = 'running';
    }
    this.setState(forPerson ? 'waiting-for-input' : 'running');
  }

  // ---- the end

  /** The run ended: no step is left running or waiting, and a completed run's unused steps say so. */
  finish(state: Extract<RunbookState, 'completed' | 'failed' | 'cancelled'>, error?: unknown): void {
    if (this.progress.waiting) runMetrics.waitEnded(this.runbook, this.progress.waiting, now());
    if (this.progress.endedAt === undefined) runMetrics.ended(this.runbook, this.cluster, state);
    this.progress.waiting = undefined;
    this.progress.endedAt = this.progress.endedAt ?? now();
    if (error !== undefined) this.progress.error = describeFailure(error);
    for (const step of this.progress.steps) {
      if (step.state === 'running' || step.state === 'waiting-for-input') {
        // A long-running step (the watcher's poll) ends with a completed run; any other stopped with it.
        step.state = state === 'completed' ? 'done' : 'failed';
        if (state !== 'completed') step.lastError ??= this.progress.error ?? state;
        step.endedAt = this.progress.endedAt;
      } else if (step.state === 'pending' && state === 'completed') {
        step.state = 'skipped';
        step.detail ??= 'not needed';
      }
    }
    this.setState(state);
  }

  /**
   * Records how a run that threw ended (cancelled when aborted, failed otherwise) and tells
   * people about a failure; an abort they asked for is not news. Never throws itself.
   */
  async end(err: unknown, what: string): Promise<void> {
    await this.operator.recordEnd(err, what);
  }

  private setState(state: RunbookState): void {
    if (this.progress.state !== state) {
      this.progress.state = state;
      upsertSearchAttributes([{ key: EkmState, value: state }]);
    }
    this.publish();
  }

  /** The Temporal UI's "current details": a short Markdown status. */
  private publish(): void {
    const p = this.progress;
    const lines = [`**${p.runbook}** on cluster \`${p.cluster}\`: ${p.state}`];
    lines.unshift(...riskBanners(p).map((banner) => `**${banner}**`));
    if (p.currentStep) lines.push(`step: ${this.stepOf(p.currentStep as Id).title}`);
    if (p.waiting) lines.push(`waiting for: ${p.waiting.prompt}`, `answers: ${p.waiting.answers.join(', ')}`);
    setCurrentDetails(lines.join('\n\n'));
  }
}

/**
 * A step named inside a sentence: '3 Turn on encryption with the provider' (the vendor's step
 * number first) reads as the start of a list item; "step 3 (Turn on …) failed" reads as prose.
 */
export function stepInProse(id: string, title: string): string {
  const numbered = /^(\d+[a-z]?) (.+)$/.exec(title);
  return numbered ? `step ${numbered[1]} (${numbered[2]})` : `step ${id} (${title})`;
}
