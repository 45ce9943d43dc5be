/**
 * The worker process: `node dist/worker/main.js`. Settings come from the environment (see
 * README, Configuration). SIGINT/SIGTERM stop polling, let running tasks finish (10 s grace),
 * then exit; interrupted activities are retried by another worker or after a restart.
 */
import { Runtime } from '@temporalio/worker';
import { loadRuntimeSettings } from '../src/config/runtime';
import { createRunbookWorker } from './create-worker';
import { WorkerLogger } from './logging';

async function main(): Promise<void> {
  const settings = loadRuntimeSettings();
  const logger = new WorkerLogger(settings.EKM_LOG_LEVEL);
  Runtime.install({ logger });
  const { worker, close } = await createRunbookWorker(settings);
  logger.info('ekm worker started', {
    address: settings.TEMPORAL_ADDRESS,
    namespace: settings.TEMPORAL_NAMESPACE,
    taskQueue: settings.EKM_TASK_QUEUE,
  });
  await worker.run();
  await close();
  logger.info('ekm worker stopped');
}

main().catch((err: unknown) => {
  console.error(`ekm worker: ${(err as Error).message}`);
  process.exit(1);
});
