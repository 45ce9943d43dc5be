/**
 * The audit report of one runbook run (`ekm report`): its steps with times and attempts, the
 * operator answers, every activity attempt from Temporal's history, and every Element API call
 * from the worker's audit log. JSON for machines, Markdown for the change record.
 */
import type { Client } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';
import { AuditLog, auditEntry } from '../audit/audit-log';
import { formatDuration } from '../durations';
import { progressQuery, type RunbookProgress } from '../../workflows/contract';
import { CliError } from '../cli/exit-codes';
import { queryWorker } from '../cli/temporal';

const stepSchema = z.object({
  id: z.string(),
  title: z.string(),
  state: z.enum(['pending', 'running', 'waiting-for-input', 'done', 'failed', 'skipped']),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  attempts: z.number().int(),
  lastError: z.string().optional(),
  detail: z.string().optional(),
});

const activitySchema = z.object({
  runId: z.string(),
  activityType: z.string(),
  scheduledAt: z.string(),
  endedAt: z.string().optional(),
  attempts: z.number().int(),
  outcome: z.enum(['completed', 'failed', 'timed-out', 'cancelled', 'running']),
  failure: z.string().optional(),
});

export const runReportSchema = z.object({
  generatedAt: z.string(),
  workflowId: z.string(),
  runIds: z.array(z.string()),
  workflowType: z.string(),
  runbook: z.string().optional(),
  cluster: z.string().optional(),
  status: z.string(),
  state: z.string().optional(),
  startedAt: z.string(),
  closedAt: z.string().optional(),
  durationMs: z.number(),
  steps: z.array(stepSchema),
  answers: z.array(
    z.object({
      at: z.string(),
      step: z.string(),
      action: z.string(),
      by: z.string().optional(),
      outcome: z.enum(['accepted', 'rejected']),
      comment: z.string().optional(),
    }),
  ),
  notes: z.array(z.string()),
  error: z.string().optional(),
  activities: z.array(activitySchema),
  elementCalls: z
    .object({
      total: z.number().int(),
      byMethod: z.record(z.string(), z.object({ ok: z.number().int(), error: z.number().int() })),
      calls: z.array(auditEntry),
    })
    .nullable(),
  /** Why a section is missing (no audit log, no worker to answer the progress query). */
  gaps: z.array(z.string()),
});
export type RunReport = z.infer<typeof runReportSchema>;

type Activity = z.infer<typeof activitySchema>;

function iso(time: { seconds?: unknown; nanos?: number | null } | null | undefined): string {
  if (!time) return '';
  return new Date(Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6)).toISOString();
}

/** Activity attempts and outcomes, read from a run's history. */
async function activitiesOf(client: Client, workflowId: string, runId: string): Promise<Activity[]> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const byScheduledId = new Map<string, Activity>();
  for (const event of history.events ?? []) {
    const id = String(event.eventId);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      byScheduledId.set(id, {
        runId,
        activityType: scheduled.activityType?.name ?? '?',
        scheduledAt: iso(event.eventTime),
        attempts: 0,
        outcome: 'running',
      });
      continue;
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const activity = byScheduledId.get(String(started.scheduledEventId));
      if (activity) activity.attempts = started.attempt ?? 1;
      continue;
    }
    const ended =
      (event.activityTaskCompletedEventAttributes && (['completed', event.activityTaskCompletedEventAttributes] as const)) ||
      (event.activityTaskFailedEventAttributes && (['failed', event.activityTaskFailedEventAttributes] as const)) ||
      (event.activityTaskTimedOutEventAttributes && (['timed-out', event.activityTaskTimedOutEventAttributes] as const)) ||
      (event.activityTaskCanceledEventAttributes && (['cancelled', event.activityTaskCanceledEventAttributes] as const));
    if (ended) {
      const [outcome, attributes] = ended;
      const activity = byScheduledId.get(String(attributes.scheduledEventId));
      if (!activity) continue;
      activity.outcome = outcome;
      activity.endedAt = iso(event.eventTime);
      const failure = 'failure' in attributes ? attributes.failure : undefined;
      // Decoded: with payload encryption on, the message is in the failure's encrypted attributes.
      const error = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, failure);
      const message = (error?.cause as Error | undefined)?.message || error?.message;
      if (message) activity.failure = message;
    }
  }
  return [...byScheduledId.values()];
}

function keyword(value: unknown): string | undefined {
  return Array.isArray(value) ? String(value[0]) : value === undefined ? undefined : String(value);
}

export async function buildRunReport(client: Client, workflowId: string, auditLogFile?: string): Promise<RunReport> {
  const gaps: string[] = [];
  const PROGRESS_QUERY_MS = 5000;
  const runs = [];
  for await (const info of client.workflow.list({ query: `WorkflowId = '${workflowId.replace(/'/g, "\\'")}'` })) runs.push(info);
  runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  if (runs.length === 0) throw new Error(`no run ${workflowId}`);
  const latest = runs[runs.length - 1]!;
  let progress: RunbookProgress | undefined;
  try {
    // A query waits for a worker: bounded, so a report without one comes back (with the gap said) in seconds.
    const handle = client.workflow.getHandle(workflowId, latest.runId);
    progress = await queryWorker(latest.taskQueue, 'steps, answers and notes are missing from this report', () =>
      client.withDeadline(Date.now() + PROGRESS_QUERY_MS, () => handle.query(progressQuery.definition)),
    );
  } catch (err) {
    gaps.push(
      `progress: ${err instanceof CliError ? err.message : `the run did not answer its progress query (${(err as Error).message}); steps are missing`}`,
    );
  }
  const activities = (await Promise.all(runs.map((r) => activitiesOf(client, workflowId, r.runId)))).flat();
  let elementCalls: RunReport['elementCalls'] = null;
  if (auditLogFile) {
    const calls = AuditLog.read(auditLogFile, workflowId);
    const byMethod: Record<string, { ok: number; error: number }> = {};
    for (const call of calls) {
      const counts = (byMethod[call.method] ??= { ok: 0, error: 0 });
      counts[call.outcome] += 1;
    }
    elementCalls = { total: calls.length, byMethod, calls };
  } else {
    gaps.push('Element calls: no audit log given (the worker writes one when EKM_AUDIT_LOG is set)');
  }
  const attributes = latest.searchAttributes as Record<string, unknown>;
  const first = runs[0]!;
  const closedAt = latest.closeTime?.toISOString();
  return runReportSchema.parse({
    generatedAt: new Date().toISOString(),
    workflowId,
    runIds: runs.map((r) => r.runId),
    workflowType: latest.type,
    runbook: progress?.runbook ?? keyword(attributes.EkmRunbook),
    cluster: progress?.cluster ?? keyword(attributes.EkmCluster),
    status: latest.status.name,
    state: progress?.state ?? keyword(attributes.EkmState),
    startedAt: first.startTime.toISOString(),
    closedAt,
    durationMs: (latest.closeTime ?? new Date()).getTime() - first.startTime.getTime(),
    steps: progress?.steps ?? [],
    answers: progress?.answers ?? [],
    notes: progress?.notes ?? [],
    error: progress?.error,
    activities,
    elementCalls,
    gaps,
  });
}

const cell = (text: string | number | undefined) =>
  String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');

export function renderRunReportMarkdown(report: RunReport): string {
  const lines = [
    `# ${report.runbook ?? report.workflowType} on cluster ${report.cluster ?? '?'}`,
    '',
    `| | |`,
    `|---|---|`,
    `| workflow | \`${report.workflowId}\` (${report.runIds.length} run${report.runIds.length > 1 ? 's' : ''}) |`,
    `| status | ${report.status}${report.state ? ` (${report.state})` : ''} |`,
    `| started | ${report.startedAt} |`,
    `| ended | ${report.closedAt ?? 'still running'} |`,
    `| duration | ${formatDuration(report.durationMs)} |`,
    `| Element calls | ${report.elementCalls?.total ?? 'not recorded'} |`,
    `| report generated | ${report.generatedAt} |`,
  ];
  if (report.error) lines.push('', `**Error:** ${report.error}`);
  lines.push('', '## Steps', '', '| step | state | attempts | started | ended | detail |', '|---|---|---|---|---|---|');
  for (const s of report.steps) {
    lines.push(
      `| ${cell(s.id)} | ${s.state} | ${s.attempts} | ${s.startedAt ?? ''} | ${s.endedAt ?? ''} | ${cell(s.lastError && s.state !== 'done' ? s.lastError : (s.detail ?? s.title))} |`,
    );
  }
  lines.push('', '## Operator answers', '');
  if (report.answers.length === 0) lines.push('None.');
  else {
    lines.push('| time | step | answer | by | outcome | comment |', '|---|---|---|---|---|---|');
    for (const a of report.answers)
      lines.push(`| ${a.at} | ${cell(a.step)} | ${a.action} | ${cell(a.by)} | ${a.outcome} | ${cell(a.comment)} |`);
  }
  lines.push(
    '',
    '## Activities (from Temporal history)',
    '',
    '| scheduled | activity | attempts | outcome | failure |',
    '|---|---|---|---|---|',
  );
  for (const a of report.activities)
    lines.push(`| ${a.scheduledAt} | ${a.activityType} | ${a.attempts} | ${a.outcome} | ${cell(a.failure)} |`);
  lines.push('', '## Element API calls', '');
  if (!report.elementCalls) lines.push('Not recorded (no audit log).');
  else {
    lines.push('| method | ok | error |', '|---|---|---|');
    for (const [method, counts] of Object.entries(report.elementCalls.byMethod))
      lines.push(`| ${method} | ${counts.ok} | ${counts.error} |`);
  }
  if (report.notes.length > 0) lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${cell(n)}`));
  if (report.gaps.length > 0) lines.push('', '## Gaps', '', ...report.gaps.map((g) => `- ${cell(g)}`));
  return `${lines.join('\n')}\n`;
}
