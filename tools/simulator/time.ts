/** Date strings in the shapes Element uses. */

/** "2016-01-01T22:29:18Z": async results, key creation times. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "2016-02-23T21:32:03.131782Z": fault dates (microseconds). `us` is a timestamp in microseconds. */
export function isoMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = String(Math.floor(us % 1_000_000)).padStart(6, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${micros}Z`);
}

/** Now in microseconds (millisecond clock, sub-millisecond part from the high-resolution timer). */
export function nowMicros(nowMs: number): number {
  const sub = Number(process.hrtime.bigint() % 1000n);
  return nowMs * 1000 + sub;
}
