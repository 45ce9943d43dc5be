import { inspect } from 'node:util';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { testLog } from './test-log';

/**
 * The Temporal worker's log in tests. Runbook tests make activities fail on purpose, and the
 * worker logs each failure at WARN with its stack: that is expected, and it drowned the output.
 * Entries at INFO and above go to the test file's log (test/support/test-log.ts): the file has them
 * in full; a failing test shows the ones logged while it ran, one line each; ERROR is printed at
 * once as well. The Rust core's own warnings (a workflow task failing, an activity completing after
 * its workflow ended) are forwarded the same way.
 */
function brief(entry: LogEntry): string {
  const meta = entry.meta ?? {};
  const parts = ['workflowType', 'workflowId', 'activityType', 'attempt', 'state']
    .filter((key) => meta[key] !== undefined)
    .map((key) => `${key}=${String(meta[key])}`);
  const error = meta.error as { name?: string; message?: string; type?: string } | undefined;
  if (error)
    parts.push(`error=${error.name ?? 'Error'}${error.type ? `(${error.type})` : ''}: ${error.message ?? String(error)}`);
  if (meta.sdkComponent === 'core') {
    // The core's fields (run_id, failure, ...), cut short: the file has them whole.
    const { sdkComponent: _core, ...fields } = meta;
    parts.push(inspect(fields, { depth: 3, breakLength: Infinity }).slice(0, 400));
  }
  return `${time(entry)} [${entry.level}] ${entry.message}${parts.length ? ` ${parts.join(' ')}` : ''}`;
}

function time(entry: LogEntry): string {
  return new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
}

const log = testLog();
try {
  Runtime.install({
    ...(log && { telemetryOptions: { logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } } } }),
    logger: log
      ? new DefaultLogger('INFO', (entry) =>
          log.write({
            level: entry.level,
            brief: brief(entry),
            full: `${time(entry)} [${entry.level}] ${entry.message} ${inspect(entry.meta ?? {}, { depth: 4, breakLength: Infinity })}`,
          }),
        )
      : // Outside the project's test environment: warnings and errors on stderr, as the SDK prints them.
        new DefaultLogger('WARN'),
  });
  // Forwarding holds the event loop until the runtime shuts down, which it does by itself only
  // once its last worker or connection closes: a file that started none would keep jest running.
  log?.atEnd(() => Runtime._instance?.shutdown());
} catch {
  // already installed in this process
}
