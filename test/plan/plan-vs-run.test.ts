/**
 * `--plan` against what the run then does, for every runbook (real Temporal, the simulator,
 * PyKMIP, cfssl): the plan comes from the CLI (`--plan --json`, checked against its schema), the
 * run from the same input; the steps the plan says will run are the steps the run did, in order
 * (a `maybe` step may or may not), the steps it says will be skipped were skipped, and the Element
 * methods that change the cluster are the ones the simulator's call log shows, in order. The plan
 * itself made only read calls (the call log between before and after it) and printed no secret.
 * Also: the readable output, exit 4 naming the refusal, exit 2 naming a bad flag.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { ClusterRegistry } from '../../src/config/clusters';
import {
  answerUpdate,
  progressQuery,
  workflowIds,
  readOnlyCall,
  runbookPlan,
  methodEffectOf,
  type RunbookPlan,
  type RunbookProgress,
} from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import type { RenewInput } from '../../workflows/inputs-renew';
import { runCli } from '../support/cli';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const DAY = 86_400_000;
const FAST_POLL = { initialInterval: 100, maxInterval: 300, attemptWindow: 10_000 };

describe('--plan compared with the run (real Temporal, simulator, PyKMIP, cfssl)', () => {
  const taskQueue = uniqueTaskQueue('plan');
  const registry: ClusterRegistry = { clusters: {}, signers: {} };
  const harnesses: ClusterHarness[] = [];
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async () => undefined } });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await Promise.all(harnesses.map((h) => h.stop()));
  });

  async function cluster(name: string, options: Parameters<typeof startClusterHarness>[1]): Promise<ClusterHarness> {
    const harness = await startClusterHarness(name, options);
    harnesses.push(harness);
    Object.assign(registry.clusters, harness.registry.clusters);
    return harness;
  }

  const lastSeq = async (h: ClusterHarness) => (await h.sim.control.calls()).at(-1)?.seq ?? 0;

  /** `ekm … --plan --json` with the cluster's clusters file; the calls it made, from the call log. */
  async function plan(h: ClusterHarness, args: string[], expectedCode = 0) {
    const before = await lastSeq(h);
    const cli = await runCli([...args, '--plan', '--json'], { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: h.clustersFile });
    if (cli.code !== expectedCode) throw new Error(`--plan exited ${cli.code}:\n${cli.stdout.slice(-3000)}\n${cli.stderr}`);
    expect(cli.stdout + cli.stderr).not.toContain(h.password);
    const document = runbookPlan.parse(JSON.parse(cli.stdout));
    const calls = await h.sim.control.calls({ afterSeq: before });
    // Nothing but reads, and they are the reads the plan says it made.
    expect(calls.filter((c) => !readOnlyCall(c.method ?? '', c.params)).map((c) => c.method)).toEqual([]);
    expect(calls.map((c) => c.method)).toEqual(document.readWith);
    return { document, afterPlan: await lastSeq(h) };
  }

  /** The plan's steps, the run's progress and the calls the run made: the same steps and the same changes, in order. */
  async function expectRunAsPlanned(h: ClusterHarness, document: RunbookPlan, progress: RunbookProgress, afterSeq: number) {
    const planned = document.steps.filter((s) => ['create', 'reuse', 'modify', 'run'].includes(s.action)).map((s) => s.id);
    const maybe = document.steps.filter((s) => s.action === 'maybe').map((s) => s.id);
    const skipped = document.steps.filter((s) => s.action === 'skip').map((s) => s.id);
    expect(progress.steps.map((s) => s.id)).toEqual(document.steps.map((s) => s.id));
    const done = progress.steps.filter((s) => s.state === 'done').map((s) => s.id);
    expect(done.filter((id) => !maybe.includes(id))).toEqual(planned);
    for (const id of skipped) expect([id, progress.steps.find((s) => s.id === id)?.state]).toEqual([id, 'skipped']);
    const plannedChanges = document.steps
      .filter((s) => planned.includes(s.id))
      .flatMap((s) => s.calls.filter((c) => c.effect === 'change').map((c) => c.method));
    const calls = (await h.sim.control.calls({ afterSeq })).filter((c) => c.executed);
    expect(calls.filter((c) => methodEffectOf(c.method ?? '') === 'change').map((c) => c.method)).toEqual(plannedChanges);
    // Every test the run made is one the plan named.
    const plannedTests = new Set(document.steps.flatMap((s) => s.calls.filter((c) => c.effect === 'test').map((c) => c.method)));
    for (const c of calls.filter((c) => methodEffectOf(c.method ?? '') === 'test')) expect(plannedTests).toContain(c.method);
    return plannedChanges;
  }

  const progressOf = (workflowId: string) => temporal.client.workflow.getHandle(workflowId).query(progressQuery.definition);

  function setupInput(h: ClusterHarness, overrides: Partial<SetupInput> = {}): SetupInput {
    const kmip = testEnv().kmip;
    return {
      cluster: h.name,
      subject: { commonName: `${h.name}.example.test` },
      keyProviderName: 'kmip-provider',
      keyServerName: 'kmip-server',
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'hardware',
      signer: { type: 'cfssl', url: testEnv().cfssl.url },
      testAttempts: 2,
      testRetryInterval: '200ms',
      polling: FAST_POLL,
      ...overrides,
    };
  }

  it('setup (hardware, cfssl) on a new cluster; then the same plan again finds it set up', async () => {
    const h = await cluster('plan-setup', { durations: { earTransitionMs: 200, tickMs: 50 } });
    const input = setupInput(h);
    const file = path.join(h.dir, 'setup.yaml');
    fs.writeFileSync(file, YAML.stringify(input));
    const { document, afterPlan } = await plan(h, ['setup', h.name, '--input', file]);
    expect(document).toMatchObject({ runbook: 'setup', couldStart: true, takesLock: true, refusals: [] });

    const handle = await startRunbook(temporal.client, 'setup', input, { taskQueue, workflowId: `plan-setup-${Date.now()}` });
    await handle.result();
    const changes = await expectRunAsPlanned(h, document, await progressOf(handle.workflowId), afterPlan);
    expect(changes).toEqual([
      'CreatePublicPrivateKeyPair',
      'CreateKeyProviderKmip',
      'CreateKeyServerKmip',
      'AddKeyServerToProviderKmip',
      'EnableEncryptionAtRest',
    ]);

    // Readable: the verdict, the steps in the runbook's words, what it reads with; set up now: nothing left to do.
    const readable = await runCli(['setup', h.name, '--input', file, '--plan'], { EKM_CLUSTERS_FILE: h.clustersFile });
    expect(readable.code).toBe(0);
    expect(readable.stdout).toContain(`plan: setup on ${h.name}`);
    expect(readable.stdout).toMatch(/key-pair\s+will skip: already set up with provider \d+/);
    expect(readable.stdout).toContain('read-only; nothing was changed');
  });

  it("setup --replace-internal-key on hardware encryption with the cluster's internal keys: the window, disable then enable", async () => {
    const h = await cluster('plan-ril', {
      hardwareEncryptionAtRest: 'internal',
      durations: { earTransitionMs: 200, tickMs: 50 },
    });
    const input = setupInput(h, { replaceInternalKey: true });
    const file = path.join(h.dir, 'setup.yaml');
    const withoutFlag: Partial<SetupInput> = { ...input };
    delete withoutFlag.replaceInternalKey;
    fs.writeFileSync(file, YAML.stringify(withoutFlag));
    // Without the flag the precheck refuses: exit 4, naming it.
    const refused = await plan(h, ['setup', h.name, '--input', file], 4);
    expect(refused.document.refusals[0]!.message).toContain('--replace-internal-key');
    const { document, afterPlan } = await plan(h, ['setup', h.name, '--input', file, '--replace-internal-key']);
    expect(document.window).toMatchObject({ kind: 'drives-not-locked', opensAt: 'disable', closesAt: 'await-enabled' });

    const handle = await startRunbook(temporal.client, 'setup', input, { taskQueue, workflowId: `plan-ril-${Date.now()}` });
    await handle.result();
    const changes = await expectRunAsPlanned(h, document, await progressOf(handle.workflowId), afterPlan);
    expect(changes).toEqual([
      'CreatePublicPrivateKeyPair',
      'CreateKeyProviderKmip',
      'CreateKeyServerKmip',
      'AddKeyServerToProviderKmip',
      'DisableEncryptionAtRest',
      'EnableEncryptionAtRest',
    ]);
  });

  it('rekey (software, to the active provider)', async () => {
    const h = await cluster('plan-rekey', { softwareEncryptionAtRest: true, durations: { rekeyMs: 800, tickMs: 50 } });
    await configureEkmByHand(h.client(), { commonName: `${h.name}.example.test` });
    const { document, afterPlan } = await plan(h, ['rekey', h.name]);
    expect(document.steps.find((s) => s.id === 'wait')?.waits[0]).toMatchObject({ forMs: 24 * 3_600_000 });

    const handle = await startRunbook(
      temporal.client,
      'rekey',
      { cluster: h.name },
      { taskQueue, workflowId: `plan-rekey-${Date.now()}` },
    );
    await handle.result();
    const changes = await expectRunAsPlanned(h, document, await progressOf(handle.workflowId), afterPlan);
    expect(changes).toEqual(['RekeySoftwareEncryptionAtRestMasterKey']);
  });

  describe('on a cluster with hardware encryption on its provider', () => {
    let h: ClusterHarness;
    beforeAll(async () => {
      h = await cluster('plan-hw', { durations: { earTransitionMs: 200, kmipRetryMs: 400, tickMs: 50 } });
      const client = h.client();
      const ids = await configureEkmByHand(client, {
        commonName: `${h.name}.example.test`,
        clientNotAfter: new Date(Date.now() + 10 * DAY),
      });
      await client.call('EnableEncryptionAtRest', { keyProviderID: ids.keyProviderID });
      await eventually(async () =>
        expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled'),
      );
    });

    it('renew (cfssl, the key pair kept)', async () => {
      const input: RenewInput = {
        cluster: h.name,
        signer: { type: 'cfssl', url: testEnv().cfssl.url },
        testAttempts: 2,
        testRetryInterval: '200ms',
        faultPollInterval: '100ms',
        resolveWindow: '30s',
      };
      const file = path.join(h.dir, 'renew.yaml');
      fs.writeFileSync(file, YAML.stringify(input));
      const { document, afterPlan } = await plan(h, ['renew', h.name, '--input', file]);
      expect(document.steps.find((s) => s.id === 'install')).toMatchObject({
        action: 'modify',
        fields: ['kmipClientCertificate'],
      });

      const handle = await startRunbook(temporal.client, 'renew', input, { taskQueue, workflowId: `plan-renew-${Date.now()}` });
      await handle.result();
      const changes = await expectRunAsPlanned(h, document, await progressOf(handle.workflowId), afterPlan);
      expect(changes).toEqual(['ModifyKeyServerKmip']);
    });

    it('a renewal already running: renew --plan is refused as its start would be, rekey --plan names the lock it holds', async () => {
      const handle = await startRunbook(
        temporal.client,
        'renew',
        { cluster: h.name, signer: { type: 'manual' } },
        { taskQueue, workflowId: workflowIds.renew(h.name) },
      );
      try {
        await eventually(async () => expect((await progressOf(handle.workflowId)).waiting?.kind).toBe('signed-certificate'));
        const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: h.clustersFile };
        const again = await runCli(['renew', h.name, '--plan'], env);
        expect(again.code).toBe(4);
        expect(again.stdout).toContain(
          `refused: AlreadyRunning: a renew runbook is already running on cluster ${h.name} (${handle.workflowId}, since`,
        );
        const rekey = await runCli(['rekey', h.name, '--plan', '--json'], env);
        expect(rekey.code).toBe(4);
        expect(runbookPlan.parse(JSON.parse(rekey.stdout)).refusals).toContainEqual(
          expect.objectContaining({
            type: 'ClusterBusy',
            message: expect.stringContaining(`renew runbook ${handle.workflowId} holds the cluster lock since`),
          }),
        );
        const queued = runbookPlan.parse(
          JSON.parse((await runCli(['rekey', h.name, '--plan', '--json', '--if-busy', 'wait'], env)).stdout),
        );
        expect(queued.refusals.map((r) => r.type)).not.toContain('ClusterBusy');
        expect(queued.facts).toContainEqual(expect.stringContaining('the run would queue behind it (--if-busy wait)'));
      } finally {
        await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'abort', reason: 'test over' }] });
        await expect(handle.result()).rejects.toThrow();
      }
    });

    it('recover kmip (kmipServerFault while the key server is down, then fixed): reads and tests only', async () => {
      const kmipHost = testEnv().kmip.host;
      await h.sim.control.makeUnreachable(kmipHost);
      try {
        await h.sim.control.restartCluster();
        const faults = async () =>
          (await h.client().call('ListClusterFaults', { faultTypes: 'current' })).faults.filter(
            (f) => f.code === 'kmipServerFault',
          );
        await eventually(async () => expect(await faults()).toHaveLength(1), 10_000, 50);
        const { document, afterPlan } = await plan(h, ['recover', h.name, 'kmip']);
        expect(document).toMatchObject({ couldStart: true, takesLock: false });
        expect(document.steps.find((s) => s.id === 'wait-for-fix')?.action).toBe('maybe');

        const handle = await startRunbook(
          temporal.client,
          'recover-kmip-server-fault',
          { cluster: h.name, retest: { initialInterval: 300, maxInterval: 1000 }, faultPollInterval: 200, resolveWindow: 20_000 },
          { taskQueue, workflowId: `plan-kmip-${Date.now()}` },
        );
        await eventually(
          async () => expect((await progressOf(handle.workflowId)).waiting?.step).toBe('wait-for-fix'),
          30_000,
          200,
        );
        await h.sim.control.makeReachable(kmipHost);
        await handle.result();
        const changes = await expectRunAsPlanned(h, document, await progressOf(handle.workflowId), afterPlan);
        expect(changes).toEqual([]);
      } finally {
        await h.sim.control.makeReachable(kmipHost);
      }
    });

    it('bad input exits 2 naming the flag; a refusal exits 4 naming it; neither changes anything', async () => {
      const env = { EKM_CLUSTERS_FILE: h.clustersFile };
      const before = await lastSeq(h);
      const bad = await runCli(['renew', h.name, '--test-attempts', '0', '--plan'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--test-attempts');
      const wait = await runCli(['rekey', h.name, '--plan', '--wait'], env);
      expect(wait.code).toBe(2);
      expect(wait.stderr).toContain('--wait');
      expect(await lastSeq(h)).toBe(before);

      // Hardware encryption is on with another provider: a setup naming a new one is refused by its precheck.
      fs.writeFileSync(path.join(h.dir, 'kmip-ca.pem'), testEnv().kmip.caPem);
      const refusingArgs = [
        'setup',
        h.name,
        '--cn',
        'other.example.test',
        '--provider-name',
        'other-provider',
        '--server-name',
        'other-server',
        '--hostname',
        testEnv().kmip.host,
        '--kmip-ca',
        path.join(h.dir, 'kmip-ca.pem'),
        '--mode',
        'hardware',
        '--plan',
      ];
      // No Temporal there: a plan does not need it.
      const refused = await runCli(refusingArgs, { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
      expect(refused.code).toBe(4);
      expect(refused.stdout).toContain(
        `not checked: whether a setup runbook already runs on ${h.name} or another holds its cluster lock (Temporal at 127.0.0.1:1 could not be reached: connection refused)`,
      );
      // Into a pipe whose reader is gone before the plan is printed (`--plan | true`): still exit 4.
      // (Spawned, not spawnSync: the simulator answering the plan's reads runs in this process.)
      const piped = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn('bash', ['-c', 'set -o pipefail; "$0" "$EKM_CLI" "$@" | true', process.execPath, ...refusingArgs], {
          env: {
            ...process.env,
            ...env,
            TEMPORAL_ADDRESS: '127.0.0.1:1',
            EKM_CLI: path.resolve(__dirname, '../../dist/src/cli/main.js'),
          },
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (status) => resolve({ status, stderr }));
      });
      expect([piped.status, piped.stderr]).toEqual([4, '']);
      expect(refused.stdout).toContain('the precheck would REFUSE the run');
      expect(refused.stdout).toMatch(/refused: EncryptionAlreadyEnabled: /);
      const calls = await h.sim.control.calls({ afterSeq: before });
      expect(calls.filter((c) => !readOnlyCall(c.method ?? '', c.params))).toEqual([]);
    });
  });

  it('recover slice (the failed metadata drives added back)', async () => {
    const h = await cluster('plan-slice', { durations: { sliceSettleMs: 500, driveAddMs: 300, tickMs: 50 } });
    const { driveIDs } = await h.sim.control.failMetadataDrives({ nodeIDs: [1] });
    await eventually(async () => {
      const { faults } = await h.client().call('ListClusterFaults', { faultTypes: 'current' });
      expect(faults.filter((f) => f.code === 'sliceServiceUnhealthy')).toHaveLength(1);
    });
    const { document, afterPlan } = await plan(h, ['recover', h.name, 'slice', '--settle', '1s']);
    expect(document.steps.find((s) => s.id === 'add')?.detail).toContain(`AddDrives ${driveIDs.join(', ')}`);

    const handle = await startRunbook(
      temporal.client,
      'recover-slice-service',
      { cluster: h.name, settle: '1s', polling: FAST_POLL, heartbeatTimeout: 5000 },
      { taskQueue, workflowId: `plan-slice-${Date.now()}` },
    );
    await handle.result();
    const changes = await expectRunAsPlanned(h, document, await progressOf(handle.workflowId), afterPlan);
    expect(changes).toEqual(['AddDrives']);
  });

  it('is bounded by --timeout when the cluster does not answer (exit 5)', async () => {
    // A management address that accepts connections and never answers.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-plan-silent-'));
    try {
      fs.writeFileSync(path.join(dir, 'password'), 'not-a-real-password');
      const port = (silent.address() as net.AddressInfo).port;
      const clusters = {
        clusters: {
          silent: {
            mvip: `https://127.0.0.1:${port}`,
            apiVersion: '12.3',
            username: 'admin',
            password: { file: 'password' },
            insecure: true,
          },
        },
      };
      fs.writeFileSync(path.join(dir, 'clusters.yaml'), YAML.stringify(clusters));
      const cli = await runCli(
        ['--timeout', '2s', 'recover', 'silent', 'kmip', '--plan'],
        { EKM_CLUSTERS_FILE: path.join(dir, 'clusters.yaml') },
        30_000,
      );
      expect(cli.code).toBe(5);
      expect(cli.stderr).toContain('(--timeout)');
      expect(cli.stderr).toContain('reading cluster silent for the plan');
      expect(cli.stderr).not.toContain('not-a-real-password');
    } finally {
      for (const socket of sockets) socket.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
