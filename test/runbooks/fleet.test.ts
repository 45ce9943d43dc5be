import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadClusterRegistry } from '../../src/config/clusters';
import { ElementClient } from '../../src/element';
import { issueCertificate, loadCertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import { startTemporalDevServer } from '../../tools/devenv/temporal';
import { startSimulatorFleet, type FleetMember, type RunningFleet } from '../../tools/simulator/fleet';
import { fleetStatusQuery, fleetWorkflowId, methodEffectOf, type FleetResult } from '../../workflows/contract';
import { fleetRunbook } from '../../workflows/fleet';
import { runCli } from '../support/cli';
import { configureEkmByHand } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { testEnv } from '../support/test-env';
import { connectClient, spawnWorkerProcess, startInProcessWorker, uniqueTaskQueue } from '../support/worker';

/**
 * Fleet runs over simulated clusters served by one multi-cluster simulator: 12 for rekeys (one
 * without EKM: its rekey fails for good; one whose provider test fails twice first: a transient
 * failure), 3 for a setup signed by hand in one batch.
 */
const tag = (Date.now() % 100000).toString(36);
const rekeyNames = Array.from({ length: 12 }, (_, i) => `fl${tag}-${String(i + 1).padStart(2, '0')}`);
const permanent = rekeyNames[1]!; // no key provider: KeyProviderNotFound
const transient = rekeyNames[6]!; // TestKeyProviderKmip answers 503 twice, then works
const setupNames = [1, 2, 3].map((i) => `fs${tag}-${i}`);
/** The rekey's own knobs, short: a killed worker's activity is retried within seconds. */
const REKEY_INPUT = { polling: { initialInterval: 300, maxInterval: 1000, attemptWindow: 20_000 }, activityTimeout: '15s' };

let dir: string;
let fleet: RunningFleet;
let clustersFile: string;

function adminClient(m: FleetMember): ElementClient {
  return new ElementClient({
    endpoint: m.sim.url,
    apiVersion: m.sim.apiVersion,
    username: 'admin',
    password: m.password,
    caPem: fleet.caPem,
    connectTimeoutMs: 5000,
    responseTimeoutMs: 30_000,
  });
}

/** Each cluster's rekey calls as [first, last] call times (ms): when its runbook worked on it. */
async function rekeySpans(names: string[]): Promise<[number, number][]> {
  const spans: [number, number][] = [];
  for (const name of names) {
    const calls = await fleet.member(name).sim.control.calls();
    const rekeys = calls.filter((c) => c.method === 'RekeySoftwareEncryptionAtRestMasterKey');
    if (rekeys.length === 0) continue;
    const start = Date.parse(rekeys[0]!.time);
    const end = Math.max(...calls.filter((c) => c.method === 'GetAsyncResult').map((c) => Date.parse(c.time)));
    spans.push([start, end]);
  }
  return spans;
}

function mostAtOnce(spans: [number, number][]): number {
  const events = spans.flatMap(([s, e]) => [
    [s, 1],
    [e, -1],
  ]);
  events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let now = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, (now += d!));
  return most;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-fleet-'));
  fleet = await startSimulatorFleet({
    dir: path.join(dir, 'sim'),
    clusters: [
      ...rekeyNames.map((name, i) => ({ name, labels: { site: i % 2 ? 'ams' : 'fra', env: 'prod' } })),
      ...setupNames.map((name) => ({ name, labels: { env: 'lab' }, softwareEncryption: false })),
    ],
    durations: { rekeyMs: 1000, tickMs: 50, faultRefreshMs: 50 },
  });
  clustersFile = path.join(dir, 'clusters.yaml');
  fleet.writeClustersFile(clustersFile);
  for (const name of rekeyNames.filter((n) => n !== permanent))
    await configureEkmByHand(adminClient(fleet.member(name)), { commonName: `${name}.example.test` });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  if (!process.env.EKM_KEEP_TEST_DIR) fs.rmSync(dir, { recursive: true, force: true });
});

it('rekeys 12 clusters 3 at a time through a worker SIGKILL, a Temporal restart and continue-as-new; only the permanent failure counts', async () => {
  await fleet.member(transient).sim.control.setHttpFaults({
    rules: [{ kind: 'http5xx', methods: ['TestKeyProviderKmip'], remaining: 2 }],
  });
  const server = await startTemporalDevServer({ dir: path.join(dir, 'temporal'), persist: true });
  const taskQueue = uniqueTaskQueue('fleet-crash');
  const spawn = () => spawnWorkerProcess({ taskQueue, clustersFile, logDir: path.join(dir, 'logs'), address: server.address });
  let worker = spawn();
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  try {
    const handle = await client.workflow.start(fleetRunbook, {
      workflowId: fleetWorkflowId('rekey', `crash-${tag}`),
      taskQueue,
      args: [
        {
          runbook: 'rekey',
          clusters: rekeyNames,
          selector: `--clusters 'fl${tag}-*'`,
          input: REKEY_INPUT,
          maxConcurrency: { count: 3 },
          maxErrors: { count: 2 },
          continueAsNewAfterEvents: 80,
          followEveryMs: 300,
        },
      ],
    });
    const ended = async (n: number) =>
      eventually(
        async () => {
          const status = await handle.query(fleetStatusQuery.definition);
          expect(status.clusters.filter((c) => c.state === 'completed' || c.state === 'failed').length).toBeGreaterThanOrEqual(n);
        },
        120_000,
        250,
      );
    await ended(2);
    await worker.kill();
    worker = spawn();
    await ended(6);
    await server.restart();
    const result = (await client.workflow.getHandle(handle.workflowId).result()) as FleetResult;

    expect(result.state).toBe('completed');
    expect(result.status.failed).toBe(1);
    expect(result.status.executions).toBeGreaterThan(1); // continued as new on the way
    const failed = result.status.clusters.filter((c) => c.state === 'failed');
    expect(failed.map((c) => [c.cluster, c.error?.name])).toEqual([[permanent, 'KeyProviderNotFound']]);
    expect(result.status.clusters.find((c) => c.cluster === transient)?.state).toBe('completed');
    // The transient failure really happened: two 503s on the provider test, then it passed.
    const tests = await fleet.member(transient).sim.control.calls({ method: 'TestKeyProviderKmip' });
    expect(tests.filter((c) => c.outcome === 'injected').length).toBe(2);
    // Every cluster rekeyed exactly once, never more than 3 at once.
    for (const name of rekeyNames) {
      const rekeys = await fleet.member(name).sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' });
      expect([name, rekeys.filter((c) => c.outcome === 'result').length]).toEqual([name, name === permanent ? 0 : 1]);
    }
    const spans = await rekeySpans(rekeyNames);
    expect(spans).toHaveLength(11);
    expect(mostAtOnce(spans)).toBeLessThanOrEqual(3);
    expect(mostAtOnce(spans)).toBeGreaterThan(1); // it did run several at once
  } finally {
    await worker.stop();
    await connection.close();
    await server.stop();
  }
}, 300_000);

describe('through the CLI', () => {
  const taskQueue = uniqueTaskQueue('fleet-cli');
  let env: Record<string, string>;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: clustersFile };
    worker = await startInProcessWorker({ taskQueue, registry: loadClusterRegistry(clustersFile) });
    temporal = await connectClient();
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
  });

  it('a selector that matches nothing exits 2 naming it, and starts nothing', async () => {
    const none = await runCli(['fleet', 'rekey', '--clusters', 'nomatch-*'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--clusters 'nomatch-*' matches no cluster in");
    const label = await runCli(['fleet', 'rekey', '--label', 'site=nowhere'], env);
    expect(label.code).toBe(2);
    expect(label.stderr).toContain('--label site=nowhere matches no cluster');
    const bad = await runCli(['fleet', 'rekey', '--all', '--max-concurrency', '0'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ekm: --max-concurrency: "0"/);
  });

  it('--max-errors 0 stops the fleet at the first failure and lists what was not started; resume with a new budget starts the rest', async () => {
    const id = `budget-${tag}`;
    const rekeysOf = async (name: string) =>
      (await fleet.member(name).sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).length;
    const before = await Promise.all(rekeyNames.slice(2, 9).map(rekeysOf));
    // In name order, the second cluster (no provider) fails: with no failure tolerated, nothing after it starts.
    const stopped = await runCli(
      [
        'fleet',
        'rekey',
        '--clusters',
        `fl${tag}-0?`,
        '--max-concurrency',
        '1',
        '--max-errors',
        '0',
        '--id',
        id,
        '--wait',
        '--json',
      ],
      env,
    );
    expect(stopped.code).toBe(1);
    const output = JSON.parse(stopped.stdout) as { workflowId: string; result: FleetResult };
    expect(output.result.state).toBe('stopped-error-budget');
    expect(output.result.status.clusters.map((c) => c.state)).toEqual(['completed', 'failed', ...Array(7).fill('not-started')]);
    expect(output.result.notStarted).toEqual(rekeyNames.slice(2, 9));
    expect(await Promise.all(rekeyNames.slice(2, 9).map(rekeysOf))).toEqual(before); // none of them started

    const status = await runCli(['fleet', 'status', output.workflowId], env);
    expect(status.stdout).toContain('stopped-error-budget');
    expect(status.stdout).toMatch(/done 1 \/ running 0 \/ waiting for a person 0 \/ failed 1 \/ not started 7/);

    const resumed = await runCli(
      ['fleet', 'resume', output.workflowId, '--max-errors', '1', '--max-concurrency', '4', '--wait'],
      env,
    );
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(1); // the fleet holds a failed cluster (the one before the resume)
    expect(resumed.stdout).toContain('7 clusters not started yet');
    const after = await runCli(['fleet', 'status', output.workflowId, '--json'], env);
    const view = JSON.parse(after.stdout) as { summary: { done: number; failed: number; notStarted: number } };
    expect(view.summary).toMatchObject({ done: 8, failed: 1, notStarted: 0 });
  }, 180_000);

  it('a fleet plan reads every cluster and changes nothing: one line per cluster', async () => {
    const names = rekeyNames.slice(0, 4);
    const before = await Promise.all(names.map(async (n) => (await fleet.member(n).sim.control.calls()).length));
    const plan = await runCli(['fleet', 'rekey', '--clusters', names.join(','), '--plan', '--max-concurrency', '2'], env);
    expect(plan.code).toBe(4); // one cluster would refuse
    const line = (name: string) => plan.stdout.split('\n').find((l) => l.startsWith(name)) ?? '';
    expect(line(permanent)).toMatch(/would refuse +KeyProviderNotFound/);
    for (const name of names.filter((n) => n !== permanent)) expect(line(name)).toMatch(/would run +.*start/);
    for (const [i, name] of names.entries()) {
      const calls = (await fleet.member(name).sim.control.calls()).slice(before[i]);
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.filter((c) => methodEffectOf(c.method ?? '') !== 'read').map((c) => c.method)).toEqual([]);
    }
  });

  it('batch signing: every waiting CSR exported, one bad certificate refused, the others accepted', async () => {
    const kmip = testEnv().kmip;
    fs.writeFileSync(path.join(dir, 'kmip-ca.pem'), kmip.caPem);
    const id = `setup-${tag}`;
    const started = await runCli(
      [
        'fleet',
        'setup',
        '--label',
        'env=lab',
        '--max-concurrency',
        '100%',
        '--max-errors',
        '1',
        '--id',
        id,
        '--cn',
        'fleet.example.test',
        '--provider-name',
        'kmip-provider',
        '--server-name',
        'kmip-server',
        '--hostname',
        kmip.host,
        '--port',
        String(kmip.port),
        '--kmip-ca',
        path.join(dir, 'kmip-ca.pem'),
        '--mode',
        'none',
        '--test-attempts',
        '2',
        '--test-interval',
        '200ms',
      ],
      env,
    );
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(`fleet setup on 3 clusters (--label env=lab)`);
    const workflowId = fleetWorkflowId('setup', id);
    const csrDir = path.join(dir, 'csrs');
    await eventually(
      async () => {
        const csr = await runCli(['fleet', 'csr', workflowId, '--out', csrDir], env);
        expect(csr.stdout).toContain('3 CSRs written');
      },
      60_000,
      500,
    );
    // The CA team signs the batch; the second cluster gets the first one's certificate by mistake.
    const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
    const sign = async (name: string) => {
      const csr = new x509.Pkcs10CertificateRequest(fs.readFileSync(path.join(csrDir, `${name}.csr`), 'utf8'));
      return (await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] })).certificatePem;
    };
    const signedDir = path.join(dir, 'signed');
    fs.mkdirSync(signedDir);
    const first = await sign(setupNames[0]!);
    fs.writeFileSync(path.join(signedDir, `${setupNames[0]}.crt`), first);
    fs.writeFileSync(path.join(signedDir, `${setupNames[1]}.crt`), first);
    fs.writeFileSync(path.join(signedDir, `${setupNames[2]}.crt`), await sign(setupNames[2]!));
    const submitted = await runCli(['fleet', 'submit-certs', workflowId, signedDir, '--ca', path.join(dir, 'kmip-ca.pem')], env);
    expect(submitted.code).toBe(4);
    const line = (name: string) => submitted.stdout.split('\n').find((l) => l.startsWith(name)) ?? '';
    expect(line(setupNames[0]!)).toMatch(/ accepted /);
    expect(line(setupNames[2]!)).toMatch(/ accepted /);
    expect(line(setupNames[1]!)).toMatch(/ refused .*public key/i);
    expect(submitted.stdout).toContain('2 accepted, 1 refused');

    const handle = temporal.client.workflow.getHandle(workflowId);
    await eventually(
      async () => {
        const status = await handle.query(fleetStatusQuery.definition);
        expect(status.clusters.filter((c) => c.state === 'completed').map((c) => c.cluster)).toEqual([
          setupNames[0],
          setupNames[2],
        ]);
      },
      60_000,
      500,
    );
    const cancel = await runCli(['fleet', 'cancel', workflowId, '--cancel-running'], env);
    expect(cancel.code).toBe(0);
    const result = (await handle.result()) as FleetResult;
    expect(result.state).toBe('cancelled');
    expect(result.status.clusters.find((c) => c.cluster === setupNames[1])?.state).toBe('cancelled');
  }, 180_000);
});
