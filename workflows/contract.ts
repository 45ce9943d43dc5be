/**
 * The contract between the runbooks and their clients (CLI, schedules, demo, tests): every
 * query, signal and update by name, each with a zod schema for its argument and its answer, and
 * the workflow ids. Workflow handlers validate with these schemas, clients build and check with
 * them, and the `--json` outputs reuse them, so there is one definition of each shape.
 * Workflow-safe: zod, Temporal's message definitions and data only.
 */
import { msToNumber, type Duration } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';

const isoTime = z.iso.datetime();

// ---------------------------------------------------------------------------------------------
// Certificates as people hand them in (the CLI converts DER and PKCS#7 to PEM before it sends)

/**
 * The largest certificate or CA bundle one input may be, in bytes (a certificate with a long
 * chain is a few kilobytes). The CLI checks it before it sends and the Updates' validators check
 * it again, so an oversized file is refused with its size instead of failing in transport.
 */
export const CERTIFICATE_INPUT_LIMIT_BYTES = 64 * 1024;

/** UTF-8 length of a text, without Node's Buffer (workflow-safe). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** "too large (N bytes; limit M)" when a certificate input is over the limit, else undefined. */
export function certificateInputTooLarge(input: string | number, limit = CERTIFICATE_INPUT_LIMIT_BYTES): string | undefined {
  const bytes = typeof input === 'number' ? input : utf8ByteLength(input);
  return bytes > limit
    ? `too large (${bytes} bytes; limit ${limit}): a certificate with its chain is a few kilobytes`
    : undefined;
}

const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** The cheap checks an Update validator makes on a certificate input: size and no private key. */
export function certificateInputProblem(text: string): string | undefined {
  return (
    certificateInputTooLarge(text) ??
    (PRIVATE_KEY_BLOCK.test(text)
      ? 'holds a private key: give the certificate alone (a private key must never be handed to the runbook)'
      : undefined)
  );
}

const pemCertificate = z.string().superRefine((text, ctx) => {
  const problem = certificateInputProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
  else if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(text))
    ctx.addIssue({ code: 'custom', message: 'must be a PEM certificate' });
});

/** A message and its schemas: what handlers validate with and what clients build and check with. */
function query<R extends z.ZodType>(name: string, result: R) {
  return { name, definition: defineQuery<z.output<R>>(name), result };
}
function update<A extends z.ZodType, R extends z.ZodType>(name: string, argument: A, result: R) {
  return { name, definition: defineUpdate<z.output<R>, [z.input<A>]>(name), argument, result };
}
function signal<A extends z.ZodType>(name: string, argument: A) {
  return { name, definition: defineSignal<[z.output<A>]>(name), argument };
}

// ---------------------------------------------------------------------------------------------
// Runbooks and their workflow ids

export const runbookName = z.enum(['setup', 'rekey', 'recover-kmip-server-fault', 'recover-slice-service', 'fault-watcher']);
export type RunbookName = z.infer<typeof runbookName>;

/** One of each runbook per cluster at a time: the id is derived from the runbook and the cluster. */
export const workflowIds = {
  setup: (cluster: string) => `ekm-setup-${cluster}`,
  rekey: (cluster: string) => `ekm-rekey-${cluster}`,
  /** Schedules append the scheduled time to this. */
  scheduledRekey: (cluster: string) => `ekm-scheduled-rekey-${cluster}`,
  'recover-kmip-server-fault': (cluster: string) => `ekm-recover-kmip-${cluster}`,
  'recover-slice-service': (cluster: string) => `ekm-recover-slice-${cluster}`,
  'fault-watcher': (cluster: string) => `ekm-watch-${cluster}`,
  clusterLock: (cluster: string) => `ekm-lock-${cluster}`,
  rekeySchedule: (cluster: string) => `ekm-rekey-schedule-${cluster}`,
};

// ---------------------------------------------------------------------------------------------
// Progress: where a runbook stands (every runbook answers the `progress` query)

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

export const answerAction = z.enum(['retry', 'fixed', 'change', 'extend', 'abort']);
export type AnswerAction = z.infer<typeof answerAction>;

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
});
export type RunbookProgress = z.infer<typeof runbookProgress>;

export const progressQuery = query('progress', runbookProgress);

/** The run's memo key holding `acceptedCertificate` (read by `describe`, no worker needed). */
export const ACCEPTED_CERTIFICATE_MEMO = 'acceptedCertificate';
export const acceptedCertificateMemo = runbookProgress.shape.acceptedCertificate;

// ---------------------------------------------------------------------------------------------
// A person's answer to a waiting runbook (`ekm answer`); the runbook refuses answers not offered now

const by = z.string().max(200).optional();
const comment = z.string().max(2000).optional();
/** "7d", "12h", "90 minutes". */
const durationText = z.string().refine((text) => {
  try {
    return msToNumber(text as Duration) > 0;
  } catch {
    return false;
  }
}, 'is not a duration like 7d or 12h');

export const operatorAnswer = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('retry'), by, comment }),
  z.strictObject({ action: z.literal('fixed'), by, comment }),
  z.strictObject({ action: z.literal('abort'), by, reason: z.string().trim().min(1, 'is required') }),
  z.strictObject({ action: z.literal('extend'), by, comment, extendBy: durationText }),
  z
    .strictObject({
      action: z.literal('change'),
      by,
      comment,
      hostnames: z
        .array(z.string().trim().min(1, 'must be host names'))
        .min(1, 'must be a non-empty list of host names')
        .optional(),
      port: z.int().min(1, 'must be 1-65535').max(65535, 'must be 1-65535').optional(),
      kmipCaCertificate: pemCertificate.optional(),
      /** A new client certificate for the cluster's key pair (e.g. signed by the CA the key server trusts), with its CA chain. */
      clientCertificate: z.strictObject({ certificatePem: pemCertificate, caChainPem: pemCertificate }).optional(),
      /** The slice recovery: the metadata drives to add back, when the fault does not say which. */
      driveIDs: z
        .array(z.int('must be drive ids').nonnegative('must be drive ids'))
        .min(1, 'must be a non-empty list of drive ids')
        .max(64, 'must be at most 64 drive ids')
        .optional(),
    })
    .refine(
      (c) =>
        c.hostnames !== undefined ||
        c.port !== undefined ||
        c.kmipCaCertificate !== undefined ||
        c.clientCertificate !== undefined ||
        c.driveIDs !== undefined,
      'give at least one of hostnames, port, kmipCaCertificate, clientCertificate, driveIDs',
    ),
]);
export type OperatorAnswer = z.infer<typeof operatorAnswer>;

export const answerAccepted = z.strictObject({ accepted: z.literal(true), step: z.string(), message: z.string() });
export type AnswerAccepted = z.infer<typeof answerAccepted>;

export const answerUpdate = update('answer', operatorAnswer, answerAccepted);

// ---------------------------------------------------------------------------------------------
// The CA-signed client certificate for a setup runbook's CSR (`ekm submit-cert`)

const certificateInput = z
  .string()
  .min(1, 'is empty')
  .superRefine((text, ctx) => {
    const problem = certificateInputProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const signedCertificateSubmission = z.strictObject({
  /** What `ekm submit-cert --cert` sends: the signed certificate, maybe with its chain (the check picks the CSR's). */
  certificatePem: certificateInput,
  /** `--ca`: the CA certificate(s) that issued it. */
  caChainPem: certificateInput,
  by,
});
export type SignedCertificateSubmission = z.infer<typeof signedCertificateSubmission>;

export const certificateAccepted = z.strictObject({
  accepted: z.literal(true),
  subject: z.string(),
  notAfter: z.string(),
  fingerprint: z.string(),
  /** What the check did besides accepting: which block was the client certificate, a notBefore to wait for. */
  notes: z.array(z.string()).optional(),
});
export type CertificateAccepted = z.infer<typeof certificateAccepted>;

export const submitCertificateUpdate = update('submitCertificate', signedCertificateSubmission, certificateAccepted);

// ---------------------------------------------------------------------------------------------
// The cluster lock: one mutating runbook per cluster (workflows/cluster-lock.ts)

export const lockHolder = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  runbook: runbookName,
  since: isoTime,
});
export type LockHolder = z.infer<typeof lockHolder>;

export const lockRequest = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  runbook: runbookName,
  /** 'fail': refuse at once when another runbook holds the lock; 'wait': queue. */
  ifBusy: z.enum(['fail', 'wait']),
});
export type LockRequest = z.infer<typeof lockRequest>;

export const lockState = z.strictObject({ holder: lockHolder.optional(), queue: z.array(lockRequest) });
export type LockState = z.infer<typeof lockState>;

const runRef = z.strictObject({ workflowId: z.string(), runId: z.string() });

export const acquireLockSignal = signal('acquire', lockRequest);
export const releaseLockSignal = signal('release', runRef);
export const lockStateQuery = query('lockState', lockState);
/** The lock tells a waiting runbook it may go on, or that the cluster is busy. */
export const lockGrantedSignal = signal('clusterLockGranted', z.strictObject({ lockRunId: z.string() }));
export const lockDeniedSignal = signal('clusterLockDenied', z.strictObject({ holder: lockHolder }));

// ---------------------------------------------------------------------------------------------
// kmipServerFault recovery: its diagnosis (activities/faults.ts makes it)

export const faultSummary = z.strictObject({
  clusterFaultID: z.int(),
  code: z.string(),
  type: z.string(),
  severity: z.string(),
  details: z.string(),
  date: z.string(),
  nodeID: z.int(),
  driveIDs: z.array(z.int()),
  serviceID: z.int(),
  data: z.record(z.string(), z.unknown()).nullable().optional(),
});
export type FaultSummary = z.infer<typeof faultSummary>;

export const kmipFailureClass = z.enum(['unreachable', 'tls-rejected', 'key-missing', 'other']);
export type KmipFailureClass = z.infer<typeof kmipFailureClass>;

export const keyServerRef = z.strictObject({
  keyServerID: z.int(),
  name: z.string(),
  hostnames: z.array(z.string()),
  port: z.int(),
  keyProviderID: z.int(),
});
export type KeyServerRef = z.infer<typeof keyServerRef>;

export const keyServerDiagnosis = keyServerRef.extend({
  ok: z.boolean(),
  failure: kmipFailureClass.optional(),
  errorName: z.string().optional(),
  error: z.string().optional(),
});
export type KeyServerDiagnosis = z.infer<typeof keyServerDiagnosis>;

export const kmipDiagnosis = z.strictObject({
  at: isoTime,
  /** The current kmipServerFault; absent once it has resolved. */
  fault: faultSummary.optional(),
  /** What the fault's own details say is wrong. */
  faultClass: kmipFailureClass.optional(),
  servers: z.array(keyServerDiagnosis),
  allServersPass: z.boolean(),
});
export type KmipDiagnosis = z.infer<typeof kmipDiagnosis>;

export const kmipDiagnosisQuery = query('kmipDiagnosis', kmipDiagnosis.optional());

// ---------------------------------------------------------------------------------------------
// The fault watcher: what it has seen and started

export const seenFault = z.strictObject({
  clusterFaultID: z.int(),
  code: z.string(),
  severity: z.string(),
  details: z.string(),
  firstSeenAt: isoTime,
  lastSeenAt: isoTime,
  current: z.boolean(),
});
export type SeenFault = z.infer<typeof seenFault>;

export const recoveryStart = z.strictObject({
  at: isoTime,
  code: z.string(),
  faultIDs: z.array(z.int()),
  runbook: runbookName,
  workflowId: z.string(),
  runId: z.string().optional(),
  outcome: z.enum(['started', 'already-running', 'not-started', 'notified-only']),
  error: z.string().optional(),
});
export type RecoveryStart = z.infer<typeof recoveryStart>;

export const watcherStatus = z.strictObject({
  notifyOnly: z.boolean(),
  intervalMs: z.int().positive(),
  polls: z.int().nonnegative(),
  lastPollAt: isoTime.optional(),
  lastPollError: z.string().optional(),
  /** Faults of the watched codes, current ones first (bounded). */
  faultsSeen: z.array(seenFault),
  /** Recoveries started (or found running, or only notified), newest last (bounded). */
  recoveries: z.array(recoveryStart),
});
export type WatcherStatus = z.infer<typeof watcherStatus>;

export const watcherStatusQuery = query('watcherStatus', watcherStatus);
