import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startProcess, type ManagedProcess } from '../../tools/devenv/child';
import type { ClusterRegistry } from '../../src/config/clusters';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { LogNotifier } from '../../src/notify/notifier';
import { startLocalWorker, type LocalWorker } from '../../tools/devenv/local-worker';
import type { WorkerOverrides } from '../../worker/create-worker';
import { testEnv } from './test-env';
import { testLog } from './test-log';

const root = path.resolve(__dirname, '../..');

export function uniqueTaskQueue(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function connectClient(address = testEnv().temporal.address): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address });
  return { client: new Client({ connection, namespace: testEnv().temporal.namespace }), close: () => connection.close() };
}

export type InProcessWorker = LocalWorker;

/** The real worker (same factory as worker/main.ts) in this process, on the shared dev server. */
export async function startInProcessWorker(
  options: WorkerOverrides & {
    taskQueue: string;
    registry: ClusterRegistry;
    address?: string;
    /** Record every Element call here (EKM_AUDIT_LOG). */
    auditLog?: string;
  },
): Promise<InProcessWorker> {
  const env = testEnv();
  const settings = loadRuntimeSettings({
    TEMPORAL_ADDRESS: options.address ?? env.temporal.address,
    EKM_TASK_QUEUE: options.taskQueue,
    EKM_WORKFLOW_BUNDLE: env.workflowBundle,
    EKM_AUDIT_LOG: options.auditLog,
  });
  // Unless the test brings its own, the worker's notifier as configured here (the log line only),
  // writing to the test file's log instead of stderr.
  const notifier = options.notifier ?? new LogNotifier(writeToTestLog);
  return startLocalWorker(settings, { ...options, notifier });
}

function writeToTestLog(line: string): void {
  const log = testLog();
  if (log) log.write({ level: 'INFO', brief: line, full: line });
  else process.stderr.write(`${line}\n`);
}

/**
 * The real worker as its own OS process (dist/worker/main.js), so crash tests can SIGKILL it.
 * `env` adds variables the worker should see.
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
