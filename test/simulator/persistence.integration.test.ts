/**
 * State survives the simulator, against the real KMIP server: restart in the middle of a rekey (in
 * process, and a real process killed with SIGKILL), jobs progressing by wall clock while it was
 * down, a key created before a crash found again rather than duplicated. The rest of the
 * persistence tests need no server: persistence.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ElementClient, RekeyMasterKeyAsyncResult } from '../../src/element';
import type { CertificateAuthority } from '../../src/pki/authority';
import { kmipKeyIdAttribute, SimulatorControlClient, startSimulator, type RunningSimulator } from '../../tools/simulator';
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

/** The cluster's keys on the KMIP server with this keyID (its x-SolidFire-KeyID-<keyID> attribute). */
async function keysTagged(cn: string, keyID: string): Promise<string[]> {
  const { name, value } = kmipKeyIdAttribute(keyID);
  return asIdentity(ca, testEnv().kmip, cn, (session) => session.locateByCustomAttribute(name, value));
}

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
    expect(await keysTagged(cn, newKey.keyID!)).toHaveLength(1);
    // The call log survived the restart too.
    expect(await second.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).toHaveLength(1);
    await client2.close();
  } finally {
    await second.stop();
  }
});

test('a key created on the KMIP server just before a crash is found again by its x-SolidFire-KeyID attribute, not created twice', async () => {
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
  // What a crash between the KMIP Create and the state write leaves behind: a key tagged with the job's keyID.
  const state = JSON.parse(fs.readFileSync(first.stateFile, 'utf8')) as {
    asyncResults: { asyncResultID: number; job: { newKeyID: string; newKey?: unknown } }[];
  };
  const job = state.asyncResults.find((r) => r.asyncResultID === asyncHandle)!.job;
  expect(job.newKey).toBeUndefined();
  const { name, value } = kmipKeyIdAttribute(job.newKeyID);
  const orphan = await asIdentity(ca, testEnv().kmip, cn, (session) =>
    session.createSymmetricKey({ customAttributes: { [name]: value } }),
  );

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
    expect(await keysTagged(cn, job.newKeyID)).toEqual([orphan]);
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
      expect(await keysTagged(cn, newKey.keyID!)).toHaveLength(1);
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
