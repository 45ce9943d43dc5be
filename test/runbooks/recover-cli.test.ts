/** `ekm recover` and `ekm watch` as an operator runs them: the real CLI process, real Temporal, the simulator. */
import { workflowIds } from '../../workflows/contract';
import { startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { runCli } from '../support/cli';
import { eventually } from '../support/eventually';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

describe('ekm recover / ekm watch (CLI process)', () => {
  const taskQueue = uniqueTaskQueue('recover-cli');
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let env: Record<string, string>;
  const ekm = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    harness = await startClusterHarness('cli-lab', { durations: { sliceSettleMs: 800, driveAddMs: 300, tickMs: 50 } });
    env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: harness.clustersFile };
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry, notifier: { send: async () => undefined } });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });

  it('recover slice --wait --json: adds the failed drive back and reports the result', async () => {
    const { driveIDs } = await harness.sim.control.failMetadataDrives({ nodeIDs: [1] });
    const run = await ekm(
      'recover',
      harness.name,
      'slice',
      '--settle',
      '1500ms',
      '--attempts',
      '1',
      '--by',
      'ops',
      '--wait',
      '--json',
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const output = JSON.parse(run.stdout) as {
      workflowId: string;
      exitCode: number;
      result: { outcome: string; drives: number[] };
    };
    expect(output.workflowId).toBe(workflowIds['recover-slice-service'](harness.name));
    expect(output.exitCode).toBe(0);
    expect(output.result).toMatchObject({ outcome: 'recovered', drives: driveIDs });
  });

  it('refuses options of the other recovery, unknown faults and bad values before starting anything (exit 2)', async () => {
    const kmipWithSettle = await ekm('recover', harness.name, 'kmip', '--settle', '4m');
    expect(kmipWithSettle.code).toBe(2);
    expect(kmipWithSettle.stderr).toContain('--settle: not an option of the kmip recovery');
    const unknown = await ekm('recover', harness.name, 'disk');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown fault "disk": choose kmip (kmipServerFault) or slice (sliceServiceUnhealthy)');
    const badAttempts = await ekm('recover', harness.name, 'slice', '--attempts', '0');
    expect(badAttempts.code).toBe(2);
    expect(badAttempts.stderr).toContain('invalid input: --attempts:');
    const badDeadline = await ekm('recover', harness.name, 'kmip', '--deadline', 'later');
    expect(badDeadline.code).toBe(2);
    expect(badDeadline.stderr).toContain('--deadline: "later" is not a duration');
    const unknownCluster = await ekm('recover', 'no-such-cluster', 'kmip');
    expect(unknownCluster.code).toBe(3);
    await expect(
      temporal.client.workflow.getHandle(workflowIds['recover-kmip-server-fault'](harness.name)).describe(),
    ).rejects.toThrow();
  });

  it('refuses a second recovery of the same kind on a cluster while one runs (exit 4)', async () => {
    await harness.sim.control.failMetadataDrives({ nodeIDs: [2] });
    const first = await ekm('recover', harness.name, 'slice', '--settle', '1m', '--json');
    expect(first.code).toBe(0);
    const { workflowId } = JSON.parse(first.stdout) as { workflowId: string };
    const second = await ekm('recover', harness.name, 'slice');
    expect(second.code).toBe(4);
    // Refused either by the cluster lock check or by the per-cluster workflow id; both name the running one.
    expect(second.stderr).toMatch(/already running on cluster cli-lab|cluster cli-lab is busy: recover-slice-service runbook/);
    expect(second.stderr).toContain(workflowId);
    const handle = temporal.client.workflow.getHandle(workflowId);
    await handle.cancel();
    await handle.result().catch(() => undefined);
  });

  it('watch start, status, a second start refused, stop', async () => {
    const start = await ekm('watch', 'start', harness.name, '--notify-only', '--interval', '300ms', '--json');
    expect(start.code).toBe(0);
    expect(JSON.parse(start.stdout)).toMatchObject({ workflowId: workflowIds['fault-watcher'](harness.name) });

    const status = await eventually(
      async () => {
        const run = await ekm('watch', 'status', harness.name, '--json');
        expect(run.code).toBe(0);
        const report = JSON.parse(run.stdout) as {
          status: string;
          watch: { notifyOnly: boolean; polls: number; intervalMs: number };
        };
        expect(report.watch.polls).toBeGreaterThanOrEqual(2);
        return report;
      },
      20_000,
      300,
    );
    expect(status).toMatchObject({ status: 'RUNNING', watch: { notifyOnly: true, intervalMs: 300 } });
    const text = await ekm('watch', 'status', harness.name);
    expect(text.stdout).toMatch(new RegExp(`^watching ${harness.name} every 0.3s, notify only`));

    const again = await ekm('watch', 'start', harness.name);
    expect(again.code).toBe(4);

    const stop = await ekm('watch', 'stop', harness.name);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(new RegExp(`^stopped watching ${harness.name} \\(ekm-watch-${harness.name}, \\d+ polls\\)`));
    const after = await ekm('watch', 'status', harness.name);
    expect(after.code).toBe(3);
    expect(after.stdout).toContain(
      `cluster ${harness.name} is not watched (the last watcher ekm-watch-${harness.name} is completed)`,
    );
  });
});
