import fs from 'node:fs';
import path from 'node:path';
import { AuditLog } from '../../src/audit/audit-log';
import { runReportSchema } from '../../src/report/run-report';
import { runCli } from '../support/cli';
import { executeRunbook, startRunbook } from '../support/start';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

describe('ekm report (audit report of a run)', () => {
  const taskQueue = uniqueTaskQueue('report');
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let auditLog: string;

  beforeAll(async () => {
    harness = await startClusterHarness('report-lab', {
      softwareEncryptionAtRest: true,
      durations: { rekeyMs: 800, tickMs: 50 },
    });
    await configureEkmByHand(harness.client(), { commonName: 'report-cluster.example.test' });
    auditLog = path.join(harness.dir, 'audit.jsonl');
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry, auditLog });
  });
  afterAll(async () => {
    await worker?.stop();
    await harness?.stop();
  });

  it('writes Markdown and JSON with steps, activity attempts and the Element calls the run made', async () => {
    const temporal = await connectClient();
    const workflowId = `report-rekey-${Date.now()}`;
    try {
      await harness.sim.control.setHttpFaults({
        rules: [{ kind: 'busy', methods: ['GetSoftwareEncryptionAtRestInfo'], remaining: 1 }],
      });
      await executeRunbook(
        temporal.client,
        'rekey',
        { cluster: harness.name, polling: { initialInterval: 200, maxInterval: 500 } },
        { taskQueue, workflowId },
      );
    } finally {
      await temporal.close();
    }
    const outDir = path.join(harness.dir, 'reports');
    const cli = await runCli(['report', workflowId, '--out', outDir, '--audit-log', auditLog], {});
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const report = runReportSchema.parse(JSON.parse(fs.readFileSync(path.join(outDir, `${workflowId}.json`), 'utf8')));
    expect(report.runbook).toBe('rekey');
    expect(report.cluster).toBe(harness.name);
    expect(report.status).toBe('COMPLETED');
    expect(report.steps.map((s) => [s.id, s.state])).toEqual([
      ['lock', 'done'],
      ['precheck', 'done'],
      ['test-provider', 'done'],
      ['start', 'done'],
      ['wait', 'done'],
      ['verify', 'done'],
    ]);
    // The injected busy answer was sent again by the Element client inside the precheck's one attempt.
    expect(report.activities.find((a) => a.activityType === 'rekeyPrecheck')).toMatchObject({
      attempts: 1,
      outcome: 'completed',
    });
    // Element calls come from the worker's audit log, which the simulator's own call log confirms.
    const simulatorCalls = (await harness.sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).length;
    expect(report.elementCalls?.byMethod.RekeySoftwareEncryptionAtRestMasterKey).toEqual({ ok: simulatorCalls, error: 0 });
    // The busy answer is in the audit log as a second try of a call that then worked.
    expect(report.elementCalls?.byMethod.GetSoftwareEncryptionAtRestInfo?.error).toBe(0);
    const infoCalls = AuditLog.read(auditLog, workflowId).filter((e) => e.method === 'GetSoftwareEncryptionAtRestInfo');
    expect(infoCalls.map((e) => e.tries ?? 1)).toContain(2);
    expect(report.elementCalls?.calls.every((c) => c.workflowId === workflowId)).toBe(true);
    expect(AuditLog.read(auditLog).length).toBeGreaterThanOrEqual(report.elementCalls!.total);
    const markdown = fs.readFileSync(path.join(outDir, `${workflowId}.md`), 'utf8');
    expect(markdown).toContain(`# rekey on cluster ${harness.name}`);
    expect(markdown).toMatch(/\| RekeySoftwareEncryptionAtRestMasterKey \| 1 \| 0 \|/);
    expect(markdown).not.toContain(harness.password);
  });

  it('without a worker to answer the progress query: the report comes back, and says the steps are missing and why', async () => {
    const temporal = await connectClient();
    const workflowId = `report-no-worker-${Date.now()}`;
    const idleQueue = uniqueTaskQueue('report-idle');
    try {
      const handle = await startRunbook(
        temporal.client,
        'rekey',
        { cluster: harness.name },
        { taskQueue: idleQueue, workflowId },
      );
      const outDir = path.join(harness.dir, 'reports-no-worker');
      const cli = await runCli(['report', workflowId, '--out', outDir], {});
      expect([cli.code, cli.stderr]).toEqual([0, '']);
      const report = runReportSchema.parse(JSON.parse(fs.readFileSync(path.join(outDir, `${workflowId}.json`), 'utf8')));
      expect(report.steps).toEqual([]);
      expect(report.gaps).toContainEqual(
        expect.stringMatching(
          new RegExp(`^progress: no worker is serving task queue ${idleQueue} .*steps, answers and notes are missing`),
        ),
      );
      await handle.terminate('test over');
    } finally {
      await temporal.close();
    }
  });

  it('says which run it could not find', async () => {
    const cli = await runCli(['report', 'ekm-rekey-no-such-run', '--out', harness.dir], {});
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain('no run ekm-rekey-no-such-run');
  });
});
