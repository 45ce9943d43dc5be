#!/usr/bin/env node
/**
 * Benchmark, not a test: how soon does a runbook's wait go on after its worker dies? Four runbooks
 * wait on four simulated clusters (a rekey's async-job poll, a slice recovery's drive-add poll, a
 * kmip recovery's re-test timer and its fault poll, each looking every --interval), served by the
 * real worker as its own process. N times the worker is SIGKILLed at a random point of the waits
 * and started again at once, then N times stopped with SIGTERM after its replacement is up (a
 * rolling deploy); each time the
 * simulators' call logs tell when each runbook's next cluster call came. Prints min / median / p95 /
 * max of kill -> next call and of the delay beyond the later of "a live worker is ready" and "the
 * poll was due", next to the poll interval, and the Temporal server requests per second per waiting
 * runbook. `npm run bench:resume -- --kills 10`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ElementClient } from '../../src/element';
import { describeIssues, duration } from '../../workflows/inputs';
import { runbooks, runbookStart, type RunbookInput } from '../../workflows/runbooks';
import type { RunbookName } from '../../workflows/contract';
import { configureEkmByHand } from '../devenv/ekm-by-hand';
import type { SimulatedCluster } from '../devenv/simulated-cluster';
import { parseBenchFlags } from './bench-flags';
import { distribution, startBenchLab, table, type BenchLab } from './bench-lab';

const USAGE = `Usage: node dist/tools/bench/resume.js [--kills 5] [--interval 5s] [--dir DIR] [--keep] [--json]

  --kills N      SIGKILLs, and as many SIGTERMs, of the worker (default 5)
  --interval D   how often each waiting runbook looks at its cluster (default 5s)
  --dir DIR      where the servers keep their files (default: a new temporary folder)
  --keep         keep that folder afterwards (logs)
  --json         print the measurements as JSON instead of tables
`;

const flags = z.strictObject({
  kills: z.coerce.number().int().min(1).max(100).default(5),
  interval: duration.prefault('5s'),
  dir: z.string().min(1).optional(),
  keep: z.boolean().default(false),
  json: z.boolean().default(false),
});

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Waiter {
  wait: string;
  cluster: SimulatedCluster;
  /** The method each look calls. */
  method: string;
}

interface Sample {
  wait: string;
  signal: 'SIGKILL' | 'SIGTERM';
  killToNextMs: number;
  beyondScheduleMs: number;
}

async function lastCallAt(cluster: SimulatedCluster, method: string, after = 0): Promise<number | undefined> {
  const calls = await cluster.sim.control.calls({ method });
  const times = calls.map((c) => Date.parse(c.time)).filter((t) => t > after);
  return times.length === 0 ? undefined : Math.max(...times);
}

async function firstCallAfter(cluster: SimulatedCluster, method: string, after: number): Promise<number | undefined> {
  const calls = await cluster.sim.control.calls({ method });
  return calls.map((c) => Date.parse(c.time)).find((t) => t > after);
}

async function prepare(lab: BenchLab, intervalMs: number, log: (line: string) => void): Promise<Waiter[]> {
  const kmipFor = { host: lab.kmip.host, port: lab.kmip.port, caPem: lab.kmip.pki.ca.certificatePem };
  const withClient = async <T>(cluster: SimulatedCluster, fn: (c: ElementClient) => Promise<T>) => {
    const client = cluster.adminClient();
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  };
  const durations = { tickMs: 100, faultRefreshMs: 200, earTransitionMs: 200 };
  const [rekey, slice, retest, faultPoll] = await Promise.all([
    lab.addCluster('resume-rekey', { softwareEncryptionAtRest: true, durations: { ...durations, rekeyMs: 10 * HOUR } }),
    lab.addCluster('resume-slice', { durations: { ...durations, driveAddMs: 10 * HOUR } }),
    lab.addCluster('resume-retest', { durations }),
    lab.addCluster('resume-faultpoll', { durations: { ...durations, kmipRetryMs: 10 * HOUR } }),
  ]);
  log('configuring EKM on the clusters and raising their faults');
  await withClient(rekey, (c) => configureEkmByHand(c, kmipFor, lab.kmip.pki.ca, { commonName: 'resume-rekey.example.test' }));
  for (const cluster of [retest, faultPoll]) {
    await withClient(cluster, async (c) => {
      const ids = await configureEkmByHand(c, kmipFor, lab.kmip.pki.ca, { commonName: `${cluster.name}.example.test` });
      await c.call('EnableEncryptionAtRest', { keyProviderID: ids.keyProviderID });
      for (let i = 0; (await c.call('GetClusterInfo')).clusterInfo.encryptionAtRestState !== 'enabled'; i++) {
        if (i > 100) throw new Error('encryption did not become enabled');
        await sleep(100);
      }
    });
    await cluster.sim.control.makeUnreachable(lab.kmip.host);
    await cluster.sim.control.restartCluster();
  }
  // The fault poll: the key server is back, but the cluster retries only hours later, so the fault stays.
  await faultPoll.sim.control.makeReachable(lab.kmip.host);
  await slice.sim.control.failMetadataDrives({ nodeIDs: [1] });
  await sleep(1000);

  const start = async <R extends RunbookName>(runbook: R, input: RunbookInput<R>) =>
    lab.client.workflow.start(
      runbooks[runbook].workflow as never,
      runbookStart(runbook, input, { taskQueue: lab.taskQueue, workflowId: `bench-${runbook}-${Date.now()}` }) as never,
    );
  const polling = { initialInterval: intervalMs, maxInterval: intervalMs };
  await start('rekey', { cluster: 'resume-rekey', keyManagement: 'external', polling });
  await start('recover-slice-service', { cluster: 'resume-slice', polling });
  await start('recover-kmip-server-fault', {
    cluster: 'resume-retest',
    retest: { initialInterval: intervalMs, maxInterval: intervalMs },
    retestsPerRun: 1000,
  });
  await start('recover-kmip-server-fault', {
    cluster: 'resume-faultpoll',
    faultPollInterval: intervalMs,
    resolveWindow: 10 * HOUR,
  });
  return [
    { wait: 'async job poll (rekey)', cluster: rekey, method: 'GetAsyncResult' },
    { wait: 'drive-add poll (slice recovery)', cluster: slice, method: 'GetAsyncResult' },
    { wait: 're-test timer (kmip recovery)', cluster: retest, method: 'TestKeyServerKmip' },
    { wait: 'fault poll (kmip recovery)', cluster: faultPoll, method: 'ListClusterFaults' },
  ];
}

async function main(): Promise<number> {
  const options = parseBenchFlags(
    {
      kills: { type: 'string' },
      interval: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    flags,
    USAGE,
  );
  if (typeof options === 'number') return options;
  const { kills, interval, keep, json } = options;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-bench-resume-'));
  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString()}] ${line}\n`);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const lab = await startBenchLab(dir, { taskQueue: 'ekm-bench-resume', log });
  const stop = async () => {
    await lab.stop();
    if (!keep && !options.dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const waiters = await prepare(lab, interval, log);
    let { worker } = await lab.startWorker();
    log('runbooks started; letting them settle into their waits');
    const warm = Date.now();
    for (const w of waiters) {
      while ((await lastCallAt(w.cluster, w.method, warm)) === undefined) {
        if (Date.now() - warm > 120_000) throw new Error(`${w.wait}: no ${w.method} call within 2 minutes`);
        await sleep(500);
      }
    }
    await sleep(2 * interval);

    const before = await lab.frontendRequests();
    const windowMs = Math.max(30_000, 6 * interval);
    await sleep(windowMs);
    const rpcPerRunbook = (await lab.frontendRequests()) - before;
    const rpcPerSecondPerRunbook = rpcPerRunbook / (windowMs / 1000) / waiters.length;
    log(`Temporal frontend requests: ${rpcPerSecondPerRunbook.toFixed(3)}/s per waiting runbook`);

    const samples: Sample[] = [];
    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      for (let i = 1; i <= kills; i++) {
        // SIGKILL: the worker dies and is started again at once. SIGTERM: a rolling deploy, the new
        // worker is up before the old one is told to stop.
        const replacement = signal === 'SIGTERM' ? await lab.startWorker() : undefined;
        await sleep(Math.random() * interval);
        const last = new Map<Waiter, number>();
        for (const w of waiters) last.set(w, (await lastCallAt(w.cluster, w.method)) ?? 0);
        const killedAt = Date.now();
        let started: { worker: typeof worker; readyAt: number };
        if (replacement) {
          await worker.stop(30_000);
          started = { worker: replacement.worker, readyAt: killedAt };
        } else {
          await worker.kill();
          started = await lab.startWorker();
        }
        worker = started.worker;
        for (const w of waiters) {
          let next: number | undefined;
          const deadline = Date.now() + 10 * interval + 120_000;
          while ((next = await firstCallAfter(w.cluster, w.method, killedAt)) === undefined) {
            if (Date.now() > deadline) throw new Error(`${w.wait}: no ${w.method} call after the ${signal}`);
            await sleep(100);
          }
          const due = Math.max(started.readyAt, last.get(w)! + interval);
          samples.push({ wait: w.wait, signal, killToNextMs: next - killedAt, beyondScheduleMs: next - due });
        }
        log(
          `${signal} ${i}/${kills}: ${replacement ? 'the new worker was up before it' : `worker ready ${started.readyAt - killedAt} ms after it`}`,
        );
      }
    }

    const rows: string[][] = [
      [
        'wait',
        'signal',
        'n',
        'kill -> next call (min / median / p95 / max, ms)',
        'beyond schedule (median / p95 / max, ms)',
        'poll interval',
      ],
    ];
    const summary = [];
    for (const w of waiters) {
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        const mine = samples.filter((s) => s.wait === w.wait && s.signal === signal);
        const k = distribution(mine.map((s) => s.killToNextMs));
        const b = distribution(mine.map((s) => s.beyondScheduleMs));
        summary.push({ wait: w.wait, signal, killToNextMs: k, beyondScheduleMs: b, intervalMs: interval });
        rows.push([
          w.wait,
          signal,
          String(k.n),
          `${k.min} / ${k.median} / ${k.p95} / ${k.max}`,
          `${b.median} / ${b.p95} / ${b.max}`,
          `${interval} ms`,
        ]);
      }
    }
    if (json) process.stdout.write(`${JSON.stringify({ summary, rpcPerSecondPerRunbook, samples }, null, 2)}\n`);
    else {
      process.stdout.write(`${table(rows)}\n\n`);
      process.stdout.write(
        `Temporal frontend requests while ${waiters.length} runbooks wait (worker alive, ${windowMs / 1000} s): ` +
          `${rpcPerSecondPerRunbook.toFixed(3)} per second per waiting runbook at a ${interval} ms poll interval\n`,
      );
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
