/**
 * Workflow interceptors (bundled with the workflows: worker/bundle.ts, create-worker): every
 * workflow log line carries the run's cluster, runbook and step, and every activity it schedules
 * gets them in a header (RUN_LABELS_HEADER) for the activity's own log lines and metrics.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { RUN_LABELS_HEADER, runLabels } from './telemetry';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      getLogAttributes: (input, next) => next({ ...input, ...runLabels() }),
      scheduleActivity: (input, next) =>
        next({ ...input, headers: { ...input.headers, [RUN_LABELS_HEADER]: defaultPayloadConverter.toPayload(runLabels()) } }),
      scheduleLocalActivity: (input, next) =>
        next({ ...input, headers: { ...input.headers, [RUN_LABELS_HEADER]: defaultPayloadConverter.toPayload(runLabels()) } }),
    },
  ],
});
