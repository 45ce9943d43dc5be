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
import { fleetStatusQuery, fleetWorkflowId, methodEffectOf, progressQuery, type FleetResult } from '../../workflows/contract';
import type { FleetStatusJson } from '../../src/cli/fleet-json';
import { fleetRunbook } from '../../workflows/fleet';
import { runCli } from '../support/cli';
import { startRunbook } from '../support/start';
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
/** Renewed by a fleet (one of them held by a rekey's lock first). */
const renewNames = rekeyNames.slice(2, 5);
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

/** Each cluster's rekey calls (since `sinceMs`) as [first, last] call times (ms): when its runbook worked on it. */
async function rekeySpans(names: string[], sinceMs = 0): Promise<[number, number][]> {
  const spans: [number, number][] = [];
  for (const name of names) {
    const calls = (await fleet.member(name).sim.control.calls()).filter((c) => Date.parse(c.time) >= sinceMs);
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
    await configureEkmByHand(adminClient(fleet.member(name)), {
      commonName: `${name}.example.test`,
      // The fleet renewal's clusters: a certificate the cfssl one (a year) outlasts, not yet expiring (no fault).
      clientNotAfter: renewNames.includes(name) ? new Date(Date.now() + 200 * 86_400_000) : undefined,
    });
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
    expect(status.code).toBe(1); // ended, not every cluster done
    expect(status.stdout).toContain('; stopped: error budget;'); // the fleet's own outcome, as fleet list says it
    expect(status.stdout).toContain('rekey on 9 clusters');
    // The list says how the fleet ended, not Temporal's COMPLETED.
    const list = await runCli(['fleet', 'list', '--all'], env);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^FLEET +OUTCOME +CLUSTERS +STARTED +ENDED$/);
    const row = list.stdout.split('\n').filter((l) => l.startsWith(`${output.workflowId} `));
    expect(row).toHaveLength(1);
    expect(row[0]).toMatch(/ stopped: error budget +1 done, 1 failed, 7 not started of 9 /);
    expect(status.stdout).toMatch(/done 1 \/ running 0 \/ waiting for a person 0 \/ failed 1 \/ not started 7/);

    const resumed = await runCli(
      ['fleet', 'resume', output.workflowId, '--max-errors', '1', '--max-concurrency', '4', '--wait'],
      env,
    );
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(1); // the fleet holds a failed cluster (the one before the resume)
    expect(resumed.stdout).toContain('7 clusters not started yet');
    // --wait ends with the fleet's final table and outcome, not with the last summary seen while it ran.
    const tail = resumed.stdout.trim().split('\n');
    expect(tail.pop()).toBe('the fleet ended: ended: 1 failed');
    expect(tail.find((l) => l.startsWith(`${permanent} `))).toMatch(/ failed +KeyProviderNotFound: /);
    expect(tail).toContain('done 8 / running 0 / waiting for a person 0 / failed 1 / not started 0  [####################] 100%');
    // Its id is taken, also now that it ended: a new fleet under it would hide this one.
    const again = await runCli(['fleet', 'rekey', '--clusters', permanent, '--id', id], env);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(`--id: fleet ${output.workflowId} already exists`);
    // Resumed: one row still (its latest run), now ended with the failure from before the resume.
    const relisted = (await runCli(['fleet', 'list', '--all'], env)).stdout
      .split('\n')
      .filter((l) => l.startsWith(`${output.workflowId} `));
    expect(relisted).toHaveLength(1);
    expect(relisted[0]).toMatch(/ ended: 1 failed +8 done, 1 failed of 9 /);
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
    // Temporal was asked too (no run to attach to, no lock held): nothing it could not look at.
    expect(plan.stdout).not.toContain('not checked');
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
        '{cluster}.example.test',
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
    // One subject per cluster ({cluster} in --cn): each cluster its own KMIP client identity.
    for (const name of setupNames)
      expect(new x509.Pkcs10CertificateRequest(fs.readFileSync(path.join(csrDir, `${name}.csr`), 'utf8')).subject).toContain(
        `CN=${name}.example.test`,
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
  it('--max-concurrency 50% over 4 clusters runs 2 at once, never more; fleet status --watch ends with the fleet and says so', async () => {
    const names = rekeyNames.slice(8, 12);
    const rekeyResults = async (name: string) =>
      (await fleet.member(name).sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).filter(
        (c) => c.outcome === 'result',
      ).length;
    const before = await Promise.all(names.map(rekeyResults));
    // Long enough that the two runs of a wave overlap even on a loaded machine.
    for (const name of names) await fleet.member(name).sim.control.setDurations({ rekeyMs: 3000 });
    const since = Date.now();
    try {
      const id = `half-${tag}`;
      const started = await runCli(
        ['fleet', 'rekey', '--clusters', names.join(','), '--max-concurrency', '50%', '--id', id, '--json'],
        env,
      );
      expect(started.stderr).toBe('');
      expect(JSON.parse(started.stdout)).toMatchObject({ maxConcurrency: 2, maxErrors: 0 });
      const workflowId = fleetWorkflowId('rekey', id);
      const watch = await runCli(['fleet', 'status', workflowId, '--watch', '--timeout', '120s'], env, 150_000);
      expect(watch.stderr).toBe('');
      expect(watch.code).toBe(0);
      expect(watch.stdout.trim().split('\n').pop()).toBe('watch ended: the fleet ended: done');
      for (const [i, name] of names.entries()) expect([name, await rekeyResults(name)]).toEqual([name, before[i]! + 1]);
      const spans = await rekeySpans(names, since);
      expect(spans).toHaveLength(4);
      expect(mostAtOnce(spans)).toBe(2);
    } finally {
      for (const name of names) await fleet.member(name).sim.control.setDurations({ rekeyMs: 1000 });
    }
  }, 180_000);

  it('fleet renew with --if-busy wait: a cluster held by a rekey waits for its lock, then renews; each cluster renewed once; --watch stops at --timeout', async () => {
    const names = renewNames;
    const held = names[1]!;
    const modifies = async (name: string) =>
      (await fleet.member(name).sim.control.calls({ method: 'ModifyKeyServerKmip' })).filter((c) => c.outcome === 'result');
    const before = await Promise.all(names.map(async (n) => (await modifies(n)).length));
    // Another runbook holds the cluster: a rekey whose job the cluster does not report while
    // GetAsyncResult answers 503 (it keeps polling, holding the lock, until the faults are cleared).
    await fleet.member(held).sim.control.setHttpFaults({
      rules: [{ kind: 'http5xx', methods: ['GetAsyncResult'], remaining: 100_000 }],
    });
    let holder: Awaited<ReturnType<typeof startRunbook<'rekey'>>> | undefined;
    try {
      const since = Date.now();
      holder = await startRunbook(
        temporal.client,
        'rekey',
        { cluster: held, keyManagement: 'external', polling: { initialInterval: 300, maxInterval: 1000 } },
        { taskQueue },
      );
      await eventually(
        async () => {
          const polls = await fleet.member(held).sim.control.calls({ method: 'GetAsyncResult' });
          expect(polls.filter((c) => Date.parse(c.time) >= since && c.outcome === 'injected').length).toBeGreaterThan(0);
        },
        30_000,
        200,
      );
      const inputFile = path.join(dir, 'fleet-renew.yaml');
      fs.writeFileSync(inputFile, 'faultPollInterval: 100ms\nresolveWindow: 30s\n');
      const id = `renew-${tag}`;
      const started = await runCli(
        [
          'fleet',
          'renew',
          '--clusters',
          names.join(','),
          '--max-concurrency',
          '100%',
          '--id',
          id,
          '--if-busy',
          'wait',
          '--cfssl-url',
          testEnv().cfssl.url,
          '--test-attempts',
          '2',
          '--test-interval',
          '200ms',
          '--input',
          inputFile,
        ],
        env,
      );
      expect(started.stderr).toBe('');
      expect(started.code).toBe(0);
      const workflowId = fleetWorkflowId('renew', id);
      // The held cluster's renewal waits for the lock (a person is not needed: it is the lock it waits for).
      await eventually(
        async () => {
          const view = JSON.parse((await runCli(['fleet', 'status', workflowId, '--json'], env)).stdout) as {
            children: { cluster: string; waitingFor?: string }[];
          };
          expect(view.children.find((c) => c.cluster === held)?.waitingFor).toMatch(/^cluster-lock: /);
        },
        30_000,
        300,
      );
      // A watch bounded by --timeout stops before the fleet ends, and says so (exit 6: not ended).
      const short = await runCli(['fleet', 'status', workflowId, '--watch', '--timeout', '6s'], env);
      expect(short.stderr).toBe('');
      expect(short.code).toBe(6);
      expect(short.stdout.trim().split('\n').pop()).toMatch(/^watch ended: --timeout 6s reached; the fleet is still running/);
      expect((await temporal.client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');

      // The rekey ends and lets go of the lock: the waiting renewal runs.
      await fleet.member(held).sim.control.clearHttpFaults();
      await holder.result();

      const result = (await temporal.client.workflow.getHandle(workflowId).result()) as FleetResult;
      expect(result.status.clusters.map((c) => [c.cluster, c.state])).toEqual(names.map((n) => [n, 'completed']));
      for (const [i, name] of names.entries()) expect([name, (await modifies(name)).length]).toEqual([name, before[i]! + 1]);
      // The held cluster was renewed only after the rekey that held it had ended.
      const [[, rekeyEnd]] = (await rekeySpans([held], since)) as [[number, number]];
      const heldModify = (await modifies(held)).at(-1)!;
      expect(Date.parse(heldModify.time)).toBeGreaterThan(rekeyEnd);
      const status = await runCli(['fleet', 'status', workflowId], env);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain('renew on 3 clusters');
    } finally {
      await fleet.member(held).sim.control.clearHttpFaults();
      await holder?.result().catch(() => undefined);
    }
  }, 180_000);
  it('fleet recover kmip over 3 clusters: the one with kmipServerFault is diagnosed, waits for the fix and recovers; the others end at once saying so; nothing mutating is called', async () => {
    const names = rekeyNames.slice(9, 12);
    const faulted = names[1]!;
    const member = fleet.member(faulted);
    const kmipHost = testEnv().kmip.host;
    // A master key on the key server (a rekey), so that a restart must fetch it; then the restart
    // with the key server unreachable raises kmipServerFault.
    expect((await runCli(['rekey', faulted, '--wait'], env)).code).toBe(0);
    const lastSeq = async (name: string) => (await fleet.member(name).sim.control.calls()).at(-1)?.seq ?? 0;
    const since = await Promise.all(names.map(lastSeq));
    const callsSince = async (name: string) => fleet.member(name).sim.control.calls({ afterSeq: since[names.indexOf(name)] });
    await member.sim.control.makeUnreachable(kmipHost);
    try {
      await member.sim.control.restartCluster();
      const line = (out: string, name: string) => out.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
      const plan = await eventually(async () => {
        const p = await runCli(['fleet', 'recover', 'kmip', '--clusters', names.join(','), '--plan'], env);
        expect(line(p.stdout, faulted)).toMatch(/ would run +run confirm, run find-servers, run diagnose/);
        return p;
      }, 30_000);
      expect(plan.code).toBe(0);
      for (const name of names.filter((n) => n !== faulted))
        expect(line(plan.stdout, name)).toMatch(
          new RegExp(` nothing to do +no current kmipServerFault on ${name}: the run ends at once, saying so$`),
        );

      const id = `recover-${tag}`;
      const started = await runCli(
        ['fleet', 'recover', 'kmip', '--clusters', names.join(','), '--max-concurrency', '3', '--id', id],
        env,
      );
      expect(started.code).toBe(0);
      const workflowId = fleetWorkflowId('recover-kmip-server-fault', id);
      await eventually(
        async () => {
          const view = JSON.parse((await runCli(['fleet', 'status', workflowId, '--json'], env)).stdout) as FleetStatusJson;
          expect(view.summary).toMatchObject({ done: 2, waitingForPerson: 1, running: 0, failed: 0 });
          expect(view.summary.etaMs).toBeUndefined(); // only a person's answer is left: no estimate
          expect(view.children).toEqual([
            expect.objectContaining({
              cluster: faulted,
              step: 'wait-for-fix',
              waitingFor: expect.stringContaining('unreachable'),
            }),
          ]);
        },
        60_000,
        500,
      );
      // The clusters without the fault: their runs ended at once, saying so, having only listed the faults.
      for (const name of names.filter((n) => n !== faulted)) {
        const result = (await temporal.client.workflow.getHandle(`ekm-recover-kmip-${name}`).result()) as { outcome: string };
        expect([name, result.outcome]).toEqual([name, 'no-fault']);
        const progress = await temporal.client.workflow.getHandle(`ekm-recover-kmip-${name}`).query(progressQuery.definition);
        expect(progress.notes.join('\n')).toContain(`no current kmipServerFault on ${name}: nothing to do`);
        expect([name, [...new Set((await callsSince(name)).map((c) => c.method))]]).toEqual([name, ['ListClusterFaults']]);
      }

      await member.sim.control.makeReachable(kmipHost);
      const answered = await runCli(['answer', `ekm-recover-kmip-${faulted}`, 'fixed'], env);
      expect(answered.code).toBe(0);
      const watch = await runCli(['fleet', 'status', workflowId, '--watch', '--timeout', '90s'], env, 120_000);
      expect(watch.code).toBe(0);
      expect(watch.stdout.trim().split('\n').pop()).toBe('watch ended: the fleet ended: done');
      const recovered = (await temporal.client.workflow.getHandle(`ekm-recover-kmip-${faulted}`).result()) as {
        outcome: string;
        diagnosis?: { servers: unknown[] };
      };
      expect(recovered.outcome).toBe('recovered');
      // The fleet keeps each run's own outcome: the status tells a recovered cluster from one with no fault.
      const final = JSON.parse((await runCli(['fleet', 'status', workflowId, '--json'], env)).stdout) as FleetStatusJson;
      expect(final.status.clusters.map((c) => [c.cluster, c.state, c.outcome])).toEqual(
        names.map((n) => [n, 'completed', n === faulted ? 'recovered' : 'no-fault']),
      );
      const table = (await runCli(['fleet', 'status', workflowId], env)).stdout;
      expect(line(table, names[0]!)).toMatch(/ completed +no-fault: the fault was not current, nothing to do$/);
      expect(line(table, faulted)).toMatch(/ completed +recovered$/);
      expect(recovered.diagnosis?.servers.length).toBeGreaterThan(0);
      // Reads and key server tests only, on every cluster: the runbook never changes anything.
      for (const name of names) {
        const calls = await callsSince(name);
        expect(calls.length).toBeGreaterThan(0);
        expect([name, calls.filter((c) => methodEffectOf(c.method ?? '') === 'change').map((c) => c.method)]).toEqual([name, []]);
      }
      expect((await callsSince(faulted)).some((c) => c.method === 'TestKeyServerKmip')).toBe(true);
    } finally {
      await member.sim.control.makeReachable(kmipHost);
    }
  }, 180_000);
});
