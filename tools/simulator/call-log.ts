/**
 * Every JSON-RPC request the simulator received, in order, with secrets redacted: how a test
 * proves what a runbook did (one CreatePublicPrivateKeyPair, no duplicate creates...). Kept in
 * memory and appended to a JSONL file beside the state file, so it survives a restart.
 */
import fs from 'node:fs';

export type CallOutcome =
  'result' | 'error' | 'unauthorized' | 'not-found' | 'method-not-allowed' | 'bad-request' | 'unavailable' | 'injected';

export interface CallRecord {
  seq: number;
  /** ISO time the request arrived. */
  time: string;
  apiVersion: string | null;
  method: string | null;
  id: unknown;
  /** The params as received, secrets replaced by "*****". */
  params: unknown;
  httpStatus: number | null;
  outcome: CallOutcome;
  /** Element error name, for outcome error (or an injected error/busy answer). */
  errorName?: string;
  /** An injected fault: what it was and whether the method ran before it (phase after). */
  injected?: { kind: string; phase: 'before' | 'after' };
  /** Whether the method was executed (its effects happened), even if the answer was lost. */
  executed: boolean;
  durationMs: number;
}

export type NewCallRecord = Omit<CallRecord, 'seq'>;

const SECRET_KEY = /pass(word|phrase)?|secret|private.?key|token|authorization|credential/i;
export const REDACTED = '*****';

/** Replaces secret-looking members and private-key PEM text anywhere in a value. */
export function redact(value: unknown): unknown {
  if (typeof value === 'string') return /PRIVATE KEY-----/.test(value) ? REDACTED : value;
  if (Array.isArray(value)) return value.map(redact);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? REDACTED : redact(member);
    return out;
  }
  return value;
}

export interface CallFilter {
  method?: string;
  /** Only records with seq greater than this. */
  afterSeq?: number;
}

export class CallLog {
  private records: CallRecord[] = [];
  private nextSeq = 1;

  constructor(private readonly file: string | undefined) {
    if (!file || !fs.existsSync(file)) return;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const record = JSON.parse(line) as CallRecord;
        this.records.push(record);
        this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
      } catch {
        // A torn last line from a crash; skip it.
      }
    }
  }

  append(record: NewCallRecord): CallRecord {
    const full: CallRecord = { seq: this.nextSeq++, ...record };
    this.records.push(full);
    if (this.file) fs.appendFileSync(this.file, `${JSON.stringify(full)}\n`, { mode: 0o600 });
    return full;
  }

  list(filter: CallFilter = {}): CallRecord[] {
    return this.records.filter(
      (r) =>
        (filter.method === undefined || r.method === filter.method) && (filter.afterSeq === undefined || r.seq > filter.afterSeq),
    );
  }

  reset(): void {
    this.records = [];
    if (this.file) fs.writeFileSync(this.file, '', { mode: 0o600 });
  }
}
