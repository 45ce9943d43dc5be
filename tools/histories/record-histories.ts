#!/usr/bin/env node
/**
 * Records the workflow histories the replay tests (test/workflows/replay.test.ts) replay: every
 * run of the fast demo (setup, rekey, both recoveries, the cluster lock), plus scenarios driven
 * directly against a simulator (manual certificate with a rejected submission and a "retry"
 * answer, a kmipServerFault recovery and a fault watcher that continue as new, a rekey attaching
 * to a running one, a renewal whose certificate is put back before a "change", a fleet rekey over
 * two clusters one at a time). Each
 * history is checked for secrets before it is written. `npm run record-histories`.
 *
 * Never re-record to make a replay test pass after a workflow change: that hides exactly the
 * break the test exists to find. Guard the change with patched() instead (test/histories/README.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { recordDemo, runFastDemo } from './demo-source';
import { fetchRuns, writeHistories, type RecordedRun } from './history-files';
import { startLab } from '../devenv/lab';
import {
  faultWatcherNotifyOnly,
  fleetRekeyOneAtATime,
  recoverKmipContinuedAsNew,
  rekeyAttachRunning,
  renewRollbackChange,
  setupManualCertRetry,
  type ScenarioRuns,
} from './scenarios';
import { assertNoSecrets, collectSecrets } from './secrets';

const USAGE = `Usage: node dist/tools/histories/record-histories.js [--demo-dir DIR] [--out DIR] [--keep]

  --demo-dir DIR  read the histories of a demo that already ran (and stopped) in DIR
                  instead of running \`ekm demo --fast\` in a new temporary folder
  --out DIR       where the JSON histories go (default: test/histories); other .json files there are removed
  --keep          keep the temporary folders (server logs, simulator state)
`;

const ROOT = path.resolve(__dirname, '../../..');

async function recordLabScenarios(dir: string, log: (line: string) => void): Promise<RecordedRun[]> {
  // The cluster lock idles out quickly, so its runs complete and their histories are whole.
  const lab = await startLab(dir, { taskQueue: 'ekm-record', lockTiming: { livenessCheckMs: 1000, idleExitMs: 2000 }, log });
  try {
    const scenarios: ScenarioRuns[] = [];
    log('scenario: setup with manual signing, a rejected certificate and a "retry" answer');
    const setupCluster = await lab.addCluster('manual-cert', {
      softwareEncryptionAtRest: false,
      durations: { earTransitionMs: 500, tickMs: 50, faultRefreshMs: 100 },
    });
    scenarios.push(await setupManualCertRetry(lab, setupCluster));
    log('scenario: kmipServerFault recovery waiting across continue-as-new');
    scenarios.push(await recoverKmipContinuedAsNew(lab, setupCluster));
    log('scenario: rekey attaching to a rekey already running');
    const rekeyCluster = await lab.addCluster('attach', {
      softwareEncryptionAtRest: true,
      durations: { tickMs: 50, faultRefreshMs: 100 },
    });
    scenarios.push(await rekeyAttachRunning(lab, rekeyCluster));
    log('scenario: notify-only fault watcher continuing as new');
    scenarios.push(await faultWatcherNotifyOnly(lab, rekeyCluster));
    log('scenario: renewal whose first certificate fails the tests, put back, then a "change"');
    const renewCluster = await lab.addCluster('renew', {
      softwareEncryptionAtRest: false,
      durations: { tickMs: 50, faultRefreshMs: 100 },
    });
    scenarios.push(await renewRollbackChange(lab, renewCluster));
    log('scenario: a fleet rekey over two clusters, one at a time');
    const fleetClusters = [];
    for (const name of ['fleet-a', 'fleet-b'])
      fleetClusters.push(await lab.addCluster(name, { softwareEncryptionAtRest: true, durations: { tickMs: 50, faultRefreshMs: 100 } }));
    scenarios.push(await fleetRekeyOneAtATime(lab, fleetClusters));
    const runs: RecordedRun[] = [];
    for (const { scenario, workflowIds } of scenarios) {
      for (const id of workflowIds) runs.push(...(await fetchRuns(lab.client, id, scenario)));
    }
    return runs;
  } finally {
    await lab.stop();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'demo-dir': { type: 'string' },
      out: { type: 'string', default: path.join(ROOT, 'test', 'histories') },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = (line: string) => process.stdout.write(`${line}\n`);
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-record-'));
  const demoDir = values['demo-dir'] ? path.resolve(values['demo-dir']) : path.join(scratch, 'demo');
  try {
    if (!values['demo-dir']) {
      log(`running the fast demo in ${demoDir}`);
      await runFastDemo(demoDir);
    }
    const runs = await recordDemo(demoDir, log);
    const labDir = path.join(scratch, 'lab');
    runs.push(...(await recordLabScenarios(labDir, log)));

    const secrets = [...collectSecrets(demoDir), ...collectSecrets(labDir)];
    if (secrets.length === 0) throw new Error('found no secrets to look for: the secret scan would prove nothing');
    for (const run of runs) assertNoSecrets(run.name, run.history, secrets);
    log(`no private key and none of ${secrets.length} secret values in any history`);

    const written = writeHistories(path.resolve(values.out), runs);
    for (const [i, w] of written.entries()) {
      const run = runs[i]!;
      log(
        `  ${path.relative(ROOT, w.file).padEnd(55)} ${String(w.events).padStart(4)} events ${String(w.bytes).padStart(7)} B  ${run.status}`,
      );
    }
    log(`${written.length} histories, ${written.reduce((sum, w) => sum + w.bytes, 0)} bytes`);
    return 0;
  } finally {
    if (values.keep) log(`kept ${scratch}`);
    else fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`record-histories: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${USAGE}`);
    process.exit(1);
  },
);
