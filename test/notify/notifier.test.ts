/** Notifiers against a real local HTTP receiver (node:http): log line, webhook with retries, filters, fan-out. */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadRuntimeSettings } from '../../src/config/runtime';
import {
  FanOutNotifier,
  FilteredNotifier,
  LogNotifier,
  notifierFromSettings,
  WebhookNotifier,
  type RunbookEvent,
} from '../../src/notify/notifier';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver';

const event = (kind: RunbookEvent['kind'], message = `${kind} happened`): RunbookEvent => ({
  kind,
  runbook: 'recover-slice-service',
  cluster: 'lab-1',
  workflowId: 'ekm-recover-slice-lab-1',
  runId: 'run-1',
  step: 'escalate',
  message,
  detail: 'drives: 3 active',
  data: { faultIDs: [17] },
  at: '2026-11-28T10:00:00.000Z',
});

describe('notifiers', () => {
  const receivers: WebhookReceiver[] = [];
  const receiver = async (...args: Parameters<typeof startWebhookReceiver>) => {
    const r = await startWebhookReceiver(...args);
    receivers.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.stop()));
  });

  it('LogNotifier writes one JSON line per event, warn for escalations and failures', async () => {
    const lines: string[] = [];
    const log = new LogNotifier((line) => lines.push(line));
    await log.send(event('escalated'));
    await log.send(event('waiting-for-input'));
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      { level: 'warn', msg: 'ekm.notification', ...event('escalated') },
      { level: 'info', msg: 'ekm.notification', ...event('waiting-for-input') },
    ]);
  });

  it("WebhookNotifier gives up when the caller's budget runs out: a hanging webhook, no retry after the abort", async () => {
    const requests: string[] = [];
    const hanging = http.createServer((req) => requests.push(req.url ?? '')); // never answers
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;
      const sending = new WebhookNotifier(url, { timeoutMs: 60_000 }).send(event('completed'), {
        signal: AbortSignal.timeout(300),
      });
      await expect(sending).rejects.toThrow(/did not take the notification/);
      expect(requests).toEqual(['/hook']);
    } finally {
      hanging.closeAllConnections();
      await new Promise<void>((r) => hanging.close(() => r()));
    }
  });

  it('WebhookNotifier POSTs the event as JSON', async () => {
    const r = await receiver();
    await new WebhookNotifier(r.url).send(event('escalated'));
    expect(r.posts).toHaveLength(1);
    expect(r.posts[0]!.event).toEqual(event('escalated'));
    expect(r.posts[0]!.headers['content-type']).toBe('application/json');
    expect(r.posts[0]!.headers['user-agent']).toBe('ekm-runbooks');
    expect(r.posts[0]!.headers.authorization).toBeUndefined();
  });

  it('retries a receiver that fails twice, then succeeds', async () => {
    const r = await receiver((n) => ({ status: n <= 2 ? 503 : 200 }));
    const started = Date.now();
    await new WebhookNotifier(r.url, { backoffMs: 50 }).send(event('waiting-for-input'));
    expect(r.posts.map((p) => p.status)).toEqual([503, 503, 200]);
    expect(r.delivered()).toEqual([event('waiting-for-input')]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150); // 50 ms, then 100 ms
  });

  it('honours Retry-After on 429', async () => {
    const r = await receiver((n) => (n === 1 ? { status: 429, headers: { 'retry-after': '0' } } : { status: 204 }));
    await new WebhookNotifier(r.url, { backoffMs: 5_000 }).send(event('reminder'));
    expect(r.posts.map((p) => p.status)).toEqual([429, 204]);
  });

  it('gives up at once on a client error, naming only the origin (webhook paths carry secrets)', async () => {
    const r = await receiver(() => ({ status: 400 }));
    const failure = await new WebhookNotifier(r.url, { backoffMs: 10 }).send(event('failed')).catch((e: unknown) => e);
    expect(r.posts).toHaveLength(1);
    expect((failure as Error).message).toBe(`webhook ${new URL(r.url).origin} did not take the notification: HTTP 400`);
    expect((failure as Error).message).not.toContain('secret-path-token');
  });

  it('gives up after its attempts when nothing listens', async () => {
    const r = await receiver();
    const url = r.url;
    await r.stop();
    receivers.length = 0;
    const failure = await new WebhookNotifier(url, { attempts: 2, backoffMs: 10 }).send(event('failed')).catch((e: unknown) => e);
    expect((failure as Error).message).toMatch(
      /^webhook http:\/\/127\.0\.0\.1:\d+ did not take the notification: .*ECONNREFUSED/,
    );
  });

  it('sends a bearer token when given one', async () => {
    const r = await receiver();
    await new WebhookNotifier(r.url, { bearerToken: 't0ken' }).send(event('escalated'));
    expect(r.posts[0]!.headers.authorization).toBe('Bearer t0ken');
  });

  it('FilteredNotifier passes on only the kinds asked for', async () => {
    const got: RunbookEvent[] = [];
    const filtered = new FilteredNotifier(new Set(['escalated', 'fault-detected'] as const), {
      send: async (e) => void got.push(e),
    });
    for (const kind of ['waiting-for-input', 'reminder', 'escalated', 'completed', 'fault-detected'] as const)
      await filtered.send(event(kind));
    expect(got.map((e) => e.kind)).toEqual(['escalated', 'fault-detected']);
  });

  it('FanOutNotifier tries every notifier and fails if one failed', async () => {
    const got: RunbookEvent[] = [];
    const fanOut = new FanOutNotifier([
      {
        send: async () => {
          throw new Error('pager down');
        },
      },
      { send: async (e) => void got.push(e) },
    ]);
    await expect(fanOut.send(event('escalated'))).rejects.toThrow('pager down');
    expect(got).toHaveLength(1);
  });

  it('notifierFromSettings names the token file it cannot read', () => {
    const settings = loadRuntimeSettings({
      EKM_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
      EKM_WEBHOOK_TOKEN_FILE: '/nonexistent/token',
    });
    expect(() => notifierFromSettings(settings)).toThrow('EKM_WEBHOOK_TOKEN_FILE: file /nonexistent/token does not exist');
  });

  it('notifierFromSettings: log line always; webhook limited to EKM_WEBHOOK_KINDS, with the token from EKM_WEBHOOK_TOKEN_FILE', async () => {
    const r = await receiver();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-notify-'));
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, 'file-token\n', { mode: 0o600 });
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const notifier = notifierFromSettings(
        loadRuntimeSettings({
          EKM_WEBHOOK_URL: r.url,
          EKM_WEBHOOK_KINDS: 'escalated, waiting-for-input',
          EKM_WEBHOOK_TOKEN_FILE: tokenFile,
        }),
      );
      await notifier.send(event('reminder'));
      await notifier.send(event('escalated'));
    } finally {
      spy.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(r.delivered().map((e) => e.kind)).toEqual(['escalated']);
    expect(r.posts[0]!.headers.authorization).toBe('Bearer file-token');
    const logged = written.filter((l) => l.includes('ekm.notification')).map((l) => (JSON.parse(l) as RunbookEvent).kind);
    expect(logged).toEqual(['reminder', 'escalated']);
    expect(written.join('')).not.toContain('file-token');
  });
});
