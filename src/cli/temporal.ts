import { Client, Connection } from '@temporalio/client';
import { loadRuntimeSettings, temporalConnection, type RuntimeSettings } from '../config/runtime';

export interface CliContext {
  settings: RuntimeSettings;
  client: Client;
  close(): Promise<void>;
}

/**
 * A client with the same settings as the worker (environment variables). The connection is made
 * on first use, so a command checks its arguments before it needs Temporal.
 */
export function connect(): CliContext {
  const settings = loadRuntimeSettings();
  const connection = Connection.lazy({ ...temporalConnection(settings), connectTimeout: '5 seconds' });
  return {
    settings,
    client: new Client({ connection, namespace: settings.TEMPORAL_NAMESPACE }),
    close: () => connection.close(),
  };
}

/** True for errors that mean Temporal could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  for (
    let current = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
    current;
    current = current.cause as typeof current
  ) {
    if (current.code === 14) return true; // gRPC UNAVAILABLE
    if (typeof current.message === 'string' && /Failed to connect|ECONNREFUSED|No connection established/.test(current.message))
      return true;
  }
  return false;
}
