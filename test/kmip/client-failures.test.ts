/**
 * How the KMIP client classifies failures that need no KMIP server: nothing listening, a name
 * that does not resolve, a server that never answers, answers that are not KMIP, a dropped
 * connection, an unusable client key. The servers here are local stand-ins with certificates from
 * a CA made for this file. The failures only a real KMIP server produces (certificates it refuses,
 * its answer to a client without clientAuth) are in pykmip.test.ts.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { KmipEndpoint } from '../../src/kmip/api';
import { openKmipSession, withKmipSession } from '../../src/kmip/client';
import { KmipConnectionError } from '../../src/kmip/errors';
import { createCertificateAuthority, issueKeyAndCertificate, type CertificateAuthority } from '../../src/pki/authority';
import { freePort } from '../../tools/devenv/ports';

/** A CA and a client certificate from it, standing in for the test KMIP server's (nothing listens on the port). */
let ca: CertificateAuthority;
let env: {
  kmip: { host: string; port: number; caPem: string; client: { certificatePem: string; privateKeyPem: string } };
};

beforeAll(async () => {
  ca = await createCertificateAuthority('EKM test KMIP CA');
  const client = await issueKeyAndCertificate(ca, { subject: 'CN=ekm-test-client', usages: ['client'] });
  env = { kmip: { host: '127.0.0.1', port: await freePort(), caPem: ca.certificatePem, client } };
});

const endpoint = (overrides: Partial<KmipEndpoint> = {}): KmipEndpoint => ({
  host: env.kmip.host,
  port: env.kmip.port,
  caPem: env.kmip.caPem,
  certificatePem: env.kmip.client.certificatePem,
  privateKeyPem: env.kmip.client.privateKeyPem,
  ...overrides,
});

/** The CA the stand-in servers' certificates come from, and that they trust client certificates from. */
async function testKmipCa(): Promise<CertificateAuthority> {
  return ca;
}

/** Resolves with the error the promise rejected with; fails the test if it resolved. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

async function connectionFailure(promise: Promise<unknown>): Promise<KmipConnectionError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(KmipConnectionError);
  return err as KmipConnectionError;
}

describe('classifying failures without a KMIP server', () => {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  async function listen(server: net.Server): Promise<number> {
    servers.push(server);
    server.on('connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    return address.port;
  }

  /** A TLS server with a certificate from the test KMIP CA that hands each decrypted request to `onRequest`. */
  async function fakeKmipServer(onRequest: (socket: tls.TLSSocket, data: Buffer) => void): Promise<number> {
    const ca = await testKmipCa();
    const cert = await issueKeyAndCertificate(ca, { subject: 'CN=fake-kmip', usages: ['server'], ipAddresses: ['127.0.0.1'] });
    const server = tls.createServer(
      { key: cert.privateKeyPem, cert: cert.certificatePem, ca: env.kmip.caPem, requestCert: true, rejectUnauthorized: true },
      (socket) => {
        socket.on('data', (data) => onRequest(socket, data));
        socket.on('error', () => undefined);
      },
    );
    return listen(server);
  }

  test('connection refused on an unused port is "unreachable"', async () => {
    const port = await freePort();
    const err = await connectionFailure(openKmipSession(endpoint({ port })));
    expect(err.failure).toBe('unreachable');
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.message).toBe(
      `KMIP server 127.0.0.1:${port} could not be reached: connection refused (nothing is listening on that port) (ECONNREFUSED)`,
    );
  });

  test('a host name that does not resolve is "unreachable"', async () => {
    const err = await connectionFailure(openKmipSession(endpoint({ host: 'kmip.invalid' })));
    expect(err.failure).toBe('unreachable');
    expect(err.message).toMatch(/^KMIP server kmip\.invalid:\d+ could not be reached/);
  });

  test('a TCP server that accepts and never answers: the TLS handshake times out', async () => {
    const port = await listen(net.createServer(() => undefined));
    const started = Date.now();
    const err = await connectionFailure(openKmipSession(endpoint({ port, connectTimeoutMs: 300 })));
    expect(err.failure).toBe('timeout');
    expect(err.message).toBe(`KMIP server 127.0.0.1:${port} did not complete the TLS handshake within 300 ms`);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('a TLS server that accepts the request and never answers: the response times out and the session is done', async () => {
    const port = await fakeKmipServer(() => undefined);
    const s = await openKmipSession(endpoint({ port, responseTimeoutMs: 300 }));
    try {
      const err = await connectionFailure(s.discoverVersions());
      expect(err.failure).toBe('timeout');
      expect(err.message).toBe(`KMIP server 127.0.0.1:${port} did not answer the DiscoverVersions request within 300 ms`);
      const again = await connectionFailure(s.query());
      expect(again.failure).toBe('timeout');
    } finally {
      await s.close();
    }
  });

  test('an answer that is not TTLV is "protocol"', async () => {
    const port = await fakeKmipServer((socket) => socket.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const err = await connectionFailure(withKmipSession(endpoint({ port }), (s) => s.query()));
    expect(err.failure).toBe('protocol');
    expect(err.message).toMatch(
      /sent data that is not a KMIP message in answer to the Query request: a message must be a Structure/,
    );
  });

  test('well-formed TTLV that is not a response (the request echoed back) is "protocol"', async () => {
    const port = await fakeKmipServer((socket, data) => socket.write(data));
    const err = await connectionFailure(withKmipSession(endpoint({ port }), (s) => s.get('1')));
    expect(err.failure).toBe('protocol');
    expect(err.message).toMatch(
      /sent a malformed answer to the Get request: expected a ResponseMessage structure, got RequestMessage/,
    );
  });

  test('a server that drops the connection mid-request is "unreachable" and names the request', async () => {
    const port = await fakeKmipServer((socket) => socket.destroy());
    const err = await connectionFailure(withKmipSession(endpoint({ port }), (s) => s.locateByName('x')));
    expect(err.failure).toBe('unreachable');
    expect(err.message).toMatch(/dropped the connection before answering the Locate request/);
  });

  test('an unusable client key is "tls" and says so', async () => {
    const err = await connectionFailure(openKmipSession(endpoint({ privateKeyPem: 'not a key' })));
    expect(err.failure).toBe('tls');
    expect(err.message).toMatch(/the client certificate, key or CA bundle is unusable/);
  });
});
