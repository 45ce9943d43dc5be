import type { Command } from 'commander';
import type { RecoverKmipInput, RecoverSliceInput } from '../../../workflows/inputs-recovery';
import { CliError, ExitCode } from '../exit-codes';
import { PLAN_OPTION, printPlan, refuseWithPlan } from '../plan-command';
import { run } from '../run';
import { reportStarted, startRunbook, type StartRequest } from '../start';

interface RecoverOptions {
  deadline?: string;
  settle?: string;
  attempts?: string;
  drives?: string;
  ifBusy?: string;
  by?: string;
  wait?: boolean;
  json?: boolean;
  plan?: boolean;
}

function onlyFor(fault: string, opts: RecoverOptions, names: (keyof RecoverOptions)[]): void {
  const given = names.filter((n) => opts[n] !== undefined);
  if (given.length > 0) {
    const flags = given.map((n) => `--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
    throw new CliError(`${flags}: not an option of the ${fault} recovery`, ExitCode.usage);
  }
}

function integer(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim())) throw new CliError(`${flag}: "${text}" is not a whole number`, ExitCode.usage);
  return Number(text);
}

const RECOVER_FLAGS: Record<string, string> = {
  deadline: '--deadline',
  settle: '--settle',
  attempts: '--attempts',
  driveIDs: '--drives',
  ifBusy: '--if-busy',
  requestedBy: '--by',
};

/** The start request for `ekm recover <cluster> kmip|slice`, from the command line. */
export function recoverRequest(
  cluster: string,
  fault: string,
  opts: RecoverOptions,
): StartRequest<'recover-kmip-server-fault'> | StartRequest<'recover-slice-service'> {
  if (fault === 'kmip') {
    onlyFor('kmip', opts, ['settle', 'attempts', 'drives', 'ifBusy']);
    const input: RecoverKmipInput = { cluster, requestedBy: opts.by };
    if (opts.deadline !== undefined) input.deadline = opts.deadline;
    return { runbook: 'recover-kmip-server-fault', input, flags: RECOVER_FLAGS };
  }
  if (fault === 'slice') {
    onlyFor('slice', opts, ['deadline']);
    const input: RecoverSliceInput = { cluster, requestedBy: opts.by };
    if (opts.settle !== undefined) input.settle = opts.settle;
    if (opts.attempts !== undefined) input.attempts = integer(opts.attempts, '--attempts');
    if (opts.ifBusy !== undefined) input.ifBusy = opts.ifBusy as 'fail' | 'wait';
    if (opts.drives !== undefined) input.driveIDs = opts.drives.split(',').map((id) => integer(id, '--drives'));
    return { runbook: 'recover-slice-service', input, flags: RECOVER_FLAGS };
  }
  throw new CliError(`unknown fault "${fault}": choose kmip (kmipServerFault) or slice (sliceServiceUnhealthy)`, ExitCode.usage);
}

export function registerRecover(program: Command): void {
  program
    .command('recover')
    .description(
      'recover from a cluster fault: kmip = kmipServerFault (procedure 3), slice = sliceServiceUnhealthy (procedure 4)',
    )
    .argument('<cluster>', 'cluster name from the clusters file')
    .argument('<fault>', 'kmip | slice')
    .option('--deadline <duration>', 'kmip: notify "escalated" when not fixed after this long (default 2h; it keeps waiting)')
    .option('--settle <duration>', 'slice: the wait after the drives are added back (default 4m)')
    .option('--attempts <n>', 'slice: rounds of add, settle and verify before escalating (default 2)')
    .option('--drives <ids>', 'slice: only these drive ids, comma-separated (each must be a failed metadata drive)')
    .option('--if-busy <fail|wait>', 'slice: when another runbook is changing the cluster (default fail)')
    .option('--by <name>', 'who asked (recorded in the run)')
    .option('--wait', 'follow progress until the recovery ends')
    .option('--json', 'machine-readable output')
    .option(...PLAN_OPTION)
    .action((cluster: string, fault: string, opts: RecoverOptions) =>
      run(async (ctx, out) => {
        const request = recoverRequest(cluster, fault, opts);
        if (opts.plan) refuseWithPlan(opts);
        if (opts.plan) return printPlan(ctx, out, { ...request, json: opts.json } as Parameters<typeof printPlan>[2]);
        const handle = await startRunbook(ctx, request);
        return reportStarted(ctx, handle, opts, out);
      }),
    );
}
