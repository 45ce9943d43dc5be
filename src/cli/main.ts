#!/usr/bin/env node
/** `ekm`: start runbooks, see where they stand, answer them. Run `ekm --help`. */
import { Command } from 'commander';
import { CliError, ExitCode } from './exit-codes';
import { registerCert } from './commands/cert';
import { registerFleet } from './commands/fleet';
import { registerCodecServer } from './commands/codec-server';
import { registerConsole } from './commands/console';
import { registerLocalCommands, runSimulatorCommand } from './commands/local';
import { registerRecover } from './commands/recover';
import { registerRekey } from './commands/rekey';
import { registerRenew } from './commands/renew';
import { registerReport } from './commands/report';
import { registerRunCommands } from './commands/runs';
import { registerSchedule } from './commands/schedule';
import { registerWatch } from './commands/watch';
import { registerSetup } from './commands/setup';
import { setCommandTimeout } from './run';

const program = new Command();
program
  .name('ekm')
  .description('Durable runbooks for NetApp Element external key management (KMIP)')
  .showHelpAfterError()
  .addHelpText(
    'after',
    '\nTemporal connection and the clusters file come from the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,\nEKM_TASK_QUEUE, EKM_CLUSTERS_FILE, TEMPORAL_TLS_* (see README).\n\nsetup, rekey, renew and recover take --plan: what the run would do, read from the cluster without changing it\n(exit 0: it could start, 4: its precheck would refuse).\n\nExit codes: 0 ok, 1 runbook failed, 2 bad input (nothing started), 3 not found, 4 refused/busy, 5 Temporal unreachable.',
  );
program.option('--timeout <duration>', 'longest a command waits for Temporal and the worker (default 30s)');
program.hook('preAction', (command) => setCommandTimeout(command.optsWithGlobals<{ timeout?: string }>().timeout));
program.exitOverride((err) => {
  process.exit(err.exitCode === 0 ? 0 : 2);
});

// Output to a closed pipe (`ekm list --json | head`) ends the command quietly, as Unix tools do,
// with the exit code the command already knew (a plan's refusal), else 0.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok);
  throw err;
});

registerSetup(program);
registerRekey(program);
registerRenew(program);
registerRunCommands(program);
registerCert(program);
registerSchedule(program);
registerRecover(program);
registerWatch(program);
registerReport(program);
registerFleet(program);
registerConsole(program);
registerCodecServer(program);
registerLocalCommands(program);

const WORKER_USAGE = `Usage: ekm worker

Runs a worker: it polls the task queue (EKM_TASK_QUEUE) on Temporal (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_TLS_*) and runs the runbooks against the clusters of the clusters file
(EKM_CLUSTERS_FILE, read again when it changes). Settings come from the environment or the file
named by EKM_CONFIG_FILE (see README, Configuration). SIGINT/SIGTERM stop it gracefully.
`;

async function main(argv: string[]): Promise<void> {
  // These two hand their arguments to their own parsers.
  if (argv[2] === 'simulator') return runSimulatorCommand(argv.slice(3));
  if (argv[2] === 'worker') {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(WORKER_USAGE);
      return;
    }
    await import('../../worker/main');
    return;
  }
  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`ekm: ${(err as Error).message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : ExitCode.usage);
});
