import type { z } from 'zod';

/** "clusters.prod-a.mvip: must be an https:// URL; ..." — every problem names its field. */
export function describeZodError(error: z.ZodError, root = ''): string {
  return error.issues
    .map((issue) => {
      const field = [root, ...issue.path.map(String)].filter(Boolean).join('.') || '(top level)';
      return `${field}: ${plainMessage(issue)}`;
    })
    .join('; ');
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`${source}: ${detail}`);
    this.name = 'ConfigError';
  }
}

function plainMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return `is required (${issue.expected})`;
  return issue.message;
}
