/**
 * Histories from `ekm demo --fast`: runs the demo (or takes a folder where it already ran and
 * stopped), then starts a Temporal dev server of its own on the demo's SQLite database to read
 * what the demo's runs recorded.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { startTemporalDevServer } from '../devenv/temporal';
import { DEMO_CLUSTER } from '../demo/environment';
import { workflowIds } from '../../workflows/contract';
import { fetchRuns, type RecordedRun } from './history-files';

const DEMO_CLI = path.resolve(__dirname, '../../src/cli/main.js');
const SCENARIO = 'demo';

/** Runs the fast demo in `dataDir`; its output goes to `dataDir`/demo-output.log. */
export async function runFastDemo(dataDir: string): Promise<void> {
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dataDir, 'demo-output.log');
  const log = fs.openSync(logFile, 'a');
  try {
    const child = spawn(process.execPath, [DEMO_CLI, 'demo', '--fast', '--data-dir', dataDir], { stdio: ['ignore', log, log] });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`the demo exited with ${code}; see ${logFile}`);
  } finally {
    fs.closeSync(log);
  }
}

const progressFile = z.record(z.string(), z.object({ status: z.string() }).loose());

/** A folder is only read when the demo finished every phase there. */
function assertDemoCompleted(dataDir: string): void {
  const file = path.join(dataDir, 'demo-progress.json');
  if (!fs.existsSync(file)) throw new Error(`${dataDir} is not a demo data folder (no demo-progress.json)`);
  const phases = progressFile.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  const unfinished = Object.entries(phases).filter(([, p]) => p.status !== 'completed');
  if (unfinished.length > 0 || Object.keys(phases).length === 0) {
    throw new Error(
      `the demo in ${dataDir} has not completed: ${unfinished.map(([name, p]) => `${name} ${p.status}`).join(', ')}`,
    );
  }
}

/**
 * Every run of the demo's runbooks and of its cluster lock. The demo must not be running: its
 * dev server would share the database file with the one started here.
 */
export async function recordDemo(dataDir: string, log: (line: string) => void): Promise<RecordedRun[]> {
  assertDemoCompleted(dataDir);
  const temporal = await startTemporalDevServer({ dir: path.join(dataDir, 'temporal'), persist: true });
  log(`reading the demo's histories from ${temporal.dbFile} (dev server ${temporal.address})`);
  const connection = await Connection.connect({ address: temporal.address });
  try {
    const client = new Client({ connection, namespace: temporal.namespace });
    const ids = [
      workflowIds.setup(DEMO_CLUSTER),
      workflowIds.rekey(DEMO_CLUSTER),
      workflowIds['recover-kmip-server-fault'](DEMO_CLUSTER),
      workflowIds['recover-slice-service'](DEMO_CLUSTER),
      workflowIds.clusterLock(DEMO_CLUSTER),
    ];
    const runs: RecordedRun[] = [];
    for (const id of ids) runs.push(...(await fetchRuns(client, id, SCENARIO)));
    return runs;
  } finally {
    await connection.close();
    await temporal.stop();
  }
}
