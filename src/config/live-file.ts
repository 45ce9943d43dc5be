import fs from 'node:fs';

/**
 * A file's value as it is now, for processes that run for long: `read()` again when the file's
 * modification time changed. A reading that fails keeps the value read before and is reported once
 * per change through `onProblem`; with `retryFailedReadMs` a failed reading is tried again that
 * often even without a change (a file it names may appear). `onReread` hears each new value.
 * The first reading happens here and throws as `read` does.
 */
export function liveFile<T>(
  file: string,
  read: () => T,
  options: { onProblem: (err: unknown) => void; onReread?: (value: T) => void; retryFailedReadMs?: number },
): () => T {
  let value = read();
  let seen = modifiedMs(file);
  let failedAt: number | undefined;
  return () => {
    const now = modifiedMs(file);
    const retry =
      failedAt !== undefined && options.retryFailedReadMs !== undefined && Date.now() - failedAt >= options.retryFailedReadMs;
    if (now === seen && !retry) return value;
    const changed = now !== seen;
    seen = now;
    try {
      value = read();
      failedAt = undefined;
      options.onReread?.(value);
    } catch (err) {
      if (changed) options.onProblem(err);
      failedAt = Date.now();
    }
    return value;
  };
}

/** The file's modification time in ms, or -1 when it cannot be seen. */
function modifiedMs(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}
