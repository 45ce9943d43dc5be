import fs from 'node:fs';
import path from 'node:path';
import { AuditLog } from '../../src/audit/audit-log';
import { answerUpdate, progressQuery } from '../../workflows/contract';
import { eventually } from '../support/eventually';
import { testEnv } from '../support/test-env';
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

  it('reports ONE run: a later start of the same workflow id is another run, with its own answers and activities', async () => {
    const setupLab = await startClusterHarness('report-runs', { durations: { tickMs: 50 } });
    const setupWorker = await startInProcessWorker({ taskQueue: `${taskQueue}-runs`, registry: setupLab.registry });
    const temporal = await connectClient();
    const workflowId = `report-runs-${Date.now()}`;
    const kmip = testEnv().kmip;
    try {
      const reasons = ['first: wrong CA team', 'second: change window closed'];
      const runIds: string[] = [];
      for (const reason of reasons) {
        const handle = await startRunbook(
          temporal.client,
          'setup',
          {
            cluster: setupLab.name,
            subject: { commonName: `${setupLab.name}.example.test` },
            keyProviderName: 'kmip-provider',
            keyServerName: 'kmip-server',
            hostnames: [kmip.host],
            port: kmip.port,
            kmipCaCertificate: kmip.caPem,
            mode: 'none',
            signer: { type: 'manual' },
            questionReminderEvery: '1h',
          },
          { taskQueue: `${taskQueue}-runs`, workflowId },
        );
        runIds.push(handle.firstExecutionRunId);
        await eventually(async () => expect((await handle.query(progressQuery.definition)).waiting?.step).toBe('signing'), 60_000, 200);
        await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'abort', reason, by: 'ops' }] });
        await handle.result().catch(() => undefined);
      }
      const reportOf = async (...extra: string[]) => {
        const cli = await runCli(['report', workflowId, '--json', ...extra], {});
        expect([cli.code, cli.stderr]).toEqual([0, '']);
        return runReportSchema.parse(JSON.parse(cli.stdout));
      };
      const latest = await reportOf();
      const older = await reportOf('--run-id', runIds[0]!);
      for (const [report, runId, reason, other] of [
        [latest, runIds[1]!, reasons[1]!, runIds[0]!],
        [older, runIds[0]!, reasons[0]!, runIds[1]!],
      ] as const) {
        expect(report.runId).toBe(runId);
        expect(report.runIds).toEqual([runId]);
        expect(report.otherRuns.map((r) => r.runId)).toEqual([other]);
        expect(report.answers.map((a) => [a.action, a.comment])).toEqual([['abort', reason]]);
        expect(report.activities.length).toBeGreaterThan(0);
        expect(report.activities.every((a) => a.runId === runId)).toBe(true);
      }
      expect(JSON.stringify(latest.answers)).toContain(reasons[1]);
      expect(JSON.stringify(older.answers)).toContain(reasons[0]);
      expect(JSON.stringify(older.answers)).not.toContain(reasons[1]);
      // The files of an older run: beside the latest's, with its own answer in the Markdown.
      const outDir = path.join(setupLab.dir, 'reports');
      for (const extra of [[], ['--run-id', runIds[0]!]]) {
        const cli = await runCli(['report', workflowId, '--out', outDir, ...extra], {});
        expect([cli.code, cli.stderr]).toEqual([0, '']);
      }
      const latestMd = fs.readFileSync(path.join(outDir, `${workflowId}.md`), 'utf8');
      const olderMd = fs.readFileSync(path.join(outDir, `${workflowId}-${runIds[0]}.md`), 'utf8');
      expect(latestMd).toMatch(/\| abort \| ops \| accepted \| second: change window closed \|/);
      expect(latestMd).not.toContain('first: wrong CA team');
      expect(latestMd).toContain(`- ${runIds[0]}, started`);
      expect(olderMd).toMatch(/\| abort \| ops \| accepted \| first: wrong CA team \|/);
      expect(olderMd).not.toContain('second: change window closed');
      const unknown = await runCli(['report', workflowId, '--run-id', 'no-such-run'], {});
      expect(unknown.code).toBe(3);
      expect(unknown.stderr).toContain(`no run no-such-run of ${workflowId}`);
    } finally {
      await temporal.close();
      await setupWorker.stop();
      await setupLab.stop();
    }
  });

  it('says which run it could not find', async () => {
    const cli = await runCli(['report', 'ekm-rekey-no-such-run', '--out', harness.dir], {});
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain('no run ekm-rekey-no-such-run');
  });
});
