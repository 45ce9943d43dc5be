/**
 * Recorded histories are committed, so they must carry no secret. The secrets are whatever the
 * recording made on disk: every private key PEM (cluster key pair, CAs, servers) and every file
 * under a `secrets` folder (passwords, tokens), plus values the caller knows of.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { History } from './history-files';

const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z ]*PRIVATE KEY-----([\s\S]*?)-----END [A-Z ]*PRIVATE KEY-----/g;
/** Skip what cannot hold a key or password and would only slow the walk (databases, logs). */
const SKIPPED_EXTENSIONS = new Set(['.db', '.db-wal', '.db-shm', '.log', '.jsonl']);
const MAX_FILE_BYTES = 1_000_000;

function* filesUnder(dir: string): Generator<string> {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else if (entry.isFile()) yield full;
  }
}

/** Private key bodies (each base64 line of 40+ characters) and secret file contents found under `dir`. */
export function collectSecrets(dir: string, known: string[] = []): string[] {
  const secrets = new Set(known.filter((s) => s.length >= 8));
  for (const file of filesUnder(dir)) {
    if (SKIPPED_EXTENSIONS.has(path.extname(file)) || fs.statSync(file).size > MAX_FILE_BYTES) continue;
    const text = fs.readFileSync(file, 'utf8');
    if (path.basename(path.dirname(file)) === 'secrets' && text.trim().length >= 8) secrets.add(text.trim());
    // JSON state files keep PEMs with escaped newlines.
    for (const match of text.replace(/\\n/g, '\n').matchAll(PRIVATE_KEY_BLOCK)) {
      for (const line of match[1]!.split('\n').map((l) => l.trim())) if (line.length >= 40) secrets.add(line);
    }
  }
  return [...secrets];
}

/** Every string in a history, payload bytes decoded as UTF-8 (JSON payloads are UTF-8 bytes). */
export function historyText(history: History): string {
  const parts: string[] = [];
  const walk = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (typeof value === 'string') parts.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(history);
  return parts.join('\n');
}

/** Throws naming the history when it holds a private key or one of `secrets`. */
export function assertNoSecrets(label: string, history: History, secrets: string[]): void {
  const text = historyText(history);
  if (/PRIVATE KEY/.test(text)) throw new Error(`${label}: the history holds a private key PEM`);
  const found = secrets.filter((s) => text.includes(s));
  if (found.length > 0)
    throw new Error(`${label}: the history holds ${found.length} secret value(s) found in the recording's files`);
}
