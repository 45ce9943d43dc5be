/**
 * Fleet runs: one runbook over many clusters (workflows/fleet.ts). The input, the status the
 * fleet publishes, its result, and the signals that stop it. Workflow-safe.
 */
import { z } from 'zod';
import { isoTime, query, signal } from './messages';

/** The runbooks a fleet can run on every cluster. */
export const fleetRunbookName = z.enum(['rekey', 'setup', 'renew', 'recover-kmip-server-fault', 'recover-slice-service']);
export type FleetRunbookName = z.infer<typeof fleetRunbookName>;

/** `ekm-fleet-<runbook>-<id>`; the id is lowercase letters, digits and dashes. */
export const fleetId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'must be lowercase letters, digits and dashes');
export const fleetWorkflowId = (runbook: FleetRunbookName, id: string) => `ekm-fleet-${runbook}-${id}`;

/** Stands for each cluster's name in a fleet setup's subject fields (`--cn '{cluster}.example.com'`). */
export const CLUSTER_PLACEHOLDER = '{cluster}';

/**
 * A fleet's runbook input for one cluster: `{cluster}` in the certificate subject's fields
 * (`subject.commonName`, …) replaced by the cluster's name, so each cluster's CSR names it (one
 * subject for every cluster would give them one KMIP identity). Other fields are left as they are.
 */
export function inputForCluster(input: Record<string, unknown>, cluster: string): Record<string, unknown> {
  const subject = input.subject;
  if (!subject || typeof subject !== 'object') return input;
  const named = Object.entries(subject as Record<string, unknown>).map(([field, value]) => [
    field,
    typeof value === 'string' ? value.split(CLUSTER_PLACEHOLDER).join(cluster) : value,
  ]);
  return { ...input, subject: Object.fromEntries(named) };
}

/** A limit as a count or a percentage of the selected clusters (`50`, `10%`). */
export const fleetLimit = z.union([
  z.strictObject({ count: z.number().int().min(1).max(100_000) }),
  z.strictObject({ percent: z.number().gt(0).max(100) }),
]);
export type FleetLimit = z.infer<typeof fleetLimit>;

/** The count a limit stands for over `total` clusters: a percentage rounds up, and is at least 1. */
export function resolveLimit(limit: FleetLimit, total: number): number {
  return 'count' in limit ? limit.count : Math.max(1, Math.ceil((total * limit.percent) / 100));
}

/**
 * The error budget: how many runs may end failed (a count, or a percentage of the selected
 * clusters). The fleet stops starting runbooks once more than this many have failed, so 0 (or 0%)
 * stops it at the first failure (as AWS Systems Manager's MaxErrors and Ansible's
 * max_fail_percentage count).
 */
export const fleetErrorBudget = z.union([
  z.strictObject({ count: z.number().int().min(0).max(100_000) }),
  z.strictObject({ percent: z.number().min(0).max(100) }),
]);
export type FleetErrorBudget = z.infer<typeof fleetErrorBudget>;

/** The failures a budget tolerates over `total` clusters: a percentage rounds down (10% of 12: 1). */
export function resolveErrorBudget(budget: FleetErrorBudget, total: number): number {
  return 'count' in budget ? budget.count : Math.floor((total * budget.percent) / 100 + 1e-9);
}

export const fleetClusterState = z.enum([
  'not-started',
  'running',
  /** A run of the same runbook was already running on the cluster: followed, not started again. */
  'attached',
  'completed',
  'failed',
  'cancelled',
]);
export type FleetClusterState = z.infer<typeof fleetClusterState>;

export const fleetCluster = z.strictObject({
  cluster: z.string(),
  state: fleetClusterState,
  workflowId: z.string(),
  runId: z.string().optional(),
  startedAt: isoTime.optional(),
  endedAt: isoTime.optional(),
  /** The failure's name (Failure.*, an Element error name) and message, for a run that ended failed. */
  error: z.strictObject({ name: z.string(), message: z.string() }).optional(),
  /** A completed run's own outcome when its runbook's result names one (the recoveries: `recovered`, `no-fault`). */
  outcome: z.string().max(100).optional(),
});
export type FleetCluster = z.infer<typeof fleetCluster>;

export const fleetState = z.enum(['running', 'stopping', 'completed', 'stopped-error-budget', 'cancelled']);
export type FleetState = z.infer<typeof fleetState>;

export const fleetInput = z.strictObject({
  runbook: fleetRunbookName,
  /** The selected clusters, in the order their runbooks start. */
  clusters: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/)).min(1),
  /** The selector as the operator typed it (shown by status). */
  selector: z.string().max(2000),
  /** Every cluster's runbook input but `cluster` (no secrets: what a single start would carry). */
  input: z.record(z.string(), z.unknown()),
  maxConcurrency: fleetLimit,
  maxErrors: fleetErrorBudget,
  /** Continue as new after this many history events (default 4,000). */
  continueAsNewAfterEvents: z.number().int().min(50).default(4000),
  /** How often runs not started by this execution (attached, or from before a continue-as-new) are looked at. */
  followEveryMs: z.number().int().min(100).default(5000),
  requestedBy: z.string().max(200).optional(),
});
export type FleetInput = z.input<typeof fleetInput>;
export type FleetOptions = z.output<typeof fleetInput>;

export const fleetStatus = z.strictObject({
  runbook: fleetRunbookName,
  selector: z.string(),
  state: fleetState,
  startedAt: isoTime,
  endedAt: isoTime.optional(),
  maxConcurrency: z.number().int(),
  /** Failed runs tolerated: once more than this many have failed, no more runbooks start. */
  maxErrors: z.number().int(),
  /** Runs that ended failed (transient failures retried inside a run do not count). */
  failed: z.number().int(),
  clusters: z.array(fleetCluster),
  /** How many executions this fleet has had (continue-as-new), and resumes. */
  executions: z.number().int(),
  notes: z.array(z.string()),
});
export type FleetStatus = z.infer<typeof fleetStatus>;

export const fleetResult = z.strictObject({
  state: fleetState,
  /** The clusters whose runbook was never started (error budget reached, or cancelled). */
  notStarted: z.array(z.string()),
  status: fleetStatus,
  /** The fleet's input as started (a resume starts again from it with a new budget). */
  input: z.record(z.string(), z.unknown()),
});
export type FleetResult = z.infer<typeof fleetResult>;

export const fleetStatusQuery = query('fleetStatus', fleetStatus);
/** Stop starting runbooks; with cancelRunning, also cancel the ones running. */
export const fleetCancelSignal = signal(
  'fleetCancel',
  z.strictObject({ cancelRunning: z.boolean(), by: z.string().max(200).optional() }),
);
