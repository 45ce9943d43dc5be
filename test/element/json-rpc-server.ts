import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueKeyAndCertificate, type CertificateAuthority } from '../../src/pki/authority';

/** What reached the test server, as it arrived on the wire. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Handler = (request: RecordedRequest, response: ServerResponse) => void;

export interface TestJsonRpcServer {
  /** https://127.0.0.1:<port> */
  endpoint: string;
  port: number;
  requests: RecordedRequest[];
  /** TLS connections accepted (handshake done), whether or not a request followed. */
  connections(): number;
  /** Replaces the request handler. */
  handle(handler: Handler): void;
  close(): Promise<void>;
}

export interface ServerPki {
  ca: CertificateAuthority;
  certificatePem: string;
  privateKeyPem: string;
}

/** A CA and a server certificate for 127.0.0.1 issued by it. */
export async function createServerPki(caName: string): Promise<ServerPki> {
  const ca = await createCertificateAuthority(caName);
  const issued = await issueKeyAndCertificate(ca, {
    subject: 'CN=element-test-mvip',
    usages: ['server'],
    ipAddresses: ['127.0.0.1'],
  });
  return { ca, certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem };
}

/** Answers with a JSON-RPC success envelope echoing the request id. */
export function respondResult(result: unknown): Handler {
  return (request, response) => sendJson(response, 200, { id: requestId(request), result });
}

/** Answers with a JSON-RPC error envelope (Element uses code 500 for system errors). */
export function respondError(name: string, message: string, status = 200): Handler {
  return (request, response) => sendJson(response, status, { id: requestId(request), error: { code: 500, name, message } });
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function requestId(request: RecordedRequest): unknown {
  try {
    return (JSON.parse(request.body) as { id?: unknown }).id ?? null;
  } catch {
    return null;
  }
}

export async function startJsonRpcServer(pki: ServerPki, initial: Handler): Promise<TestJsonRpcServer> {
  let handler = initial;
  let connections = 0;
  const requests: RecordedRequest[] = [];
  const server = https.createServer({ cert: pki.certificatePem, key: pki.privateKeyPem }, (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      handler(recorded, res);
    });
  });
  server.on('secureConnection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    handle: (next) => {
      handler = next;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
