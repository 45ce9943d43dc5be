import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunbookEvent } from '../../src/notify/notifier';

export interface ReceivedPost {
  headers: http.IncomingHttpHeaders;
  event: RunbookEvent;
  /** The status the receiver answered with. */
  status: number;
}

export interface WebhookReceiver {
  url: string;
  /** Every POST, in arrival order, whatever the answer. */
  posts: ReceivedPost[];
  /** The events answered 2xx. */
  delivered(): RunbookEvent[];
  stop(): Promise<void>;
}

/** A local HTTP endpoint for webhook tests; `answer(n)` picks the status of the n-th POST (1-based). */
export async function startWebhookReceiver(
  answer: (n: number) => { status: number; headers?: Record<string, string> } = () => ({ status: 204 }),
): Promise<WebhookReceiver> {
  const posts: ReceivedPost[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = answer(posts.length + 1);
      posts.push({
        headers: req.headers,
        event: JSON.parse(Buffer.concat(chunks).toString('utf8')) as RunbookEvent,
        status: reply.status,
      });
      res.writeHead(reply.status, reply.headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/ekm/secret-path-token`,
    posts,
    delivered: () => posts.filter((p) => p.status < 300).map((p) => p.event),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
