/**
 * `ekm demo`: everything on this machine, on embedded defaults. Starts the local servers, the
 * simulated cluster and a worker, runs the four runbooks with live progress, prints a summary.
 * Ctrl-C stops what it started; running it again resumes where it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { formatDuration } from '../../src/durations';
import type { DemoModule } from '../../src/cli/tooling';
import { startDemoEnvironment } from './environment';
import { demoLogFunction } from './worker-log';
import { DemoScenario, SIMULATOR_DURATIONS, type DemoSpeed, type PhaseSummary } from './scenario';

export type DemoOptions = Parameters<DemoModule['runDemo']>[0];

function printSummary(summaries: PhaseSummary[], log: (line: string) => void): void {
  log('\nSummary');
  log(`  ${'RUNBOOK'.padEnd(27)} ${'RESULT'.padEnd(10)} ${'TIME'.padEnd(8)} ${'ELEMENT CALLS'.padEnd(14)} OUTCOME`);
  for (const s of summaries) {
    log(
      `  ${s.runbook.padEnd(27)} ${s.status.padEnd(10)} ${formatDuration(s.durationMs).padEnd(8)} ${String(s.elementCalls).padEnd(14)} ${s.outcome}`,
    );
  }
  const completed = summaries.filter((s) => s.status === 'completed').length;
  log(`\n${completed} of ${summaries.length} runbooks completed.`);
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  // The demo stops its worker itself on Ctrl-C (after saving where it was).
  // One line per warning, no stacks: an aborted run is an outcome here, not a crash (worker-log.ts).
  Runtime.install({ logger: new DefaultLogger('WARN', demoLogFunction()), shutdownSignals: [] });
  if (options.fresh) fs.rmSync(options.dataDir, { recursive: true, force: true });
  fs.mkdirSync(options.dataDir, { recursive: true });
  const resumed = fs.existsSync(path.join(options.dataDir, 'demo-progress.json'));
  log(
    resumed
      ? `Resuming the demo kept in ${options.dataDir}`
      : `Demo data in ${options.dataDir} (run again to resume, --fresh to start over)`,
  );

  // Until everything is up, Ctrl-C ends the demo at once. Exiting (unlike dying of the signal) runs
  // the exit hook that kills the servers started so far (src/devenv/child.ts).
  const duringStartup = () => {
    log('\nStopped during start-up.');
    process.exit(130);
  };
  process.on('SIGINT', duringStartup);
  process.on('SIGTERM', duringStartup);
  const env = await startDemoEnvironment(options.dataDir, SIMULATOR_DURATIONS[options.speed], (line) => log(`  ${line}`));
  process.off('SIGINT', duringStartup);
  process.off('SIGTERM', duringStartup);
  let stopping = false;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    stop();
    log('\nStopping (the runbooks keep their place; run the demo again to resume)…');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const connection = await Connection.connect({ address: env.stack.temporal.address });
  try {
    log(`  Temporal UI:      ${env.uiUrl}`);
    log(
      `  Temporal address: ${env.stack.temporal.address}   (ekm status|list|answer work with TEMPORAL_ADDRESS=${env.stack.temporal.address} EKM_TASK_QUEUE=ekm-demo)`,
    );
    log(`  Simulated cluster ${env.cluster.sim.url}, KMIP server 127.0.0.1:${env.stack.kmip.port}, CA ${env.stack.cfssl.url}`);
    log(`  Console:          ${env.console.url}   (sign in as ${env.console.user} with token ${env.console.token})`);
    const scenario = new DemoScenario(env, new Client({ connection }), options.speed, log);
    const summaries = await scenario.run(() => stopping);
    if (stopping) return 130;
    printSummary(summaries, log);
    if (options.summaryJson) fs.writeFileSync(options.summaryJson, JSON.stringify({ runbooks: summaries }, null, 2));
    if (options.keep) {
      // --keep: the finished runs stay to be looked at (console, Temporal UI, ekm commands) until Ctrl-C.
      log(`\nKeeping everything running (--keep) until Ctrl-C:`);
      log(`  Console:     ${env.console.url}   (sign in as ${env.console.user} with token ${env.console.token})`);
      log(`  Temporal UI: ${env.uiUrl}`);
      log(
        `  ekm:         TEMPORAL_ADDRESS=${env.stack.temporal.address} EKM_TASK_QUEUE=ekm-demo EKM_CLUSTERS_FILE=${path.join(options.dataDir, 'clusters.yaml')} scripts/ekm list --all`,
      );
      await stopped;
    }
    return summaries.every((s) => s.status === 'completed') ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await connection.close();
    await env.stop();
  }
}
