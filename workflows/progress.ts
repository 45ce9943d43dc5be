/**
 * Step bookkeeping for a runbook: the progress query, search attributes and the UI's current
 * details all come from here, so every runbook reports the same way.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, TemporalFailure } from '@temporalio/common';
import { setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { EkmCluster, EkmRunbook, EkmState, EkmStep } from '../src/temporal/search-attributes';
import {
  progressQuery,
  type RunbookName,
  type RunbookProgress,
  type RunbookState,
  type StepProgress,
  type WaitingFor,
} from './definitions';

export type StepDefinitions<Id extends string> = ReadonlyArray<readonly [Id, string]>;

/** The message an operator should read for a failure: the activity's own error, not Temporal's wrapper. */
export function describeFailure(err: unknown): string {
  let current: unknown = err;
  while (
    current instanceof ActivityFailure ||
    (current instanceof TemporalFailure && current.cause && !(current instanceof ApplicationFailure))
  ) {
    current = (current as TemporalFailure).cause;
  }
  if (current instanceof ApplicationFailure) return current.type ? `${current.type}: ${current.message}` : current.message;
  if (current instanceof Error) return current.message;
  return String(current);
}

export class RunbookTracker<Id extends string> {
  readonly progress: RunbookProgress;

  constructor(runbook: RunbookName, cluster: string, steps: StepDefinitions<Id>) {
    this.progress = {
      runbook,
      cluster,
      state: 'running',
      startedAt: now(),
      steps: steps.map(([id, title]) => ({ id, title, state: 'pending', attempts: 0 })),
      notes: [],
      answers: [],
    };
    setHandler(progressQuery, () => this.progress);
    upsertSearchAttributes([
      { key: EkmCluster, value: cluster },
      { key: EkmRunbook, value: runbook },
      { key: EkmState, value: 'running' },
    ]);
  }

  step(id: Id): StepProgress {
    const step = this.progress.steps.find((s) => s.id === id);
    if (!step) throw ApplicationFailure.nonRetryable(`unknown step ${id}`, 'InternalError');
    return step;
  }

  /** Runs one step: running -> done (with the detail fn's line) or failed (with the error). */
  async run<T>(id: Id, fn: () => Promise<T>, detail?: (result: T) => string | undefined): Promise<T> {
    const step = this.begin(id);
    try {
      const result = await fn();
      this.complete(id, detail?.(result));
      return result;
    } catch (err) {
      if (!(err instanceof CancelledFailure)) {
        step.state = 'failed';
        step.lastError = describeFailure(err);
        step.endedAt = now();
        this.publish();
      }
      throw err;
    }
  }

  begin(id: Id): StepProgress {
    const step = this.step(id);
    step.state = 'running';
    step.attempts += 1;
    step.startedAt ??= now();
    step.endedAt = undefined;
    this.progress.currentStep = id;
    upsertSearchAttributes([{ key: EkmStep, value: id }]);
    this.publish();
    return step;
  }

  complete(id: Id, detail?: string): void {
    const step = this.step(id);
    step.state = 'done';
    step.endedAt = now();
    if (detail) step.detail = detail;
    this.publish();
  }

  /** Records a failed attempt without ending the step (the runbook will ask or retry). */
  recordError(id: Id, error: unknown): string {
    const message = describeFailure(error);
    this.step(id).lastError = message;
    this.publish();
    return message;
  }

  skip(id: Id, why: string): void {
    const step = this.step(id);
    step.state = 'skipped';
    step.detail = why;
    step.endedAt = now();
    this.publish();
  }

  note(text: string): void {
    this.progress.notes.push(`${now()} ${text}`);
    this.publish();
  }

  setWaiting(waiting: WaitingFor | undefined): void {
    this.progress.waiting = waiting;
    if (waiting) this.step(waiting.step as Id).state = 'waiting-for-input';
    else if (this.progress.currentStep) {
      const step = this.step(this.progress.currentStep as Id);
      if (step.state === 'waiting-for-input') step.state = 'running';
    }
    this.setState(waiting ? 'waiting-for-input' : 'running');
  }

  finish(state: Extract<RunbookState, 'completed' | 'failed' | 'cancelled'>, error?: unknown): void {
    this.progress.waiting = undefined;
    this.progress.endedAt = now();
    if (error !== undefined) this.progress.error = describeFailure(error);
    this.setState(state);
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
    if (p.currentStep) lines.push(`step: ${this.step(p.currentStep as Id).title}`);
    if (p.waiting) lines.push(`waiting for: ${p.waiting.prompt}`, `answers: ${p.waiting.answers.join(', ')}`);
    setCurrentDetails(lines.join('\n\n'));
  }
}

export function now(): string {
  return new Date().toISOString();
}
