/**
 * Building blocks of a plan (workflows/contract/plan.ts): a step from the runbook's step table,
 * the calls, waits and questions the runbooks share (tests on the test budget, the CA's
 * signature, polled encryption state), and a precheck refusal caught as a plan's refusal. No I/O.
 */
import { ApplicationFailure } from '@temporalio/common';
import { formatDuration } from '../durations';
import type { ElementMethodName } from '../element/methods';
import {
  methodEffectOf,
  type PlannedCall,
  type PlannedQuestion,
  type PlannedStep,
  type PlannedStepAction,
  type PlannedWait,
  type PlanRefusal,
} from '../../workflows/contract/plan';

export type StepTable = readonly (readonly [string, string])[];

/** A call a step makes; `when` for one it makes only in some case (or repeatedly: "polled"). */
export function call(method: ElementMethodName, when?: string): PlannedCall {
  return { method, effect: methodEffectOf(method), ...(when ? { when } : {}) };
}

export interface StepContent {
  detail: string;
  fields?: string[];
  why?: string;
  calls?: PlannedCall[];
  waits?: PlannedWait[];
  asks?: PlannedQuestion[];
}

/** A planned step with the title of the runbook's own step table. */
export function planStep(table: StepTable, id: string, action: PlannedStepAction, content: StepContent): PlannedStep {
  const row = table.find(([stepId]) => stepId === id);
  if (!row) throw new Error(`no step ${id} in the runbook's step table`);
  return {
    id,
    title: row[1],
    action,
    detail: content.detail,
    ...(content.fields ? { fields: content.fields } : {}),
    ...(content.why ? { why: content.why } : {}),
    calls: content.calls ?? [],
    waits: content.waits ?? [],
    asks: content.asks ?? [],
  };
}

export function skipStep(table: StepTable, id: string, why: string): PlannedStep {
  return planStep(table, id, 'skip', { detail: `skipped: ${why}`, why });
}

/** Every step of the table from `fromId` on (inclusive), skipped for the same reason. */
export function skipFrom(table: StepTable, fromId: string, why: string): PlannedStep[] {
  const at = table.findIndex(([id]) => id === fromId);
  return table.slice(at).map(([id]) => skipStep(table, id, why));
}

/** The precheck's failure as a plan's refusal; anything else (a cluster that does not answer) is thrown on. */
export function asRefusal(err: unknown): PlanRefusal {
  if (err instanceof ApplicationFailure && err.type) {
    return { type: err.type, message: err.message, retryable: !err.nonRetryable };
  }
  throw err;
}

/** The lock step of a mutating runbook. */
export function lockStep(table: StepTable, ifBusy: 'fail' | 'wait'): PlannedStep {
  return planStep(table, 'lock', 'run', {
    detail:
      ifBusy === 'wait'
        ? 'takes the cluster lock, queueing behind another runbook that is changing the cluster'
        : 'takes the cluster lock; refused at once if another runbook is changing the cluster (--if-busy fail)',
    waits:
      ifBusy === 'wait'
        ? [{ what: 'for the cluster lock, behind the runbook that holds it (no deadline)', setting: 'ifBusy' }]
        : [],
  });
}

/** Retries of a call that makes the cluster reach the key server: the test budget, doubling up to 5 minutes. */
export function testBudget(input: { testAttempts: number; testRetryIntervalMs: number }, what: string): PlannedWait {
  return {
    what: `${what}: up to ${input.testAttempts} tries while it fails, the pause doubling up to 5m`,
    everyMs: input.testRetryIntervalMs,
    setting: 'testAttempts, testRetryInterval',
  };
}

/** The question a step on the test budget asks once its tries are used up. */
export function askOnFailure(answers: PlannedQuestion['answers'], remindEveryMs: number, what = 'its tries'): PlannedQuestion {
  return { when: `only if it still fails after ${what}`, answers, remindEveryMs };
}

/** The polled wait for encryptionAtRestState (GetClusterInfo), 24 h at most. */
export function encryptionStateWait(
  target: string,
  polling: { initialIntervalMs: number; maxIntervalMs: number; attemptWindowMs: number },
): PlannedWait {
  return {
    what: `encryptionAtRestState ${target} (GetClusterInfo polled, the pause doubling up to ${formatDuration(polling.maxIntervalMs)}; 24h at most)`,
    forMs: 24 * 3_600_000,
    everyMs: polling.initialIntervalMs,
    setting: 'polling',
  };
}

/** Setup's and renew's CA wait: a person's submission (deadline, reminders, extend/abort), or a signer. */
export function signingStep(
  table: StepTable,
  input: {
    signer: { type: 'manual' } | { type: 'cfssl'; url: string } | { type: 'command'; name: string };
    signingDeadlineMs: number;
    reminderEveryMs: number;
    testAttempts: number;
    testRetryIntervalMs: number;
  },
  mustOutlive?: string,
): PlannedStep {
  const checks = `checked: the CSR's key, clientAuth, 30+ days${mustOutlive ? `, valid longer than ${mustOutlive}` : ''}`;
  if (input.signer.type === 'manual') {
    return planStep(table, 'signing', 'run', {
      detail: `waits for a person to have the CSR signed by the CA and submit it (ekm csr, ekm submit-cert); ${checks}`,
      waits: [
        {
          what: 'for the signed certificate, reminding meanwhile',
          forMs: input.signingDeadlineMs,
          everyMs: input.reminderEveryMs,
          setting: 'signingDeadline, reminderEvery',
        },
      ],
      asks: [
        {
          when: 'from the start of the step: submit the certificate (or abort)',
          answers: ['abort'],
          remindEveryMs: input.reminderEveryMs,
        },
        {
          when: 'once the signing deadline has passed (notifies escalated): extend the wait or abort',
          answers: ['extend', 'abort'],
        },
      ],
    });
  }
  const signer =
    input.signer.type === 'cfssl' ? `cfssl at ${input.signer.url}` : `the clusters file's signer "${input.signer.name}"`;
  return planStep(table, 'signing', 'run', {
    detail: `${signer} signs the CSR; ${checks}`,
    waits: [testBudget(input, 'the signer')],
    asks: [
      {
        when: 'only if the signer keeps failing or its certificate is refused: submit one signed by hand, retry or abort',
        answers: ['retry', 'abort'],
        remindEveryMs: input.reminderEveryMs,
      },
    ],
  });
}
