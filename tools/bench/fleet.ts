#!/usr/bin/env node
/**
 * Benchmark, not a test: a fleet rekey over many simulated clusters. Starts its own Temporal dev
 * server, PyKMIP and the multi-cluster simulator (its own process), configures EKM on every
 * cluster, runs the real worker in this process, runs `fleet rekey` at the given concurrency, and
 * prints wall time against the ideal (ceil(N / concurrency) x the simulated rekey time), Element
 * calls and history events per cluster, workflow tasks per second, peak RSS of this process (the
 * worker) and of the simulator, and a sequential sample of single rekeys extrapolated to N.
 * `npm run bench:fleet -- --clusters 500 --concurrency 50 --rekey-ms 2000`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { loadClusterRegistry } from '../../src/config/clusters';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { formatDuration } from '../../src/durations';
import { ElementClient } from '../../src/element';
import { fleetWorkflowId, type FleetResult } from '../../workflows/contract';
import { fleetRunbook } from '../../workflows/fleet';
import { describeIssues } from '../../workflows/inputs';
import { runbooks, runbookStart } from '../../workflows/runbooks';
import { cpuSeconds } from '../devenv/child';
import { configureEkmByHand } from '../devenv/ekm-by-hand';
import { startLocalWorker } from '../devenv/local-worker';
import { startPyKmip } from '../devenv/pykmip';
import { startFleetSimulatorProcess, type FleetSimulatorMember } from '../devenv/simulator-fleet';
import { startTemporalDevServer } from '../devenv/temporal';
import { parseBenchFlags } from './bench-flags';

const USAGE = `Usage: npm run bench:fleet -- [--clusters 500] [--concurrency 50] [--rekey-ms 2000] [--sample 5] [--dir DIR] [--keep] [--json]

  --clusters N      simulated clusters (default 500)
  --concurrency N   the fleet's --max-concurrency (default 50)
  --rekey-ms N      simulated rekey job time (default 2000)
  --sample N        single rekeys run one after another, extrapolated to N clusters (default 5; 0 = none)
  --dir DIR         where the servers keep their files (default: a new temporary folder)
  --keep            keep that folder afterwards (logs)
  --json            the measurements as JSON
`;

const count = (min: number, fallback: number) => z.coerce.number().int().min(min).default(fallback);
const flags = z.strictObject({
  clusters: count(1, 500),
  concurrency: count(1, 50),
  'rekey-ms': count(0, 2000),
  sample: count(0, 5),
  dir: z.string().min(1).optional(),
  keep: z.boolean().default(false),
  json: z.boolean().default(false),
});

/** Fast polling, as a short simulated job wants (the runbook's default starts at 1 s). */
const REKEY_INPUT = { polling: { initialInterval: 250, maxInterval: 1000 } };

async function bounded<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** History events and completed workflow tasks of every execution the query lists. */
async function historyTotals(
  client: Client,
  query: string,
): Promise<{ executions: number; events: number; workflowTasks: number }> {
  const ids: { workflowId: string; runId: string }[] = [];
  for await (const info of client.workflow.list({ query })) ids.push({ workflowId: info.workflowId, runId: info.runId });
  let events = 0;
  let workflowTasks = 0;
  await bounded(ids, 8, async ({ workflowId, runId }) => {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    events += history.events?.length ?? 0;
    workflowTasks += (history.events ?? []).filter((e) => e.workflowTaskCompletedEventAttributes).length;
  });
  return { executions: ids.length, events, workflowTasks };
}

async function main(): Promise<number> {
  const flagValues = parseBenchFlags(
    {
      clusters: { type: 'string' },
      concurrency: { type: 'string' },
      'rekey-ms': { type: 'string' },
      sample: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    flags,
    USAGE,
  );
  if (typeof flagValues === 'number') return flagValues;
  const o = flagValues;
  const n = o.clusters;
  const rekeyMs = o['rekey-ms'];
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-bench-fleet-'));
  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString()}] ${line}\n`);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
    if (!o.keep && !o.dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    log(`starting a Temporal dev server, PyKMIP and ${n} simulated clusters`);
    const [temporal, kmip, sim] = await Promise.all([
      startTemporalDevServer({ dir: path.join(dir, 'temporal') }),
      startPyKmip({ dir: path.join(dir, 'pykmip') }),
      startFleetSimulatorProcess({ dir: path.join(dir, 'sim'), clusters: n, durations: { rekeyMs, tickMs: 500 } }),
    ]);
    stops.push(
      () => temporal.stop(),
      () => kmip.stop(),
      () => sim.stop(),
    );

    log(`configuring EKM on ${n} clusters`);
    const kmipForCluster = { host: kmip.host, port: kmip.port, caPem: kmip.pki.ca.certificatePem };
    const elementOf = (m: FleetSimulatorMember) =>
      new ElementClient({
        endpoint: m.url,
        apiVersion: '12.3',
        username: 'admin',
        password: m.password,
        caPem: sim.caPem,
        connectTimeoutMs: 5000,
        responseTimeoutMs: 30_000,
      });
    let configured = 0;
    await bounded(sim.members, 8, async (m) => {
      const element = elementOf(m);
      try {
        await configureEkmByHand(element, kmipForCluster, kmip.pki.ca, { commonName: `${m.name}.bench.test` });
      } finally {
        await element.close();
      }
      if (++configured % 50 === 0) log(`  ${configured} configured`);
    });
    await bounded(sim.members, 16, (m) => m.control.resetCalls());

    const taskQueue = 'ekm-bench-fleet';
    // Every running child and its cluster lock stay in the worker's cache (the default, 100, is for fewer at once).
    const cachedWorkflows = Math.max(100, 2 * o.concurrency + 20);
    const settings = loadRuntimeSettings({
      TEMPORAL_ADDRESS: temporal.address,
      EKM_TASK_QUEUE: taskQueue,
      EKM_WORKER_CACHED_WORKFLOWS: String(cachedWorkflows),
    });
    const worker = await startLocalWorker(settings, {
      registry: loadClusterRegistry(sim.clustersFile),
      notifier: { send: async () => undefined },
    });
    stops.push(() => worker.stop());
    const { Client: TemporalClient, Connection } = await import('@temporalio/client');
    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    const client = new TemporalClient({ connection, namespace: temporal.namespace });

    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
    stops.push(async () => clearInterval(sampler));

    log(`fleet rekey over ${n} clusters, at most ${o.concurrency} at once`);
    // Which process the fleet run kept busy says what limits it.
    const processes = { worker: process.pid, temporal: temporal.process.pid, simulator: sim.process.pid, pykmip: kmip.process.pid };
    const cpuBefore = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const started = Date.now();
    const handle = await client.workflow.start(fleetRunbook, {
      workflowId: fleetWorkflowId('rekey', `bench-${started}`),
      taskQueue,
      args: [
        {
          runbook: 'rekey',
          clusters: sim.members.map((m) => m.name),
          selector: '--all',
          input: REKEY_INPUT,
          maxConcurrency: { count: o.concurrency },
          maxErrors: { count: Math.max(1, Math.ceil(n / 10)) },
        },
      ],
    });
    const ticker = setInterval(() => log(`  ${formatDuration(Date.now() - started)} elapsed`), 30_000);
    let result: FleetResult;
    try {
      result = (await handle.result()) as FleetResult;
    } finally {
      clearInterval(ticker);
    }
    const wallMs = Date.now() - started;
    const cpuCores = Object.fromEntries(
      Object.entries(processes).map(([name, pid]) => [name, Number(((cpuSeconds(pid) - cpuBefore[name]!) / (wallMs / 1000)).toFixed(2))]),
    ) as Record<keyof typeof processes, number>;
    const runbookMs = result.status.clusters
      .filter((c) => c.startedAt && c.endedAt)
      .map((c) => Date.parse(c.endedAt!) - Date.parse(c.startedAt!));
    const meanRunbookMs = Math.round(runbookMs.reduce((a, b) => a + b, 0) / Math.max(1, runbookMs.length));
    const idealMs = Math.ceil(n / o.concurrency) * rekeyMs;
    log(`fleet ${result.state} in ${formatDuration(wallMs)} (${result.status.failed} failed); reading histories and call logs`);

    let calls = 0;
    await bounded(sim.members, 16, async (m) => {
      const made = (await m.control.calls()).length;
      calls += made;
    });
    const fleetHistory = await historyTotals(client, `WorkflowId = '${handle.workflowId}'`);
    const children = await historyTotals(client, `WorkflowType = '${runbooks.rekey.workflow.name}'`);
    const locks = await historyTotals(client, `WorkflowType = 'clusterLock'`);
    const workflowTasks = fleetHistory.workflowTasks + children.workflowTasks + locks.workflowTasks;
    const workerPeakRss = peakRss;
    const simulatorPeakRss = sim.peakRssBytes();

    let sample: { clusters: number; meanMs: number; extrapolatedMs: number } | undefined;
    if (o.sample > 0) {
      log(`sequential sample: ${o.sample} single rekeys one after another`);
      const t0 = Date.now();
      for (const m of sim.members.slice(0, o.sample)) {
        const run = await client.workflow.start(
          runbooks.rekey.workflow,
          runbookStart('rekey', { cluster: m.name, ...REKEY_INPUT }, { taskQueue, workflowId: `bench-seq-${m.name}-${t0}` }),
        );
        await run.result();
      }
      const meanMs = (Date.now() - t0) / o.sample;
      sample = { clusters: o.sample, meanMs: Math.round(meanMs), extrapolatedMs: Math.round(meanMs * n) };
    }

    const report = {
      clusters: n,
      concurrency: o.concurrency,
      rekeyMs,
      state: result.state,
      failed: result.status.failed,
      fleetExecutions: fleetHistory.executions,
      wallMs,
      idealMs,
      ratio: Number((wallMs / idealMs).toFixed(2)),
      meanRunbookMs,
      workerCachedWorkflows: cachedWorkflows,
      elementCallsPerCluster: Number((calls / n).toFixed(1)),
      historyEventsPerCluster: {
        rekeyRunbook: Number((children.events / n).toFixed(1)),
        fleet: Number((fleetHistory.events / n).toFixed(1)),
        clusterLock: Number((locks.events / n).toFixed(1)),
      },
      workflowTasksPerSecond: Number((workflowTasks / (wallMs / 1000)).toFixed(1)),
      cpuCoresDuringFleet: cpuCores,
      workerPeakRssMiB: Math.round(workerPeakRss / 2 ** 20),
      simulatorPeakRssMiB: simulatorPeakRss === undefined ? undefined : Math.round(simulatorPeakRss / 2 ** 20),
      sequentialSample: sample,
      cpus: os.cpus().length,
    };
    if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      const rows: [string, string][] = [
        ['clusters / concurrency / rekey job', `${n} / ${o.concurrency} / ${formatDuration(rekeyMs)}`],
        [
          'fleet result',
          `${result.state}, ${result.status.failed} failed, ${fleetHistory.executions} executions (continue-as-new)`,
        ],
        ['wall time', formatDuration(wallMs)],
        ['ideal time', `${formatDuration(idealMs)} (ceil(${n}/${o.concurrency}) x ${formatDuration(rekeyMs)})`],
        ['wall / ideal', String(report.ratio)],
        ['mean rekey runbook (start to end)', formatDuration(meanRunbookMs)],
        ['Element calls per cluster', String(report.elementCallsPerCluster)],
        [
          'history events per cluster',
          `rekey ${report.historyEventsPerCluster.rekeyRunbook}, fleet ${report.historyEventsPerCluster.fleet}, lock ${report.historyEventsPerCluster.clusterLock}`,
        ],
        ['workflow tasks per second', String(report.workflowTasksPerSecond)],
        [
          'CPU during the fleet run (cores)',
          `worker ${cpuCores.worker}, Temporal ${cpuCores.temporal}, simulator ${cpuCores.simulator}, PyKMIP ${cpuCores.pykmip} (of ${report.cpus})`,
        ],
        ['peak RSS: worker (this process)', `${report.workerPeakRssMiB} MiB (cache ${cachedWorkflows} workflows)`],
        ['peak RSS: simulator process', report.simulatorPeakRssMiB === undefined ? '?' : `${report.simulatorPeakRssMiB} MiB`],
        [
          'sequential single rekeys',
          sample
            ? `${formatDuration(sample.meanMs)} each (${sample.clusters} run), ${formatDuration(sample.extrapolatedMs)} for ${n}`
            : 'not run',
        ],
      ];
      const width = Math.max(...rows.map(([k]) => k.length));
      process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}   ${v}`).join('\n')}\n`);
    }
    return result.state === 'completed' ? 0 : 1;
  } finally {
    await stopAll();
    if (o.keep) log(`files kept in ${dir}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
