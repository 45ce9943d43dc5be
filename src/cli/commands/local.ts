import type { Command } from 'commander';
import { loadTool } from '../tooling';

/** Commands that run things on this machine (no Temporal connection of their own); their code loads only when they run. */
export function registerLocalCommands(program: Command): void {
  program
    .command('demo')
    .description('run every runbook against a local simulated cluster (starts its own servers)')
    .option('--data-dir <dir>', 'where the demo keeps its state (resumed on the next run)', '.data/demo')
    .option('--fresh', 'forget an earlier demo and start over')
    .option('--fast', 'short simulated durations (CI)')
    .option('--summary-json <file>', 'also write the summary as JSON')
    .option('--keep', 'after the summary, keep everything running (console, Temporal UI, worker) until Ctrl-C')
    .action(async (opts: { dataDir: string; fresh?: boolean; fast?: boolean; summaryJson?: string; keep?: boolean }) => {
      process.exitCode = await loadTool('demo/main', 'demo').runDemo({
        dataDir: opts.dataDir,
        fresh: Boolean(opts.fresh),
        speed: opts.fast ? 'fast' : 'normal',
        summaryJson: opts.summaryJson,
        keep: Boolean(opts.keep),
      });
    });

  program
    .command('simulator')
    .description('run the Element cluster simulator as its own process (ekm simulator --help)')
    .helpOption(false);

  program.command('worker').description('run a worker (same as node dist/worker/main.js)');
}

/** `ekm simulator ...` hands its arguments to the simulator's own parser. */
export async function runSimulatorCommand(args: string[]): Promise<void> {
  await loadTool('simulator/main', 'simulator').runSimulatorMain(args);
}
