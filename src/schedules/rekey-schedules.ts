/**
 * Periodic master-key rekeys on Temporal Schedules, one schedule per cluster. Overlap SKIP (a
 * rekey still running means the next one is skipped, not queued), an explicit catch-up window,
 * and pause-on-failure: a failed rekey stops the schedule until a person looks. A scheduled
 * rekey takes the cluster lock like any runbook, waiting behind another one rather than failing.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleSpec,
} from '@temporalio/client';
import { z } from 'zod';
import { workflowIds } from '../../workflows/contract';
import { runbooks, runbookStart } from '../../workflows/runbooks';
import { clusterName, duration, rekeyInput, withMsNames, type RekeyInput } from '../../workflows/inputs';
import { parseCalendar, renderCalendar } from './calendar';

export { parseCalendar } from './calendar';

const SCHEDULE_ID_PREFIX = workflowIds.rekeySchedule('');

/** The server raises a shorter catch-up window to this, silently; refuse it instead. */
const MIN_CATCHUP_WINDOW_MS = 10_000;

/** Temporal takes 5 to 7 fields, or one of the @ forms. */
function cronShapeProblem(cron: string): string | undefined {
  const trimmed = cron.trim();
  if (trimmed.startsWith('@')) return undefined;
  const fields = trimmed.split(/\s+/).length;
  return fields >= 5 && fields <= 7
    ? undefined
    : `"${cron}" has ${fields} fields; a cron expression has 5 (minute hour day month weekday)`;
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
    provider: z
      .union([z.strictObject({ id: z.number().int().nonnegative() }), z.strictObject({ name: z.string().min(1) })])
      .optional(),
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
    const cronProblem = o.cron !== undefined ? cronShapeProblem(o.cron) : undefined;
    if (cronProblem) ctx.addIssue({ code: 'custom', path: ['cron'], message: cronProblem });
    if (o.every !== undefined && o.every < 60_000)
      ctx.addIssue({ code: 'custom', path: ['every'], message: 'must be at least 1m' });
    if (o.catchupWindow < MIN_CATCHUP_WINDOW_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['catchupWindow'],
        message: 'must be at least 10s (Temporal would raise it to that)',
      });
    }
    if (o.keyManagement === 'internal' && o.provider) {
      ctx.addIssue({ code: 'custom', path: ['provider'], message: 'is only for keyManagement external' });
    }
  })
  .transform(withMsNames(['every', 'jitter', 'catchupWindow']));

export type RekeyScheduleOptions = z.input<typeof rekeyScheduleOptions>;

/** The server refused the schedule's spec (a cron expression it cannot read, say). */
export class InvalidRekeyScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRekeyScheduleError';
  }
}

/** The cluster has a rekey schedule already: one per cluster. */
export class RekeyScheduleExistsError extends Error {
  constructor(readonly cluster: string) {
    super(
      `cluster ${cluster} already has a rekey schedule (${workflowIds.rekeySchedule(cluster)}); delete it first to replace it`,
    );
    this.name = 'RekeyScheduleExistsError';
  }
}

function scheduleSpec(o: z.output<typeof rekeyScheduleOptions>): ScheduleSpec {
  return {
    ...(o.everyMs !== undefined ? { intervals: [{ every: o.everyMs }] } : {}),
    ...(o.cron !== undefined ? { cronExpressions: [o.cron] } : {}),
    ...(o.calendar !== undefined ? { calendars: [parseCalendar(o.calendar)] } : {}),
    ...(o.jitterMs !== undefined ? { jitter: o.jitterMs } : {}),
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
  const start = runbookStart('rekey', input, { taskQueue, workflowId: workflowIds.scheduledRekey(o.cluster) });
  try {
    const handle = await client.schedule.create({
      scheduleId: workflowIds.rekeySchedule(o.cluster),
      spec: scheduleSpec(o),
      action: {
        type: 'startWorkflow',
        workflowType: runbooks.rekey.workflow,
        ...start,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: o.catchupWindowMs, pauseOnFailure: true },
      state: { paused: o.paused, note: o.note ?? (o.paused ? 'created paused' : undefined) },
    });
    return handle.scheduleId;
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new RekeyScheduleExistsError(o.cluster);
    // The client turns the server's "Invalid schedule spec" into a TypeError.
    if (err instanceof TypeError) throw new InvalidRekeyScheduleError(`invalid schedule: ${err.message}`);
    throw err;
  }
}

function handleOf(client: Client, cluster: string): ScheduleHandle {
  return client.schedule.getHandle(workflowIds.rekeySchedule(cluster));
}

export async function pauseRekeySchedule(client: Client, cluster: string, note = 'paused with ekm'): Promise<void> {
  await handleOf(client, cluster).pause(note);
}

export async function unpauseRekeySchedule(client: Client, cluster: string, note = 'unpaused with ekm'): Promise<void> {
  await handleOf(client, cluster).unpause(note);
}

/**
 * Starts a rekey now, also when the schedule is paused (Temporal takes manual actions
 * regardless). Skipped when the schedule's previous rekey still runs: the SDK's default
 * for trigger would be ALLOW_ALL.
 */
export async function triggerRekeySchedule(client: Client, cluster: string): Promise<void> {
  await handleOf(client, cluster).trigger(ScheduleOverlapPolicy.SKIP);
}

/** Takes the actions the schedule would have taken in [start, end], overlaps skipped; paused or not. */
export async function backfillRekeySchedule(client: Client, cluster: string, period: { start: Date; end: Date }): Promise<void> {
  await handleOf(client, cluster).backfill({ ...period, overlap: ScheduleOverlapPolicy.SKIP });
}

/** Removes the schedule; a rekey it started goes on. */
export async function deleteRekeySchedule(client: Client, cluster: string): Promise<void> {
  await handleOf(client, cluster).delete();
}

export interface RekeyScheduleSummary {
  scheduleId: string;
  cluster: string;
  keyManagement: 'external' | 'internal';
  provider?: { id: number } | { name: string } | { active: true };
  paused: boolean;
  note?: string;
  /** "every 90d" or "calendar <the --calendar form> (UTC)", then "; jitter 2h" if any. */
  spec: string;
  jitterMs?: number;
  nextActionTimes: string[];
  recentActions: { scheduledAt: string; takenAt: string; workflowId: string }[];
  runningWorkflowIds: string[];
  overlap: string;
  actionsTaken: number;
  actionsSkippedOverlap: number;
  actionsMissedCatchupWindow: number;
  catchupWindowMs: number;
  pauseOnFailure: boolean;
  createdAt: string;
}

/** 7776000000 -> "90d"; the largest unit that divides it. */
export function humanDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function describeSpec(d: ScheduleDescription): string {
  const parts: string[] = [];
  for (const i of d.spec.intervals ?? []) {
    parts.push(`every ${humanDuration(i.every)}${i.offset ? ` offset ${humanDuration(i.offset)}` : ''}`);
  }
  for (const c of d.spec.calendars ?? []) parts.push(`calendar ${renderCalendar(c)} (${d.spec.timezone || 'UTC'})`);
  if (d.spec.jitter) parts.push(`jitter ${humanDuration(d.spec.jitter)}`);
  return parts.join('; ');
}

export function summarize(d: ScheduleDescription): RekeyScheduleSummary {
  // The schedule's stored input, as the runbook will receive it; a schedule made elsewhere may differ.
  const stored = rekeyInput.safeParse(d.action.args?.[0]);
  const input = stored.success ? stored.data : undefined;
  return {
    scheduleId: d.scheduleId,
    cluster: input?.cluster ?? d.scheduleId.slice(SCHEDULE_ID_PREFIX.length),
    keyManagement: input?.keyManagement ?? 'external',
    ...(input?.provider ? { provider: input.provider } : {}),
    paused: d.state.paused,
    ...(d.state.note ? { note: d.state.note } : {}),
    spec: describeSpec(d),
    ...(d.spec.jitter ? { jitterMs: d.spec.jitter } : {}),
    nextActionTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentActions: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
    runningWorkflowIds: d.info.runningActions.map((a) => a.workflow.workflowId),
    overlap: String(d.policies.overlap),
    actionsTaken: d.info.numActionsTaken,
    actionsSkippedOverlap: d.info.numActionsSkippedOverlap,
    actionsMissedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    catchupWindowMs: d.policies.catchupWindow,
    pauseOnFailure: d.policies.pauseOnFailure,
    createdAt: d.info.createdAt.toISOString(),
  };
}

export async function describeRekeySchedule(client: Client, cluster: string): Promise<RekeyScheduleSummary> {
  return summarize(await handleOf(client, cluster).describe());
}

/** Every rekey schedule. The listing comes from visibility, so a schedule created a moment ago may be missing. */
export async function listRekeySchedules(client: Client): Promise<RekeyScheduleSummary[]> {
  const summaries: RekeyScheduleSummary[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(SCHEDULE_ID_PREFIX)) continue;
    try {
      summaries.push(summarize(await client.schedule.getHandle(s.scheduleId).describe()));
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err; // deleted since it was listed
    }
  }
  return summaries.sort((a, b) => a.cluster.localeCompare(b.cluster));
}

export { ScheduleNotFoundError };
