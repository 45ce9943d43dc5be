import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import {
  backfillRekeySchedule,
  createRekeySchedule,
  deleteRekeySchedule,
  describeRekeySchedule,
  InvalidRekeyScheduleError,
  listRekeySchedules,
  pauseRekeySchedule,
  RekeyScheduleExistsError,
  rekeyScheduleOptions,
  ScheduleNotFoundError,
  triggerRekeySchedule,
  unpauseRekeySchedule,
  type RekeyScheduleOptions,
  type RekeyScheduleSummary,
} from '../../schedules/rekey-schedules';
import { workflowIds } from '../../../workflows/contract';
import { CliError, ExitCode } from '../exit-codes';
import { formatJson, scheduleListJson, scheduleSummaryJson } from '../json-output';
import { checkKnownCluster } from '../registry-check';
import { run } from '../run';
import { validateInput } from '../start';

function render(s: RekeyScheduleSummary): string {
  const target = s.keyManagement === 'internal' ? 'internal' : `external${s.provider ? ` ${JSON.stringify(s.provider)}` : ''}`;
  return [
    `${s.scheduleId} (cluster ${s.cluster}, rekey to ${target}): ${s.paused ? 'PAUSED' : 'active'}${s.note ? ` — ${s.note}` : ''}`,
    `  spec: ${s.spec}`,
    `  policies: overlap ${s.overlap}, catch-up window ${s.catchupWindowMs}ms, pause on failure ${s.pauseOnFailure}`,
    `  taken ${s.actionsTaken}, skipped (overlap) ${s.actionsSkippedOverlap}, missed (catch-up window) ${s.actionsMissedCatchupWindow}`,
    `  next: ${s.nextActionTimes.slice(0, 3).join(', ') || 'none'}`,
    ...s.runningWorkflowIds.map((id) => `  running: ${id}`),
    ...s.recentActions.slice(-3).map((a) => `  ran: ${a.scheduledAt} ${a.workflowId}`),
  ].join('\n');
}

async function onSchedule<T>(cluster: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new CliError(`no rekey schedule for cluster ${cluster}`, ExitCode.notFound);
    throw err;
  }
}

function parseTime(flag: string, text: string): Date {
  const time = new Date(text);
  if (Number.isNaN(time.getTime()))
    throw new CliError(`${flag}: "${text}" is not a time (use ISO 8601, e.g. 2026-01-01T00:00:00Z)`, ExitCode.usage);
  return time;
}

interface CreateFlags {
  every?: string;
  cron?: string;
  calendar?: string;
  jitter?: string;
  catchupWindow: string;
  paused?: boolean;
  note?: string;
  provider?: string;
  internal?: boolean;
  json?: boolean;
}

function createOptions(cluster: string, flags: CreateFlags): RekeyScheduleOptions {
  const provider = flags.provider;
  return {
    cluster,
    every: flags.every,
    cron: flags.cron,
    calendar: flags.calendar,
    jitter: flags.jitter,
    catchupWindow: flags.catchupWindow,
    paused: Boolean(flags.paused),
    note: flags.note,
    keyManagement: flags.internal ? 'internal' : 'external',
    ...(provider !== undefined ? { provider: /^\d+$/.test(provider) ? { id: Number(provider) } : { name: provider } } : {}),
  };
}

export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description('periodic master-key rekeys (Temporal Schedules)');

  schedule
    .command('create')
    .description('one rekey schedule per cluster; a rekey still running when the next is due makes that one skipped')
    .argument('<cluster>', 'cluster name')
    .option('--every <duration>', 'interval, e.g. 90d (counted from the Unix epoch)')
    .option('--cron <expr>', 'cron expression in UTC, e.g. "0 3 1 */3 *"')
    .option('--calendar <spec>', 'in UTC, e.g. "dayOfMonth=1 month=JANUARY,APRIL,JULY,OCTOBER hour=3"')
    .option('--jitter <duration>', 'random delay added to each run, e.g. 2h')
    .option('--catchup-window <duration>', 'a run missed while Temporal was down still starts within this window', '1d')
    .option('--paused', 'create the schedule paused')
    .option('--note <text>', 'note shown with the schedule')
    .option('--provider <id|name>', 'key provider (default: the active one)')
    .option('--internal', 'rekey to internal key management')
    .option('--json', 'machine-readable output')
    .action((cluster: string, flags: CreateFlags) =>
      run(async (ctx, out) => {
        const options = createOptions(cluster, flags);
        validateInput(rekeyScheduleOptions, options);
        checkKnownCluster(ctx.settings, cluster);
        try {
          await createRekeySchedule(ctx.client, ctx.settings.EKM_TASK_QUEUE, options);
        } catch (err) {
          if (err instanceof RekeyScheduleExistsError) throw new CliError(err.message, ExitCode.refused);
          if (err instanceof InvalidRekeyScheduleError) throw new CliError(err.message, ExitCode.usage);
          throw err;
        }
        const summary = await describeRekeySchedule(ctx.client, cluster);
        out(flags.json ? formatJson(scheduleSummaryJson, summary) : render(summary));
        return ExitCode.ok;
      }),
    );

  schedule
    .command('list')
    .description('every rekey schedule')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      run(async ({ client }, out) => {
        const all = await listRekeySchedules(client);
        out(opts.json ? formatJson(scheduleListJson, all) : all.map(render).join('\n\n') || 'no rekey schedules');
        return ExitCode.ok;
      }),
    );

  schedule
    .command('describe')
    .description("a cluster's rekey schedule: spec, policies, next and recent runs")
    .argument('<cluster>')
    .option('--json', 'machine-readable output')
    .action((cluster: string, opts: { json?: boolean }) =>
      run(async ({ client }, out) => {
        const summary = await onSchedule(cluster, () => describeRekeySchedule(client, cluster));
        out(opts.json ? formatJson(scheduleSummaryJson, summary) : render(summary));
        return ExitCode.ok;
      }),
    );

  const withNote: Array<[string, string, (client: Client, cluster: string, note?: string) => Promise<void>]> = [
    ['pause', 'stop starting rekeys until unpaused (trigger and backfill still start one)', pauseRekeySchedule],
    ['unpause', 'start rekeys again', unpauseRekeySchedule],
  ];
  for (const [name, description, act] of withNote) {
    schedule
      .command(name)
      .description(description)
      .argument('<cluster>')
      .option('--note <text>', 'why (shown with the schedule)')
      .action((cluster: string, opts: { note?: string }) =>
        run(async ({ client }, out) => {
          await onSchedule(cluster, () => act(client, cluster, opts.note));
          out(`${name}: ${workflowIds.rekeySchedule(cluster)}`);
          return ExitCode.ok;
        }),
      );
  }

  const plain: Array<[string, string, (client: Client, cluster: string) => Promise<void>]> = [
    ['trigger', 'start a rekey now, even when paused (skipped if the last scheduled one still runs)', triggerRekeySchedule],
    ['delete', 'remove the schedule (a rekey it started goes on)', deleteRekeySchedule],
  ];
  for (const [name, description, act] of plain) {
    schedule
      .command(name)
      .description(description)
      .argument('<cluster>')
      .action((cluster: string) =>
        run(async ({ client }, out) => {
          await onSchedule(cluster, () => act(client, cluster));
          out(`${name}: ${workflowIds.rekeySchedule(cluster)}`);
          return ExitCode.ok;
        }),
      );
  }

  schedule
    .command('backfill')
    .description('run the rekeys the schedule would have run in a past period, even when paused (overlaps skipped)')
    .argument('<cluster>')
    .requiredOption('--from <iso-time>', 'start of the period')
    .option('--to <iso-time>', 'end of the period (default now)')
    .action((cluster: string, opts: { from: string; to?: string }) =>
      run(async ({ client }, out) => {
        const start = parseTime('--from', opts.from);
        const end = opts.to ? parseTime('--to', opts.to) : new Date();
        if (end <= start) throw new CliError('--to: must be a time after --from', ExitCode.usage);
        await onSchedule(cluster, () => backfillRekeySchedule(client, cluster, { start, end }));
        out(`backfill requested for ${start.toISOString()} .. ${end.toISOString()}`);
        return ExitCode.ok;
      }),
    );
}
