import { Client, Connection } from '@temporalio/client';
import { loadRuntimeSettings, temporalConnection, type RuntimeSettings } from '../config/runtime';
import { CliError, ExitCode } from './exit-codes';

export interface CliContext {
  settings: RuntimeSettings;
  client: Client;
  close(): Promise<void>;
}

/** Connects to Temporal with the same settings as the worker (environment variables). */
export async function connect(): Promise<CliContext> {
  const settings = loadRuntimeSettings();
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...temporalConnection(settings), connectTimeout: '5 seconds' });
  } catch (err) {
    throw new CliError(`cannot reach Temporal at ${settings.TEMPORAL_ADDRESS}: ${(err as Error).message}`, ExitCode.unavailable);
  }
  return {
    settings,
    client: new Client({ connection, namespace: settings.TEMPORAL_NAMESPACE }),
    close: () => connection.close(),
  };
}
