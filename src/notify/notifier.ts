import { request } from 'undici';

/** Something a person should hear about: a runbook waits for them, escalated, or ended. */
export interface RunbookEvent {
  kind: 'waiting-for-input' | 'reminder' | 'escalated' | 'completed' | 'failed';
  runbook: string;
  cluster: string;
  workflowId: string;
  runId: string;
  step?: string;
  message: string;
  detail?: string;
  at: string;
}

export interface Notifier {
  send(event: RunbookEvent): Promise<void>;
}

/** One JSON line per event on stderr: what log shippers pick up. */
export class LogNotifier implements Notifier {
  constructor(private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)) {}

  async send(event: RunbookEvent): Promise<void> {
    this.write(JSON.stringify({ level: event.kind === 'escalated' || event.kind === 'failed' ? 'warn' : 'info', msg: 'ekm.notification', ...event }));
  }
}

/** POSTs the event as JSON; retries transport errors and 5xx/429 with backoff, then gives up loudly. */
export class WebhookNotifier implements Notifier {
  constructor(
    private readonly url: string,
    private readonly options: { attempts?: number; timeoutMs?: number; backoffMs?: number } = {},
  ) {}

  async send(event: RunbookEvent): Promise<void> {
    const attempts = this.options.attempts ?? 4;
    let lastProblem = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const response = await request(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'ekm-runbooks' },
          body: JSON.stringify(event),
          headersTimeout: this.options.timeoutMs ?? 10_000,
          bodyTimeout: this.options.timeoutMs ?? 10_000,
        });
        await response.body.dump();
        if (response.statusCode < 300) return;
        lastProblem = `HTTP ${response.statusCode}`;
        if (response.statusCode < 500 && response.statusCode !== 429) break;
      } catch (err) {
        lastProblem = (err as Error).message;
      }
      if (attempt < attempts) await new Promise((r) => setTimeout(r, (this.options.backoffMs ?? 500) * 2 ** (attempt - 1)));
    }
    throw new Error(`webhook ${new URL(this.url).origin} did not take the notification: ${lastProblem}`);
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

export function notifierFromSettings(settings: { EKM_WEBHOOK_URL?: string }): Notifier {
  const notifiers: Notifier[] = [new LogNotifier()];
  if (settings.EKM_WEBHOOK_URL) notifiers.push(new WebhookNotifier(settings.EKM_WEBHOOK_URL));
  return new FanOutNotifier(notifiers);
}
