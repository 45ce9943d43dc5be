/**
 * The `--json` outputs of the CLI: what operators' scripts may rely on. Every command that
 * prints JSON goes through `formatJson` with its schema, so output that left the contract is a
 * failure here rather than a surprise in someone's pipeline. The type checks at the bottom tie
 * the schemas to the types the runbooks and commands use; changing one without the other does
 * not compile.
 */
import type { WorkflowExecutionStatusName } from '@temporalio/client';
import { z } from 'zod';
import type { CertificateSummary, ChainLink } from '../pki/certificate-checks';
import type { RekeyScheduleSummary } from '../schedules/rekey-schedules';
import { runbookProgress, watcherStatus } from '../../workflows/contract';
import type { RekeyResult } from '../../workflows/rekey';
import type { RenewResult } from '../../workflows/renew';
import { CliError, ExitCode } from './exit-codes';

const isoTime = z.iso.datetime();

const EXECUTION_STATUSES = {
  UNSPECIFIED: true,
  RUNNING: true,
  COMPLETED: true,
  FAILED: true,
  CANCELLED: true,
  TERMINATED: true,
  CONTINUED_AS_NEW: true,
  TIMED_OUT: true,
  PAUSED: true,
  UNKNOWN: true,
} satisfies Record<WorkflowExecutionStatusName, true>;

/** Temporal's execution status, as the client names it. */
const executionStatus = z.enum(
  Object.keys(EXECUTION_STATUSES) as [WorkflowExecutionStatusName, ...WorkflowExecutionStatusName[]],
);

const keyManagementType = z.enum(['internal', 'external']);

/** Key info comes from the cluster, which may add fields; the ones named here are the contract. */
const masterKeyJson = z.looseObject({
  keyID: z.string().optional(),
  keyManagementType,
  keyProviderID: z.int().optional(),
  keyCreatedTime: z.string().optional(),
});

export const rekeyResultJson = z.strictObject({
  cluster: z.string(),
  asyncHandle: z.int(),
  attachedToRunningRekey: z.boolean(),
  oldKey: masterKeyJson.optional(),
  newKey: masterKeyJson.extend({ keyID: z.string() }),
  provider: z.strictObject({ id: z.int(), name: z.string() }).optional(),
  kmipCheck: z
    .discriminatedUnion('checked', [
      z.strictObject({ checked: z.literal(false), reason: z.string() }),
      z.strictObject({
        checked: z.literal(true),
        /** The custom attribute the key was found by (x-SolidFire-KeyID-<keyID>). */
        keyAttribute: z.strictObject({ name: z.string(), value: z.string() }),
        server: z.string(),
        uniqueIdentifiers: z.array(z.string()),
      }),
    ])
    .optional(),
  startedAt: isoTime,
  completedAt: isoTime,
});

const certificateBriefJson = z.strictObject({
  subject: z.string(),
  issuer: z.string(),
  notAfter: isoTime,
  fingerprint: z.string(),
});

/** `renew <cluster> --wait --json`: the result of a renewal (old and new notAfter among it). */
export const renewResultJson = z.strictObject({
  cluster: z.string(),
  keyProviderID: z.int(),
  keyServerID: z.int(),
  previous: certificateBriefJson,
  renewed: certificateBriefJson,
  kmipCa: z.strictObject({ replaced: z.boolean(), previousNotAfter: z.array(isoTime), notAfter: z.array(isoTime).optional() }),
  keyPair: z.enum(['kept', 'replaced']),
  keyFingerprint: z.string(),
  keyPairWindow: z.strictObject({ openedAt: isoTime, closedAt: isoTime }).optional(),
  modify: z.enum(['modified', 'already-installed']),
  resolvedFaultIDs: z.array(z.int()),
  startedAt: isoTime,
  completedAt: isoTime,
});

/** `status <run> --json`: one run, or several when a cluster has several running. */
export const runStatusJson = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  status: executionStatus,
  progress: runbookProgress,
  /** Activities Temporal is retrying after a failure (the step table's attempt and last error). */
  retries: z
    .array(
      z.strictObject({
        activityType: z.string(),
        attempt: z.int(),
        lastError: z.string().optional(),
        nextAttemptAt: isoTime.optional(),
      }),
    )
    .optional(),
});
export const statusOutputJson = z.union([runStatusJson, z.array(runStatusJson)]);

/** `status <run> --watch --json` and any follow to the end. */
export const followOutputJson = z.strictObject({
  workflowId: z.string(),
  exitCode: z.int(),
  result: z.unknown().optional(),
  error: z.string().optional(),
  progress: runbookProgress.optional(),
});

/** `list --json`. */
export const runSummaryJson = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  runbook: z.string().optional(),
  cluster: z.string().optional(),
  status: executionStatus,
  /** The runbook's own state (running, waiting-for-input, completed, ...), from its search attribute. */
  state: z.string().optional(),
  /** The step it is at or ended on. */
  step: z.string().optional(),
  startTime: isoTime,
  closeTime: isoTime.optional(),
});
export const listOutputJson = z.array(runSummaryJson);
export type RunSummary = z.infer<typeof runSummaryJson>;

/** `watch status <cluster> --json`: the watcher's run and, while it runs, its status and progress. */
export const watchReportJson = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  status: executionStatus,
  watch: watcherStatus.optional(),
  progress: runbookProgress.optional(),
});
export type WatchReport = z.infer<typeof watchReportJson>;

/** `rekey <cluster> --json` without --wait. */
export const runStartedJson = z.strictObject({ workflowId: z.string(), runId: z.string() });

/** `<runbook> --wait --json`: the result or the error, the exit code, and the final progress. */
export function waitOutputJson<R extends z.ZodType>(result: R) {
  return z
    .strictObject({
      workflowId: z.string(),
      runId: z.string(),
      exitCode: z.int(),
      result: result.optional(),
      error: z.string().optional(),
      progress: runbookProgress.optional(),
    })
    .refine((o) => (o.exitCode === 0) === (o.error === undefined), { message: 'an error exactly when the exit code is not 0' });
}

/** `rekey <cluster> --wait --json`. */
export const rekeyWaitJson = waitOutputJson(rekeyResultJson).refine((o) => o.exitCode !== 0 || o.result !== undefined, {
  message: 'a completed rekey reports its result',
});

const scheduleProvider = z.union([
  z.strictObject({ id: z.int() }),
  z.strictObject({ name: z.string() }),
  z.strictObject({ active: z.literal(true) }),
]);

/** `schedule create|describe --json`, and each item of `schedule list --json`. */
export const scheduleSummaryJson = z.strictObject({
  scheduleId: z.string(),
  cluster: z.string(),
  keyManagement: keyManagementType,
  provider: scheduleProvider.optional(),
  paused: z.boolean(),
  note: z.string().optional(),
  spec: z.string(),
  jitterMs: z.int().positive().optional(),
  nextActionTimes: z.array(isoTime),
  recentActions: z.array(z.strictObject({ scheduledAt: isoTime, takenAt: isoTime, workflowId: z.string() })),
  runningWorkflowIds: z.array(z.string()),
  overlap: z.string(),
  actionsTaken: z.int().nonnegative(),
  actionsSkippedOverlap: z.int().nonnegative(),
  actionsMissedCatchupWindow: z.int().nonnegative(),
  catchupWindowMs: z.int().positive(),
  pauseOnFailure: z.boolean(),
  createdAt: isoTime,
});
export const scheduleListJson = z.array(scheduleSummaryJson);

/** `cert check --json`: the verdict a submission of these files would get. */
export const certificateVerdictJson = z
  .strictObject({
    accepted: z.boolean(),
    /** Every reason to refuse, each naming its input (--cert, --ca[2]); empty when accepted. */
    problems: z.array(z.string()),
    /** Conversions (DER, PKCS#7), which block is the client certificate, how the chain ends, a notBefore ahead. */
    notes: z.array(z.string()),
    csr: z.strictObject({ from: z.string(), subject: z.string(), keyFingerprint: z.string() }),
    certificate: z
      .strictObject({
        subject: z.string(),
        issuer: z.string(),
        notBefore: isoTime,
        notAfter: isoTime,
        fingerprint: z.string(),
        keyFingerprint: z.string(),
      })
      .optional(),
    /** The CAs from the certificate's issuer up, as found in the inputs. */
    chain: z.array(z.strictObject({ from: z.string(), subject: z.string(), notAfter: isoTime, selfSigned: z.boolean() })),
    /** The certificate's notBefore when it is up to 5 minutes ahead: the runbook would wait until then. */
    waitUntil: isoTime.optional(),
  })
  .refine((v) => v.accepted === (v.problems.length === 0), { message: 'accepted exactly when there is no problem' });
export type CertificateVerdictJson = z.infer<typeof certificateVerdictJson>;

/** Checks a command's output against its schema, then prints it indented. */
export function formatJson<S extends z.ZodType>(schema: S, value: z.input<S>): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(output)'}: ${i.message}`).join('; ');
    throw new CliError(`internal error: the --json output does not match its schema (${problems})`, ExitCode.runbookFailed);
  }
  return JSON.stringify(parsed.data, null, 2);
}

// Compile-time ties between the schemas and the types behind them.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
export type ContractChecks = [
  Assert<Equals<z.infer<typeof scheduleSummaryJson>, RekeyScheduleSummary>>,
  // RekeyResult types keyManagementType as string; the schema holds it to the two values the cluster uses.
  Assert<Equals<keyof z.infer<typeof rekeyResultJson>, keyof RekeyResult>>,
  Assert<Equals<z.infer<typeof renewResultJson>, RenewResult>>,
  Assert<Equals<NonNullable<CertificateVerdictJson['certificate']>, CertificateSummary>>,
  Assert<Equals<CertificateVerdictJson['chain'][number], ChainLink>>,
];
