/** Progress: where a runbook stands (every runbook answers the `progress` query). Workflow-safe. */
import { z } from 'zod';
import { runbookName } from './ids';
import { isoTime, query } from './messages';

export const stepState = z.enum(['pending', 'running', 'waiting-for-input', 'done', 'failed', 'skipped']);
export type StepState = z.infer<typeof stepState>;

export const stepProgress = z.strictObject({
  id: z.string(),
  title: z.string(),
  state: stepState,
  startedAt: isoTime.optional(),
  endedAt: isoTime.optional(),
  /** How many times the runbook ran this step (operator retries count; activity retries show in lastError). */
  attempts: z.int().nonnegative(),
  lastError: z.string().optional(),
  /** One line on what the step did or found. */
  detail: z.string().optional(),
});
export type StepProgress = z.infer<typeof stepProgress>;

/** `confirm`: a person accepts what the runbook stated it will do (renew's key-pair window). */
export const answerAction = z.enum(['retry', 'fixed', 'change', 'extend', 'abort', 'confirm', 'enable-internal']);
export type AnswerAction = z.infer<typeof answerAction>;

/** The fields of a `change` answer. */
export const changeField = z.enum(['hostnames', 'port', 'kmipCaCertificate', 'clientCertificate', 'driveIDs']);
export type ChangeField = z.infer<typeof changeField>;
/** How `ekm answer … change` names each field (what an operator types). */
export const changeFieldFlags: Record<ChangeField, string> = {
  hostnames: '--hostnames',
  port: '--port',
  kmipCaCertificate: '--kmip-ca',
  clientCertificate: '--client-cert/--client-ca',
  driveIDs: '--drives',
};

/** What a waiting runbook needs from a person. */
export const waitingFor = z.strictObject({
  kind: z.enum(['signed-certificate', 'operator-decision', 'cluster-lock']),
  step: z.string(),
  since: isoTime,
  /** The question, in words an on-call engineer can act on. */
  prompt: z.string(),
  /** The answers `ekm answer` accepts now. */
  answers: z.array(answerAction),
  deadline: isoTime.optional(),
  reminders: z.int().nonnegative(),
  /** The CSR to sign, when kind is signed-certificate. */
  csrPem: z.string().optional(),
  /** The failure that led here (e.g. the key server test's error). */
  problem: z.string().optional(),
  /**
   * `abort` is accepted only with `confirmUnprotected` equal to this (the cluster's name): ending
   * the run now leaves hardware encryption at rest disabled (setup --replace-internal-key).
   */
  abortRequires: z
    .strictObject({
      confirmUnprotected: z.string(),
      /** What ending the run now leaves (setup --replace-internal-key says it when absent: the drives unprotected). */
      leaves: z.string().optional(),
    })
    .optional(),
  /** What a `change` answer may carry here, when not every field applies (a renewal changes certificates only). */
  changeFields: z.array(changeField).optional(),
  /**
   * A renewal: a submitted certificate must be valid longer than this one (`what` names it), so
   * `ekm cert check --run`, the console and fleet submit-certs check what the runbook will.
   */
  mustOutlive: z.strictObject({ notAfter: z.string(), what: z.string() }).optional(),
});
export type WaitingFor = z.infer<typeof waitingFor>;

export const answerRecord = z.strictObject({
  at: isoTime,
  step: z.string(),
  action: z.union([answerAction, z.literal('submit-certificate')]),
  by: z.string().optional(),
  outcome: z.enum(['accepted', 'rejected']),
  comment: z.string().optional(),
});
export type AnswerRecord = z.infer<typeof answerRecord>;

export const runbookState = z.enum(['running', 'waiting-for-input', 'completed', 'failed', 'cancelled']);
export type RunbookState = z.infer<typeof runbookState>;

export const runbookProgress = z.strictObject({
  runbook: runbookName,
  cluster: z.string(),
  state: runbookState,
  startedAt: isoTime,
  endedAt: isoTime.optional(),
  currentStep: z.string().optional(),
  steps: z.array(stepProgress),
  waiting: waitingFor.optional(),
  /** Notable facts in order: what was reused, created or removed, reminders sent, notifications that failed. */
  notes: z.array(z.string()),
  answers: z.array(answerRecord),
  /** Setup: the cluster's CSR, once it exists (what `ekm csr` prints). */
  csrPem: z.string().optional(),
  /** Setup: the signed certificate the runbook accepted for that CSR (a repeated submission is told so). */
  acceptedCertificate: z
    .strictObject({ at: isoTime, subject: z.string(), notAfter: z.string(), fingerprint: z.string() })
    .optional(),
  error: z.string().optional(),
  /**
   * Setup --replace-internal-key: hardware encryption at rest is disabled on the cluster by this
   * run, so its drives are not locked (`ekm status` says so first). Cleared once it is enabled again.
   */
  encryptionAtRestDisabled: z.strictObject({ since: isoTime }).optional(),
  /**
   * Renew --new-key-pair: CreatePublicPrivateKeyPair replaced the cluster's key pair, so the
   * installed certificate no longer matches it until the new one is installed and tested. Shown
   * first like the above; cleared when the window closes (it stays on a run that ended inside it).
   */
  keyPairWindow: z.strictObject({ since: isoTime }).optional(),
});
export type RunbookProgress = z.infer<typeof runbookProgress>;

/**
 * What the cluster is exposed to while this run lasts, most serious first: the first lines of
 * `ekm status`, `--wait`, the console's run page and the Temporal UI's current details.
 */
export function riskBanners(p: RunbookProgress): string[] {
  const banners: string[] = [];
  if (p.encryptionAtRestDisabled) {
    banners.push(
      `ENCRYPTION AT REST IS DISABLED on ${p.cluster} since ${p.encryptionAtRestDisabled.since} — drives are not locked`,
    );
  }
  if (p.keyPairWindow) {
    banners.push(
      `KEY-PAIR WINDOW OPEN on ${p.cluster} since ${p.keyPairWindow.since} — the installed certificate no longer matches the cluster's key: a node restart now leaves its drives locked until the new certificate is installed`,
    );
  }
  return banners;
}

export const progressQuery = query('progress', runbookProgress);

/** The run's memo key holding `acceptedCertificate` (read by `describe`, no worker needed). */
export const ACCEPTED_CERTIFICATE_MEMO = 'acceptedCertificate';
export const acceptedCertificateMemo = runbookProgress.shape.acceptedCertificate;
