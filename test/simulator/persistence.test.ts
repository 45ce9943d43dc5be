/**
 * State survives the simulator: atomic 0600 state file, a damaged state file refused; plus the
 * command line and durations. The simulator runs in process; nothing else is needed.
 * persistence.integration.test.ts has the restarts in the middle of a rekey (keys on the real
 * KMIP server, and a simulator process killed with SIGKILL).
 */
import fs from 'node:fs';
import path from 'node:path';
import { startSimulator } from '../../tools/simulator';
import { parseSimulatorArgs, SimulatorUsageError } from '../../tools/simulator/main';
import { StateFileError } from '../../tools/simulator/state';
import { ADMIN, clientFor, FAST, scratchDir, startTestSimulator } from './support';

test('the state file is written atomically with mode 0600 and holds the private key; no temporary files are left', async () => {
  const sim = await startTestSimulator('persist-file');
  const client = clientFor(sim);
  await client.call('CreatePublicPrivateKeyPair', { commonName: 'file-check' });
  await client.call('CreateKeyProviderKmip', { keyProviderName: 'p1' });
  await client.close();
  await sim.stop();
  const stat = fs.statSync(sim.stateFile);
  expect(stat.mode & 0o777).toBe(0o600);
  const state = JSON.parse(fs.readFileSync(sim.stateFile, 'utf8')) as {
    keyPair: { privateKeyPem: string };
    keyProviders: { keyProviderName: string }[];
  };
  expect(state.keyPair.privateKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
  expect(state.keyProviders.map((p) => p.keyProviderName)).toEqual(['p1']);
  expect(fs.readdirSync(path.dirname(sim.stateFile)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  // A temporary file a crash left behind is cleaned up at the next start; the state is intact.
  const torn = path.join(path.dirname(sim.stateFile), `.${path.basename(sim.stateFile)}.999.1.tmp`);
  fs.writeFileSync(torn, '{"torn":');
  const again = await startSimulator({ stateFile: sim.stateFile, admin: ADMIN });
  expect(again.created).toBe(false);
  expect(fs.existsSync(torn)).toBe(false);
  await again.stop();
  // The call log never holds the private key or the admin password.
  const log = fs.readFileSync(sim.callLogFile!, 'utf8');
  expect(log).not.toContain('PRIVATE KEY');
  expect(log).not.toContain(ADMIN.password);
});

test('a damaged state file is refused with a message naming what is wrong', async () => {
  const dir = scratchDir('persist-bad');
  const file = path.join(dir, 'state.json');
  fs.writeFileSync(file, JSON.stringify({ schemaVersion: 2, cluster: { name: 5 } }));
  const err: unknown = await startSimulator({ stateFile: file, admin: ADMIN }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StateFileError);
  expect((err as Error).message).toContain('cluster.name');
  // A state file of an older simulator is refused as such, not as damaged.
  fs.writeFileSync(file, JSON.stringify({ schemaVersion: 1, cluster: { name: 'old' } }));
  await expect(startSimulator({ stateFile: file, admin: ADMIN })).rejects.toThrow(
    'holds a cluster of state schema 1; this simulator reads schema 2: start a new cluster with another state file (the demo: --fresh)',
  );
  fs.writeFileSync(file, '{"half": ');
  await expect(startSimulator({ stateFile: file, admin: ADMIN })).rejects.toThrow(/is not JSON/);
});

describe('command line', () => {
  test('flags become options; secret files are read, or generated with mode 0600', () => {
    const dir = scratchDir('persist-args');
    const state = path.join(dir, 'cluster.json');
    const parsed = parseSimulatorArgs([
      '--state',
      state,
      '--port',
      '9443',
      '--http',
      '--control-port',
      '9444',
      '--software-encryption',
      '--api-version',
      '12.2',
      '--rekey-ms',
      '250',
      '--slice-settle-ms',
      '1000',
      '--nodes',
      '5',
      '--cluster-name',
      'lab',
    ]);
    expect(parsed.options).toMatchObject({
      stateFile: state,
      port: 9443,
      http: true,
      controlPort: 9444,
      apiVersion: '12.2',
      cluster: { name: 'lab', softwareEncryptionAtRest: true, nodes: 5 },
      durations: { rekeyMs: 250, sliceSettleMs: 1000 },
      admin: { username: 'admin' },
    });
    expect(parsed.options.admin.password.length).toBeGreaterThanOrEqual(20);
    expect(fs.readFileSync(`${state}.admin-password`, 'utf8').trim()).toBe(parsed.options.admin.password);
    expect(fs.statSync(`${state}.admin-password`).mode & 0o777).toBe(0o600);
    expect(fs.statSync(`${state}.control-token`).mode & 0o777).toBe(0o600);
    // The same files are read next time.
    expect(parseSimulatorArgs(['--state', state]).options.admin.password).toBe(parsed.options.admin.password);
  });

  test('bad flags are usage errors; a named password file must exist', () => {
    const state = path.join(scratchDir('persist-badargs'), 'state.json');
    expect(() => parseSimulatorArgs(['--state', state, '--port', 'eighty'])).toThrow(SimulatorUsageError);
    expect(() => parseSimulatorArgs(['--state', state, '--bogus'])).toThrow(SimulatorUsageError);
    expect(() => parseSimulatorArgs(['--state', state, '--admin-password-file', '/nonexistent/pw'])).toThrow(/does not exist/);
  });
});

test('changing durations through the control API leaves the others as they were', async () => {
  const sim = await startTestSimulator('persist-durations');
  try {
    await sim.control.setDurations({ rekeyMs: 777 });
    expect(sim.durations.rekeyMs).toBe(777);
    expect(sim.durations.driveAddMs).toBe(FAST.driveAddMs);
    expect(sim.durations.tickMs).toBe(FAST.tickMs);
  } finally {
    await sim.stop();
  }
});

test('a port in use is named with the flag that chose it (the control API has its own port)', async () => {
  const first = await startTestSimulator('ports-first');
  try {
    const controlPort = Number(new URL(first.controlUrl).port);
    const dir = scratchDir('ports-second');
    const err: unknown = await startSimulator({
      stateFile: path.join(dir, 'state.json'),
      admin: ADMIN,
      port: 0,
      controlPort,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`--control-port: ${controlPort} is in use (choose another port, or 0 for any free one)`);
    const rpcPort = Number(new URL(first.url).port);
    const again: unknown = await startSimulator({ stateFile: path.join(dir, 'state.json'), admin: ADMIN, port: rpcPort }).catch(
      (e: unknown) => e,
    );
    expect((again as Error).message).toBe(`--port: ${rpcPort} is in use (choose another port, or 0 for any free one)`);
  } finally {
    await first.stop();
  }
});
