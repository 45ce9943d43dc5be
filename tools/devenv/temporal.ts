import fs from 'node:fs';
import path from 'node:path';
import { startProcess, tail, type ManagedProcess } from './child';
import { freePort, waitForPort } from './ports';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/search-attributes';
import { toolsDir } from './tools';

export const TEMPORAL_CLI_VERSION = '1.5.1';

/** Where scripts/bootstrap.sh puts the `temporal` CLI it builds. */
export function temporalBinary(): string {
  return process.env.EKM_TEMPORAL_BIN ?? path.join(toolsDir(), 'bin', 'temporal');
}

export interface TemporalDevServer {
  address: string;
  namespace: string;
  port: number;
  uiPort?: number;
  dbFile?: string;
  process: ManagedProcess;
  stop(): Promise<void>;
  /** Stop and start again on the same port and database file (needs dbFile). */
  restart(): Promise<void>;
}

export interface TemporalDevServerOptions {
  /** Folder for logs (and the database when persist is true). */
  dir: string;
  port?: number;
  namespace?: string;
  /** Keep state in `dir`/temporal.db (survives restarts); in-memory otherwise. */
  persist?: boolean;
  /** Serve the web UI on this loopback port; headless when absent. */
  uiPort?: number;
  /** Serve the server's Prometheus metrics (/metrics) on this loopback port (benchmarks). */
  metricsPort?: number;
}

/**
 * Starts `temporal server start-dev` on 127.0.0.1 with the dynamic config Updates need and the
 * search attributes the runbooks use, and waits until the frontend answers.
 */
export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const binary = temporalBinary();
  if (!fs.existsSync(binary)) {
    throw new Error(`temporal CLI not found at ${binary}: run scripts/bootstrap.sh first`);
  }
  fs.mkdirSync(options.dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const namespace = options.namespace ?? 'default';
  const dbFile = options.persist ? path.join(options.dir, 'temporal.db') : undefined;
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-format',
    'json',
    '--log-level',
    'warn',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    '--dynamic-config-value',
    'frontend.workerVersioningWorkflowAPIs=true',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
  if (dbFile) args.push('--db-filename', dbFile);
  if (options.metricsPort) args.push('--metrics-port', String(options.metricsPort));
  if (options.uiPort) args.push('--ui-ip', '127.0.0.1', '--ui-port', String(options.uiPort));
  else args.push('--headless');
  const logFile = path.join(options.dir, 'temporal.log');
  const launch = async (): Promise<ManagedProcess> => {
    const proc = startProcess('temporal', binary, args, { logFile });
    try {
      await waitForPort('127.0.0.1', port, 60_000, proc.isAlive);
    } catch (err) {
      await proc.stop(1000);
      throw new Error(`Temporal dev server did not start: ${(err as Error).message}\n${tail(logFile)}`);
    }
    return proc;
  };
  const server: TemporalDevServer = {
    address: `127.0.0.1:${port}`,
    namespace,
    port,
    uiPort: options.uiPort,
    dbFile,
    process: await launch(),
    stop: () => server.process.stop(10_000),
    async restart() {
      if (!dbFile) throw new Error('restart needs a persistent dev server (persist: true)');
      await server.process.stop(10_000);
      server.process = await launch();
    },
  };
  return server;
}
