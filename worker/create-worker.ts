import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { ActivityMetrics } from '../src/metrics/activity-metrics';
import { ekmDataConverter } from '../src/codec/data-converter';
import { AuditLog } from '../src/audit/audit-log';
import { liveFile } from '../src/config/live-file';
import { loadClusterRegistry, readCaBundle, readClusterCredentials, type ClusterRegistry } from '../src/config/clusters';
import { temporalConnection, type RuntimeSettings } from '../src/config/runtime';
import { notifierFromSettings, type Notifier } from '../src/notify/notifier';
import { SEARCH_ATTRIBUTES } from '../src/temporal/search-attributes';
import type { LockTiming } from '../workflows/cluster-lock';
import { activityTelemetry } from './activity-telemetry';
import { startWaitingGauge } from './metrics';
import { WORKFLOW_BUNDLE_OPTIONS, WORKFLOW_INTERCEPTOR_MODULES, WORKFLOW_PRELOAD_MODULES } from './bundle-options';

export interface RunbookWorker {
  worker: Worker;
  /** Closes the connections once the worker has stopped. */
  close(): Promise<void>;
}

/** Builds the worker: connections, activities bound to the cluster registry, workflows (pre-bundled when EKM_WORKFLOW_BUNDLE is set). */
/** What tests, the demo and tools set differently from the environment. */
export interface WorkerOverrides {
  registry?: ClusterRegistry;
  notifier?: Notifier;
  lockTiming?: LockTiming;
  /** Bundle these workflows instead (test fixtures). */
  workflowsPath?: string;
}

/**
 * The clusters file as it is now: read again when it changed on disk, so a cluster added to it is
 * known without restarting the worker. A change with a mistake keeps the last good registry (runs in
 * flight go on) and says so in the worker's log, once per change.
 */
function liveClusterRegistry(file: string): () => ClusterRegistry {
  return liveFile(file, () => loadClusterRegistry(file), {
    onReread: (registry) =>
      Runtime.instance().logger.info('clusters file read again', { file, clusters: Object.keys(registry.clusters) }),
    onProblem: (err) =>
      Runtime.instance().logger.error('clusters file changed but cannot be read; keeping the last good one', {
        file,
        error: (err as Error).message,
      }),
  });
}

/**
 * A cluster whose secrets or CA bundle cannot be read now is said at start, once per cluster (the
 * worker still starts: the other clusters work, and the files are read again at each use).
 */
function reportUnusableClusters(registry: ClusterRegistry): void {
  for (const [name, entry] of Object.entries(registry.clusters)) {
    try {
      readClusterCredentials(name, entry);
      readCaBundle(name, entry);
    } catch (err) {
      Runtime.instance().logger.warn(`cluster ${name} cannot be used until this is fixed: ${(err as Error).message}`, {
        cluster: name,
      });
    }
  }
}

/** The namespace must have the search attributes the runbooks set, or every start would fail: say so at start. */
async function requireSearchAttributes(client: Client, namespace: string): Promise<void> {
  const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.keys(SEARCH_ATTRIBUTES).filter((name) => !(name in (customAttributes ?? {})));
  if (missing.length > 0) {
    throw new Error(
      `the Temporal namespace ${namespace} lacks the search attributes ${missing.join(', ')}: register them once ` +
        `(deploy/register-search-attributes.sh, or a dev server started with --search-attribute NAME=Keyword for each)`,
    );
  }
}

/**
 * Chosen, not defaulted (README, Configuration: worker sizing; numbers from npm run bench:resume
 * and bench:waiting). Runbooks mostly wait: few tasks run at once, so small slot counts; the
 * cache is bounded by EKM_WORKER_CACHED_WORKFLOWS instead of the SDK's heap-derived default
 * (thousands), which is what held a worker at ~1 GB with a few hundred waiting runs.
 */
export const WORKER_TUNING = {
  maxConcurrentWorkflowTaskExecutions: 10,
  maxConcurrentActivityTaskExecutions: 50,
  // A workflow task for a dead worker's sticky queue moves to the shared queue after this (SDK default 10 s).
  stickyQueueScheduleToStartTimeout: '2 seconds',
  // SIGTERM: activities still running after this are cancelled and handed back (they are all retry-safe).
  shutdownGraceTime: '1 second',
} as const;

export async function createRunbookWorker(settings: RuntimeSettings, overrides: WorkerOverrides = {}): Promise<RunbookWorker> {
  const registry = overrides.registry ? () => overrides.registry! : liveClusterRegistry(settings.EKM_CLUSTERS_FILE);
  reportUnusableClusters(registry()); // a clusters file with a mistake stops the worker at start, naming it
  // So does a payload keys file with one; a later broken edit of it is logged (the keys read before stay).
  const dataConverter = ekmDataConverter(settings, (message) => Runtime.instance().logger.error(message));
  const connectionOptions = temporalConnection(settings);
  const nativeConnection = await NativeConnection.connect(connectionOptions);
  const clientConnection = await Connection.connect(connectionOptions);
  const temporal = new Client({ connection: clientConnection, namespace: settings.TEMPORAL_NAMESPACE, dataConverter });
  await requireSearchAttributes(temporal, settings.TEMPORAL_NAMESPACE);
  // The runtime's meter: exported when the process installed the Runtime with metrics (worker/main.ts).
  const metrics = new ActivityMetrics(Runtime.instance().metricMeter);
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: settings.TEMPORAL_NAMESPACE,
    taskQueue: settings.EKM_TASK_QUEUE,
    dataConverter,
    ...(settings.EKM_WORKFLOW_BUNDLE && !overrides.workflowsPath
      ? { workflowBundle: { codePath: settings.EKM_WORKFLOW_BUNDLE } }
      : {
          workflowsPath: overrides.workflowsPath ?? WORKFLOW_BUNDLE_OPTIONS.workflowsPath,
          bundlerOptions: { preloadModules: overrides.workflowsPath ? [] : WORKFLOW_PRELOAD_MODULES },
        }),
    interceptors: {
      activity: [activityTelemetry(metrics)],
      // A pre-built bundle has them already (and the SDK warns when they are given with one).
      ...(!(settings.EKM_WORKFLOW_BUNDLE && !overrides.workflowsPath) && { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }),
    },
    activities: createActivities({
      get registry() {
        return registry();
      },
      notifier: overrides.notifier ?? notifierFromSettings(settings),
      temporal,
      taskQueue: settings.EKM_TASK_QUEUE,
      lockTiming: overrides.lockTiming,
      audit: settings.EKM_AUDIT_LOG ? new AuditLog(settings.EKM_AUDIT_LOG) : undefined,
      metrics,
    }),
    ...WORKER_TUNING,
    maxCachedWorkflows: settings.EKM_WORKER_CACHED_WORKFLOWS,
  });
  const stopWaitingGauge = settings.EKM_METRICS_LISTEN
    ? startWaitingGauge(temporal, Runtime.instance().metricMeter, settings.EKM_TASK_QUEUE)
    : () => undefined;
  return {
    worker,
    async close() {
      stopWaitingGauge();
      await clientConnection.close();
      await nativeConnection.close();
    },
  };
}
