import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { AuditLog } from '../src/audit/audit-log';
import { loadClusterRegistry, type ClusterRegistry } from '../src/config/clusters';
import { temporalConnection, type RuntimeSettings } from '../src/config/runtime';
import { notifierFromSettings, type Notifier } from '../src/notify/notifier';
import type { LockTiming } from '../workflows/cluster-lock';

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

export async function createRunbookWorker(settings: RuntimeSettings, overrides: WorkerOverrides = {}): Promise<RunbookWorker> {
  const registry = overrides.registry ?? loadClusterRegistry(settings.EKM_CLUSTERS_FILE);
  const connectionOptions = temporalConnection(settings);
  const nativeConnection = await NativeConnection.connect(connectionOptions);
  const clientConnection = await Connection.connect(connectionOptions);
  const temporal = new Client({ connection: clientConnection, namespace: settings.TEMPORAL_NAMESPACE });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: settings.TEMPORAL_NAMESPACE,
    taskQueue: settings.EKM_TASK_QUEUE,
    ...(settings.EKM_WORKFLOW_BUNDLE && !overrides.workflowsPath
      ? { workflowBundle: { codePath: settings.EKM_WORKFLOW_BUNDLE } }
      : { workflowsPath: overrides.workflowsPath ?? require.resolve('../workflows') }),
    activities: createActivities({
      registry,
      notifier: overrides.notifier ?? notifierFromSettings(settings),
      temporal,
      taskQueue: settings.EKM_TASK_QUEUE,
      lockTiming: overrides.lockTiming,
      audit: settings.EKM_AUDIT_LOG ? new AuditLog(settings.EKM_AUDIT_LOG) : undefined,
    }),
    shutdownGraceTime: '10 seconds',
  });
  return {
    worker,
    async close() {
      await clientConnection.close();
      await nativeConnection.close();
    },
  };
}
