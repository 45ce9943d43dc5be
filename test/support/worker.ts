import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startProcess, type ManagedProcess } from '../../src/devenv/child';
import type { ClusterRegistry } from '../../src/config/clusters';
import { loadRuntimeSettings } from '../../src/config/runtime';
import type { Notifier } from '../../src/notify/notifier';
import { createRunbookWorker } from '../../worker/create-worker';
import type { LockTiming } from '../../workflows/cluster-lock';
import { testEnv } from './test-env';

const root = path.resolve(__dirname, '../..');

export function uniqueTaskQueue(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function connectClient(address = testEnv().temporal.address): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address });
  return { client: new Client({ connection, namespace: testEnv().temporal.namespace }), close: () => connection.close() };
}

export interface InProcessWorker {
  stop(): Promise<void>;
}

/** The real worker (same factory as worker/main.ts) in this process, on the shared dev server. */
export async function startInProcessWorker(options: {
  taskQueue: string;
  registry: ClusterRegistry;
  notifier?: Notifier;
  address?: string;
  lockTiming?: LockTiming;
  /** Bundle these workflows instead of the shared bundle (test fixtures). */
  workflowsPath?: string;
  /** Record every Element call here (EKM_AUDIT_LOG). */
  auditLog?: string;
}): Promise<InProcessWorker> {
  const env = testEnv();
  const settings = loadRuntimeSettings({
    TEMPORAL_ADDRESS: options.address ?? env.temporal.address,
    EKM_TASK_QUEUE: options.taskQueue,
    EKM_WORKFLOW_BUNDLE: env.workflowBundle,
    EKM_AUDIT_LOG: options.auditLog,
  });
  const { worker, close } = await createRunbookWorker(settings, options);
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await close();
    },
  };
}

/**
 * The real worker as its own OS process (dist/worker/main.js), so crash tests can SIGKILL it.
 * `env` adds variables such as the cluster password the registry refers to.
 */
export function spawnWorkerProcess(options: {
  taskQueue: string;
  clustersFile: string;
  logDir: string;
  address?: string;
  env?: Record<string, string>;
}): ManagedProcess {
  const env = testEnv();
  fs.mkdirSync(options.logDir, { recursive: true });
  return startProcess('worker', process.execPath, [path.join(root, 'dist/worker/main.js')], {
    logFile: path.join(options.logDir, `worker-${Date.now()}.log`),
    env: {
      ...process.env,
      ...options.env,
      TEMPORAL_ADDRESS: options.address ?? env.temporal.address,
      EKM_TASK_QUEUE: options.taskQueue,
      EKM_CLUSTERS_FILE: options.clustersFile,
      EKM_WORKFLOW_BUNDLE: env.workflowBundle,
    },
  });
}
