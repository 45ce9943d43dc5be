/**
 * The simulator's JSON-RPC endpoint: envelope, auth, versions, parameter validation, the call
 * log and injected transport faults; and that the control API is a separate door.
 */
import { Agent, request } from 'undici';
import { ElementApiError, ElementAuthError, ElementTransportError } from '../../src/element';
import type { RunningSimulator } from '../../tools/simulator';
import { ADMIN, clientFor, rawCall, rawPost, rpcError, startTestSimulator } from './support';

let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startTestSimulator('protocol', { apiVersion: '12.3' });
});

afterAll(async () => {
  await sim?.stop();
});

beforeEach(async () => {
  await sim.control.clearHttpFaults();
});

describe('envelope and versions', () => {
  test('GetAPI lists the supported versions up to the current one and the current methods', async () => {
    const client = clientFor(sim);
    const api = await client.call('GetAPI');
    expect(api.currentVersion).toBe('12.3');
    expect(api.supportedVersions).toEqual(expect.arrayContaining(['1.0', '9.6', '11.7', '11.8', '12.0', '12.3']));
    expect(api.supportedVersions).not.toContain('12.5');
    expect(api.supportedVersions[api.supportedVersions.length - 1]).toBe('12.3');
    const methods = (api as Record<string, unknown>)['12.3'];
    expect(methods).toEqual(
      expect.arrayContaining(['RekeySoftwareEncryptionAtRestMasterKey', 'CreateKeyServerKmip', 'AddDrives']),
    );
    await client.close();
  });

  test('a success answers {id, result} with members in alphabetical order; an omitted id comes back null', async () => {
    const answer = await rawPost(sim, { method: 'GetClusterInfo', params: {}, id: 'abc' });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ id: 'abc', result: { clusterInfo: expect.any(Object) } });
    const info = (answer.json!.result as { clusterInfo: Record<string, unknown> }).clusterInfo;
    expect(Object.keys(info)).toEqual([...Object.keys(info)].sort());
    const noId = await rawPost(sim, { method: 'GetClusterInfo' });
    expect(noId.json!.id).toBeNull();
  });

  test('the endpoint accepts a trailing slash (as Cinder posts it)', async () => {
    const answer = await rawPost(sim, { method: 'GetAPI', params: {}, id: 1 }, { path: '/json-rpc/12.3/' });
    expect(answer.status).toBe(200);
    expect((answer.json!.result as { currentVersion: string }).currentVersion).toBe('12.3');
  });

  test('a method newer than the endpoint version answers xUnknownAPIMethod; the same method works at its version', async () => {
    const old = await rawCall(sim, 'RekeySoftwareEncryptionAtRestMasterKey', {}, '12.0');
    expect(rpcError(old)).toEqual({
      code: 500,
      name: 'xUnknownAPIMethod',
      message: 'method=RekeySoftwareEncryptionAtRestMasterKey',
    });
    const kmipAtOld = await rawCall(sim, 'ListKeyProvidersKmip', {}, '11.5');
    expect(rpcError(kmipAtOld).name).toBe('xUnknownAPIMethod');
    const kmipAtNew = await rawCall(sim, 'ListKeyProvidersKmip', {}, '11.7');
    expect(kmipAtNew.json!.result).toEqual({ kmipKeyProviders: [] });
    const unknown = await rawCall(sim, 'NoSuchMethod');
    expect(rpcError(unknown).name).toBe('xUnknownAPIMethod');
  });

  test('endpoint versions the cluster does not have are HTTP 404', async () => {
    expect((await rawPost(sim, { method: 'GetAPI' }, { version: '12.5' })).status).toBe(404);
    expect((await rawPost(sim, { method: 'GetAPI' }, { version: '99.0' })).status).toBe(404);
    expect((await rawPost(sim, { method: 'GetAPI' }, { path: '/other' })).status).toBe(404);
  });

  test('GET on the endpoint is 405', async () => {
    const answer = await rawPost(sim, '', { method: 'GET' });
    expect(answer.status).toBe(405);
  });

  test('malformed requests answer Element error objects', async () => {
    expect(rpcError(await rawPost(sim, '{not json')).name).toBe('xInvalidJSON');
    expect(rpcError(await rawPost(sim, '[{"method":"GetAPI"}]')).name).toBe('xInvalidRequest');
    const positional = await rawPost(sim, { method: 'GetKeyServerKmip', params: [1], id: 3 });
    expect(rpcError(positional).name).toBe('xInvalidRequest');
    expect(positional.json!.id).toBe(3);
  });
});

describe('authentication', () => {
  test('bad or missing credentials are HTTP 401, and the client reports an authentication error', async () => {
    const wrong = await rawPost(sim, { method: 'GetAPI' }, { auth: `Basic ${Buffer.from('admin:nope').toString('base64')}` });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('401 Unauthorized.');
    const none = await rawPost(sim, { method: 'GetAPI' }, { auth: null });
    expect(none.status).toBe(401);
    const client = clientFor(sim, { password: 'wrong-password' });
    await expect(client.call('GetClusterInfo')).rejects.toBeInstanceOf(ElementAuthError);
    await client.close();
  });

  test('the control API refuses the JSON-RPC credentials, and the JSON-RPC port has no control routes', async () => {
    const basic = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;
    const withBasic = await fetch(`${sim.controlUrl}/control/state`, { headers: { Authorization: basic } });
    expect(withBasic.status).toBe(401);
    const withNothing = await fetch(`${sim.controlUrl}/control/calls`);
    expect(withNothing.status).toBe(401);
    const withWrongToken = await fetch(`${sim.controlUrl}/control/calls`, { headers: { Authorization: 'Bearer not-the-token' } });
    expect(withWrongToken.status).toBe(401);
    const withToken = await fetch(`${sim.controlUrl}/control/health`, {
      headers: { Authorization: `Bearer ${sim.controlToken}` },
    });
    expect(withToken.status).toBe(200);
    // On the JSON-RPC port: admin credentials get no control route, the control token gets no entry.
    expect((await rawPost(sim, '', { path: '/control/state', method: 'GET' })).status).toBe(404);
    expect((await rawPost(sim, '', { path: '/control/state', method: 'GET', auth: `Bearer ${sim.controlToken}` })).status).toBe(
      401,
    );
  });
});

describe('parameters', () => {
  test('a missing required member answers xMissingParameter naming it', async () => {
    expect(rpcError(await rawCall(sim, 'GetKeyServerKmip', {}))).toEqual({
      code: 500,
      name: 'xMissingParameter',
      message: 'Missing member=[keyServerID]',
    });
  });

  test('a wrong type or value answers xInvalidParameter naming the member', async () => {
    const wrongType = rpcError(await rawCall(sim, 'GetKeyServerKmip', { keyServerID: 'eleven' }));
    expect(wrongType.name).toBe('xInvalidParameter');
    expect(wrongType.message).toContain('member=[keyServerID]');
    const badEnum = rpcError(await rawCall(sim, 'ListClusterFaults', { faultTypes: 'some' }));
    expect(badEnum.name).toBe('xInvalidParameter');
    expect(badEnum.message).toContain('member=[faultTypes]');
    const nested = rpcError(await rawCall(sim, 'AddDrives', { drives: [{ driveID: -1 }] }));
    expect(nested.message).toContain('member=[drives[0].driveID]');
    const badPort = rpcError(
      await rawCall(sim, 'CreateKeyServerKmip', {
        kmipCaCertificate: 'x',
        kmipClientCertificate: 'y',
        kmipKeyServerHostnames: ['h'],
        kmipKeyServerName: 'n',
        kmipKeyServerPort: 70000,
      }),
    );
    expect(badPort.message).toContain('member=[kmipKeyServerPort]');
  });

  test('members the method does not use come back in unusedParameters', async () => {
    const answer = await rawCall(sim, 'GetClusterInfo', { verbose: true, color: 'blue' });
    expect(answer.json!.unusedParameters).toEqual({ verbose: true, color: 'blue' });
    const clean = await rawCall(sim, 'GetClusterInfo', {});
    expect(clean.json).not.toHaveProperty('unusedParameters');
  });

  test('a member newer than the endpoint version is unused there (EnableEncryptionAtRest keyProviderID before 11.7)', async () => {
    const other = await startTestSimulator('protocol-ear-old');
    try {
      const answer = await rawCall(other, 'EnableEncryptionAtRest', { keyProviderID: 12345 }, '11.5');
      expect(answer.json!.result).toEqual({});
      expect(answer.json!.unusedParameters).toEqual({ keyProviderID: 12345 });
      // It enabled with an internal key: the unknown provider was never looked at.
      const info = await rawCall(other, 'GetEncryptionAtRestInfo', {});
      expect(
        (info.json!.result as { authenticationKeyInfo: { keyManagementType: string } }).authenticationKeyInfo.keyManagementType,
      ).toBe('internal');
    } finally {
      await other.stop();
    }
  });
});

describe('call log', () => {
  test('records every request with its outcome, secrets redacted, and can be reset', async () => {
    await sim.control.resetCalls();
    await rawCall(sim, 'GetClusterInfo', {
      password: 'hunter2',
      nested: { privateKeyPem: 'k', note: '-----BEGIN PRIVATE KEY-----\nabc' },
    });
    await rawCall(sim, 'GetKeyServerKmip', { keyServerID: 424242 });
    await rawPost(sim, { method: 'GetAPI' }, { auth: `Basic ${Buffer.from('admin:wrong-one').toString('base64')}` });
    const calls = await sim.control.calls();
    expect(calls.map((c) => [c.method, c.outcome])).toEqual([
      ['GetClusterInfo', 'result'],
      ['GetKeyServerKmip', 'error'],
      [null, 'unauthorized'],
    ]);
    expect(calls[0]!.params).toEqual({ password: '*****', nested: { privateKeyPem: '*****', note: '*****' } });
    expect(calls[1]!.errorName).toBe('xKeyServerIDDoesNotExist');
    const text = JSON.stringify(calls);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(ADMIN.password);
    expect(text).not.toContain('wrong-one');
    expect(await sim.control.calls({ method: 'GetKeyServerKmip' })).toHaveLength(1);
    await sim.control.resetCalls();
    expect(await sim.control.calls()).toEqual([]);
  });
});

describe('injected transport faults', () => {
  test('latency delays answers', async () => {
    await sim.control.setHttpFaults({ latencyMs: 250 });
    const started = Date.now();
    await rawCall(sim, 'GetAPI');
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });

  test('HTTP 5xx, once: the client sees a retryable transport error, then the next call works', async () => {
    await sim.control.setHttpFaults({ rules: [{ kind: 'http5xx', status: 503, remaining: 1 }] });
    const client = clientFor(sim);
    const err: unknown = await client.call('GetClusterInfo').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ElementTransportError);
    expect((err as ElementTransportError).status).toBe(503);
    expect((err as ElementTransportError).retryable).toBe(true);
    await expect(client.call('GetClusterInfo')).resolves.toHaveProperty('clusterInfo');
    await client.close();
  });

  test('busy answers xDBVersionMismatch (retryable) for the chosen methods only', async () => {
    await sim.control.setHttpFaults({ rules: [{ kind: 'busy', methods: ['ListDrives'], remaining: 2 }] });
    const client = clientFor(sim);
    const err: unknown = await client.call('ListDrives').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ElementApiError);
    expect((err as ElementApiError).name).toBe('xDBVersionMismatch');
    expect((err as ElementApiError).retryable).toBe(true);
    await expect(client.call('GetClusterInfo')).resolves.toHaveProperty('clusterInfo');
    await expect(client.call('ListDrives')).rejects.toBeInstanceOf(ElementApiError);
    await expect(client.call('ListDrives')).resolves.toHaveProperty('drives');
    await client.close();
  });

  test('a connection reset after the method ran: the effect happened, the answer was lost (the call log says so)', async () => {
    await sim.control.resetCalls();
    await sim.control.setHttpFaults({
      rules: [{ kind: 'reset', methods: ['CreateKeyProviderKmip'], phase: 'after', remaining: 1 }],
    });
    const client = clientFor(sim);
    const err: unknown = await client.call('CreateKeyProviderKmip', { keyProviderName: 'lost-answer' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ElementTransportError);
    const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip');
    expect(kmipKeyProviders.filter((p) => p.keyProviderName === 'lost-answer')).toHaveLength(1);
    const [logged] = await sim.control.calls({ method: 'CreateKeyProviderKmip' });
    expect(logged).toMatchObject({ outcome: 'injected', executed: true, injected: { kind: 'reset', phase: 'after' } });
    await client.close();
  });

  test('a timeout holds the request until the client gives up', async () => {
    await sim.control.setHttpFaults({ rules: [{ kind: 'timeout', remaining: 1 }] });
    const client = clientFor(sim, { responseTimeoutMs: 300 });
    const err: unknown = await client.call('GetClusterInfo').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ElementTransportError);
    expect((err as ElementTransportError).timeout).toBe(true);
    await client.close();
  });

  test('an injected Element error answers that error', async () => {
    await sim.control.setHttpFaults({
      rules: [{ kind: 'error', error: { name: 'xNotPrimary', message: 'try again' }, remaining: 1 }],
    });
    expect(rpcError(await rawCall(sim, 'GetAPI'))).toEqual({ code: 500, name: 'xNotPrimary', message: 'try again' });
  });
});

test('HTTPS: the certificate verifies against the simulator CA, and not without it', async () => {
  expect(sim.url.startsWith('https://')).toBe(true);
  const strict = new Agent();
  try {
    await expect(request(`${sim.url}/json-rpc/12.3`, { method: 'POST', dispatcher: strict, body: '{}' })).rejects.toThrow();
  } finally {
    await strict.close();
  }
  expect((await rawCall(sim, 'GetAPI')).status).toBe(200);
});
