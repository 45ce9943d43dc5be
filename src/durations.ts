import { msToNumber, type Duration } from '@temporalio/common';

/**
 * Durations for people: the one formatter every message, table and report uses, and the one
 * reader of durations people type. Workflow-safe.
 *
 * 50 -> "50ms", 300 -> "0.3s", 1500 -> "1.5s", 240000 -> "4m", 90000 -> "1m30s",
 * 7200000 -> "2h", 5400000 -> "1h30m", 90000000 -> "25h", 1209600000 -> "14d", 262800000 -> "3d1h".
 */
export function formatDuration(ms: number): string {
  if (ms < 100) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const seconds = Math.round(ms / 1000);
  const [value, unit, rest, restUnit] =
    seconds < 3600
      ? [Math.floor(seconds / 60), 'm', seconds % 60, 's']
      : seconds < 48 * 3600
        ? [Math.floor(seconds / 3600), 'h', Math.floor((seconds % 3600) / 60), 'm']
        : [Math.floor(seconds / 86_400), 'd', Math.floor((seconds % 86_400) / 3600), 'h'];
  return `${value}${unit}${rest ? `${rest}${restUnit}` : ''}`;
}

/** The longest duration a person may give (a year and a day): anything longer is a typo. */
export const LONGEST_DURATION_MS = 366 * 86_400_000;

/**
 * A duration a person typed ("90s", "4m", "14d", "12 hours") in milliseconds, or what is wrong
 * with it in words. A bare number is refused: it would silently mean milliseconds.
 */
export function parseDurationText(
  text: string,
  limits: { minMs?: number; maxMs?: number } = {},
): { ms: number } | { problem: string } {
  const maxMs = limits.maxMs ?? LONGEST_DURATION_MS;
  if (/^\s*[-+]?0+(\.0+)?\s*$/.test(text))
    return { problem: `"${text}" is no time: give a duration longer than 0, like 90s, 4m or 14d` };
  if (/^\s*[-+]?\d+(\.\d+)?\s*$/.test(text))
    return { problem: `"${text}" needs a unit, like ${text.trim()}s, ${text.trim()}m or ${text.trim()}d` };
  let ms = NaN;
  try {
    ms = msToNumber(text as Duration);
  } catch {
    // said below
  }
  if (ms === 0) return { problem: `"${text}" is no time: give a duration longer than 0, like 90s, 4m or 14d` };
  if (!(ms > 0)) return { problem: `"${text}" is not a duration like 90s, 4m or 14d` };
  if (limits.minMs !== undefined && ms < limits.minMs)
    return { problem: `"${text}" is shorter than ${formatDuration(limits.minMs)}` };
  if (ms > maxMs) return { problem: `"${text}" is longer than ${formatDuration(maxMs)}` };
  return { ms };
}
