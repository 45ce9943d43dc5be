import type { RuntimeSettings } from '../../src/config/runtime';
import { createRunbookWorker, type WorkerOverrides } from '../../worker/create-worker';

/** The real worker running inside this process (tests, the demo, benchmarks). */
export interface LocalWorker {
  /** Stops polling, lets running tasks finish, closes the connections. */
  stop(): Promise<void>;
}

export async function startLocalWorker(settings: RuntimeSettings, overrides: WorkerOverrides = {}): Promise<LocalWorker> {
  const { worker, close } = await createRunbookWorker(settings, overrides);
  const running = worker.run();
  return {
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      try {
        await running;
      } finally {
        await close();
      }
    },
  };
}
