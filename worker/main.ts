/**
 * The worker process: `node dist/worker/main.js`. Settings come from the environment (see
 * README, Configuration). SIGINT/SIGTERM stop polling, let running tasks finish (1 s grace),
 * then exit; interrupted activities are handed back and retried by another worker at once.
 */
import { Runtime } from '@temporalio/worker';
import { loadRuntimeSettings } from '../src/config/runtime';
import { createRunbookWorker } from './create-worker';
import { WorkerLogger } from './logging';
import { metricsTelemetry } from './metrics';

async function main(): Promise<void> {
  const settings = loadRuntimeSettings();
  const logger = new WorkerLogger(settings.EKM_LOG_LEVEL);
  try {
    Runtime.install({
      logger,
      ...(settings.EKM_METRICS_LISTEN && { telemetryOptions: { metrics: metricsTelemetry(settings.EKM_METRICS_LISTEN) } }),
    });
  } catch (err) {
    // The runtime binds the metrics port at once: a port in use is a setting to change, said as such.
    if (!settings.EKM_METRICS_LISTEN) throw err;
    throw new Error(`EKM_METRICS_LISTEN ${settings.EKM_METRICS_LISTEN}: cannot serve metrics there: ${(err as Error).message}`);
  }
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
  const message = (err as Error).message;
  // The native connection reports an unreachable server in its own terms (tonic::transport::Error ...).
  const unreachable = /transport|connect|ECONNREFUSED/i.test(message) && !/search attribute/.test(message);
  console.error(
    unreachable
      ? `ekm worker: cannot reach Temporal at ${process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233'}: ${message}`
      : `ekm worker: ${message}`,
  );
  process.exit(unreachable ? 5 : 1);
});
