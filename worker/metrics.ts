/**
 * Prometheus metrics of the worker process, on EKM_METRICS_LISTEN (one port): the Temporal SDK's
 * own worker metrics (task slots, poll and schedule-to-start latencies, cache, ...) and the
 * runbooks' (workflows/telemetry.ts, src/metrics/activity-metrics.ts, the waiting gauge below) all go
 * through the runtime's meter, so the SDK's exporter serves them together: nothing else binds a port.
 */
import type { Client } from '@temporalio/client';
import type { MetricMeter } from '@temporalio/common';
import type { RuntimeOptions } from '@temporalio/worker';
import { ELEMENT_CALL_BUCKETS_SECONDS, LONG_DURATION_BUCKETS_SECONDS } from '../src/metrics/activity-metrics';
import { runbookName } from '../workflows/contract';

/** Runtime telemetry options for `Runtime.install`: the Prometheus exporter on `listen` (host:port). */
export function metricsTelemetry(listen: string): NonNullable<RuntimeOptions['telemetryOptions']>['metrics'] {
  return {
    prometheus: {
      bindAddress: listen,
      useSecondsForDurations: true,
      histogramBucketOverrides: {
        ekm_element_call_duration_seconds: ELEMENT_CALL_BUCKETS_SECONDS,
        ekm_step_duration_seconds: LONG_DURATION_BUCKETS_SECONDS,
        ekm_input_wait_seconds: LONG_DURATION_BUCKETS_SECONDS,
        ekm_cluster_lock_wait_seconds: LONG_DURATION_BUCKETS_SECONDS,
      },
    },
  };
}

/** How often the waiting gauge asks Temporal's visibility (one count per runbook each time). */
export const WAITING_GAUGE_INTERVAL_MS = 15_000;

/**
 * `ekm_runs_waiting_for_input{runbook}`: runs of this task queue waiting for a person now, counted
 * by Temporal's visibility (EkmState = waiting-for-input), so the number survives worker restarts
 * and is the same on every worker (take max() over workers, not sum()). Returns a stop function.
 */
export function startWaitingGauge(
  client: Client,
  meter: MetricMeter,
  taskQueue: string,
  intervalMs = WAITING_GAUGE_INTERVAL_MS,
): () => void {
  const gauge = meter.createGauge(
    'ekm_runs_waiting_for_input',
    'int',
    'runs',
    'runs waiting for a person now (visibility count)',
  );
  let stopped = false;
  const refresh = async () => {
    for (const runbook of runbookName.options) {
      if (stopped) return;
      const query = `TaskQueue = '${taskQueue.replace(/'/g, "\\'")}' AND ExecutionStatus = 'Running' AND EkmState = 'waiting-for-input' AND EkmRunbook = '${runbook}'`;
      try {
        gauge.set((await client.workflow.count(query)).count, { runbook });
      } catch {
        // Visibility unavailable for a moment: keep the last value; the next refresh tries again.
      }
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
