/**
 * Waiting for a person, durably: the runbook publishes what it waits for, notifies, reminds on an
 * interval, and takes the answer through the `answer` Update, whose validator refuses anything
 * not offered at that moment (a refused Update leaves no trace in history).
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  answerUpdate,
  changeField,
  changeFieldFlags,
  type ChangeField,
  type AnswerAction,
  type AnswerRecord,
  type OperatorAnswer,
  type RunbookName,
  type WaitingFor,
} from './contract';
import { describeFailure, Failure } from './failures';
import { describeIssues } from './inputs';

// The activity delivers within its own budget (20 s, retries included) and reports rather than
// throws; one attempt, so a notification never holds a run for longer than that.
const { notify } = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } });

export type NotificationKind =
  'waiting-for-input' | 'reminder' | 'escalated' | 'completed' | 'failed' | 'fault-detected' | 'certificate-expiring';

export interface AskOptions {
  kind?: WaitingFor['kind'];
  step: string;
  prompt: string;
  answers: WaitingFor['answers'];
  problem?: string;
  /** Give up waiting at this point (the caller decides what that means). */
  timeoutMs?: number;
  /** Send a reminder through the notifier this often while waiting. */
  remindEveryMs?: number;
  /** Stop waiting (returning undefined) when this becomes true, e.g. a certificate arrived. */
  alsoDoneWhen?: () => boolean;
  /** Published with the question when the runbook waits for a signed certificate. */
  csrPem?: string;
  /** `abort` only with this confirmation (setup --replace-internal-key: abort leaves the drives unprotected). */
  abortRequires?: WaitingFor['abortRequires'];
  /** `change` may carry only these fields (the others would be ignored, so they are refused). */
  changeFields?: WaitingFor['changeFields'];
  /** A renewal's certificate must outlive this one (published so offline checks apply it too). */
  mustOutlive?: WaitingFor['mustOutlive'];
  /**
   * The same question was open in the run before a continue-as-new: keep when it was first asked
   * and how many reminders went out, and do not announce it again.
   */
  resume?: Pick<WaitingFor, 'since' | 'reminders'>;
}

/** How `stepOrAsk` asks when a step still fails after its retries. */
export interface AskOnFailure {
  /** The question, given the step in prose ("step 3 (Turn on encryption …)"); the step's failure is shown with it as the problem. */
  prompt: (step: string) => string;
  answers: AnswerAction[];
  remindEveryMs?: number;
  /** `change` may carry only these fields. */
  changeFields?: WaitingFor['changeFields'];
  /** `abort` only with this confirmation (a renewal inside its key-pair window). */
  abortRequires?: WaitingFor['abortRequires'];
  /** Applies an answer other than retry and abort (e.g. `change`) before the step runs again. */
  onAnswer?: (answer: OperatorAnswer) => Promise<void>;
}

/** What the channel needs of the runbook's tracker. */
export interface TrackerSide {
  readonly runbook: RunbookName;
  readonly cluster: string;
  readonly currentStep: string | undefined;
  readonly waiting: WaitingFor | undefined;
  setWaiting(waiting: WaitingFor | undefined): void;
  recordAnswer(record: Omit<AnswerRecord, 'at'>): void;
  note(text: string): void;
  finish(state: 'failed' | 'cancelled', error: unknown): void;
}

export function abortedBy(answer: Extract<OperatorAnswer, { action: 'abort' }>): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`aborted by ${answer.by ?? 'an operator'}: ${answer.reason}`, Failure.RunbookAborted);
}

/** Ended on purpose: an `abort` answer or a cancellation (ekm cancel). */
export function isAbort(err: unknown): boolean {
  return isCancellation(err) || (err instanceof ApplicationFailure && err.type === Failure.RunbookAborted);
}

export class OperatorChannel {
  private answer: OperatorAnswer | undefined;
  /**
   * What took the open question (an answer, a certificate), until the next question: Updates that
   * arrive together (sent while no worker ran, say) are taken one, and the others refused.
   */
  private takenBy: string | undefined;
  private readonly notifications: Promise<void>[] = [];

  constructor(private readonly tracker: TrackerSide) {
    setHandler(
      answerUpdate.definition,
      (raw) => {
        const answer = answerUpdate.argument.parse(raw);
        const waiting = this.tracker.waiting!;
        this.answer = answer;
        this.take(`the answer "${answer.action}"${answer.by ? ` from ${answer.by}` : ''}`);
        this.tracker.recordAnswer({
          step: waiting.step,
          action: answer.action,
          by: answer.by,
          outcome: 'accepted',
          comment: answer.action === 'abort' ? answer.reason : answer.comment,
        });
        return { accepted: true, step: waiting.step, message: `${answer.action} accepted for step ${waiting.step}` };
      },
      {
        validator: (raw) => {
          this.refuseWhenTaken();
          validateAnswer(raw, this.tracker.waiting);
        },
      },
    );
  }

  /** The open question is answered (by `what`): other answers and submissions are refused until the next. */
  take(what: string): void {
    this.takenBy ??= what;
  }

  /** Refuses an answer or a submission once something else took the open question. */
  refuseWhenTaken(): void {
    if (this.takenBy) {
      // An ApplicationFailure: an Update handler (not only a validator) may refuse this way.
      throw ApplicationFailure.nonRetryable(
        `the runbook is already acting on ${this.takenBy}; nothing else was taken`,
        Failure.QuestionTaken,
      );
    }
  }

  /** Waits for an answer; undefined when timeoutMs passed first (or alsoDoneWhen became true). */
  async ask(options: AskOptions): Promise<OperatorAnswer | undefined> {
    const startedAt = options.resume ? Date.parse(options.resume.since) : Date.now();
    const waiting: WaitingFor = {
      kind: options.kind ?? 'operator-decision',
      step: options.step,
      since: options.resume?.since ?? new Date().toISOString(),
      prompt: options.prompt,
      answers: options.answers,
      deadline: options.timeoutMs !== undefined ? new Date(startedAt + options.timeoutMs).toISOString() : undefined,
      reminders: options.resume?.reminders ?? 0,
      problem: options.problem,
      csrPem: options.csrPem,
      abortRequires: options.abortRequires,
      changeFields: options.changeFields,
      mustOutlive: options.mustOutlive,
    };
    this.answer = undefined;
    this.takenBy = undefined;
    this.tracker.setWaiting(waiting);
    if (!options.resume) this.notify('waiting-for-input', options.prompt, options.problem);
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
          this.notify('reminder', `Still waiting (${waiting.reminders}): ${options.prompt}`, options.problem);
        }
      }
    } finally {
      if (this.tracker.waiting === waiting) this.tracker.setWaiting(undefined);
    }
  }

  /** Records how a run that threw ended and tells people about a failure (not about an abort they asked for). */
  async recordEnd(err: unknown, what: string): Promise<void> {
    // continueAsNew() ends a run by throwing; the runbook goes on in the next run.
    if (err instanceof ContinueAsNew) return;
    const aborted = isAbort(err);
    this.tracker.finish(aborted ? 'cancelled' : 'failed', err);
    if (!aborted) this.notify('failed', `${what} failed: ${describeFailure(err)}`);
    await CancellationScope.nonCancellable(() => this.flushNotifications());
  }

  /**
   * Tells people (log line, webhook) without waiting: the run goes on at once. The notify activity
   * starts outside the step's cancellation scope; one that cannot be delivered is noted in the
   * progress ("notification failed: …") and never fails or blocks the run. The run waits for its
   * notifications only as it ends (flushNotifications), so its last notice is recorded too.
   */
  notify(kind: NotificationKind, message: string, detail?: string, data?: Record<string, unknown>): void {
    const { runbook, cluster, currentStep } = this.tracker;
    const what = kind === 'escalated' ? 'the escalation' : `the ${kind} notification`;
    const failed = (error: string) => this.tracker.note(`notification failed: ${what} could not be sent: ${error}`);
    const sending = CancellationScope.nonCancellable(() =>
      notify({ kind, runbook, cluster, step: currentStep, message, detail, data }),
    ).then(
      (outcome) => (outcome.delivered ? undefined : failed(outcome.error)),
      (err: unknown) => failed(describeFailure(err)),
    );
    this.notifications.push(sending);
  }

  /** Waits until every notification sent so far was delivered or noted as failed. */
  async flushNotifications(): Promise<void> {
    while (this.notifications.length > 0) await Promise.all(this.notifications.splice(0));
  }
}

/** The Update validator: an answer the runbook offers now, well-formed by the contract's schema. */
function validateAnswer(raw: unknown, waiting: WaitingFor | undefined): void {
  const action = (raw as { action?: unknown } | null | undefined)?.action;
  if (typeof action !== 'string') throw new Error('answer: must be an object with an action');
  if (!waiting || waiting.kind === 'cluster-lock') throw new Error('the runbook is not waiting for an answer now');
  if (!(waiting.answers as string[]).includes(action)) {
    throw new Error(`answer "${action}" is not offered at step ${waiting.step}; choose one of: ${waiting.answers.join(', ')}`);
  }
  const parsed = answerUpdate.argument.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const empty = action === 'change' && parsed.error.issues.some((i) => i.path.length === 0 && i.code === 'custom');
    // An empty change: name the fields this question takes, not every field a change can carry.
    if (empty && waiting.changeFields) throw new Error(`change: give at least one of ${waiting.changeFields.join(', ')}`);
    throw new Error(`${action}: ${describeIssues(parsed.error, { '': '' })}`);
  }
  const allowed = waiting.changeFields;
  if (parsed.data.action === 'change' && allowed) {
    const data = parsed.data;
    const given = changeField.options.filter((f) => data[f] !== undefined);
    const ignored = given.filter((f) => !allowed.includes(f));
    const named = (fields: ChangeField[]) => fields.map((f) => `${f} (${changeFieldFlags[f]})`).join(', ');
    if (ignored.length > 0 || given.length === 0)
      throw new Error(
        `change: at step ${waiting.step} only ${named(allowed)} can be changed${ignored.length > 0 ? `, not ${named(ignored)}` : ''}`,
      );
  }
  const confirm = waiting.abortRequires?.confirmUnprotected;
  if (parsed.data.action === 'abort' && confirm !== undefined && parsed.data.confirmUnprotected !== confirm) {
    throw new Error(
      `abort: --confirm-unprotected must be the cluster's name "${confirm}": aborting now leaves ${waiting.abortRequires?.leaves ?? `hardware encryption at rest disabled and the drives of ${confirm} unprotected`} (ekm answer … abort --reason … --confirm-unprotected ${confirm})`,
    );
  }
}
