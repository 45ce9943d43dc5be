/** The recoveries' own queries: the kmipServerFault diagnosis and the fault watcher's status. Workflow-safe. */
import { z } from 'zod';
import { runbookName } from './ids';
import { isoTime, query } from './messages';

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

/** A key server certificate the cluster uses that expires within the watcher's horizon. */
export const expiringCertificate = z.strictObject({
  keyServerID: z.int(),
  keyServerName: z.string(),
  certificate: z.enum(['client', 'ca']),
  subject: z.string(),
  issuer: z.string(),
  notAfter: isoTime,
  fingerprint: z.string(),
  /** Whole days left (negative: expired). */
  daysLeft: z.int(),
});
export type ExpiringCertificate = z.infer<typeof expiringCertificate>;

export const watcherStatus = z.strictObject({
  notifyOnly: z.boolean(),
  /** kmipCertificateFault starts a renewal (the watcher's renewal option); absent in watchers started before renewals existed. */
  renewal: z.boolean().optional(),
  /** The certificate-expiring warnings: horizon, last check, what expires within it, warnings sent. */
  certificates: z
    .strictObject({
      horizonMs: z.int().positive(),
      lastCheckAt: isoTime.optional(),
      lastCheckError: z.string().optional(),
      expiring: z.array(expiringCertificate),
      warningsSent: z.int().nonnegative(),
    })
    .optional(),
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
