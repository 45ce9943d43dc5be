/**
 * The worker process: `node dist/worker/main.js`. Settings come from the environment (see
 * README, Configuration). SIGINT/SIGTERM stop polling, let running tasks finish (1 s grace),
 * then exit; interrupted activities are handed back and retried by another worker at once.
 */
import { Runtime } from '@temporalio/worker';
import { loadRuntimeSettings, type RuntimeSettings } from '../src/config/runtime';
import { ConfigError } from '../src/config/zod-errors';
import { createRunbookWorker } from './create-worker';
import { WorkerLogger } from './logging';
import { metricsTelemetry } from './metrics';
import { describeStartProblem } from './start-problem';

async function main(): Promise<void> {
  const settings = loadRuntimeSettings();
  started = settings;
  const logger = new WorkerLogger(settings.EKM_LOG_LEVEL);
  try {
    Runtime.install({
      logger,
      ...(settings.EKM_METRICS_LISTEN && { telemetryOptions: { metrics: metricsTelemetry(settings.EKM_METRICS_LISTEN) } }),
    });
  } catch (err) {
    // The runtime binds the metrics port at once: a port in use is a setting to change, said as such.
    if (!settings.EKM_METRICS_LISTEN) throw err;
    throw new ConfigError(
      `EKM_METRICS_LISTEN ${settings.EKM_METRICS_LISTEN}`,
      `cannot serve metrics there (${metricsProblem((err as Error).message)})`,
    );
  }
  const { worker, close } = await createRunbookWorker(settings);
  logger.info('ekm worker started', {
    address: settings.TEMPORAL_ADDRESS,
    namespace: settings.TEMPORAL_NAMESPACE,
    taskQueue: settings.EKM_TASK_QUEUE,
    payloadEncryption: settings.EKM_PAYLOAD_KEYS_FILE ? 'on' : 'off',
    ...(settings.EKM_METRICS_LISTEN && { metrics: `http://${settings.EKM_METRICS_LISTEN}/metrics` }),
  });
  await worker.run();
  await close();
  logger.info('ekm worker stopped');
}

/** The metrics exporter's refusal in words: a port in use, or an address it cannot bind (it takes an IP address, not a host name). */
function metricsProblem(message: string): string {
  if (/in use|AddrInUse/i.test(message)) return 'the port is in use';
  if (/socket address|invalid/i.test(message)) return 'it must be IP:PORT, e.g. 0.0.0.0:9464 (an IP address, not a host name)';
  return message;
}

let started: RuntimeSettings | undefined;

main().catch((err: unknown) => {
  const problem = describeStartProblem(err, started);
  console.error(`ekm worker: ${problem.message}`);
  process.exit(problem.exitCode);
});
