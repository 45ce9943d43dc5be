/**
 * What the demo's worker says on the terminal: one line per warning or error, in words, never a
 * stack. A run that ends failed or aborted (the SDK's "Workflow failed" warning, with the error's
 * stack in its metadata) is an outcome the demo and the console already show: one line naming
 * the run and why it ended.
 */
import type { LogEntry } from '@temporalio/worker';

function errorText(error: unknown): string | undefined {
  if (error === undefined || error === null) return undefined;
  if (typeof error !== 'object') return String(error);
  const e = error as { message?: unknown; cause?: { message?: unknown }; type?: unknown };
  const message = typeof e.message === 'string' && e.message ? e.message : undefined;
  const cause = typeof e.cause?.message === 'string' && e.cause.message ? e.cause.message : undefined;
  const type = typeof e.type === 'string' && e.type ? ` [${e.type}]` : '';
  const text = [message, cause && cause !== message ? cause : undefined].filter(Boolean).join(': ');
  return text ? `${text}${type}` : undefined;
}

/** LogEntry -> the one line the demo prints for it (no trailing newline). */
export function demoLogLine(entry: LogEntry): string {
  const meta = (entry.meta ?? {}) as Record<string, unknown>;
  const error = errorText(meta.error ?? meta.failure);
  const firstLine = (text: string) => text.split('\n')[0]!;
  if (entry.message === 'Workflow failed') {
    const run = typeof meta.workflowId === 'string' ? meta.workflowId : 'a run';
    return `  worker: ${run} ended: ${firstLine(error ?? 'failed')}`;
  }
  const where = typeof meta.activityType === 'string' ? ` (${meta.activityType})` : '';
  return `  worker ${entry.level.toLowerCase()}: ${firstLine(entry.message)}${where}${error ? `: ${firstLine(error)}` : ''}`;
}

/** A DefaultLogger log function writing demoLogLine to `write` (stderr by default). */
export function demoLogFunction(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)) {
  return (entry: LogEntry): void => write(demoLogLine(entry));
}
