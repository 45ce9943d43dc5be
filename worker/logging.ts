import { DefaultLogger, type LogEntry, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { Failure } from '../workflows/failures';

function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const { type } = value as Error & { type?: string };
    return { name: value.name, message: value.message, ...(type ? { type } : {}) };
  }
  return typeof value === 'bigint' ? value.toString() : value;
}

function writeJsonLine(entry: LogEntry): void {
  const meta = Object.fromEntries(Object.entries(entry.meta ?? {}).map(([k, v]) => [k, plain(v)]));
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  process.stderr.write(`${JSON.stringify({ time, level: entry.level.toLowerCase(), msg: entry.message, ...meta })}\n`);
}

/**
 * The worker's log: one JSON object per line on stderr. A polling activity handing back "still
 * running" is the normal rhythm of a long wait, not a warning, so it is logged at DEBUG.
 */
export class WorkerLogger extends DefaultLogger {
  constructor(level: LogLevel = 'INFO') {
    super(level, writeJsonLine);
  }

  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const error = meta?.error as { type?: string } | undefined;
    if (level === 'WARN' && error?.type === Failure.StillRunning) return super.log('DEBUG', message, meta);
    super.log(level, message, meta);
  }
}
