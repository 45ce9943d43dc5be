/**
 * Periodic master-key rekeys on Temporal Schedules, one schedule per cluster. Overlap SKIP (a
 * rekey still running means the next one is skipped, not queued), an explicit catch-up window,
 * and pause-on-failure: a failed rekey stops the schedule until a person looks. A scheduled
 * rekey takes the cluster lock like any runbook, waiting behind another one rather than failing.
 */
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type CalendarSpec,
  type Client,
  type ScheduleDescription,
  type ScheduleSpec,
} from '@temporalio/client';
import { z } from 'zod';
import { EkmCluster, EkmRunbook } from '../temporal/search-attributes';
import { rekeyScheduleId, workflowIds } from '../../workflows/ids';
import { clusterName, duration, rekeyInput, type RekeyInput } from '../../workflows/inputs';

const WEEKDAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'] as const;
const MONTHS = [
  'JANUARY', 'FEBRUARY', 'MARCH', 'APRIL', 'MAY', 'JUNE', 'JULY', 'AUGUST', 'SEPTEMBER', 'OCTOBER', 'NOVEMBER', 'DECEMBER',
] as const;
const CALENDAR_NUMBER_FIELDS = ['second', 'minute', 'hour', 'dayOfMonth', 'year'] as const;

/**
 * "dayOfMonth=1 month=JANUARY,APRIL,JULY,OCTOBER hour=3" -> CalendarSpec. Numbers may be ranges
 * ("hour=1-3"); month and dayOfWeek take names.
 */
export function parseCalendar(text: string): CalendarSpec {
  const spec: Record<string, unknown> = {};
  for (const part of text.split(/[\s;]+/).filter(Boolean)) {
    const [key, value] = part.split('=');
    if (!key || !value) throw new Error(`calendar: "${part}" is not key=value`);
    const items = value.split(',');
    if ((CALENDAR_NUMBER_FIELDS as readonly string[]).includes(key)) {
      spec[key] = items.map((item) => {
        const m = /^(\d+)(?:-(\d+))?$/.exec(item);
        if (!m) throw new Error(`calendar: ${key} "${item}" is not a number or range`);
        return m[2] ? { start: Number(m[1]), end: Number(m[2]) } : Number(m[1]);
      });
    } else if (key === 'month' || key === 'dayOfWeek') {
      const names: readonly string[] = key === 'month' ? MONTHS : WEEKDAYS;
      spec[key] = items.map((item) => {
        const name = item.toUpperCase();
        if (!names.includes(name)) throw new Error(`calendar: ${key} "${item}" is not one of ${names.join(', ')}`);
        return name;
      });
    } else {
      throw new Error(`calendar: unknown field "${key}" (use second, minute, hour, dayOfMonth, month, dayOfWeek, year)`);
    }
  }
  if (Object.keys(spec).length === 0) throw new Error('calendar: empty');
  return spec as CalendarSpec;
}

export const rekeyScheduleOptions = z
  .strictObject({
    cluster: clusterName,
    every: duration.optional(),
    cron: z.string().min(1).optional(),
    calendar: z.string().min(1).optional(),
    jitter: duration.optional(),
    /** A run missed (server down, say) still starts if the server is back within this window. */
    catchupWindow: duration.prefault('1d'),
    paused: z.boolean().default(false),
    note: z.string().max(500).optional(),
    provider: z.union([z.strictObject({ id: z.number().int().nonnegative() }), z.strictObject({ name: z.string().min(1) })]).optional(),
    keyManagement: z.enum(['external', 'internal']).default('external'),
  })
  .superRefine((o, ctx) => {
    const forms = [o.every, o.cron, o.calendar].filter((f) => f !== undefined).length;
    if (forms !== 1) ctx.addIssue({ code: 'custom', path: ['every'], message: 'give exactly one of every, cron or calendar' });
    if (o.calendar !== undefined) {
      try {
        parseCalendar(o.calendar);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['calendar'], message: (err as Error).message });
      }
    }
    if (o.every !== undefined && o.every < 60_000) ctx.addIssue({ code: 'custom', path: ['every'], message: 'must be at least 1m' });
  });

export type RekeyScheduleOptions = z.input<typeof rekeyScheduleOptions>;

function scheduleSpec(o: z.output<typeof rekeyScheduleOptions>): ScheduleSpec {
  return {
    ...(o.every !== undefined ? { intervals: [{ every: o.every }] } : {}),
    ...(o.cron !== undefined ? { cronExpressions: [o.cron] } : {}),
    ...(o.calendar !== undefined ? { calendars: [parseCalendar(o.calendar)] } : {}),
    ...(o.jitter !== undefined ? { jitter: o.jitter } : {}),
  };
}

export async function createRekeySchedule(client: Client, taskQueue: string, raw: RekeyScheduleOptions): Promise<string> {
  const o = rekeyScheduleOptions.parse(raw);
  const input: RekeyInput = {
    cluster: o.cluster,
    keyManagement: o.keyManagement,
    ...(o.provider ? { provider: o.provider } : {}),
    ifBusy: 'wait',
    requestedBy: 'schedule',
  };
  rekeyInput.parse(input);
  const handle = await client.schedule.create({
    scheduleId: rekeyScheduleId(o.cluster),
    spec: scheduleSpec(o),
    action: {
      type: 'startWorkflow',
      workflowType: 'rekeyRunbook',
      workflowId: workflowIds.scheduledRekey(o.cluster),
      taskQueue,
      args: [input],
      typedSearchAttributes: [
        { key: EkmCluster, value: o.cluster },
        { key: EkmRunbook, value: 'rekey' },
      ],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: o.catchupWindow, pauseOnFailure: true },
    state: { paused: o.paused, note: o.note ?? (o.paused ? 'created paused' : undefined) },
  });
  return handle.scheduleId;
}

export interface RekeyScheduleSummary {
  scheduleId: string;
  cluster: string;
  paused: boolean;
  note?: string;
  spec: string;
  nextActionTimes: string[];
  recentActions: { scheduledAt: string; workflowId: string }[];
  overlap: string;
  actionsTaken: number;
  actionsSkippedOverlap: number;
  catchupWindowMs: number;
  pauseOnFailure: boolean;
}

function describeSpec(d: ScheduleDescription): string {
  const parts: string[] = [];
  for (const i of d.spec.intervals ?? []) parts.push(`every ${i.every}ms`);
  for (const c of d.spec.calendars ?? []) parts.push(`calendar ${JSON.stringify(c)}`);
  if (d.spec.jitter) parts.push(`jitter ${d.spec.jitter}ms`);
  return parts.join('; ');
}

export function summarize(d: ScheduleDescription): RekeyScheduleSummary {
  const args = d.action.args as [RekeyInput] | undefined;
  return {
    scheduleId: d.scheduleId,
    cluster: args?.[0]?.cluster ?? '',
    paused: d.state.paused,
    note: d.state.note,
    spec: describeSpec(d),
    nextActionTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentActions: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
    overlap: String(d.policies.overlap),
    actionsTaken: d.info.numActionsTaken,
    actionsSkippedOverlap: d.info.numActionsSkippedOverlap,
    catchupWindowMs: d.policies.catchupWindow,
    pauseOnFailure: d.policies.pauseOnFailure,
  };
}

export async function describeRekeySchedule(client: Client, cluster: string): Promise<RekeyScheduleSummary> {
  return summarize(await client.schedule.getHandle(rekeyScheduleId(cluster)).describe());
}

export async function listRekeySchedules(client: Client): Promise<RekeyScheduleSummary[]> {
  const summaries: RekeyScheduleSummary[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(rekeyScheduleId(''))) continue;
    summaries.push(summarize(await client.schedule.getHandle(s.scheduleId).describe()));
  }
  return summaries;
}

export { ScheduleNotFoundError };
