import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { z } from 'zod';
import {
  followOutputJson,
  listOutputJson,
  rekeyWaitJson,
  runStartedJson,
  scheduleListJson,
  scheduleSummaryJson,
  statusOutputJson,
} from '../../src/cli/json-output';
import { freePort } from '../../tools/devenv/ports';
import {
  createRekeySchedule,
  deleteRekeySchedule,
  describeRekeySchedule,
  triggerRekeySchedule,
} from '../../src/schedules/rekey-schedules';
import { progressQuery } from '../../workflows/contract';
import { workflowIds } from '../../workflows/contract';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const CLI = path.resolve(__dirname, '../../dist/src/cli/main.js');
const FAST_REKEY_MS = 1500;

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

describe('ekm CLI as a process (real Temporal, simulator, PyKMIP)', () => {
  const taskQueue = uniqueTaskQueue('cli');
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    harness = await startClusterHarness(`cli-${taskQueue.slice(-8)}`, {
      softwareEncryptionAtRest: true,
      durations: { rekeyMs: FAST_REKEY_MS, tickMs: 50 },
    });
    await configureEkmByHand(harness.client(), { commonName: 'cli-cluster.example.test' });
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });

  const cluster = () => harness.name;
  const rekeyId = () => workflowIds.rekey(cluster());

  function ekm(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    const settings = {
      TEMPORAL_ADDRESS: testEnv().temporal.address,
      TEMPORAL_NAMESPACE: testEnv().temporal.namespace,
      EKM_TASK_QUEUE: taskQueue,
      EKM_CLUSTERS_FILE: harness.clustersFile,
    };
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        { env: { ...process.env, ...settings, ...env }, timeout: 120_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  function parsed<S extends z.ZodType>(schema: S, run: CliRun): z.output<S> {
    return schema.parse(JSON.parse(run.stdout));
  }

  const masterKey = async () => (await harness.client().call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo;
  const callCount = async () => (await harness.sim.control.calls()).length;
  const latestRunId = async (workflowId: string) => {
    try {
      return (await temporal.client.workflow.getHandle(workflowId).describe()).runId;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  };
  async function untilJobRunning(handle: WorkflowHandle): Promise<void> {
    await eventually(
      async () =>
        expect((await handle.query(progressQuery.definition)).steps.find((s) => s.id === 'wait')?.state).toBe('running'),
      30_000,
      200,
    );
  }

  it('rekey --wait --json: the output validates and reports the new key the cluster now has', async () => {
    const before = await masterKey();
    const run = await ekm(['rekey', cluster(), '--wait', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);

    const out = parsed(rekeyWaitJson, run);
    expect(out.workflowId).toBe(rekeyId());
    expect(out.exitCode).toBe(0);
    expect(out.result?.oldKey?.keyID).toBe(before?.keyID);
    expect(out.result?.newKey.keyID).not.toBe(before?.keyID);
    expect(out.result?.newKey.keyID).toBe((await masterKey())?.keyID);
    expect(out.progress?.state).toBe('completed');
  });

  it('rekey --json without --wait names the run; status --json then validates and shows it completed', async () => {
    const started = parsed(runStartedJson, await ekm(['rekey', cluster(), '--json']));
    expect(started.workflowId).toBe(rekeyId());
    await temporal.client.workflow.getHandle(started.workflowId, started.runId).result();

    const run = await ekm(['status', started.workflowId, '--json']);
    expect(run.code).toBe(0);
    const status = parsed(statusOutputJson, run);
    if (Array.isArray(status)) throw new Error('expected one run');
    expect(status.runId).toBe(started.runId);
    expect(status.status).toBe('COMPLETED');
    expect(status.progress.state).toBe('completed');
    expect(status.progress.steps.map((s) => [s.id, s.state])).toEqual([
      ['lock', 'done'],
      ['precheck', 'done'],
      ['test-provider', 'done'],
      ['start', 'done'],
      ['wait', 'done'],
      ['verify', 'done'],
    ]);

    // Following a run that has ended returns at once with its outcome.
    const watched = await ekm(['status', started.workflowId, '--watch', '--json']);
    expect(watched.code).toBe(0);
    const followed = parsed(followOutputJson, watched);
    expect(followed).toMatchObject({ workflowId: started.workflowId, exitCode: 0 });
    expect(followed.progress?.state).toBe('completed');
  });

  it('list --json --cluster X --all validates and lists only that cluster, its rekeys included', async () => {
    await eventually(
      async () => {
        const run = await ekm(['list', '--json', '--cluster', cluster(), '--all']);
        expect(run.code).toBe(0);
        const runs = parsed(listOutputJson, run);
        expect(runs.length).toBeGreaterThanOrEqual(2);
        expect(new Set(runs.map((r) => r.cluster))).toEqual(new Set([cluster()]));
        const rekeys = runs.filter((r) => r.workflowId === rekeyId());
        expect(rekeys.length).toBeGreaterThanOrEqual(2);
        expect(rekeys.every((r) => r.runbook === 'rekey' && r.status === 'COMPLETED' && r.state === 'completed')).toBe(true);
      },
      20_000,
      500,
    );
    // The filters narrow it: by runbook and by state.
    const onlyRekeys = parsed(
      listOutputJson,
      await ekm(['list', '--json', '--cluster', cluster(), '--all', '--runbook', 'rekey', '--state', 'completed']),
    );
    expect(onlyRekeys.length).toBeGreaterThanOrEqual(2);
    expect(onlyRekeys.every((r) => r.runbook === 'rekey' && r.state === 'completed')).toBe(true);
    expect(parsed(listOutputJson, await ekm(['list', '--json', '--cluster', cluster(), '--all', '--runbook', 'setup']))).toEqual(
      [],
    );
  });

  it('schedule create/describe/list --json validate; a second create is refused with 4; after delete, describe exits 3', async () => {
    const created = await ekm(['schedule', 'create', cluster(), '--every', '90d', '--paused', '--note', 'quarterly', '--json']);
    expect(created.code).toBe(0);
    const summary = parsed(scheduleSummaryJson, created);
    expect(summary).toMatchObject({ cluster: cluster(), paused: true, note: 'quarterly', spec: 'every 90d', overlap: 'SKIP' });

    const again = await ekm(['schedule', 'create', cluster(), '--cron', '0 3 * * *']);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(`cluster ${cluster()} already has a rekey schedule`);

    const described = parsed(scheduleSummaryJson, await ekm(['schedule', 'describe', cluster(), '--json']));
    expect(described.scheduleId).toBe(summary.scheduleId);
    expect(described.spec).toBe('every 90d');
    await eventually(
      async () => {
        const listed = parsed(scheduleListJson, await ekm(['schedule', 'list', '--json']));
        expect(listed.map((s) => s.cluster)).toContain(cluster());
      },
      20_000,
      500,
    );

    expect((await ekm(['schedule', 'delete', cluster()])).code).toBe(0);
    const gone = await ekm(['schedule', 'describe', cluster(), '--json']);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toContain(`no rekey schedule for cluster ${cluster()}`);
    expect(gone.stdout).toBe('');
  });

  it('schedule create with bad options exits 2 naming the problem, and creates nothing', async () => {
    const twoForms = await ekm(['schedule', 'create', cluster(), '--every', '90d', '--cron', '0 3 * * *']);
    expect(twoForms.code).toBe(2);
    expect(twoForms.stderr).toContain('every: give exactly one of every, cron or calendar');
    const badCron = await ekm(['schedule', 'create', cluster(), '--cron', '61 3 * * *']);
    expect(badCron.code).toBe(2);
    expect(badCron.stderr).toContain('invalid schedule');
    expect((await ekm(['schedule', 'describe', cluster()])).code).toBe(3);
  });

  it.each([
    [['--internal', '--provider', '3'], 'provider: is only for keyManagement external'],
    [['--if-busy', 'maybe'], '--if-busy: must be one of fail, wait'],
  ])('rekey with bad input %j exits 2 naming the field; nothing starts and the cluster is not called', async (flags, message) => {
    const runBefore = await latestRunId(rekeyId());
    const callsBefore = await callCount();
    const run = await ekm(['rekey', cluster(), ...flags]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('invalid input');
    expect(run.stderr).toContain(message);
    expect(await latestRunId(rekeyId())).toBe(runBefore);
    expect(await callCount()).toBe(callsBefore);
  });

  it.each([
    [['--port', '70000'], 'port:'],
    [['--mode', 'both'], 'mode:'],
    [['--kmip-ca', '/nonexistent/ca.pem'], '/nonexistent/ca.pem'],
  ])('setup with bad input %j exits 2 naming the field; nothing starts and the cluster is not called', async (flags, message) => {
    const caFile = path.join(harness.dir, 'kmip-ca.pem');
    fs.writeFileSync(caFile, testEnv().kmip.caPem);
    const setupId = workflowIds.setup(cluster());
    const runBefore = await latestRunId(setupId);
    const callsBefore = await callCount();
    const good = ['--cn', 'cli.example.test', '--provider-name', 'p', '--server-name', 's', '--hostname', '127.0.0.1'];
    const run = await ekm(['setup', cluster(), ...good, '--kmip-ca', caFile, '--mode', 'hardware', ...flags]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(await latestRunId(setupId)).toBe(runBefore);
    expect(await callCount()).toBe(callsBefore);
  });

  it('rekey of a cluster the clusters file does not have exits 3 and starts nothing', async () => {
    const run = await ekm(['rekey', 'no-such-cluster']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('no-such-cluster');
    expect(await latestRunId(workflowIds.rekey('no-such-cluster'))).toBeUndefined();
  });

  it('a second rekey while one runs exits 4 naming the running one; answer with an action not offered exits 4 "refused", to the ended run exits 3 saying it ended', async () => {
    await harness.sim.control.setDurations({ rekeyMs: 8000 });
    try {
      const started = parsed(runStartedJson, await ekm(['rekey', cluster(), '--json']));
      const handle = temporal.client.workflow.getHandle(started.workflowId, started.runId);
      await untilJobRunning(handle);

      // Refused before starting: the running rekey holds the cluster lock, and it is this runbook (no 'queue behind it').
      const second = await ekm(['rekey', cluster()]);
      expect(second.code).toBe(4);
      expect(second.stderr).toContain(`a rekey runbook is already running on cluster ${cluster()} (${rekeyId()}, since`);
      expect(second.stderr).not.toContain('--if-busy');
      // Even when willing to queue, the same runbook's workflow id is taken while it runs.
      const queued = await ekm(['rekey', cluster(), '--if-busy', 'wait']);
      expect(queued.code).toBe(4);
      expect(queued.stderr).toContain(`a rekey runbook is already running on cluster ${cluster()} (${rekeyId()})`);

      const answer = await ekm(['answer', rekeyId(), 'retry']);
      expect(answer.code).toBe(4);
      expect(answer.stderr).toContain('refused');
      expect(answer.stderr).toContain('not waiting for an answer');

      // By cluster name: its running runbook.
      const status = parsed(statusOutputJson, await ekm(['status', cluster(), '--json']));
      if (Array.isArray(status)) throw new Error('expected one run');
      expect(status.runId).toBe(started.runId);
      expect(status.progress.state).toBe('running');
      expect(status.progress.currentStep).toBe('wait');

      await handle.result();
      expect((await handle.query(progressQuery.definition)).answers).toEqual([]);
      // Once it has ended, an answer says so (how, when) rather than "no running run".
      const late = await ekm(['answer', rekeyId(), 'retry']);
      expect(late.code).toBe(3);
      expect(late.stderr).toMatch(new RegExp(`${rekeyId()} ended \\(completed [^)]* ago\\); there is nothing to answer`));
    } finally {
      await harness.sim.control.setDurations({ rekeyMs: FAST_REKEY_MS });
    }
  });

  it('rekey --wait exits 4 when a scheduled rekey holds the cluster, before starting anything', async () => {
    await createRekeySchedule(temporal.client, taskQueue, { cluster: cluster(), every: '90d' });
    await harness.sim.control.setDurations({ rekeyMs: 8000 });
    try {
      await triggerRekeySchedule(temporal.client, cluster());
      const scheduledId = await eventually(async () => {
        const [running] = (await describeRekeySchedule(temporal.client, cluster())).runningWorkflowIds;
        expect(running).toBeDefined();
        return running!;
      });
      const scheduled = temporal.client.workflow.getHandle(scheduledId);
      await untilJobRunning(scheduled);

      const before = await temporal.client.workflow.count(`WorkflowId = '${rekeyId()}'`);
      const run = await ekm(['rekey', cluster(), '--wait', '--json']);
      expect(run.code).toBe(4);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(`cluster ${cluster()} is busy: rekey runbook ${scheduledId}`);
      expect(await temporal.client.workflow.count(`WorkflowId = '${rekeyId()}'`)).toEqual(before);
      await scheduled.result();
    } finally {
      await harness.sim.control.setDurations({ rekeyMs: FAST_REKEY_MS });
      await deleteRekeySchedule(temporal.client, cluster()).catch(() => undefined);
    }
  });

  it('exits 5 when Temporal cannot be reached', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const run = await ekm(['list', '--json'], { TEMPORAL_ADDRESS: address });
    expect(run.code).toBe(5);
    expect(run.stderr.trim()).toBe(`ekm: cannot reach Temporal at ${address} (connection refused); nothing was changed`);
    expect(run.stdout).toBe('');
  });
});
