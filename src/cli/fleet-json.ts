/**
 * The `--json` outputs of `ekm fleet ...`, checked before they are printed (formatJson). They reuse
 * the fleet contract's schemas (workflows/contract/fleet.ts).
 */
import { z } from 'zod';
import { fleetResult, fleetRunbookName, fleetStatus, runbookState } from '../../workflows/contract';

export const fleetSelectionJson = z.strictObject({
  selector: z.string(),
  clusters: z.array(z.string()),
});

export const fleetStartedJson = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  selection: fleetSelectionJson,
  maxConcurrency: z.number().int(),
  maxErrors: z.number().int(),
  /** With --wait: how the fleet ended. */
  result: fleetResult.optional(),
  exitCode: z.number().int().optional(),
});

export const fleetResumedJson = z.strictObject({
  workflowId: z.string(),
  runId: z.string(),
  /** The clusters the resumed fleet will start. */
  notStarted: z.array(z.string()),
});

/** A cluster's running runbook as its progress query shows it (status adds it to the fleet's own view). */
export const fleetChildView = z.strictObject({
  cluster: z.string(),
  state: runbookState.optional(),
  step: z.string().optional(),
  waitingFor: z.string().optional(),
});

export const fleetStatusJson = z.strictObject({
  workflowId: z.string(),
  status: fleetStatus,
  summary: z.strictObject({
    total: z.number().int(),
    done: z.number().int(),
    running: z.number().int(),
    waitingForPerson: z.number().int(),
    failed: z.number().int(),
    cancelled: z.number().int(),
    notStarted: z.number().int(),
    /** Estimated time left, ms (from the mean duration of the runs that ended); absent before any ended. */
    etaMs: z.number().int().optional(),
  }),
  children: z.array(fleetChildView),
});
export type FleetStatusJson = z.infer<typeof fleetStatusJson>;

export const fleetListJson = z.array(
  z.strictObject({
    workflowId: z.string(),
    runbook: fleetRunbookName.optional(),
    /** Temporal's execution status (RUNNING, COMPLETED, FAILED, TERMINATED …). */
    status: z.string(),
    /** The fleet's own outcome: running, done, ended: N failed, stopped: error budget, cancelled, failed … */
    outcome: z.string().optional(),
    /** An ended fleet's clusters by state (from its result). */
    clusters: z
      .strictObject({
        total: z.number().int(),
        done: z.number().int(),
        failed: z.number().int(),
        cancelled: z.number().int(),
        notStarted: z.number().int(),
      })
      .optional(),
    startTime: z.string(),
    closeTime: z.string().optional(),
  }),
);

export const fleetPlanJson = z.array(
  z.strictObject({
    cluster: z.string(),
    verdict: z.enum(['would-run', 'would-refuse', 'nothing-to-do', 'error']),
    detail: z.string(),
  }),
);

export const fleetSubmissionsJson = z.array(
  z.strictObject({
    cluster: z.string(),
    workflowId: z.string(),
    outcome: z.enum(['accepted', 'already-accepted', 'refused', 'skipped']),
    detail: z.string(),
  }),
);
