import { request } from 'undici';
import { readConfigFile } from '../config/config-file';
import type { RuntimeSettings } from '../config/runtime';
import type { RunbookEvent, RunbookEventKind } from './events';

export type { RunbookEvent, RunbookEventKind } from './events';

export interface SendOptions {
  /** Gives up (rejecting) when aborted: the caller's budget for this notification. */
  signal?: AbortSignal;
}

export interface Notifier {
  send(event: RunbookEvent, options?: SendOptions): Promise<void>;
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

  async send(event: RunbookEvent, { signal }: SendOptions = {}): Promise<void> {
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
          signal,
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
      if (signal?.aborted) break;
      if (attempt < attempts) await pauseFor(Math.min(pause, maxBackoff), signal);
    }
    // Only the origin: webhook URLs often carry a secret in their path.
    throw new Error(`webhook ${new URL(this.url).origin} did not take the notification: ${lastProblem}`);
  }
}

/** Waits, unless the signal aborts first. */
function pauseFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Passes on only the kinds asked for (e.g. page people for escalations, not for reminders). */
export class FilteredNotifier implements Notifier {
  constructor(
    private readonly kinds: ReadonlySet<RunbookEventKind>,
    private readonly inner: Notifier,
  ) {}

  async send(event: RunbookEvent, options?: SendOptions): Promise<void> {
    if (this.kinds.has(event.kind)) await this.inner.send(event, options);
  }
}

/** Sends to every notifier; fails if any failed, after trying all. */
export class FanOutNotifier implements Notifier {
  constructor(private readonly notifiers: Notifier[]) {}

  async send(event: RunbookEvent, options?: SendOptions): Promise<void> {
    const results = await Promise.allSettled(this.notifiers.map((n) => n.send(event, options)));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0) throw new Error(failures.map((f) => (f.reason as Error).message).join('; '));
  }
}

/**
 * The worker's notifier: always the log line; a webhook when EKM_WEBHOOK_URL is set, optionally
 * limited to EKM_WEBHOOK_KINDS and authenticated with the token in EKM_WEBHOOK_TOKEN_FILE.
 */
export function notifierFromSettings(
  settings: Pick<RuntimeSettings, 'EKM_WEBHOOK_URL' | 'EKM_WEBHOOK_KINDS' | 'EKM_WEBHOOK_TOKEN_FILE'>,
  /** Where the log line goes (stderr unless given). */
  writeLogLine?: (line: string) => void,
): Notifier {
  const notifiers: Notifier[] = [new LogNotifier(writeLogLine)];
  if (settings.EKM_WEBHOOK_URL) {
    const bearerToken = settings.EKM_WEBHOOK_TOKEN_FILE
      ? readConfigFile('EKM_WEBHOOK_TOKEN_FILE', settings.EKM_WEBHOOK_TOKEN_FILE).trim()
      : undefined;
    let webhook: Notifier = new WebhookNotifier(settings.EKM_WEBHOOK_URL, { bearerToken });
    if (settings.EKM_WEBHOOK_KINDS) webhook = new FilteredNotifier(new Set(settings.EKM_WEBHOOK_KINDS), webhook);
    notifiers.push(webhook);
  }
  return new FanOutNotifier(notifiers);
}
