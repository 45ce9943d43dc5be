import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import {
  createRekeySchedule,
  describeRekeySchedule,
  listRekeySchedules,
  rekeyScheduleOptions,
  type RekeyScheduleOptions,
  type RekeyScheduleSummary,
} from '../../schedules/rekey-schedules';
import { rekeyScheduleId } from '../../../workflows/ids';
import { CliError, ExitCode } from '../exit-codes';
import { checkKnownCluster } from '../registry-check';
import { run } from '../run';
import { validateInput } from '../start';

function render(s: RekeyScheduleSummary): string {
  return [
    `${s.scheduleId} (cluster ${s.cluster}): ${s.paused ? 'PAUSED' : 'active'}${s.note ? ` — ${s.note}` : ''}`,
    `  spec: ${s.spec}`,
    `  policies: overlap ${s.overlap}, catch-up window ${s.catchupWindowMs}ms, pause on failure ${s.pauseOnFailure}`,
    `  taken ${s.actionsTaken}, skipped (overlap) ${s.actionsSkippedOverlap}`,
    `  next: ${s.nextActionTimes.slice(0, 3).join(', ') || 'none'}`,
    ...s.recentActions.slice(-3).map((a) => `  ran: ${a.scheduledAt} ${a.workflowId}`),
  ].join('\n');
}

async function onSchedule<T>(client: Client, cluster: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new CliError(`no rekey schedule for cluster ${cluster}`, ExitCode.notFound);
    throw err;
  }
}

export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description('periodic master-key rekeys (Temporal Schedules)');

  schedule
    .command('create')
    .argument('<cluster>', 'cluster name')
    .option('--every <duration>', 'interval, e.g. 90d')
    .option('--cron <expr>', 'cron expression, e.g. "0 3 1 */3 *"')
    .option('--calendar <spec>', 'e.g. "dayOfMonth=1 month=JANUARY,APRIL,JULY,OCTOBER hour=3"')
    .option('--jitter <duration>', 'random delay added to each run, e.g. 2h')
    .option('--catchup-window <duration>', 'a missed run still starts within this window', '1d')
    .option('--paused', 'create the schedule paused')
    .option('--note <text>', 'note shown with the schedule')
    .option('--provider <id|name>', 'key provider (default: the active one)')
    .option('--internal', 'rekey to internal key management')
    .option('--json', 'machine-readable output')
    .action((cluster: string, opts: Record<string, string | boolean | undefined>) =>
      run(async (ctx, out) => {
        const provider = opts.provider as string | undefined;
        const options: RekeyScheduleOptions = {
          cluster,
          every: opts.every as string | undefined,
          cron: opts.cron as string | undefined,
          calendar: opts.calendar as string | undefined,
          jitter: opts.jitter as string | undefined,
          catchupWindow: opts.catchupWindow as string,
          paused: Boolean(opts.paused),
          note: opts.note as string | undefined,
          keyManagement: opts.internal ? 'internal' : 'external',
          ...(provider !== undefined ? { provider: /^\d+$/.test(provider) ? { id: Number(provider) } : { name: provider } } : {}),
        };
        validateInput(rekeyScheduleOptions, options);
        checkKnownCluster(ctx.settings, cluster);
        try {
          await createRekeySchedule(ctx.client, ctx.settings.EKM_TASK_QUEUE, options);
        } catch (err) {
          if (err instanceof ScheduleAlreadyRunning) {
            throw new CliError(`cluster ${cluster} already has a rekey schedule (${rekeyScheduleId(cluster)})`, ExitCode.refused);
          }
          throw err;
        }
        const summary = await describeRekeySchedule(ctx.client, cluster);
        out(opts.json ? JSON.stringify(summary, null, 2) : render(summary));
        return ExitCode.ok;
      }),
    );

  schedule
    .command('list')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      run(async ({ client }, out) => {
        const all = await listRekeySchedules(client);
        out(opts.json ? JSON.stringify(all, null, 2) : all.map(render).join('\n\n') || 'no rekey schedules');
        return ExitCode.ok;
      }),
    );

  schedule
    .command('describe')
    .argument('<cluster>')
    .option('--json', 'machine-readable output')
    .action((cluster: string, opts: { json?: boolean }) =>
      run(async ({ client }, out) => {
        const summary = await onSchedule(client, cluster, () => describeRekeySchedule(client, cluster));
        out(opts.json ? JSON.stringify(summary, null, 2) : render(summary));
        return ExitCode.ok;
      }),
    );

  const simple: Array<[string, string, (h: ReturnType<Client['schedule']['getHandle']>, note?: string) => Promise<void>]> = [
    ['pause', 'stop starting rekeys until unpaused', (h, note) => h.pause(note ?? 'paused with ekm')],
    ['unpause', 'start rekeys again', (h, note) => h.unpause(note ?? 'unpaused with ekm')],
    ['trigger', 'start a rekey now (skipped if one is still running)', (h) => h.trigger()],
    ['delete', 'remove the schedule (running rekeys go on)', (h) => h.delete()],
  ];
  for (const [name, description, act] of simple) {
    schedule
      .command(name)
      .description(description)
      .argument('<cluster>')
      .option('--note <text>', 'recorded with pause/unpause')
      .action((cluster: string, opts: { note?: string }) =>
        run(async ({ client }, out) => {
          await onSchedule(client, cluster, () => act(client.schedule.getHandle(rekeyScheduleId(cluster)), opts.note));
          out(`${name}: ${rekeyScheduleId(cluster)}`);
          return ExitCode.ok;
        }),
      );
  }

  schedule
    .command('backfill')
    .description('run the rekeys the schedule would have run in a past period (overlaps skipped)')
    .argument('<cluster>')
    .requiredOption('--from <iso-time>', 'start of the period')
    .option('--to <iso-time>', 'end of the period (default now)')
    .action((cluster: string, opts: { from: string; to?: string }) =>
      run(async ({ client }, out) => {
        const start = new Date(opts.from);
        const end = opts.to ? new Date(opts.to) : new Date();
        if (Number.isNaN(start.getTime())) throw new CliError(`--from: "${opts.from}" is not a time`, ExitCode.usage);
        if (Number.isNaN(end.getTime()) || end <= start) throw new CliError('--to: must be a time after --from', ExitCode.usage);
        await onSchedule(client, cluster, () => client.schedule.getHandle(rekeyScheduleId(cluster)).backfill({ start, end }));
        out(`backfill requested for ${start.toISOString()} .. ${end.toISOString()}`);
        return ExitCode.ok;
      }),
    );
}
