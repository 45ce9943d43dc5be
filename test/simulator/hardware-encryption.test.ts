/**
 * Hardware encryption at rest on the simulator, in process and without a KMIP server: a cluster
 * created with it on the cluster's internal key (what `setup --replace-internal-key` starts from),
 * its transitions enabled → disabling → disabled → enabling → enabled, the control API's enable
 * failure (EnableEncryptionAtRest with a keyProviderID fails N times or until cleared; internal
 * keys are not affected) and an HTTP fault rule that lets the first matching requests through
 * (`skip`). The move to an external provider, which needs a KMIP server, is exercised by the
 * runbook's tests (test/runbooks/setup-replace-internal-key.test.ts).
 */
import { ElementApiError, type ElementClient } from '../../src/element';
import { NO_KEY_ID, type RunningSimulator } from '../../tools/simulator';
import { parseSimulatorArgs } from '../../tools/simulator/main';
import { clientFor, scratchDir, startTestSimulator, waitFor } from './support';

let sim: RunningSimulator;
let client: ElementClient;

async function apiError(promise: Promise<unknown>): Promise<ElementApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ElementApiError)) throw new Error(`expected an ElementApiError, got ${String(err)}`);
  return err;
}

const earState = async () => (await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState;
const activeDrives = async () => (await client.call('ListDrives')).drives.filter((d) => d.status === 'active');

beforeAll(async () => {
  sim = await startTestSimulator('hw-ear', { cluster: { hardwareEncryptionAtRest: 'internal' } });
  client = clientFor(sim);
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
});

test('created with hardware encryption on its internal key: enabled, drives under one key, no provider', async () => {
  expect(await earState()).toBe('enabled');
  const drives = await activeDrives();
  expect(drives.length).toBeGreaterThan(0);
  expect(new Set(drives.map((d) => d.keyID)).size).toBe(1);
  expect(drives[0]!.keyID).not.toBe(NO_KEY_ID);
  expect(drives.every((d) => d.keyProviderID === 0)).toBe(true);
  expect((await client.call('ListKeyProvidersKmip', {})).kmipKeyProviders).toEqual([]);
});

test('an enable failure for a provider: N calls fail and change nothing; internal keys are not affected; until cleared', async () => {
  // Enabled: the state is checked first, so the injection is not consumed.
  expect((await apiError(client.call('EnableEncryptionAtRest', { keyProviderID: 4242 }))).name).toBe(
    'xEncryptionAtRestAlreadyEnabled',
  );
  expect(await client.call('DisableEncryptionAtRest')).toEqual({});
  expect(await earState()).toBe('disabling');
  await waitFor('disabled', async () => (await earState()) === 'disabled');
  expect((await activeDrives()).every((d) => d.keyID === NO_KEY_ID && d.keyProviderID === 0)).toBe(true);

  await sim.control.failEnableWithProvider({ remaining: 2, error: { name: 'xKmipServerError', message: 'key creation refused' } });
  for (let i = 0; i < 2; i++) {
    const err = await apiError(client.call('EnableEncryptionAtRest', { keyProviderID: 4242 }));
    expect([err.name, err.message]).toEqual(['xKmipServerError', 'EnableEncryptionAtRest: key creation refused']);
    expect(await earState()).toBe('disabled');
  }
  // Used up: the call goes on to the provider (which does not exist here).
  expect((await apiError(client.call('EnableEncryptionAtRest', { keyProviderID: 4242 }))).name).toBe(
    'xKeyProviderIDDoesNotExist',
  );

  await sim.control.failEnableWithProvider();
  for (let i = 0; i < 3; i++) {
    expect((await apiError(client.call('EnableEncryptionAtRest', { keyProviderID: 4242 }))).name).toBe('xKmipConnectionFailure');
  }
  expect((await sim.control.state()).injection.enableFailure).toEqual({
    remaining: null,
    error: { name: 'xKmipConnectionFailure', message: expect.any(String) },
  });
  // The cluster's internal key: not affected by it.
  expect(await client.call('EnableEncryptionAtRest')).toEqual({});
  expect(await earState()).toBe('enabling');
  await waitFor('enabled', async () => (await earState()) === 'enabled');
  const drives = await activeDrives();
  expect(drives[0]!.keyID).not.toBe(NO_KEY_ID);
  expect(drives.every((d) => d.keyProviderID === 0)).toBe(true);

  await sim.control.clearEnableFailure();
  expect((await sim.control.state()).injection.enableFailure).toBeNull();
});

test('an HTTP fault rule with skip lets that many matching requests through first', async () => {
  await sim.control.setHttpFaults({
    rules: [{ kind: 'error', methods: ['GetAPI'], skip: 2, remaining: 1, error: { name: 'xInjected', message: 'third' } }],
  });
  await client.call('GetAPI');
  await client.call('GetClusterInfo'); // another method: not counted
  await client.call('GetAPI');
  expect((await apiError(client.call('GetAPI'))).name).toBe('xInjected');
  await client.call('GetAPI');
  expect((await sim.control.state()).injection.rules).toEqual([]);
});

test('--hardware-ear-internal creates the simulator process cluster that way', () => {
  const parsed = parseSimulatorArgs(['--state', `${scratchDir('hw-ear-args')}/state.json`, '--hardware-ear-internal']);
  expect(parsed.options.cluster?.hardwareEncryptionAtRest).toBe('internal');
});
