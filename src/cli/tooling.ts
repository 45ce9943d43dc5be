/**
 * The CLI's only door into the tooling (tools/: the demo and the simulator). It is loaded on
 * demand, by path, so a command such as `ekm status` never loads it, and an installation
 * without it (the worker image) says so instead of failing on a missing module. The shapes
 * below are what the tools must export (they check it with `satisfies`).
 */
import path from 'node:path';
import { CliError, ExitCode } from './exit-codes';

export interface DemoModule {
  runDemo(options: {
    dataDir: string;
    speed: 'normal' | 'fast';
    /** Start over: forget the earlier demo (its data folder is removed). */
    fresh: boolean;
    /** Write the summary as JSON here too. */
    summaryJson?: string;
    /** After the summary, keep the servers, worker and console running until SIGINT/SIGTERM. */
    keep?: boolean;
  }): Promise<number>;
}

export interface SimulatorModule {
  /** Runs until SIGINT/SIGTERM; rejects on bad arguments. */
  runSimulatorMain(argv: string[]): Promise<void>;
}

interface Tools {
  'demo/main': DemoModule;
  'simulator/main': SimulatorModule;
}

/** dist/src/cli -> dist/tools (src/cli -> tools when run from source). */
const TOOLS = path.resolve(__dirname, '../../tools');

export function loadTool<M extends keyof Tools>(module: M, command: string): Tools[M] {
  const file = path.join(TOOLS, module);
  try {
    return require(file) as Tools[M];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(file)) {
      throw new CliError(
        `ekm ${command} is not part of this installation (the worker image ships without the demo and the simulator); run it from a checkout: scripts/ekm ${command}`,
        ExitCode.usage,
      );
    }
    throw err;
  }
}
