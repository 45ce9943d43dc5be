import fs from 'node:fs';
import { ConfigError } from './zod-errors';
import { fileProblem } from './file-problem';

/** A file a setting names (a CA bundle, a certificate, a token), read as text; an unreadable one is an error naming the setting. */
export function readConfigFile(field: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(field, fileProblem(file, err));
  }
}
