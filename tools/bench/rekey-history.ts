#!/usr/bin/env node
/**
 * Benchmark, not a test: does waiting longer grow the rekey runbook's history? Runs one rekey
 * whose simulated job takes --short (default 2s) and one whose job takes --long (default 10m),
 * with the runbook's default polling, and prints history events, history bytes, wall time and
 * the GetAsyncResult calls the cluster saw, side by side. `npm run bench:rekey -- --long 10m`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { formatDuration } from '../../src/durations';
import { describeIssues, duration } from '../../workflows/inputs';
import type { RekeyResult } from '../../workflows/rekey';
import { runbooks, runbookStart } from '../../workflows/runbooks';
import { startLab, type Lab, type LabCluster } from '../devenv/lab';
import { parseBenchFlags } from './bench-flags';

const USAGE = `Usage: node dist/tools/bench/rekey-history.js [--short 2s] [--long 10m] [--dir DIR] [--keep] [--json]

  --short D   simulated duration of the short rekey job (default 2s)
  --long D    simulated duration of the long rekey job (default 10m)
  --dir DIR   where the servers keep their files (default: a new temporary folder)
  --keep      keep that folder afterwards (server logs)
  --json      print the measurements as JSON instead of a table
`;

const flags = z.strictObject({
  short: duration.prefault('2s'),
  long: duration.prefault('10m'),
  dir: z.string().min(1).optional(),
  keep: z.boolean().default(false),
  json: z.boolean().default(false),
});

interface Measurement {
  label: string;
  jobMs: number;
  historyEvents: number;
  historyBytes: number;
  wallMs: number;
  getAsyncResultCalls: number;
  /** The attempt that finished the polling activity: attempts before it left no events. */
  pollActivityAttempt: number;
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

function lastAttemptOf(history: History, activityType: string): number {
  const events = history.events ?? [];
  const scheduled = events
    .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType)
    .map((e) => Number(e.eventId));
  const started = events.filter((e) => scheduled.includes(Number(e.activityTaskStartedEventAttributes?.scheduledEventId ?? -1)));
  return Math.max(0, ...started.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0));
}

async function measure(
  lab: Lab,
  cluster: LabCluster,
  label: string,
  jobMs: number,
  log: (line: string) => void,
): Promise<Measurement> {
  await cluster.sim.control.setDurations({ rekeyMs: jobMs });
  const callsBefore = (await cluster.sim.control.calls({ method: 'GetAsyncResult' })).length;
  log(`${label}: rekey with a ${formatDuration(jobMs)} job`);
  const started = Date.now();
  const handle = await lab.client.workflow.start(
    runbooks.rekey.workflow,
    runbookStart('rekey', { cluster: cluster.name }, { taskQueue: lab.taskQueue, workflowId: `bench-rekey-${label}-${started}` }),
  );
  const ticker = setInterval(() => log(`${label}: ${formatDuration(Date.now() - started)} elapsed`), 60_000);
  let result: RekeyResult;
  try {
    result = await handle.result();
  } finally {
    clearInterval(ticker);
  }
  const wallMs = Date.now() - started;
  const description = await handle.describe();
  const history = await handle.fetchHistory();
  const calls = (await cluster.sim.control.calls({ method: 'GetAsyncResult' })).length - callsBefore;
  log(`${label}: done in ${formatDuration(wallMs)}, new key ${result.newKey.keyID}`);
  return {
    label,
    jobMs,
    historyEvents: description.historyLength,
    historyBytes: description.historySize ?? NaN,
    wallMs,
    getAsyncResultCalls: calls,
    pollActivityAttempt: lastAttemptOf(history, 'awaitMasterKeyRekey'),
  };
}

function table(rows: Measurement[]): string {
  const lines: Array<[string, ...string[]]> = [
    ['', ...rows.map((r) => `${r.label} (${formatDuration(r.jobMs)} job)`)],
    ['history events', ...rows.map((r) => String(r.historyEvents))],
    ['history size (bytes)', ...rows.map((r) => String(r.historyBytes))],
    ['wall time', ...rows.map((r) => formatDuration(r.wallMs))],
    ['GetAsyncResult calls', ...rows.map((r) => String(r.getAsyncResultCalls))],
    ['poll activity attempts', ...rows.map((r) => String(r.pollActivityAttempt))],
  ];
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines
    .map((l) =>
      l
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

async function main(): Promise<number> {
  const options = parseBenchFlags(
    {
      short: { type: 'string' },
      long: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    flags,
    USAGE,
  );
  if (typeof options === 'number') return options;
  const { short, long, keep, json } = options;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-bench-'));
  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString()}] ${line}\n`);
  Runtime.install({ logger: new DefaultLogger('WARN') });

  const lab = await startLab(dir, { taskQueue: 'ekm-bench', log });
  const stop = async () => {
    await lab.stop();
    if (!keep && !options.dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const cluster = await lab.addCluster('bench', { softwareEncryptionAtRest: true, durations: { tickMs: 100 } });
    log('configuring EKM on the simulated cluster');
    await cluster.configureEkm('bench-cluster.example.test');
    const rows = [await measure(lab, cluster, 'short', short, log), await measure(lab, cluster, 'long', long, log)];
    process.stdout.write(`${json ? JSON.stringify(rows, null, 2) : table(rows)}\n`);
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
