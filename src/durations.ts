/**
 * Durations for people: the one formatter every message, table and report uses. Workflow-safe.
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
