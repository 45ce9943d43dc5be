import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { readConfigFile } from '../config/config-file';
import { ConfigError, describeZodError } from '../config/zod-errors';
import { liveFile } from '../config/live-file';
import { fileProblem } from '../config/file-problem';

/** AES-256 takes a 32-byte key. */
export const PAYLOAD_KEY_BYTES = 32;

const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const keysFileSchema = z
  .strictObject({
    keys: z
      .record(
        z.string(),
        z.strictObject({
          /** A file holding the key: 32 random bytes, base64 (`openssl rand -base64 32`). Relative to the keys file. */
          file: z.string().min(1, 'must name the file holding the key'),
          /** New payloads are encrypted with this key; every other key only decrypts. */
          current: z.boolean().optional(),
        }),
      )
      .refine((keys) => Object.keys(keys).length > 0, 'must name at least one key'),
  })
  .superRefine((doc, ctx) => {
    for (const id of Object.keys(doc.keys)) {
      if (!KEY_ID.test(id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['keys', id],
          message: 'a key id is 1-64 letters, digits, dots, dashes or underscores (it is written into every payload)',
        });
      }
    }
    const current = Object.entries(doc.keys).filter(([, key]) => key.current);
    if (current.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['keys'],
        message:
          current.length === 0
            ? 'no key is marked current: true (the one new payloads are encrypted with)'
            : `exactly one key may be marked current: true, not ${current.map(([id]) => id).join(', ')}`,
      });
    }
  });

/** The keys a codec encrypts with (current) and decrypts with (all, by id). */
export interface PayloadKeys {
  currentKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
  /** Where they came from, for error messages. */
  source: string;
}

/**
 * Reads EKM_PAYLOAD_KEYS_FILE: YAML (or JSON) `keys: {<key id>: {file: PATH, current?: true}}`, each
 * file holding 32 random bytes in base64. Rotation: add a key marked current and drop `current`
 * from the old one, which still decrypts what it encrypted. Throws ConfigError naming the field
 * (`keys.2026-11.file: ...`) for any mistake; never includes key material in a message.
 */
export function loadPayloadKeys(file: string, setting = 'EKM_PAYLOAD_KEYS_FILE'): PayloadKeys {
  const source = `${setting} ${file}`;
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(source, fileProblem(file, err));
  }
  const parsed = keysFileSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(source, describeZodError(parsed.error));
  const keys = new Map<string, Buffer>();
  let currentKeyId = '';
  for (const [id, entry] of Object.entries(parsed.data.keys)) {
    const field = `${source}: keys.${id}.file`;
    const keyFile = path.resolve(path.dirname(file), entry.file);
    keys.set(id, parseKey(readConfigFile(field, keyFile), field, keyFile));
    if (entry.current) currentKeyId = id;
  }
  return { currentKeyId, keys, source };
}

function parseKey(text: string, field: string, keyFile: string): Buffer {
  const trimmed = text.trim();
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
  if (key.length !== PAYLOAD_KEY_BYTES) {
    throw new ConfigError(
      field,
      `${keyFile} must hold a ${PAYLOAD_KEY_BYTES}-byte key in base64 (make one with: openssl rand -base64 32)`,
    );
  }
  return key;
}

/** While a keys file's last reading failed, it is read again at most this often (a key file may appear). */
const RETRY_FAILED_READ_MS = 5000;

/**
 * The keys file as it is now, for the processes that run for long (worker, console, codec server):
 * read again when it changes (src/config/live-file.ts), so a rotation reaches them without a
 * restart, in any order. A change with a mistake keeps the last good keys and is reported once
 * through `onProblem`; it is read again when it changes, or every 5 s until it reads. Throws
 * ConfigError when the file cannot be read at the start.
 */
export function livePayloadKeys(
  file: string,
  onProblem: (message: string) => void,
  setting = 'EKM_PAYLOAD_KEYS_FILE',
): () => PayloadKeys {
  return liveFile(file, () => loadPayloadKeys(file, setting), {
    onProblem: (err) => onProblem(`${(err as Error).message}; keeping the keys read before`),
    retryFailedReadMs: RETRY_FAILED_READ_MS,
  });
}
