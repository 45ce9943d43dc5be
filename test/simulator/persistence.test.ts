/**
 * State survives the simulator: atomic 0600 state file, restart in the middle of a rekey (in
 * process, and a real process killed with SIGKILL), jobs progressing by wall clock while it was
 * down, a key created before a crash found again rather than duplicated; plus the command line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ElementClient, RekeyMasterKeyAsyncResult } from '../../src/element';
import type { CertificateAuthority } from '../../src/pki/authority';
import { kmipKeyName, SimulatorControlClient, startSimulator, type RunningSimulator } from '../../tools/simulator';
import { parseSimulatorArgs, SimulatorUsageError } from '../../tools/simulator/main';
import { StateFileError } from '../../tools/simulator/state';
import { testEnv } from '../support/test-env';
import {
  ADMIN,
  asIdentity,
  clientFor,
  FAST,
  kmipTestCa,
  scratchDir,
  setUpExternalKeyManagement,
  signCsrWith,
  startTestSimulator,
  uniqueCn,
  waitFor,
  waitForAsync,
} from './support';

let ca: CertificateAuthority;

beforeAll(async () => {
  ca = await kmipTestCa();
});

async function prepareExternalSear(sim: RunningSimulator, cn: string): Promise<{ client: ElementClient; keyProviderID: number }> {
  const client = clientFor(sim);
  const kmip = testEnv().kmip;
  const { keyProviderID } = await setUpExternalKeyManagement(client, {
    commonName: cn,
    sign: (csr) => signCsrWith(ca, csr),
    kmipCaPem: kmip.caPem,
    hostnames: ['127.0.0.1'],
    port: kmip.port,
  });
  return { client, keyProviderID };
}

async function keysNamed(cn: string, name: string): Promise<string[]> {
  return asIdentity(ca, testEnv().kmip, cn, (session) => session.locateByName(name));
}

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

test('restart in the middle of a rekey: same cluster, same handle, the job continues by wall clock and completes; one new key', async () => {
  const cn = uniqueCn('sim-persist');
  const first = await startTestSimulator('persist-rekey', {
    cluster: { softwareEncryptionAtRest: true },
    durations: { rekeyMs: 1_500 },
  });
  const { client, keyProviderID } = await prepareExternalSear(first, cn);
  const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey', {
    keyManagementType: 'External',
    keyProviderID,
  });
  await waitFor('new key created', async () => {
    const r = await client.call('GetAsyncResult', { asyncHandle, keepResult: true });
    return r.status === 'running' && r.details.newKey !== undefined ? r : undefined;
  });
  await client.close();
  await first.stop();
  const stoppedAt = Date.now();

  // Down for a while: the job's clock keeps running.
  await new Promise((r) => setTimeout(r, 1_600));
  const second = await startSimulator({ stateFile: first.stateFile, admin: ADMIN, durations: { ...FAST, rekeyMs: 1_500 } });
  try {
    expect(second.created).toBe(false);
    expect(second.clusterUuid).toBe(first.clusterUuid);
    const client2 = clientFor(second);
    const result = await client2.call('GetAsyncResult', { asyncHandle, keepResult: true });
    // More than the whole duration passed while it was down: complete on the first look.
    expect(result.status).toBe('complete');
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    if (result.status !== 'complete' || result.error) throw new Error('rekey failed');
    const newKey = RekeyMasterKeyAsyncResult.parse(result.result).newKey;
    expect(newKey).toMatchObject({ keyManagementType: 'external', keyProviderID });
    expect((await client2.call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo?.keyID).toBe(newKey.keyID);
    expect(await keysNamed(cn, kmipKeyName(second.clusterUuid, newKey.keyID!))).toHaveLength(1);
    // The call log survived the restart too.
    expect(await second.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).toHaveLength(1);
    await client2.close();
  } finally {
    await second.stop();
  }
});

test('a key created on the KMIP server just before a crash is found again by name, not created twice', async () => {
  const cn = uniqueCn('sim-crash');
  // CreateNewMasterKey starts at 10% of the job: 400 ms, time enough to stop before it.
  const first = await startTestSimulator('persist-crash', {
    cluster: { softwareEncryptionAtRest: true },
    durations: { rekeyMs: 4_000 },
  });
  const { client, keyProviderID } = await prepareExternalSear(first, cn);
  const { asyncHandle } = await client.call('RekeySoftwareEncryptionAtRestMasterKey', {
    keyManagementType: 'External',
    keyProviderID,
  });
  await client.close();
  await first.stop();
  // What a crash between the KMIP Create and the state write leaves behind: a key with the job's name.
  const state = JSON.parse(fs.readFileSync(first.stateFile, 'utf8')) as {
    asyncResults: { asyncResultID: number; job: { newKeyID: string; newKey?: unknown } }[];
  };
  const job = state.asyncResults.find((r) => r.asyncResultID === asyncHandle)!.job;
  expect(job.newKey).toBeUndefined();
  const name = kmipKeyName(first.clusterUuid, job.newKeyID);
  const orphan = await asIdentity(ca, testEnv().kmip, cn, (session) => session.createSymmetricKey({ name }));

  const second = await startSimulator({ stateFile: first.stateFile, admin: ADMIN, durations: { ...FAST, rekeyMs: 300 } });
  try {
    const client2 = clientFor(second);
    // The job keeps the duration it started with (4 s, in the state): it is still running.
    const running = await client2.call('GetAsyncResult', { asyncHandle, keepResult: true });
    expect(running.status).toBe('running');
    await waitFor('new key adopted', async () => {
      const r = await client2.call('GetAsyncResult', { asyncHandle, keepResult: true });
      return r.status === 'running' && r.details.newKey !== undefined;
    });
    expect(await keysNamed(cn, name)).toEqual([orphan]);
    const snapshot = await second.control.state();
    const record = snapshot.asyncResults.find((r) => r.asyncResultID === asyncHandle)!;
    expect(record.job.kind === 'rekey' && record.job.newKey?.kmipUniqueIdentifier).toBe(orphan);
    await client2.close();
  } finally {
    await second.stop();
  }
});

describe('as its own process', () => {
  const children: ChildProcess[] = [];

  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  function launch(args: string[]): Promise<{ child: ChildProcess; endpoint: string; controlUrl: string }> {
    const main = path.resolve(__dirname, '../../dist/tools/simulator/main.js');
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(main)}).runSimulatorMain(process.argv.slice(1)).catch((e) => { console.error(e); process.exit(2); })`,
        '--',
        ...args,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const endpoint = /JSON-RPC:\s+(https:\/\/\S+)\/json-rpc\/\S+/.exec(out)?.[1];
        const controlUrl = /control:\s+(http:\/\/\S+)\/control/.exec(out)?.[1];
        if (endpoint && controlUrl) resolve({ child, endpoint, controlUrl });
      });
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.once('exit', (code) => reject(new Error(`simulator exited ${String(code)}: ${out}${err}`)));
    });
  }

  test('killed with SIGKILL in the middle of a rekey, started again: the rekey completes', async () => {
    const dir = scratchDir('persist-process');
    const stateFile = path.join(dir, 'state.json');
    const passwordFile = path.join(dir, 'admin-password');
    fs.writeFileSync(passwordFile, `${ADMIN.password}\n`, { mode: 0o600 });
    const args = [
      '--state',
      stateFile,
      '--port',
      '0',
      '--control-port',
      '0',
      '--admin-user',
      ADMIN.username,
      '--admin-password-file',
      passwordFile,
      '--software-encryption',
      '--rekey-ms',
      '1200',
      '--tick-ms',
      '20',
      '--quiet',
    ];
    const run1 = await launch(args);
    const caPem = fs.readFileSync(`${stateFile}.ca.pem`, 'utf8');
    const connect = (endpoint: string) =>
      new ElementClient({
        endpoint,
        apiVersion: '12.3',
        username: ADMIN.username,
        password: ADMIN.password,
        caPem,
        connectTimeoutMs: 5_000,
        responseTimeoutMs: 15_000,
      });
    const cn = uniqueCn('sim-process');
    const client1 = connect(run1.endpoint);
    const kmip = testEnv().kmip;
    const { keyProviderID } = await setUpExternalKeyManagement(client1, {
      commonName: cn,
      sign: (csr) => signCsrWith(ca, csr),
      kmipCaPem: kmip.caPem,
      hostnames: ['127.0.0.1'],
      port: kmip.port,
    });
    const { asyncHandle } = await client1.call('RekeySoftwareEncryptionAtRestMasterKey', {
      keyManagementType: 'External',
      keyProviderID,
    });
    await waitFor('rewrapping', async () => {
      const r = await client1.call('GetAsyncResult', { asyncHandle, keepResult: true });
      return r.status === 'running' && r.details.state === 'RewrapDataEncryptionKeys';
    });
    await client1.close();
    run1.child.kill('SIGKILL');
    await new Promise((r) => run1.child.once('exit', r));

    const run2 = await launch(args);
    const client2 = connect(run2.endpoint);
    try {
      const done = await waitForAsync(client2, asyncHandle);
      if (done.status !== 'complete' || done.error) throw new Error('rekey failed');
      const newKey = RekeyMasterKeyAsyncResult.parse(done.result).newKey;
      const token = fs.readFileSync(`${stateFile}.control-token`, 'utf8').trim();
      const control = new SimulatorControlClient(run2.controlUrl, token);
      const uuid = (await control.state()).cluster.uuid;
      expect(await keysNamed(cn, kmipKeyName(uuid, newKey.keyID!))).toHaveLength(1);
      expect((await client2.call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo?.keyID).toBe(newKey.keyID);
      // The generated control token file is private.
      expect(fs.statSync(`${stateFile}.control-token`).mode & 0o777).toBe(0o600);
    } finally {
      await client2.close();
      run2.child.kill('SIGTERM');
      await new Promise((r) => run2.child.once('exit', r));
    }
    // SIGTERM is a clean stop.
    expect(run2.child.exitCode).toBe(0);
  });
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
