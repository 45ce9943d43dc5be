/** The command line of a benchmark: node's parseArgs, --help, then the benchmark's zod schema. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { z } from 'zod';
import { describeIssues } from '../../workflows/inputs';

/**
 * The flags as `schema` reads them, or the exit code to end with: 0 after printing `usage` for
 * --help, 2 after printing what is wrong (an unknown flag, a bad value) and `usage`.
 */
export function parseBenchFlags<S extends z.ZodType>(
  options: NonNullable<ParseArgsConfig['options']>,
  schema: S,
  usage: string,
): z.output<S> | number {
  let raw;
  try {
    raw = parseArgs({ options: { ...options, help: { type: 'boolean' } } }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}`);
    return 2;
  }
  if (raw.help) {
    process.stdout.write(usage);
    return 0;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(`${describeIssues(parsed.error)}\n${usage}`);
    return 2;
  }
  return parsed.data;
}
