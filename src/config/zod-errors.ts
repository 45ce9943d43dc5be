import type { z } from 'zod';
import { issueWords } from '../../workflows/issue-words';

/** "clusters.prod-a.mvip: must be an https:// URL; ..." — every problem names its field. */
export function describeZodError(error: z.ZodError, root = ''): string {
  return error.issues
    .map((issue) => {
      const field = [root, ...issue.path.map(String)].filter(Boolean).join('.') || '(top level)';
      return `${field}: ${issueWords(issue)}`;
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
