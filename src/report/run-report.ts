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
  /** The run reported: the first run id of its continue-as-new chain. */
  runId: z.string(),
  /** The executions of that run (continue-as-new chain), oldest first. */
  runIds: z.array(z.string()),
  /** Separate starts of the same workflow id (not in this report): `ekm report <id> --run-id <runId>`. */
  otherRuns: z.array(z.object({ runId: z.string(), startedAt: z.string() })),
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

/** One execution of a workflow id as visibility lists it. */
interface Execution {
  runId: string;
  taskQueue: string;
  type: string;
  status: { name: string };
  startTime: Date;
  closeTime?: Date;
  searchAttributes: unknown;
}

/**
 * The first run id of the continue-as-new chain an execution belongs to, from the
 * WorkflowExecutionStarted event (`firstExecutionRunId`); the execution's own run id when absent.
 */
async function firstRunIdOf(client: Client, workflowId: string, runId: string): Promise<string> {
  try {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, runId },
      maximumPageSize: 1,
    });
    return page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.firstExecutionRunId || runId;
  } catch (err) {
    // Listed but its history is gone (retention ran out in between): a run of its own.
    if ((err as { code?: number }).code === 5 /* gRPC NOT_FOUND */) return runId;
    throw err;
  }
}

/** `fn` over `items`, at most `limit` at a time (a fault watcher's run has many executions), results in order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
const HISTORY_READS_AT_ONCE = 8;

export interface RunReportOptions {
  /** A run id of the run to report (any execution of its continue-as-new chain); default the latest run. */
  runId?: string;
}

/**
 * Builds the report of ONE run of a workflow id: the chain of executions linked by continue-as-new
 * that the chosen execution (`options.runId`, default the latest) belongs to. A separate later
 * start of the same workflow id is another run, listed in `otherRuns` only. Steps, answers and
 * notes come from the progress query of the chain's last execution (progress, answers included,
 * is carried across continue-as-new); activities from the histories of the chain's executions;
 * Element calls from the audit log, for those run ids.
 * Errors: `no run <id>` (or `no run <runId> of <id>`) when Temporal has no such execution.
 */
export async function buildRunReport(
  client: Client,
  workflowId: string,
  auditLogFile?: string,
  options: RunReportOptions = {},
): Promise<RunReport> {
  const gaps: string[] = [];
  const PROGRESS_QUERY_MS = 5000;
  const executions: Execution[] = [];
  for await (const info of client.workflow.list({ query: `WorkflowId = '${workflowId.replace(/'/g, "\\'")}'` })) executions.push(info);
  executions.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  if (executions.length === 0) throw new Error(`no run ${workflowId}`);
  const chosen = options.runId ? executions.find((e) => e.runId === options.runId) : executions[executions.length - 1];
  if (!chosen) throw new Error(`no run ${options.runId} of ${workflowId}`);
  const firstRunIds = await mapLimited(executions, HISTORY_READS_AT_ONCE, (e) => firstRunIdOf(client, workflowId, e.runId));
  const chainId = firstRunIds[executions.indexOf(chosen)]!;
  const chain = executions.filter((_, i) => firstRunIds[i] === chainId);
  const otherRuns = executions
    .filter((e, i) => firstRunIds[i] !== chainId && firstRunIds[i] === e.runId)
    .map((e) => ({ runId: e.runId, startedAt: e.startTime.toISOString() }));
  const latest = chain[chain.length - 1]!;
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
  const activities = (await mapLimited(chain, HISTORY_READS_AT_ONCE, (r) => activitiesOf(client, workflowId, r.runId))).flat();
  let elementCalls: RunReport['elementCalls'] = null;
  if (auditLogFile) {
    const runIds = new Set(chain.map((r) => r.runId));
    const calls = AuditLog.read(auditLogFile, workflowId).filter((c) => runIds.has(c.runId));
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
  const first = chain[0]!;
  const closedAt = latest.closeTime?.toISOString();
  return runReportSchema.parse({
    generatedAt: new Date().toISOString(),
    workflowId,
    runId: first.runId,
    runIds: chain.map((r) => r.runId),
    otherRuns,
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

/**
 * Free text (operator comments and reasons, names, error messages) as Markdown that renders as the
 * literal text: HTML's `& < >` as entities, Markdown's punctuation backslash-escaped, URLs not
 * turned into links, newlines as spaces (a table row is one line).
 */
export function markdownText(text: string | number | undefined): string {
  return String(text ?? '')
    .replace(/\r?\n|\r/g, ' ')
    .replace(/[\\`*_{}[\]()#+!|~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/:\/\//g, '\\://')
    .replace(/\bwww\./gi, (w) => `${w.slice(0, 3)}\\.`);
}
const cell = markdownText;

export function renderRunReportMarkdown(report: RunReport): string {
  const lines = [
    `# ${cell(report.runbook ?? report.workflowType)} on cluster ${cell(report.cluster ?? '?')}`,
    '',
    `| | |`,
    `|---|---|`,
    `| workflow | ${cell(report.workflowId)} |`,
    `| run | ${cell(report.runId)}${report.runIds.length > 1 ? ` (${report.runIds.length} executions, continued as new)` : ''} |`,
    `| status | ${cell(report.status)}${report.state ? ` (${cell(report.state)})` : ''} |`,
    `| started | ${report.startedAt} |`,
    `| ended | ${report.closedAt ?? 'still running'} |`,
    `| duration | ${formatDuration(report.durationMs)} |`,
    `| Element calls | ${report.elementCalls?.total ?? 'not recorded'} |`,
    `| report generated | ${report.generatedAt} |`,
  ];
  if (report.error) lines.push('', `**Error:** ${cell(report.error)}`);
  lines.push('', '## Steps', '', '| step | state | attempts | started | ended | detail |', '|---|---|---|---|---|---|');
  for (const s of report.steps) {
    lines.push(
      `| ${cell(s.id)} | ${cell(s.state)} | ${s.attempts} | ${s.startedAt ?? ''} | ${s.endedAt ?? ''} | ${cell(s.lastError && s.state !== 'done' ? s.lastError : (s.detail ?? s.title))} |`,
    );
  }
  lines.push('', '## Operator answers', '');
  if (report.answers.length === 0) lines.push('None.');
  else {
    lines.push('| time | step | answer | by | outcome | comment |', '|---|---|---|---|---|---|');
    for (const a of report.answers)
      lines.push(`| ${a.at} | ${cell(a.step)} | ${cell(a.action)} | ${cell(a.by)} | ${a.outcome} | ${cell(a.comment)} |`);
  }
  lines.push(
    '',
    '## Activities (from Temporal history)',
    '',
    '| scheduled | activity | attempts | outcome | failure |',
    '|---|---|---|---|---|',
  );
  for (const a of report.activities)
    lines.push(`| ${a.scheduledAt} | ${cell(a.activityType)} | ${a.attempts} | ${a.outcome} | ${cell(a.failure)} |`);
  lines.push('', '## Element API calls', '');
  if (!report.elementCalls) lines.push('Not recorded (no audit log).');
  else {
    lines.push('| method | ok | error |', '|---|---|---|');
    for (const [method, counts] of Object.entries(report.elementCalls.byMethod))
      lines.push(`| ${cell(method)} | ${counts.ok} | ${counts.error} |`);
  }
  if (report.otherRuns.length > 0)
    lines.push(
      '',
      '## Other runs of this workflow id',
      '',
      'Not in this report (`ekm report <workflow id> --run-id <run id>`):',
      '',
      ...report.otherRuns.map((r) => `- ${cell(r.runId)}, started ${r.startedAt}`),
    );
  if (report.notes.length > 0) lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${cell(n)}`));
  if (report.gaps.length > 0) lines.push('', '## Gaps', '', ...report.gaps.map((g) => `- ${cell(g)}`));
  return `${lines.join('\n')}\n`;
}
