import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { progressQuery, watcherStatusQuery, workflowIds } from '../../../workflows/contract';
import { describeIssues, duration } from '../../../workflows/inputs';
import type { FaultWatcherInput } from '../../../workflows/inputs-recovery';
import { formatDuration } from '../../durations';
import { CliError, ExitCode } from '../exit-codes';
import { formatJson, watchReportJson, type WatchReport } from '../json-output';
import { run } from '../run';
import { addSignerFlags, signerFromFlags, type SignerFlags } from '../signer-flags';
import { reportStarted, startRunbook } from '../start';

async function watchReport(client: Client, cluster: string): Promise<WatchReport> {
  const handle = client.workflow.getHandle(workflowIds['fault-watcher'](cluster));
  try {
    const description = await handle.describe();
    const report: WatchReport = { workflowId: handle.workflowId, runId: description.runId, status: description.status.name };
    if (description.status.name === 'RUNNING') {
      report.watch = await handle.query(watcherStatusQuery.definition);
      report.progress = await handle.query(progressQuery.definition);
    }
    return report;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(`cluster ${cluster} is not watched (ekm watch start ${cluster})`, ExitCode.notFound);
    throw err;
  }
}

export function renderWatch(cluster: string, report: WatchReport): string {
  const w = report.watch;
  if (!w) return `cluster ${cluster} is not watched (the last watcher ${report.workflowId} is ${report.status.toLowerCase()})`;
  const lines = [
    `watching ${cluster} every ${formatDuration(w.intervalMs)}, ${w.notifyOnly ? 'notify only' : `starting recoveries${w.renewal ? ' and renewals' : ''}`}   ${report.workflowId}`,
    `polls: ${w.polls}, last ${w.lastPollAt ?? 'not yet'}${w.lastPollError ? `, last error: ${w.lastPollError}` : ''}`,
  ];
  const c = w.certificates;
  if (c) {
    lines.push(
      `certificates: ${c.warningsSent} warning${c.warningsSent === 1 ? '' : 's'} sent; expiring within ${formatDuration(c.horizonMs)}: ${c.expiring.length || 'none'}; last check ${c.lastCheckAt ?? 'not yet'}${c.lastCheckError ? `, last error: ${c.lastCheckError}` : ''}`,
    );
    for (const e of c.expiring)
      lines.push(`  key server ${e.keyServerID} ${e.certificate} ${e.subject}: notAfter ${e.notAfter} (${e.daysLeft} days)`);
  }
  const current = w.faultsSeen.filter((f) => f.current);
  lines.push(current.length > 0 ? 'current faults:' : 'current faults: none');
  for (const f of current) lines.push(`  ${f.clusterFaultID} ${f.code} ${f.severity} since ${f.firstSeenAt}: ${f.details}`);
  lines.push(w.recoveries.length > 0 ? 'recoveries:' : 'recoveries: none');
  for (const r of w.recoveries) {
    lines.push(
      `  ${r.at} ${r.code} (faults ${r.faultIDs.join(', ')}): ${r.outcome} ${r.workflowId}${r.error ? ` — ${r.error}` : ''}`,
    );
  }
  return lines.join('\n');
}

/**
 * --certificate-horizon / --no-certificate-warnings -> the watcher's certificateExpiry input
 * (undefined: the default). The horizon is checked here, naming the flag: inside the input's
 * union (false or an object) a bad duration was reported as `certificateExpiry: Invalid input`.
 * Throws CliError (exit 2).
 */
export function certificateExpiryFromFlags(
  opts: Pick<WatchStartFlags, 'certificateHorizon' | 'certificateWarnings'>,
): FaultWatcherInput['certificateExpiry'] {
  if (!opts.certificateWarnings) {
    if (opts.certificateHorizon !== undefined)
      throw new CliError('--certificate-horizon and --no-certificate-warnings exclude each other', ExitCode.usage);
    return false;
  }
  if (opts.certificateHorizon === undefined) return undefined;
  const horizon = duration.safeParse(opts.certificateHorizon);
  if (!horizon.success)
    throw new CliError(`invalid input: ${describeIssues(horizon.error, { '': '--certificate-horizon' })}`, ExitCode.usage);
  return { horizon: opts.certificateHorizon };
}

interface WatchStartFlags extends SignerFlags {
  notifyOnly?: boolean;
  interval?: string;
  renew?: boolean;
  certificateHorizon?: string;
  /** commander's --no-certificate-warnings: false when given. */
  certificateWarnings: boolean;
  by?: string;
  json?: boolean;
}

export function registerWatch(program: Command): void {
  const watch = program
    .command('watch')
    .description('the fault watcher: starts the matching recovery when a cluster raises a fault');

  const start = watch
    .command('start')
    .description('watch a cluster (the opt-in): poll its faults and start recoveries, or only notify')
    .argument('<cluster>', 'cluster name from the clusters file');
  addSignerFlags(start)
    .option('--notify-only', 'only notify about new faults; start no recovery')
    .option('--interval <duration>', 'how often to poll ListClusterFaults (default 60s)')
    .option(
      '--renew',
      'start a renewal (ekm renew) on kmipCertificateFault, signed as the signing flags say (manual: it waits for a person)',
    )
    .option(
      '--certificate-horizon <duration>',
      'warn (certificate-expiring) about key server certificates expiring within this (default 60d)',
    )
    .option('--no-certificate-warnings', 'no certificate-expiring warnings')
    .option('--by <name>', 'who asked (recorded)')
    .option('--json', 'machine-readable output')
    .action((cluster: string, opts: WatchStartFlags) =>
      run(async (ctx, out) => {
        const input: FaultWatcherInput = { cluster, notifyOnly: Boolean(opts.notifyOnly), requestedBy: opts.by };
        if (opts.interval !== undefined) input.interval = opts.interval;
        const signer = signerFromFlags(opts);
        if (signer && !opts.renew) throw new CliError('the signing flags go with --renew', ExitCode.usage);
        if (opts.renew) input.renewal = { signer: signer ?? { type: 'manual' } };
        const certificateExpiry = certificateExpiryFromFlags(opts);
        if (certificateExpiry !== undefined) input.certificateExpiry = certificateExpiry;
        const handle = await startRunbook(ctx, {
          runbook: 'fault-watcher',
          input,
          flags: { interval: '--interval', requestedBy: '--by' },
        });
        return reportStarted(ctx, handle, { json: opts.json }, out);
      }),
    );

  watch
    .command('stop')
    .description('stop watching a cluster (recoveries it started keep running)')
    .argument('<cluster>', 'cluster name')
    .option('--json', 'machine-readable output')
    .action((cluster: string, opts: { json?: boolean }) =>
      run(async ({ client }, out) => {
        const report = await watchReport(client, cluster);
        if (report.status !== 'RUNNING') throw new CliError(renderWatch(cluster, report), ExitCode.notFound);
        const handle = client.workflow.getHandle(report.workflowId);
        await handle.cancel();
        let timer: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 30_000)));
        const result = await Promise.race([handle.result(), gaveUp]).finally(() => clearTimeout(timer));
        if (opts.json) out(JSON.stringify({ workflowId: report.workflowId, stopped: true, result }, null, 2));
        else out(`stopped watching ${cluster} (${report.workflowId}, ${report.watch?.polls ?? 0} polls)`);
        return ExitCode.ok;
      }),
    );

  watch
    .command('status')
    .description('last poll, faults seen and recoveries started')
    .argument('<cluster>', 'cluster name')
    .option('--json', 'machine-readable output')
    .action((cluster: string, opts: { json?: boolean }) =>
      run(async ({ client }, out) => {
        const report = await watchReport(client, cluster);
        out(opts.json ? formatJson(watchReportJson, report) : renderWatch(cluster, report));
        return report.watch ? ExitCode.ok : ExitCode.notFound;
      }),
    );
}
