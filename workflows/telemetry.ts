/**
 * The runbooks' own metrics and log fields, from workflow code without I/O: metrics go through the
 * SDK's workflow metricMeter (a sink: emitted by the worker, and not again when a run is replayed),
 * log fields and activity headers come from the run's own search attributes (EkmCluster,
 * EkmRunbook, EkmStep), which the RunbookTracker keeps current. Names and labels: docs/design.md
 * (Metrics and logs); the worker serves them on EKM_METRICS_LISTEN.
 */
import { metricMeter, workflowInfo } from '@temporalio/workflow';
import { EkmCluster, EkmRunbook, EkmStep } from '../src/temporal/search-attributes';

/** The activity header carrying the run's labels to the activity (and to its log lines). */
export const RUN_LABELS_HEADER = 'ekm-run-labels';

/** cluster, runbook, step of the running workflow, each only when set. */
export interface RunLabels {
  cluster?: string;
  runbook?: string;
  step?: string;
}

export function runLabels(): RunLabels {
  const attributes = workflowInfo().typedSearchAttributes;
  const labels: RunLabels = {};
  const cluster = attributes.get(EkmCluster);
  const runbook = attributes.get(EkmRunbook);
  const step = attributes.get(EkmStep);
  if (cluster) labels.cluster = cluster;
  if (runbook) labels.runbook = runbook;
  if (step) labels.step = step;
  return labels;
}

// Instruments are made on use: the workflow metricMeter works only inside a running workflow.
const runsStarted = () =>
  metricMeter.createCounter('ekm_runs_started_total', 'runs', 'runbook runs started (not counting continue-as-new)');
const runsEnded = () =>
  metricMeter.createCounter('ekm_runs_ended_total', 'runs', 'runbook runs ended, by outcome: completed, failed, cancelled');
const stepDuration = () =>
  metricMeter.createHistogram(
    'ekm_step_duration_seconds',
    'float',
    's',
    'runbook step durations from first start to end, by outcome: done, failed, skipped',
  );
const inputWaits = () =>
  metricMeter.createHistogram(
    'ekm_input_wait_seconds',
    'float',
    's',
    'how long a run waited for a person (an answer, a signed certificate) before it went on',
  );
const lockWaits = () =>
  metricMeter.createHistogram(
    'ekm_cluster_lock_wait_seconds',
    'float',
    's',
    'how long a run waited for the cluster lock held by another runbook',
  );

const seconds = (fromIso: string, toIso: string) => Math.max(0, (Date.parse(toIso) - Date.parse(fromIso)) / 1000);

export const runMetrics = {
  started(runbook: string, cluster: string): void {
    runsStarted().add(1, { runbook, cluster });
  },
  ended(runbook: string, cluster: string, outcome: 'completed' | 'failed' | 'cancelled'): void {
    runsEnded().add(1, { runbook, cluster, outcome });
  },
  stepEnded(
    runbook: string,
    step: string,
    outcome: 'done' | 'failed' | 'skipped',
    startedAt: string | undefined,
    endedAt: string,
  ): void {
    if (startedAt) stepDuration().record(seconds(startedAt, endedAt), { runbook, step, outcome });
  },
  waitEnded(runbook: string, wait: { kind: string; step: string; since: string }, endedAt: string): void {
    if (wait.kind === 'cluster-lock') lockWaits().record(seconds(wait.since, endedAt), { runbook });
    else inputWaits().record(seconds(wait.since, endedAt), { runbook, step: wait.step, kind: wait.kind });
  },
};
