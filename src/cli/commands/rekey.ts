import type { Command } from 'commander';
import type { RekeyInput } from '../../../workflows/inputs';
import { rekeyResultJson } from '../json-output';
import { PLAN_OPTION, printPlan, refuseWithPlan } from '../plan-command';
import { reportStarted, startRunbook } from '../start';
import { run } from '../run';

const REKEY_FLAGS: Record<string, string> = {
  provider: '--provider',
  'provider.id': '--provider',
  'provider.name': '--provider',
  ifBusy: '--if-busy',
  requestedBy: '--by',
};

export function registerRekey(program: Command): void {
  program
    .command('rekey')
    .description('rekey the software encryption-at-rest master key (procedure 2)')
    .argument('<cluster>', 'cluster name from the clusters file')
    .option('--provider <id|name>', 'key provider by id or name (default: the active provider)')
    .option('--internal', 'move the master key to internal key management')
    .option('--if-busy <fail|wait>', 'when another runbook is changing the cluster', 'fail')
    .option('--by <name>', 'who asked (recorded in the run)')
    .option('--wait', 'follow progress until the rekey ends')
    .option('--json', 'machine-readable output')
    .option(...PLAN_OPTION)
    .action(
      (
        cluster: string,
        opts: {
          provider?: string;
          internal?: boolean;
          ifBusy: string;
          by?: string;
          wait?: boolean;
          json?: boolean;
          plan?: boolean;
        },
      ) =>
        run(async (ctx, out) => {
          const input: RekeyInput = {
            cluster,
            keyManagement: opts.internal ? 'internal' : 'external',
            ifBusy: opts.ifBusy as 'fail' | 'wait',
            requestedBy: opts.by,
          };
          if (opts.provider !== undefined)
            // A number is an id (refused unless positive, by the input's schema); anything else a name.
            input.provider = /^[-+]?\d+$/.test(opts.provider.trim()) ? { id: Number(opts.provider) } : { name: opts.provider };
          if (opts.plan) refuseWithPlan(opts);
          if (opts.plan) return printPlan(ctx, out, { runbook: 'rekey', input, flags: REKEY_FLAGS, json: opts.json });
          const handle = await startRunbook(ctx, { runbook: 'rekey', input, flags: REKEY_FLAGS });
          return reportStarted(ctx, handle, opts, out, rekeyResultJson);
        }),
    );
}
