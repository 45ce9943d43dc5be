/**
 * Waiting for a person, durably: the runbook publishes what it waits for, notifies, reminds on an
 * interval, and takes the answer through the `answer` Update, whose validator refuses anything
 * not offered at that moment (a refused Update leaves no trace in history).
 */
import { msToNumber } from '@temporalio/common';
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { answerUpdate, type AnswerAction, type OperatorAnswer, type WaitingFor } from './definitions';
import { describeFailure, now, type RunbookTracker } from './progress';

const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '2s' },
});

export interface AskOptions {
  kind?: WaitingFor['kind'];
  step: string;
  prompt: string;
  answers: AnswerAction[];
  problem?: string;
  /** Give up waiting at this point (the caller decides what that means). */
  timeoutMs?: number;
  /** Send a reminder through the notifier this often while waiting. */
  remindEveryMs?: number;
  /** Stop waiting (returning undefined) when this becomes true, e.g. a certificate arrived. */
  alsoDoneWhen?: () => boolean;
  /** Published with the question when the runbook waits for a signed certificate. */
  csrPem?: string;
  /**
   * The same question was open in the run before a continue-as-new: keep when it was first asked
   * and how many reminders went out, and do not announce it again.
   */
  resume?: Pick<WaitingFor, 'since' | 'reminders'>;
}

/** The failure type of a run an operator ended with the `abort` answer. */
export const RUNBOOK_ABORTED = 'RunbookAborted';

export function abortedBy(answer: Extract<OperatorAnswer, { action: 'abort' }>): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`aborted by ${answer.by ?? 'an operator'}: ${answer.reason}`, RUNBOOK_ABORTED);
}

/** Ended on purpose: an `abort` answer or a cancellation (ekm cancel). */
export function isAbort(err: unknown): boolean {
  return isCancellation(err) || (err instanceof ApplicationFailure && err.type === RUNBOOK_ABORTED);
}

export class OperatorChannel {
  private answer: OperatorAnswer | undefined;

  constructor(private readonly tracker: RunbookTracker<string>) {
    setHandler(
      answerUpdate,
      (answer) => {
        const waiting = this.tracker.progress.waiting!;
        this.answer = answer;
        this.tracker.progress.answers.push({
          at: now(),
          step: waiting.step,
          action: answer.action,
          by: answer.by,
          outcome: 'accepted',
          comment: answer.action === 'abort' ? answer.reason : answer.comment,
        });
        return { accepted: true, step: waiting.step, message: `${answer.action} accepted for step ${waiting.step}` };
      },
      { validator: (answer) => validateAnswer(answer, this.tracker.progress.waiting) },
    );
  }

  /** Waits for an answer; undefined when timeoutMs passed first. */
  async ask(options: AskOptions): Promise<OperatorAnswer | undefined> {
    const { progress } = this.tracker;
    const startedAt = options.resume ? Date.parse(options.resume.since) : Date.now();
    const waiting: WaitingFor = {
      kind: options.kind ?? 'operator-decision',
      step: options.step,
      since: options.resume?.since ?? now(),
      prompt: options.prompt,
      answers: options.answers,
      deadline: options.timeoutMs !== undefined ? new Date(startedAt + options.timeoutMs).toISOString() : undefined,
      reminders: options.resume?.reminders ?? 0,
      problem: options.problem,
      csrPem: options.csrPem,
    };
    this.answer = undefined;
    this.tracker.setWaiting(waiting);
    if (!options.resume) await this.notifyQuietly('waiting-for-input', options.prompt, options.problem);
    try {
      for (;;) {
        const untilDeadline = options.timeoutMs !== undefined ? startedAt + options.timeoutMs - Date.now() : undefined;
        if (untilDeadline !== undefined && untilDeadline <= 0) return undefined;
        const wait = Math.min(untilDeadline ?? Infinity, options.remindEveryMs ?? Infinity);
        const done = () => this.answer !== undefined || (options.alsoDoneWhen?.() ?? false);
        const answered = wait === Infinity ? (await condition(done), true) : await condition(done, wait);
        if (answered) return this.answer;
        if (options.remindEveryMs !== undefined && (untilDeadline === undefined || untilDeadline > wait)) {
          waiting.reminders += 1;
          this.tracker.note(`reminder ${waiting.reminders} sent: ${options.prompt}`);
          await this.notifyQuietly('reminder', `Still waiting (${waiting.reminders}): ${options.prompt}`, options.problem);
        }
      }
    } finally {
      if (progress.waiting === waiting) this.tracker.setWaiting(undefined);
    }
  }

  /** A notification that could not be sent must not end a wait for a person: the failure is noted in progress. */
  private async notifyQuietly(kind: 'waiting-for-input' | 'reminder', message: string, detail?: string) {
    try {
      await this.notify(kind, message, detail);
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.tracker.note(`the ${kind} notification could not be sent: ${describeFailure(err)}`);
    }
  }

  /**
   * Records how a run that threw ended (cancelled when aborted, failed otherwise) and tells
   * people about a failure; an abort they asked for is not news. Never throws itself.
   */
  async recordEnd(err: unknown, what: string): Promise<void> {
    // continueAsNew() ends a run by throwing; the runbook goes on in the next run. (Runs before this
    // patch sent a "failed" notice here, so their histories replay only along the old path.)
    if (err instanceof ContinueAsNew && patched('continue-as-new-is-not-an-end')) return;
    const aborted = isAbort(err);
    this.tracker.finish(aborted ? 'cancelled' : 'failed', err);
    if (!aborted) {
      await CancellationScope.nonCancellable(() =>
        this.notify('failed', `${what} failed: ${describeFailure(err)}`).catch(() => undefined),
      );
    }
  }

  async notify(kind: 'waiting-for-input' | 'reminder' | 'escalated' | 'completed' | 'failed', message: string, detail?: string) {
    const { progress } = this.tracker;
    await notify({ kind, runbook: progress.runbook, cluster: progress.cluster, step: progress.currentStep, message, detail });
  }
}

function validateAnswer(answer: OperatorAnswer, waiting: WaitingFor | undefined): void {
  if (!answer || typeof answer !== 'object' || typeof answer.action !== 'string') {
    throw new Error('answer: must be an object with an action');
  }
  if (!waiting || waiting.kind === 'cluster-lock') {
    throw new Error('the runbook is not waiting for an answer now');
  }
  if (!waiting.answers.includes(answer.action)) {
    throw new Error(
      `answer "${answer.action}" is not offered at step ${waiting.step}; choose one of: ${waiting.answers.join(', ')}`,
    );
  }
  switch (answer.action) {
    case 'abort':
      if (typeof answer.reason !== 'string' || answer.reason.trim() === '') throw new Error('abort: reason is required');
      break;
    case 'extend': {
      let ms = NaN;
      try {
        ms = msToNumber(answer.extendBy as never);
      } catch {
        // reported below
      }
      if (!(ms > 0)) throw new Error(`extend: extendBy "${answer.extendBy}" is not a duration like 7d or 12h`);
      break;
    }
    case 'change': {
      const { hostnames, port, kmipCaCertificate, clientCertificate } = answer;
      if (hostnames === undefined && port === undefined && kmipCaCertificate === undefined && clientCertificate === undefined) {
        throw new Error('change: give at least one of hostnames, port, kmipCaCertificate, clientCertificate');
      }
      if (
        clientCertificate !== undefined &&
        (!/-----BEGIN CERTIFICATE-----/.test(clientCertificate?.certificatePem ?? '') ||
          !/-----BEGIN CERTIFICATE-----/.test(clientCertificate?.caChainPem ?? ''))
      ) {
        throw new Error('change: clientCertificate needs certificatePem and caChainPem, both PEM certificates');
      }
      if (
        hostnames !== undefined &&
        (!Array.isArray(hostnames) || hostnames.length === 0 || hostnames.some((h) => typeof h !== 'string' || !h.trim()))
      ) {
        throw new Error('change: hostnames must be a non-empty list of host names');
      }
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
        throw new Error('change: port must be 1-65535');
      if (kmipCaCertificate !== undefined && !/-----BEGIN CERTIFICATE-----/.test(kmipCaCertificate)) {
        throw new Error('change: kmipCaCertificate must be a PEM certificate');
      }
      break;
    }
    default:
      break;
  }
}
