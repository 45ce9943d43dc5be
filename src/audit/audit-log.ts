import fs from 'node:fs';
import { z } from 'zod';

/**
 * The worker's audit trail: one JSON line per Element API call an activity made, with the run,
 * activity and attempt it belonged to. Never params or credentials: method names and outcomes.
 */
export const auditEntry = z.strictObject({
  at: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  workflowType: z.string(),
  activityType: z.string(),
  attempt: z.number().int(),
  cluster: z.string(),
  method: z.string(),
  outcome: z.enum(['ok', 'error']),
  errorName: z.string().optional(),
  durationMs: z.number(),
  /** Requests the client sent for the call (transient faults retried); absent in older lines. */
  tries: z.number().int().positive().optional(),
});
export type AuditEntry = z.infer<typeof auditEntry>;

export class AuditLog {
  constructor(readonly file: string) {}

  append(entry: AuditEntry): void {
    fs.appendFileSync(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o640 });
  }

  /** Entries of one workflow id (every run of it), oldest first; a torn last line is skipped. */
  static read(file: string, workflowId?: string): AuditEntry[] {
    if (!fs.existsSync(file)) return [];
    const entries: AuditEntry[] = [];
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const parsed = auditEntry.safeParse(safeJson(line));
      if (parsed.success && (workflowId === undefined || parsed.data.workflowId === workflowId)) entries.push(parsed.data);
    }
    return entries;
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
