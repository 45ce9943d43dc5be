import net from 'node:net';
import { inspect } from 'node:util';
import {
  ElementApiError,
  ElementAuthError,
  ElementClient,
  ElementRequestError,
  ElementResponseError,
  ElementTlsError,
  ElementTransportError,
  isRetryableElementError,
  type ElementClientOptions,
} from '../../src/element';
import {
  createServerPki,
  respondError,
  respondResult,
  sendJson,
  startJsonRpcServer,
  type ServerPki,
  type TestJsonRpcServer,
} from './json-rpc-server';

const USERNAME = 'admin';
const PASSWORD = 'Tr0ub4dor&3-not-in-errors';
const BASIC_TOKEN = Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64');

const KEY_SERVER_PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

let pki: ServerPki;
let otherPki: ServerPki;
let server: TestJsonRpcServer;
const clients: ElementClient[] = [];

beforeAll(async () => {
  [pki, otherPki] = await Promise.all([createServerPki('Element Test MVIP CA'), createServerPki('Some Other CA')]);
  server = await startJsonRpcServer(pki, respondResult({}));
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.requests.length = 0;
  server.handle(respondResult({}));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(overrides: Partial<ElementClientOptions> = {}): ElementClient {
  const c = new ElementClient({
    endpoint: server.endpoint,
    apiVersion: '12.3',
    username: USERNAME,
    password: PASSWORD,
    caPem: pki.ca.certificatePem,
    connectTimeoutMs: 5_000,
    responseTimeoutMs: 10_000,
    // One request per call: these tests classify single answers (call-retry.test.ts covers retries).
    retry: { attempts: 1 },
    ...overrides,
  });
  clients.push(c);
  return c;
}

/** The rejection of a promise that must reject, checked for leaked credentials. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  let outcome: { rejected: true; error: unknown } | { rejected: false } = { rejected: false };
  try {
    await promise;
  } catch (error) {
    outcome = { rejected: true, error };
  }
  if (!outcome.rejected) throw new Error('expected the call to fail, but it succeeded');
  expectNoCredentials(outcome.error);
  return outcome.error;
}

function expectNoCredentials(error: unknown): void {
  const renderings = [
    String(error),
    error instanceof Error ? (error.stack ?? '') : '',
    JSON.stringify(error),
    inspect(error, { depth: null, showHidden: true }),
  ];
  for (const text of renderings) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(BASIC_TOKEN);
  }
}

function keyServer(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    keyServerID: 11,
    kmipKeyServerName: 'keysecure-1',
    kmipKeyServerHostnames: ['kms1.example.net', 'kms2.example.net'],
    kmipKeyServerPort: 5696,
    kmipCaCertificate: KEY_SERVER_PEM,
    kmipClientCertificate: KEY_SERVER_PEM,
    keyProviderID: 3,
    kmipAssignedProviderIsActive: true,
    ...overrides,
  };
}

describe('ElementClient on the wire', () => {
  it('POSTs a JSON-RPC body to /json-rpc/<version> with basic auth and the JSON-RPC content type', async () => {
    server.handle(respondResult({ kmipKeyServer: keyServer({}) }));
    await client().call('GetKeyServerKmip', { keyServerID: 11 });

    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/json-rpc/12.3');
    expect(request!.headers.authorization).toBe(`Basic ${BASIC_TOKEN}`);
    expect(request!.headers['content-type']).toBe('application/json-rpc');
    const body = JSON.parse(request!.body) as Record<string, unknown>;
    expect(body).toEqual({ method: 'GetKeyServerKmip', params: { keyServerID: 11 }, id: expect.any(Number) });
  });

  it('sends {} as params for a method called without params, with a fresh id per call', async () => {
    server.handle(respondResult({ currentVersion: '12.3', supportedVersions: ['11.7', '12.3'] }));
    const c = client();
    await c.call('GetAPI');
    await c.call('GetAPI', {});
    const bodies = server.requests.map((r) => JSON.parse(r.body) as { params: unknown; id: number });
    expect(bodies.map((b) => b.params)).toEqual([{}, {}]);
    expect(bodies[0]!.id).not.toBe(bodies[1]!.id);
  });

  it('keeps a path prefix of the endpoint and drops its trailing slash', async () => {
    await client({ endpoint: `${server.endpoint}/`, apiVersion: '11.7' }).call('DisableEncryptionAtRest');
    expect(server.requests[0]!.url).toBe('/json-rpc/11.7');
  });
});

describe('ElementClient results', () => {
  it('returns the typed result, with null-valued keys and unknown extra fields passing through', async () => {
    server.handle(
      respondResult({
        kmipKeyServers: [
          keyServer({ futureField: { nested: true } }),
          keyServer({ keyServerID: 12, keyProviderID: null, kmipAssignedProviderIsActive: null }),
        ],
        someNewTopLevelField: 7,
      }),
    );
    const result = await client().call('ListKeyServersKmip', { kmipHasProviderAssigned: true });

    const [assigned, unassigned] = result.kmipKeyServers;
    const port: number = assigned!.kmipKeyServerPort;
    expect(port).toBe(5696);
    expect(assigned!.keyProviderID).toBe(3);
    expect(assigned!.futureField).toEqual({ nested: true });
    expect(unassigned!.keyServerID).toBe(12);
    expect(unassigned!.keyProviderID).toBeNull();
    expect(unassigned!.kmipAssignedProviderIsActive).toBeNull();
    expect(result.someNewTopLevelField).toBe(7);
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ params: { kmipHasProviderAssigned: true } });
  });

  it('rejects a response missing a required field, naming the method and the field path', async () => {
    const { keyServerID: _dropped, ...withoutId } = keyServer({});
    server.handle(respondResult({ kmipKeyServers: [withoutId] }));
    const error = await failure(client().call('ListKeyServersKmip'));

    expect(error).toBeInstanceOf(ElementResponseError);
    expect((error as ElementResponseError).message).toBe(
      'ListKeyServersKmip: response field kmipKeyServers[0].keyServerID is required (number)',
    );
    expect((error as ElementResponseError).retryable).toBe(false);
  });

  it('rejects a field of the wrong type and says what arrived', async () => {
    server.handle(
      respondResult({
        kmipKeyProvider: {
          keyProviderID: 3,
          keyProviderName: 'p',
          keyProviderIsActive: false,
          keyServerIDs: [],
          kmipCapabilities: { library: 'x' },
        },
      }),
    );
    const error = await failure(client().call('GetKeyProviderKmip', { keyProviderID: 3 }));
    expect(error).toBeInstanceOf(ElementResponseError);
    expect((error as Error).message).toContain(
      'GetKeyProviderKmip: response field kmipKeyProvider.kmipCapabilities must be string (got an object)',
    );
  });

  it('rejects a complete async result carrying both result and error', async () => {
    server.handle(
      respondResult({
        status: 'complete',
        resultType: 'DriveAdd',
        createTime: '2024-05-01T10:00:00Z',
        lastUpdateTime: '2024-05-01T10:01:00Z',
        result: {},
        error: { name: 'xSomething', message: 'failed' },
      }),
    );
    const error = await failure(client().call('GetAsyncResult', { asyncHandle: 4, keepResult: true }));
    expect(error).toBeInstanceOf(ElementResponseError);
    expect((error as Error).message).toContain('GetAsyncResult: response has both');
  });

  it('rejects an answer that has neither result nor error', async () => {
    server.handle((_request, response) => sendJson(response, 200, { id: 1, outcome: 'fine' }));
    const error = await failure(client().call('GetClusterInfo'));
    expect(error).toBeInstanceOf(ElementResponseError);
    expect((error as Error).message).toMatch(/^GetClusterInfo: .*no result or error/);
  });
});

describe('ElementClient Element errors', () => {
  it('maps a JSON-RPC error to ElementApiError with its name, message and code, not retryable', async () => {
    server.handle(respondError('xUnknownAccount', 'Unknown account'));
    const error = await failure(client().call('GetClusterInfo'));

    expect(error).toBeInstanceOf(ElementApiError);
    const apiError = error as ElementApiError;
    expect(apiError.name).toBe('xUnknownAccount');
    expect(apiError.elementMessage).toBe('Unknown account');
    expect(apiError.code).toBe(500);
    expect(apiError.method).toBe('GetClusterInfo');
    expect(apiError.message).toBe('GetClusterInfo: Unknown account');
    expect(apiError.retryable).toBe(false);
    expect(isRetryableElementError(apiError)).toBe(false);
  });

  it('marks busy answers such as xDBVersionMismatch retryable, even when sent with HTTP 500', async () => {
    server.handle(respondError('xDBVersionMismatch', 'DB version mismatch, try again', 500));
    const error = await failure(client().call('ListDrives'));

    expect(error).toBeInstanceOf(ElementApiError);
    expect((error as ElementApiError).name).toBe('xDBVersionMismatch');
    expect((error as ElementApiError).retryable).toBe(true);
    expect(isRetryableElementError(error)).toBe(true);
  });

  it('keeps extra members of the error object as details', async () => {
    server.handle((request, response) =>
      sendJson(response, 200, {
        id: 1,
        error: { code: 500, name: 'xAPINotPermitted', message: 'Encryption is not supported on demo nodes.', nodeID: 2 },
      }),
    );
    const error = await failure(client().call('EnableEncryptionAtRest', { keyProviderID: 3 }));
    expect((error as ElementApiError).details).toEqual({ nodeID: 2 });
  });

  it('scrubs the password when the cluster echoes it back', async () => {
    server.handle(respondError('xInvalidParameter', `bad value ${PASSWORD} for ${BASIC_TOKEN}`));
    const error = await failure(client().call('ListDrives'));
    expect((error as ElementApiError).elementMessage).toBe('bad value [redacted] for [redacted]');

    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(`<html>proxy says ${PASSWORD}</html>`);
    });
    const transport = await failure(client().call('ListDrives'));
    expect(transport).toBeInstanceOf(ElementTransportError);
    expect((transport as Error).message).toContain('proxy says [redacted]');
  });
});

describe('ElementClient HTTP and transport failures', () => {
  it('maps HTTP 401 to ElementAuthError, not retryable, without the credentials', async () => {
    server.handle((_request, response) => {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="SolidFire"' });
      response.end('401 Unauthorized.');
    });
    const error = await failure(client().call('GetClusterInfo'));

    expect(error).toBeInstanceOf(ElementAuthError);
    expect((error as ElementAuthError).status).toBe(401);
    expect((error as ElementAuthError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/rejected the credentials.*username and password/);
  });

  it('treats a body saying "401 Unauthorized." as bad credentials whatever the status', async () => {
    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('<h1>401 Unauthorized.</h1>');
    });
    expect(await failure(client().call('GetClusterInfo'))).toBeInstanceOf(ElementAuthError);
  });

  it('turns a response timeout into a retryable transport error with the timeout flag', async () => {
    server.handle(() => undefined); // never answers
    const started = Date.now();
    const error = await failure(client({ responseTimeoutMs: 300 }).call('GetClusterInfo'));

    expect(error).toBeInstanceOf(ElementTransportError);
    const transport = error as ElementTransportError;
    expect(transport.timeout).toBe(true);
    expect(transport.retryable).toBe(true);
    expect(transport.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(transport.message).toContain('no response from');
    // Well under the 10 s default of these tests: the 300 ms limit applied (undici's timers are coarse).
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('turns connection refused into a retryable transport error', async () => {
    const port = await closedPort();
    const error = await failure(client({ endpoint: `https://127.0.0.1:${port}` }).call('GetClusterInfo'));

    expect(error).toBeInstanceOf(ElementTransportError);
    const transport = error as ElementTransportError;
    expect(transport.code).toBe('ECONNREFUSED');
    expect(transport.timeout).toBe(false);
    expect(transport.retryable).toBe(true);
    expect(transport.message).toContain(`https://127.0.0.1:${port}`);
  });

  it('treats HTTP 5xx without a JSON-RPC error as retryable, HTTP 404 as not', async () => {
    server.handle((_request, response) => {
      response.writeHead(503);
      response.end('Service Unavailable');
    });
    const unavailable = await failure(client().call('GetClusterInfo'));
    expect(unavailable).toBeInstanceOf(ElementTransportError);
    expect((unavailable as ElementTransportError).status).toBe(503);
    expect((unavailable as ElementTransportError).retryable).toBe(true);

    // Nothing answers on any version: the endpoint itself is wrong.
    server.handle((_request, response) => {
      response.writeHead(404);
      response.end('404 Not Found');
    });
    const notFound = await failure(client().call('GetClusterInfo'));
    expect((notFound as ElementTransportError).retryable).toBe(false);
    expect((notFound as ElementTransportError).supportedUpTo).toBeUndefined();
    expect((notFound as Error).message).toBe(
      `GetClusterInfo: ${server.endpoint} answered HTTP 404: "404 Not Found", and GetAPI on /json-rpc/1.0 did not say which API versions it serves; check that the endpoint is the cluster's MVIP`,
    );
  });
});

describe('ElementClient TLS', () => {
  it('refuses a server certificate from another CA with ElementTlsError pointing at the clusters file caBundle / insecure', async () => {
    const error = await failure(client({ caPem: otherPki.ca.certificatePem }).call('GetClusterInfo'));

    expect(error).toBeInstanceOf(ElementTlsError);
    const tls = error as ElementTlsError;
    expect(tls.retryable).toBe(false);
    expect(tls.message).toContain('TLS certificate verification failed');
    expect(tls.message).toContain('set caBundle (clusters file)');
    expect(tls.message).toContain('insecure');
    expect(server.requests).toHaveLength(0);
  });

  it('verifies by default: without caPem the test CA is not trusted', async () => {
    expect(await failure(client({ caPem: undefined }).call('GetClusterInfo'))).toBeInstanceOf(ElementTlsError);
  });

  it('talks to the same server when insecure is explicitly opted into', async () => {
    server.handle(respondResult({ currentVersion: '12.3', supportedVersions: ['12.3'] }));
    const result = await client({ caPem: otherPki.ca.certificatePem, insecure: true }).call('GetAPI');
    expect(result.currentVersion).toBe('12.3');
  });
});

describe('ElementClient refuses before sending', () => {
  it('rejects invalid params naming the method and field; the server sees nothing', async () => {
    const connectionsBefore = server.connections();
    const error = await failure(
      client().call('CreateKeyServerKmip', {
        kmipCaCertificate: KEY_SERVER_PEM,
        kmipClientCertificate: KEY_SERVER_PEM,
        kmipKeyServerHostnames: ['kms1.example.net'],
        kmipKeyServerName: 'kms',
        kmipKeyServerPort: 70000,
      }),
    );

    expect(error).toBeInstanceOf(ElementRequestError);
    const request = error as ElementRequestError;
    expect(request.reason).toBe('invalid-params');
    expect(request.retryable).toBe(false);
    expect(request.message).toBe(
      'CreateKeyServerKmip: parameter kmipKeyServerPort must be at most 65535 (got 70000); nothing was sent to the cluster',
    );
    expect(server.requests).toHaveLength(0);
    expect(server.connections()).toBe(connectionsBefore);
  });

  it('rejects a missing required parameter and a misspelt one', async () => {
    // @ts-expect-error keyServerID is required
    const missing = await failure(client().call('GetKeyServerKmip', {}));
    expect((missing as Error).message).toContain('GetKeyServerKmip: parameter keyServerID is required (number)');

    // @ts-expect-error keyProviderId is not a parameter (the cluster would silently ignore it)
    const misspelt = await failure(client().call('ListKeyServersKmip', { keyProviderId: 3 }));
    expect((misspelt as Error).message).toContain('unknown parameter keyProviderId');

    const rekey = await failure(client().call('RekeySoftwareEncryptionAtRestMasterKey', { keyManagementType: 'External' }));
    expect((rekey as Error).message).toContain('parameter keyProviderID is required when keyManagementType is External');
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a method newer than the pinned API version', async () => {
    const error = await failure(client({ apiVersion: '12.2' }).call('GetSoftwareEncryptionAtRestInfo'));

    expect(error).toBeInstanceOf(ElementRequestError);
    const request = error as ElementRequestError;
    expect(request.reason).toBe('api-version');
    expect(request.requiredVersion).toBe('12.3');
    expect(request.message).toContain('needs Element API 12.3 or later, but this client is pinned to 12.2');
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a parameter newer than the pinned version but sends the call without it', async () => {
    const c = client({ apiVersion: '11.5' });
    const error = await failure(c.call('EnableEncryptionAtRest', { keyProviderID: 4 }));
    expect((error as ElementRequestError).reason).toBe('api-version');
    expect((error as Error).message).toContain('parameter keyProviderID needs Element API 11.7');
    expect(server.requests).toHaveLength(0);

    await c.call('EnableEncryptionAtRest');
    expect(server.requests.map((r) => r.url)).toEqual(['/json-rpc/11.5']);
  });

  it('rejects options that would leak or weaken credentials, without echoing them', () => {
    const base: ElementClientOptions = {
      endpoint: server.endpoint,
      apiVersion: '12.3',
      username: USERNAME,
      password: PASSWORD,
      connectTimeoutMs: 1000,
      responseTimeoutMs: 1000,
    };
    const attempts: Array<Partial<ElementClientOptions>> = [
      { endpoint: `https://${USERNAME}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}` },
      { endpoint: `http://127.0.0.1:${server.port}` },
      { apiVersion: 'v12' },
    ];
    for (const attempt of attempts) {
      let thrown: unknown;
      try {
        new ElementClient({ ...base, ...attempt });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ElementRequestError);
      expect((thrown as ElementRequestError).reason).toBe('config');
      expect(String(thrown)).not.toContain(encodeURIComponent(PASSWORD));
      expectNoCredentials(thrown);
    }
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
