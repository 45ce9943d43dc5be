import {
  ElementApiError,
  ElementClient,
  ElementTransportError,
  isRepeatableMethod,
  type ElementCallRecord,
  type ElementClientOptions,
} from '../../src/element';
import {
  createServerPki,
  respondError,
  respondResult,
  startJsonRpcServer,
  type Handler,
  type ServerPki,
  type TestJsonRpcServer,
} from './json-rpc-server';

let pki: ServerPki;
let server: TestJsonRpcServer;
const clients: ElementClient[] = [];

beforeAll(async () => {
  pki = await createServerPki('Call Retry Test CA');
  server = await startJsonRpcServer(pki, respondResult({}));
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(overrides: Partial<ElementClientOptions> = {}): ElementClient {
  const c = new ElementClient({
    endpoint: server.endpoint,
    apiVersion: '12.3',
    username: 'admin',
    password: 'call-retry-test-password',
    caPem: pki.ca.certificatePem,
    connectTimeoutMs: 5_000,
    responseTimeoutMs: 10_000,
    retry: { attempts: 4, initialDelayMs: 5, maxDelayMs: 20 },
    ...overrides,
  });
  clients.push(c);
  return c;
}

/** The first `failures` requests get `fault`, the rest `then`. */
function failFirst(failures: number, fault: Handler, then: Handler): Handler {
  let seen = 0;
  return (request, response) => (seen++ < failures ? fault : then)(request, response);
}

const http503: Handler = (_request, response) => {
  response.writeHead(503, { 'content-type': 'text/html' });
  response.end('<h1>503 Service Unavailable</h1>');
};
const reset: Handler = (_request, response) => response.socket?.destroy();
const ids = () => server.requests.map((r) => (JSON.parse(r.body) as { id: number }).id);
const methods = () => server.requests.map((r) => (JSON.parse(r.body) as { method: string }).method);

describe('per-call retry of transient faults', () => {
  it('sends a read again after HTTP 503 and a reset, each time with a fresh request id', async () => {
    server.handle(failFirst(1, http503, failFirst(1, reset, respondResult({ drives: [] }))));
    const calls: ElementCallRecord[] = [];
    await expect(client({ onCall: (c) => calls.push(c) }).call('ListDrives')).resolves.toEqual({ drives: [] });
    expect(methods()).toEqual(['ListDrives', 'ListDrives', 'ListDrives']);
    expect(new Set(ids()).size).toBe(3);
    expect(calls).toEqual([expect.objectContaining({ method: 'ListDrives', outcome: 'ok', tries: 3 })]);
  });

  it('sends a change again after a busy answer: the cluster did not run it', async () => {
    server.handle(failFirst(2, respondError('xDBVersionMismatch', 'changed'), respondResult({ kmipKeyProvider: provider() })));
    const { kmipKeyProvider } = await client().call('CreateKeyProviderKmip', { keyProviderName: 'p' });
    expect(kmipKeyProvider.keyProviderID).toBe(7);
    expect(methods()).toEqual(['CreateKeyProviderKmip', 'CreateKeyProviderKmip', 'CreateKeyProviderKmip']);
  });

  it('does not send a change again when its answer may have been lost after it ran (503, reset)', async () => {
    for (const fault of [http503, reset]) {
      server.requests.length = 0;
      server.handle(failFirst(1, fault, respondResult({ kmipKeyProvider: provider() })));
      const err = await client()
        .call('CreateKeyProviderKmip', { keyProviderName: 'p' })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(ElementTransportError);
      expect((err as ElementTransportError).retryable).toBe(true);
      expect(methods()).toEqual(['CreateKeyProviderKmip']);
    }
  });

  it('ends at once on a permanent Element error, naming it', async () => {
    server.handle(respondError('xInvalidParameter', 'keyProviderName is too long'));
    const err = await client()
      .call('ListKeyProvidersKmip', {})
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ElementApiError);
    expect((err as ElementApiError).name).toBe('xInvalidParameter');
    expect(server.requests).toHaveLength(1);
  });

  it('gives up after its attempts and throws the last fault', async () => {
    server.handle(http503);
    const calls: ElementCallRecord[] = [];
    const err = await client({ onCall: (c) => calls.push(c), retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 5 } })
      .call('GetClusterInfo')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((err as ElementTransportError).status).toBe(503);
    expect(server.requests).toHaveLength(3);
    expect(calls).toEqual([expect.objectContaining({ outcome: 'error', tries: 3 })]);
  });

  it('stops retrying once the caller cancels', async () => {
    server.handle(http503);
    const controller = new AbortController();
    const pending = client({ retry: { attempts: 50, initialDelayMs: 200, maxDelayMs: 200 } }).call('GetClusterInfo', undefined, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(ElementTransportError);
    expect(server.requests.length).toBeLessThan(5);
  });

  it('refuses a retry setting below one attempt', () => {
    expect(() => client({ retry: { attempts: 0 } })).toThrow(/retry.attempts/);
  });

  it('treats reads and tests as repeatable, changes as not', () => {
    expect(
      ['ListDrives', 'GetAsyncResult', 'TestKeyServerKmip', 'GetClientCertificateSignRequest'].map(isRepeatableMethod),
    ).toEqual([true, true, true, true]);
    expect(['CreateKeyServerKmip', 'AddDrives', 'ModifyKeyServerKmip', 'EnableEncryptionAtRest'].map(isRepeatableMethod)).toEqual(
      [false, false, false, false],
    );
  });
});

function provider() {
  return {
    keyProviderID: 7,
    keyProviderName: 'p',
    keyProviderIsActive: false,
    keyServerIDs: [],
    kmipCapabilities: '',
  };
}
