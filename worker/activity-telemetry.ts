/**
 * The activity side of the runbooks' telemetry (a worker activity interceptor): each activity's
 * log lines carry the run's cluster, runbook and step (from the header the workflow interceptor
 * sets, workflows/interceptors.ts), and the outcomes of KMIP checks and notifications are counted
 * (ActivityMetrics). Element calls are counted by the client's onCall hook (activities/element.ts).
 */
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { ActivityMetrics } from '../src/metrics/activity-metrics';
import { Failure } from '../workflows/failures';
import { RUN_LABELS_HEADER, type RunLabels } from '../workflows/telemetry';

function labelsFrom(headers: Record<string, unknown>): RunLabels {
  const header = headers[RUN_LABELS_HEADER];
  if (!header) return {};
  try {
    const value = defaultPayloadConverter.fromPayload<RunLabels>(
      header as Parameters<typeof defaultPayloadConverter.fromPayload>[0],
    );
    return typeof value === 'object' && value !== null ? value : {};
  } catch {
    return {};
  }
}

export function activityTelemetry(metrics: ActivityMetrics): ActivityInterceptorsFactory {
  return (ctx) => {
    let labels: RunLabels = {};
    return {
      inbound: {
        async execute(input, next) {
          labels = labelsFrom(input.headers);
          const type = ctx.info.activityType;
          const cluster = labels.cluster ?? (typeof input.args[0] === 'string' ? input.args[0] : 'unknown');
          try {
            const result = await next(input);
            if (type === 'confirmKeyOnKmipServer' && (result as { checked?: boolean }).checked)
              metrics.kmipCheck(cluster, 'found');
            if (type === 'notify') {
              const kind = (input.args[0] as { kind?: string } | undefined)?.kind ?? 'unknown';
              metrics.notification(kind, (result as { delivered?: boolean }).delivered ? 'sent' : 'failed');
            }
            return result;
          } catch (err) {
            if (type === 'confirmKeyOnKmipServer') {
              const missing = err instanceof ApplicationFailure && err.type === Failure.KeyNotOnKmipServer;
              metrics.kmipCheck(cluster, missing ? 'missing' : 'error');
            }
            throw err;
          }
        },
      },
      outbound: {
        getLogAttributes: (input, next) => next({ ...input, ...labels }),
      },
    };
  };
}
