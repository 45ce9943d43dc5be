/**
 * How the client and the activities classify what a cluster answers (docs/element-api.md, errors):
 * the cluster-database family is retried with a fresh request id, answers no retry can change are
 * permanent even where the activities retry other Element errors, and an API version the cluster
 * does not serve (HTTP 404) is named with the newest one it does.
 */
import { ApplicationFailure } from '@temporalio/common';
import { asActivityFailure } from '../../activities/element';
import {
  ElementApiError,
  ElementClient,
  ElementTransportError,
  PERMANENT_ELEMENT_ERROR_NAMES,
  RETRYABLE_ELEMENT_ERROR_NAMES,
} from '../../src/element';
import {
  createServerPki,
  respondError,
  respondResult,
  sendJson,
  startJsonRpcServer,
  type TestJsonRpcServer,
} from './json-rpc-server';

let server: TestJsonRpcServer;
let caPem: string;
const clients: ElementClient[] = [];

beforeAll(async () => {
  const pki = await createServerPki('Element Classification CA');
  caPem = pki.ca.certificatePem;
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

function client(apiVersion = '12.3'): ElementClient {
  const c = new ElementClient({
    endpoint: server.endpoint,
    apiVersion,
    username: 'admin',
    password: 'classification-test-password',
    caPem,
    connectTimeoutMs: 5_000,
    responseTimeoutMs: 10_000,
    // One request per call: these tests classify single answers (call-retry.test.ts covers retries).
    retry: { attempts: 1 },
  });
  clients.push(c);
  return c;
}

async function apiError(name: string): Promise<ElementApiError> {
  server.handle(respondError(name, `${name} happened`));
  const err = await client()
    .call('GetClusterInfo')
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ElementApiError);
  return err as ElementApiError;
}

const ids = () => server.requests.map((r) => (JSON.parse(r.body) as { id: number }).id);

describe('Element error names', () => {
  const databaseFamily = [
    'xDBVersionMismatch',
    'xDBConnectionLoss',
    'xDBOperationTimeout',
    'xDBSessionExpired',
    'xDBSessionMoved',
    'xDBNoServerResponse',
    'xDBClosing',
    'xDBInvalidState',
  ];

  it.each(databaseFamily)('%s is retryable and not permanent', async (name) => {
    const err = await apiError(name);
    expect(err.retryable).toBe(true);
    expect(err.permanent).toBe(false);
  });

  it.each(['xUnknownAPIMethod', 'xUnknownAPIVersion', 'xAPINotPermitted', 'xInvalidParameter'])(
    '%s is permanent and never retryable',
    async (name) => {
      const err = await apiError(name);
      expect(err.retryable).toBe(false);
      expect(err.permanent).toBe(true);
    },
  );

  it('a name in neither list (xDBNoSuchPath, a missing path) is neither retryable nor permanent', async () => {
    const err = await apiError('xDBNoSuchPath');
    expect([err.retryable, err.permanent]).toEqual([false, false]);
  });

  it('no name is in both lists', () => {
    expect([...RETRYABLE_ELEMENT_ERROR_NAMES].filter((n) => PERMANENT_ELEMENT_ERROR_NAMES.has(n))).toEqual([]);
  });
});

describe('request ids', () => {
  it('a retry after a busy answer goes out with a fresh id, from the same client or a new one', async () => {
    server.handle(respondError('xDBConnectionLoss', 'lost'));
    const first = client();
    await expect(first.call('ListDrives')).rejects.toMatchObject({ retryable: true });
    server.handle(respondResult({ drives: [] }));
    await first.call('ListDrives');
    // An activity retry opens a new client: its ids do not start over.
    await client().call('ListDrives');
    const sent = ids();
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(3);
  });
});

describe('an API version the cluster does not serve (HTTP 404)', () => {
  it('names the newest version the cluster serves, from GetAPI on the oldest endpoint; not retryable', async () => {
    server.handle((request, response) => {
      if (request.url === '/json-rpc/1.0') {
        const { id } = JSON.parse(request.body) as { id: number };
        sendJson(response, 200, { id, result: { currentVersion: '11.8', supportedVersions: ['1.0', '11.7', '11.8'] } });
        return;
      }
      response.writeHead(404);
      response.end('404 Not Found');
    });
    const err = await client('12.3')
      .call('GetSoftwareEncryptionAtRestInfo')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ElementTransportError);
    const transport = err as ElementTransportError;
    expect(transport.message).toBe(
      `GetSoftwareEncryptionAtRestInfo: the cluster at ${server.endpoint} does not serve API 12.3; it supports up to 11.8 ` +
        '(HTTP 404 on /json-rpc/12.3). Pin an apiVersion it supports in the clusters file.',
    );
    expect([transport.status, transport.supportedUpTo, transport.retryable]).toEqual([404, '11.8', false]);
    expect(server.requests.map((r) => [r.url, (JSON.parse(r.body) as { method: string }).method])).toEqual([
      ['/json-rpc/12.3', 'GetSoftwareEncryptionAtRestInfo'],
      ['/json-rpc/1.0', 'GetAPI'],
    ]);
  });

  it('a JSON-RPC error sent with HTTP 404 is still the Element error', async () => {
    server.handle(respondError('xUnknownAPIVersion', 'no such version', 404));
    const err = await client()
      .call('GetClusterInfo')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ElementApiError);
    expect((err as ElementApiError).name).toBe('xUnknownAPIVersion');
    expect(server.requests).toHaveLength(1);
  });
});

describe('activity failures', () => {
  const answer = (name: string, message = `${name} answer`) =>
    new ElementApiError({ method: 'EnableEncryptionAtRest', name, message, code: 500 });

  it('a call that reaches the key server retries Element errors, but not permanent ones', () => {
    const kmip = asActivityFailure(answer('xKmipConnectionFailure'), true) as ApplicationFailure;
    expect([kmip.type, kmip.nonRetryable]).toEqual(['xKmipConnectionFailure', false]);

    const demo = asActivityFailure(answer('xAPINotPermitted', 'Encryption is not supported on demo nodes.'), true);
    expect(demo).toBeInstanceOf(ApplicationFailure);
    expect((demo as ApplicationFailure).type).toBe('xAPINotPermitted');
    expect((demo as ApplicationFailure).nonRetryable).toBe(true);
    expect((demo as ApplicationFailure).message).toBe('EnableEncryptionAtRest: Encryption is not supported on demo nodes.');
  });

  it('other calls retry only the retryable names', () => {
    expect((asActivityFailure(answer('xDBClosing')) as ApplicationFailure).nonRetryable).toBe(false);
    expect((asActivityFailure(answer('xKmipConnectionFailure')) as ApplicationFailure).nonRetryable).toBe(true);
  });
});
