#!/usr/bin/env node
/**
 * Benchmark, not a test: many runbooks waiting for a person against one worker. --runs kmip
 * recoveries (default 1,000, spread over --clusters simulated clusters whose key server is
 * unreachable) each diagnose the fault and wait for the fix, re-testing every --retest. While they
 * wait it measures the worker's RSS and CPU, the Temporal server's RSS, its requests per second,
 * and the time of `ekm list --state waiting-for-input` and `ekm status <run>` (the real CLI); then
 * the key servers come back, every run gets the answer "fixed", and it measures the time until all
 * have completed. `npm run bench:waiting -- --runs 1000`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { answerUpdate } from '../../workflows/contract';
import { describeIssues, duration } from '../../workflows/inputs';
import { runbooks, runbookStart } from '../../workflows/runbooks';
import { cpuSeconds } from '../devenv/child';
import { configureEkmByHand } from '../devenv/ekm-by-hand';
import type { SimulatedCluster } from '../devenv/simulated-cluster';
import { parseBenchFlags } from './bench-flags';
import { distribution, startBenchLab, table, type BenchLab } from './bench-lab';

const USAGE = `Usage: node dist/tools/bench/waiting.js [--runs 1000] [--clusters 4] [--retest 10m] [--window 60s] [--cache N] [--worker-node-flags=FLAGS] [--glibc-malloc] [--dir DIR] [--keep] [--json]

  --runs N       waiting runbooks (default 1000)
  --clusters N   simulated clusters they are spread over (default 4)
  --retest D     each run re-tests its key servers this often while it waits (default 10m)
  --window D     how long to measure the waiting worker (default 60s)
  --cache N      the worker's EKM_WORKER_CACHED_WORKFLOWS (default: the worker's own default)
  --worker-node-flags=FLAGS
                 node/V8 flags for the worker process only, space-separated (--worker-node-flags=--max-old-space-size=200)
  --glibc-malloc the worker with glibc's allocator even when jemalloc is installed (the image uses jemalloc)
  --dir DIR      where the servers keep their files (default: a new temporary folder)
  --keep         keep that folder afterwards (logs)
  --json         print the measurements as JSON instead of a table
`;

const flags = z.strictObject({
  runs: z.coerce.number().int().min(1).max(20_000).default(1000),
  clusters: z.coerce.number().int().min(1).max(50).default(4),
  retest: duration.prefault('10m'),
  window: duration.prefault('60s'),
  cache: z.coerce.number().int().min(2).optional(),
  'worker-node-flags': z.string().optional(),
  'glibc-malloc': z.boolean().default(false),
  dir: z.string().min(1).optional(),
  keep: z.boolean().default(false),
  json: z.boolean().default(false),
});

const root = path.resolve(__dirname, '../../..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MiB = 1024 * 1024;

/** Runs `fn` over the items, `width` at a time. */
async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function cli(lab: BenchLab, args: string[]): Promise<{ ms: number; code: number; stdout: string; stderr: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, 'dist/src/cli/main.js'), ...args],
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: lab.temporal.address,
          TEMPORAL_NAMESPACE: lab.temporal.namespace,
          EKM_TASK_QUEUE: lab.taskQueue,
          EKM_CLUSTERS_FILE: lab.clustersFile,
        },
        maxBuffer: 64 * MiB,
        timeout: 120_000,
      },
      (err, stdout, stderr) =>
        resolve({ ms: Date.now() - started, code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function countState(lab: BenchLab, state: string): Promise<number> {
  const { count } = await lab.client.workflow.count(`EkmRunbook = 'recover-kmip-server-fault' AND EkmState = '${state}'`);
  return count;
}

async function main(): Promise<number> {
  const options = parseBenchFlags(
    {
      runs: { type: 'string' },
      clusters: { type: 'string' },
      retest: { type: 'string' },
      window: { type: 'string' },
      cache: { type: 'string' },
      'worker-node-flags': { type: 'string' },
      'glibc-malloc': { type: 'boolean' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    flags,
    USAGE,
  );
  if (typeof options === 'number') return options;
  const { runs, retest, window: windowMs, keep, json } = options;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-bench-waiting-'));
  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString()}] ${line}\n`);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const lab = await startBenchLab(dir, { taskQueue: 'ekm-bench-waiting', log });
  const stop = async () => {
    await lab.stop();
    if (!keep && !options.dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const kmipFor = { host: lab.kmip.host, port: lab.kmip.port, caPem: lab.kmip.pki.ca.certificatePem };
    const clusters: SimulatedCluster[] = [];
    log(`${options.clusters} clusters: EKM set up by hand, encryption on, then the key server unreachable`);
    for (let i = 1; i <= options.clusters; i++) {
      const cluster = await lab.addCluster(`wait-${i}`, {
        durations: { tickMs: 250, faultRefreshMs: 500, earTransitionMs: 200, kmipRetryMs: 2000 },
      });
      const client = cluster.adminClient();
      const ids = await configureEkmByHand(client, kmipFor, lab.kmip.pki.ca, { commonName: `${cluster.name}.example.test` });
      await client.call('EnableEncryptionAtRest', { keyProviderID: ids.keyProviderID });
      while ((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState !== 'enabled') await sleep(100);
      await client.close();
      await cluster.sim.control.makeUnreachable(lab.kmip.host);
      await cluster.sim.control.restartCluster();
      clusters.push(cluster);
    }
    await sleep(1500);

    const { worker, allocator } = await lab.startWorker({
      env: options.cache ? { EKM_WORKER_CACHED_WORKFLOWS: String(options.cache) } : {},
      nodeFlags: options['worker-node-flags']?.split(/\s+/).filter(Boolean),
      glibcMalloc: options['glibc-malloc'],
    });
    await sleep(5000);
    const idleRss = lab.rssBytes(worker.pid);
    log(`worker idle: ${(idleRss / MiB).toFixed(0)} MB RSS`);

    log(`starting ${runs} kmip recoveries`);
    const ids = Array.from({ length: runs }, (_, i) => `ekm-bench-wait-${i}-${Date.now()}`);
    const startedAt = Date.now();
    await inBatches(
      ids.map((id, i) => ({ id, cluster: clusters[i % clusters.length]!.name })),
      20,
      async ({ id, cluster }) => {
        await lab.client.workflow.start(
          runbooks['recover-kmip-server-fault'].workflow,
          runbookStart(
            'recover-kmip-server-fault',
            {
              cluster,
              retest: { initialInterval: retest, maxInterval: retest },
              faultPollInterval: 2000,
              reminderEvery: '1d',
              deadline: '1d',
            },
            { taskQueue: lab.taskQueue, workflowId: id },
          ),
        );
      },
    );
    for (;;) {
      const waiting = await countState(lab, 'waiting-for-input');
      if (waiting >= runs) break;
      if (Date.now() - startedAt > 30 * 60_000) throw new Error(`only ${waiting} of ${runs} runs waiting after 30 minutes`);
      await sleep(2000);
    }
    const allWaitingMs = Date.now() - startedAt;
    log(`all ${runs} waiting for a fix after ${(allWaitingMs / 1000).toFixed(0)} s; measuring for ${windowMs / 1000} s`);
    await sleep(10_000);

    const cpu0 = cpuSeconds(worker.pid);
    const rpc0 = await lab.frontendRequests();
    const rssSamples: number[] = [];
    const temporalRss: number[] = [];
    const measureStart = Date.now();
    while (Date.now() - measureStart < windowMs) {
      rssSamples.push(lab.rssBytes(worker.pid));
      temporalRss.push(lab.rssBytes(lab.temporal.process.pid));
      await sleep(2000);
    }
    const seconds = (Date.now() - measureStart) / 1000;
    const workerCpuPercent = ((cpuSeconds(worker.pid) - cpu0) / seconds) * 100;
    const rpcPerSecond = ((await lab.frontendRequests()) - rpc0) / seconds;

    log('timing the CLI');
    const list = await cli(lab, ['list', '--state', 'waiting-for-input', '--json']);
    const listed = list.code === 0 ? (JSON.parse(list.stdout) as unknown[]).length : -1;
    const statusTimes: number[] = [];
    for (const id of [ids[0]!, ids[Math.floor(runs / 2)]!, ids[runs - 1]!, ids[7 % runs]!, ids[Math.floor(runs / 3)]!]) {
      const status = await cli(lab, ['status', id]);
      if (status.code !== 0) throw new Error(`ekm status ${id} exited ${status.code}: ${status.stderr}`);
      statusTimes.push(status.ms);
    }
    const rssAfterCli = lab.rssBytes(worker.pid);

    log('the key servers are back; answering "fixed" to every run');
    for (const cluster of clusters) await cluster.sim.control.makeReachable(lab.kmip.host);
    const answeredAt = Date.now();
    await inBatches(ids, 20, async (id) => {
      await lab.client.workflow
        .getHandle(id)
        .executeUpdate(answerUpdate.definition, { args: [{ action: 'fixed', by: 'bench' }] })
        .catch(() => undefined); // a run whose own re-test already saw the fix has no question open
    });
    const answersSentMs = Date.now() - answeredAt;
    for (;;) {
      const { count: open } = await lab.client.workflow.count(
        `ExecutionStatus = 'Running' AND EkmRunbook = 'recover-kmip-server-fault'`,
      );
      if (open === 0) break;
      if (Date.now() - answeredAt > 30 * 60_000) throw new Error(`${open} runs still open 30 minutes after the answers`);
      await sleep(1000);
    }
    const completeMs = Date.now() - answeredAt;
    const completed = await countState(lab, 'completed');
    const peakRss = Math.max(...rssSamples, rssAfterCli, lab.rssBytes(worker.pid));

    const rss = distribution(rssSamples.map((b) => Math.round(b / MiB)));
    const result = {
      runs,
      clusters: clusters.length,
      retestMs: retest,
      cachedWorkflows: options.cache ?? 'worker default',
      workerNodeFlags: options['worker-node-flags'] ?? '',
      workerAllocator: allocator,
      startToAllWaitingMs: allWaitingMs,
      workerIdleRssMb: Math.round(idleRss / MiB),
      workerWaitingRssMb: rss,
      workerPeakRssMb: Math.round(peakRss / MiB),
      workerCpuPercentWhileWaiting: Number(workerCpuPercent.toFixed(1)),
      temporalRssMb: Math.round(Math.max(...temporalRss) / MiB),
      temporalRequestsPerSecond: Number(rpcPerSecond.toFixed(2)),
      temporalRequestsPerSecondPerRun: Number((rpcPerSecond / runs).toFixed(4)),
      ekmListMs: list.ms,
      ekmListRuns: listed,
      ekmStatusMs: distribution(statusTimes),
      answersSentMs,
      answersToAllCompleteMs: completeMs,
      completed,
    };
    if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      const rows = [
        ['measure', 'value'],
        ['waiting runbooks', `${runs} kmip recoveries on ${clusters.length} clusters, re-testing every ${retest / 1000} s`],
        ['worker cache (EKM_WORKER_CACHED_WORKFLOWS)', String(result.cachedWorkflows)],
        ['worker node flags, allocator', `${result.workerNodeFlags || '(none)'}, ${allocator}`],
        ['start -> all waiting', `${(allWaitingMs / 1000).toFixed(0)} s`],
        ['worker RSS idle', `${result.workerIdleRssMb} MB`],
        ['worker RSS while waiting (median / max)', `${rss.median} / ${rss.max} MB`],
        ['worker RSS peak (incl. CLI, answers)', `${result.workerPeakRssMb} MB`],
        ['worker CPU while waiting', `${result.workerCpuPercentWhileWaiting} % of one core`],
        ['Temporal server RSS', `${result.temporalRssMb} MB`],
        [
          'Temporal requests/s (all runs)',
          `${result.temporalRequestsPerSecond} (${result.temporalRequestsPerSecondPerRun} per run)`,
        ],
        ['ekm list --state waiting-for-input', `${list.ms} ms (${listed} runs)`],
        ['ekm status <run> (median / max of 5)', `${result.ekmStatusMs.median} / ${result.ekmStatusMs.max} ms`],
        ['answers sent (update each)', `${(answersSentMs / 1000).toFixed(1)} s`],
        ['answers -> all complete', `${(completeMs / 1000).toFixed(1)} s (${completed} completed)`],
      ];
      process.stdout.write(`${table(rows)}\n`);
    }
    return 0;
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
