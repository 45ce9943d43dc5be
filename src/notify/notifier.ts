import fs from 'node:fs';
import { request } from 'undici';

export type RunbookEventKind = 'waiting-for-input' | 'reminder' | 'escalated' | 'completed' | 'failed' | 'fault-detected';

export const RUNBOOK_EVENT_KINDS: readonly RunbookEventKind[] = [
  'waiting-for-input',
  'reminder',
  'escalated',
  'completed',
  'failed',
  'fault-detected',
];

/** Something a person should hear about: a runbook waits for them, escalated, ended, or the watcher saw a fault. */
export interface RunbookEvent {
  kind: RunbookEventKind;
  runbook: string;
  cluster: string;
  workflowId: string;
  runId: string;
  step?: string;
  message: string;
  detail?: string;
  /** Structured facts for machines (fault ids, drive states, diagnosis); never secrets. */
  data?: Record<string, unknown>;
  at: string;
}

export interface Notifier {
  send(event: RunbookEvent): Promise<void>;
}

/** One JSON line per event on stderr: what log shippers pick up. */
export class LogNotifier implements Notifier {
  constructor(private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)) {}

  async send(event: RunbookEvent): Promise<void> {
    const level = event.kind === 'escalated' || event.kind === 'failed' ? 'warn' : 'info';
    this.write(JSON.stringify({ level, msg: 'ekm.notification', ...event }));
  }
}

export interface WebhookOptions {
  /** POSTs per event before giving up (transport errors, 5xx and 429 are retried). */
  attempts?: number;
  timeoutMs?: number;
  /** First pause between attempts; it doubles. A Retry-After header (seconds) is honoured up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Sent as `Authorization: Bearer …`; read from a file by notifierFromSettings, never logged. */
  bearerToken?: string;
}

/** POSTs the event as JSON; retries transport errors and 5xx/429 with backoff, then gives up loudly. */
export class WebhookNotifier implements Notifier {
  constructor(
    private readonly url: string,
    private readonly options: WebhookOptions = {},
  ) {}

  async send(event: RunbookEvent): Promise<void> {
    const attempts = this.options.attempts ?? 4;
    const maxBackoff = this.options.maxBackoffMs ?? 30_000;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'ekm-runbooks' };
    if (this.options.bearerToken) headers.authorization = `Bearer ${this.options.bearerToken}`;
    let lastProblem = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let pause = (this.options.backoffMs ?? 500) * 2 ** (attempt - 1);
      try {
        const response = await request(this.url, {
          method: 'POST',
          headers,
          body: JSON.stringify(event),
          headersTimeout: this.options.timeoutMs ?? 10_000,
          bodyTimeout: this.options.timeoutMs ?? 10_000,
        });
        await response.body.dump();
        if (response.statusCode < 300) return;
        lastProblem = `HTTP ${response.statusCode}`;
        if (response.statusCode < 500 && response.statusCode !== 429) break;
        const retryAfter = Number(response.headers['retry-after']);
        if (Number.isFinite(retryAfter) && retryAfter >= 0) pause = retryAfter * 1000;
      } catch (err) {
        lastProblem = (err as Error).message;
      }
      if (attempt < attempts) await new Promise((r) => setTimeout(r, Math.min(pause, maxBackoff)));
    }
    // Only the origin: webhook URLs often carry a secret in their path.
    throw new Error(`webhook ${new URL(this.url).origin} did not take the notification: ${lastProblem}`);
  }
}

/** Passes on only the kinds asked for (e.g. page people for escalations, not for reminders). */
export class FilteredNotifier implements Notifier {
  constructor(
    private readonly kinds: ReadonlySet<RunbookEventKind>,
    private readonly inner: Notifier,
  ) {}

  async send(event: RunbookEvent): Promise<void> {
    if (this.kinds.has(event.kind)) await this.inner.send(event);
  }
}

/** Sends to every notifier; fails if any failed, after trying all. */
export class FanOutNotifier implements Notifier {
  constructor(private readonly notifiers: Notifier[]) {}

  async send(event: RunbookEvent): Promise<void> {
    const results = await Promise.allSettled(this.notifiers.map((n) => n.send(event)));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0) throw new Error(failures.map((f) => (f.reason as Error).message).join('; '));
  }
}

/** "escalated, waiting-for-input" -> a set of kinds; unknown names are an error naming them. */
export function parseEventKinds(text: string): Set<RunbookEventKind> {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(RUNBOOK_EVENT_KINDS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(`EKM_WEBHOOK_KINDS: unknown event kind(s) ${unknown.join(', ')}; known: ${RUNBOOK_EVENT_KINDS.join(', ')}`);
  }
  return new Set(names as RunbookEventKind[]);
}

/**
 * The worker's notifier: always the log line; a webhook when EKM_WEBHOOK_URL is set, optionally
 * limited to EKM_WEBHOOK_KINDS and authenticated with the token in EKM_WEBHOOK_TOKEN_FILE.
 */
export function notifierFromSettings(
  settings: { EKM_WEBHOOK_URL?: string },
  env: { EKM_WEBHOOK_KINDS?: string; EKM_WEBHOOK_TOKEN_FILE?: string } = process.env,
): Notifier {
  const notifiers: Notifier[] = [new LogNotifier()];
  if (settings.EKM_WEBHOOK_URL) {
    const bearerToken = env.EKM_WEBHOOK_TOKEN_FILE ? fs.readFileSync(env.EKM_WEBHOOK_TOKEN_FILE, 'utf8').trim() : undefined;
    let webhook: Notifier = new WebhookNotifier(settings.EKM_WEBHOOK_URL, { bearerToken });
    if (env.EKM_WEBHOOK_KINDS) webhook = new FilteredNotifier(parseEventKinds(env.EKM_WEBHOOK_KINDS), webhook);
    notifiers.push(webhook);
  }
  return new FanOutNotifier(notifiers);
}
