#!/usr/bin/env node
/**
 * Benchmark, not a test: every runbook against a flaky Element API. One pass without faults and
 * one with --percent (default 30) of the clusters' JSON-RPC calls failing transiently (HTTP 503,
 * resets and timeouts before and after the call ran, xDBVersionMismatch: the simulator's
 * `transient` control setting), each runbook on fresh clusters, side by side, served by the real
 * worker process. Prints per runbook: completed or failed, activity attempts (from history),
 * requests the cluster saw and how many were hit, the changes it ran, and the wall time next to
 * the run without faults. `npm run bench:faults -- --percent 30`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { progressQuery, workflowIds, type RunbookName } from '../../workflows/contract';
import { describeIssues } from '../../workflows/inputs';
import { runbooks, runbookStart, type RunbookInput } from '../../workflows/runbooks';
import { configureEkmByHand } from '../devenv/ekm-by-hand';
import type { SimulatedCluster } from '../devenv/simulated-cluster';
import { startBenchLab, table, type BenchLab } from './bench-lab';
import { parseBenchFlags } from './bench-flags';

const USAGE = `Usage: node dist/tools/bench/faults.js [--percent 30] [--dir DIR] [--keep] [--json]

  --percent N   share of Element calls that fail transiently in the faulty pass (default 30)
  --dir DIR     where the servers keep their files (default: a new temporary folder)
  --keep        keep that folder afterwards (logs)
  --json        print the measurements as JSON instead of a table
`;

const flags = z.strictObject({
  percent: z.coerce.number().min(0).max(100).default(30),
  dir: z.string().min(1).optional(),
  keep: z.boolean().default(false),
  json: z.boolean().default(false),
});

const DAY = 86_400_000;
const POLL = { initialInterval: 500, maxInterval: 2000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Changes counted in the call log (run to the end: answered, or the answer lost after it ran). */
const CHANGES = /^(Create|Modify|Delete|Rekey|Enable|Disable|Add|Remove)/;

interface Row {
  pass: string;
  runbook: string;
  outcome: string;
  wallMs: number;
  activityAttempts: number;
  activities: number;
  requests: number;
  injected: number;
  changes: string;
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

function attempts(history: History): { activities: number; attempts: number } {
  const events = history.events ?? [];
  const started = events.filter((e) => e.activityTaskStartedEventAttributes);
  return {
    activities: events.filter((e) => e.activityTaskScheduledEventAttributes).length,
    attempts: started.reduce((sum, e) => sum + (e.activityTaskStartedEventAttributes?.attempt ?? 1), 0),
  };
}

async function pass(lab: BenchLab, label: string, percent: number, log: (line: string) => void): Promise<Row[]> {
  const kmipFor = { host: lab.kmip.host, port: lab.kmip.port, caPem: lab.kmip.pki.ca.certificatePem };
  const durations = {
    earTransitionMs: 300,
    rekeyMs: 600,
    driveAddMs: 300,
    sliceSettleMs: 500,
    kmipRetryMs: 300,
    tickMs: 50,
    faultRefreshMs: 100,
    injectedTimeoutHoldMs: 10_000,
  };
  const add = (name: string, softwareEncryptionAtRest = false) =>
    lab.addCluster(`${label}-${name}`, { softwareEncryptionAtRest, durations, entry: { responseTimeoutMs: 3000 } });
  const [sw, hw, kmip, slice, renew] = await Promise.all([add('sw', true), add('hw'), add('kmip'), add('slice'), add('renew')]);

  log(`${label}: preparing the recoveries' and the renewal's clusters`);
  for (const [cluster, notAfter] of [
    [kmip, undefined],
    [renew, new Date(Date.now() + 10 * DAY)],
  ] as const) {
    const client = cluster.adminClient();
    const ids = await configureEkmByHand(client, kmipFor, lab.kmip.pki.ca, {
      commonName: `${cluster.name}.example.test`,
      clientNotAfter: notAfter,
    });
    await client.call('EnableEncryptionAtRest', { keyProviderID: ids.keyProviderID });
    while ((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState !== 'enabled') await sleep(100);
    await client.close();
  }
  await kmip.sim.control.makeUnreachable(lab.kmip.host);
  await kmip.sim.control.restartCluster();
  await slice.sim.control.failMetadataDrives({ nodeIDs: [1] });
  await sleep(1000);
  const clusters = [sw, hw, kmip, slice, renew];
  const marks = new Map<SimulatedCluster, number>();
  for (const c of clusters) {
    marks.set(c, (await c.sim.control.calls()).at(-1)?.seq ?? 0);
    if (percent > 0) await c.sim.control.setHttpFaults({ transient: { percent } });
  }

  const start = <R extends RunbookName>(runbook: R, input: RunbookInput<R>, workflowId: string) =>
    lab.client.workflow.start(
      runbooks[runbook].workflow as never,
      runbookStart(runbook, input, { taskQueue: lab.taskQueue, workflowId }) as never,
    ) as Promise<WorkflowHandle>;
  const setupInput = (cluster: SimulatedCluster, mode: 'software' | 'hardware') => ({
    cluster: cluster.name,
    subject: { commonName: `${cluster.name}.example.test`, organization: 'EKM bench', country: 'US' },
    keyProviderName: 'kmip-provider',
    keyServerName: 'kmip-server',
    hostnames: [lab.kmip.host],
    port: lab.kmip.port,
    kmipCaCertificate: lab.kmip.pki.ca.certificatePem,
    mode,
    signer: { type: 'cfssl' as const, url: lab.cfssl!.url },
    testRetryInterval: '500ms',
    polling: POLL,
  });

  const rows: Row[] = [];
  const runOne = async (
    runbook: string,
    cluster: SimulatedCluster,
    go: () => Promise<WorkflowHandle>,
    during?: (h: WorkflowHandle) => Promise<void>,
  ) => {
    const started = Date.now();
    const from = (await cluster.sim.control.calls()).at(-1)?.seq ?? 0;
    const handle = await go();
    await during?.(handle);
    const outcome = await handle.result().then(
      () => 'completed',
      (err: unknown) => `FAILED: ${(err as Error).message}`,
    );
    const wallMs = Date.now() - started;
    const calls = await cluster.sim.control.calls({ afterSeq: from });
    const changes = new Map<string, number>();
    for (const c of calls)
      if (c.method && CHANGES.test(c.method) && c.executed && !c.errorName)
        changes.set(c.method, (changes.get(c.method) ?? 0) + 1);
    const counted = attempts(await handle.fetchHistory());
    rows.push({
      pass: label,
      runbook,
      outcome,
      wallMs,
      activityAttempts: counted.attempts,
      activities: counted.activities,
      requests: calls.length,
      injected: calls.filter((c) => c.outcome === 'injected').length,
      changes: [...changes].map(([m, n]) => `${m} ${n}`).join(', ') || 'none',
    });
  };
  const stamp = Date.now();
  await Promise.all([
    (async () => {
      await runOne('setup (software)', sw, () => start('setup', setupInput(sw, 'software'), `bench-setup-${sw.name}-${stamp}`));
      await runOne('rekey', sw, () =>
        start('rekey', { cluster: sw.name, keyManagement: 'external', polling: POLL }, `bench-rekey-${sw.name}-${stamp}`),
      );
    })(),
    runOne('setup (hardware)', hw, () => start('setup', setupInput(hw, 'hardware'), `bench-setup-${hw.name}-${stamp}`)),
    runOne(
      'recover kmipServerFault',
      kmip,
      () =>
        start(
          'recover-kmip-server-fault',
          {
            cluster: kmip.name,
            retest: { initialInterval: 500, maxInterval: 1000 },
            faultPollInterval: 300,
            resolveWindow: 120_000,
          },
          workflowIds['recover-kmip-server-fault'](kmip.name),
        ),
      async (handle) => {
        while ((await handle.query(progressQuery.definition)).waiting?.step !== 'wait-for-fix') await sleep(300);
        await kmip.sim.control.makeReachable(lab.kmip.host);
      },
    ),
    runOne('recover sliceServiceUnhealthy', slice, () =>
      start(
        'recover-slice-service',
        { cluster: slice.name, settle: 1000, polling: POLL },
        workflowIds['recover-slice-service'](slice.name),
      ),
    ),
    runOne('renew', renew, () =>
      start(
        'renew',
        {
          cluster: renew.name,
          signer: { type: 'cfssl', url: lab.cfssl!.url },
          testRetryInterval: '500ms',
          faultPollInterval: '300ms',
          resolveWindow: '120s',
        },
        `bench-renew-${renew.name}-${stamp}`,
      ),
    ),
  ]);
  for (const c of clusters) await c.sim.control.clearHttpFaults();
  return rows;
}

async function main(): Promise<number> {
  const options = parseBenchFlags(
    {
      percent: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    flags,
    USAGE,
  );
  if (typeof options === 'number') return options;
  const { percent, keep, json } = options;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-bench-faults-'));
  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString()}] ${line}\n`);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const lab = await startBenchLab(dir, { taskQueue: 'ekm-bench-faults', log, cfssl: true });
  const stop = async () => {
    await lab.stop();
    if (!keep && !options.dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    // Clusters first (the worker reads the clusters file at start and again when it changes).
    const clean = pass(lab, 'clean', 0, log);
    await lab.startWorker();
    const rows = [...(await clean), ...(await pass(lab, 'faulty', percent, log))];
    if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else {
      const cleanWall = new Map(rows.filter((r) => r.pass === 'clean').map((r) => [r.runbook, r.wallMs]));
      const out = [
        [
          'runbook',
          `outcome with ${percent} % faults`,
          'wall (faults / none)',
          'activity attempts / activities',
          'requests (hit)',
          'changes the cluster ran',
        ],
      ];
      for (const r of rows.filter((x) => x.pass === 'faulty')) {
        out.push([
          r.runbook,
          r.outcome,
          `${(r.wallMs / 1000).toFixed(1)} s / ${((cleanWall.get(r.runbook) ?? NaN) / 1000).toFixed(1)} s`,
          `${r.activityAttempts} / ${r.activities}`,
          `${r.requests} (${r.injected})`,
          r.changes,
        ]);
      }
      process.stdout.write(`${table(out)}\n`);
    }
    return rows.every((r) => r.outcome === 'completed') ? 0 : 1;
  } finally {
    await stop();
    if (keep) log(`files kept in ${dir}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
