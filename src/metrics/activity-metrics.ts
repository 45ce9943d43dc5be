/**
 * Metrics the activities report (Element API calls, KMIP checks, notifications), on the worker's
 * Temporal runtime meter: the SDK's Prometheus exporter serves them with its own worker metrics
 * on EKM_METRICS_LISTEN. Labels stay low-cardinality: cluster, Element method, outcome, kind.
 */
import { noopMetricMeter, type MetricCounter, type MetricHistogram, type MetricMeter } from '@temporalio/common';
import type { ElementCallRecord } from '../element';

/** Element call latencies: the client's connect/response timeouts are 10 s / 60 s by default. */
export const ELEMENT_CALL_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Step and wait durations: from a fraction of a second to days (a CA that signs next week). */
export const LONG_DURATION_BUCKETS_SECONDS = [0.1, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400];

export class ActivityMetrics {
  private readonly elementCalls: MetricCounter;
  private readonly elementLatency: MetricHistogram;
  private readonly kmipChecks: MetricCounter;
  private readonly notifications: MetricCounter;

  constructor(meter: MetricMeter = noopMetricMeter) {
    this.elementCalls = meter.createCounter(
      'ekm_element_calls_total',
      'calls',
      'Element API calls by cluster, method and outcome (ok or the Element/transport error name)',
    );
    this.elementLatency = meter.createHistogram(
      'ekm_element_call_duration_seconds',
      'float',
      's',
      'Element API call latency, client retries of transient faults included, by method and outcome (ok, error)',
    );
    this.kmipChecks = meter.createCounter(
      'ekm_kmip_checks_total',
      'checks',
      "the worker's own KMIP checks of a key on the key server, by cluster and outcome (found, missing, error)",
    );
    this.notifications = meter.createCounter(
      'ekm_notifications_total',
      'notifications',
      'notifications by kind and outcome (sent, failed)',
    );
  }

  elementCall(cluster: string, call: ElementCallRecord): void {
    const outcome = call.outcome === 'ok' ? 'ok' : (call.errorName ?? 'error');
    this.elementCalls.add(1, { cluster, method: call.method, outcome });
    this.elementLatency.record(call.durationMs / 1000, { method: call.method, outcome: call.outcome === 'ok' ? 'ok' : 'error' });
  }

  kmipCheck(cluster: string, outcome: 'found' | 'missing' | 'error'): void {
    this.kmipChecks.add(1, { cluster, outcome });
  }

  notification(kind: string, outcome: 'sent' | 'failed'): void {
    this.notifications.add(1, { kind, outcome });
  }
}
