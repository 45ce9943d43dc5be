import fs from 'node:fs';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import {
  answerAction,
  answerUpdate,
  runbookName,
  runbookState,
  progressQuery,
  type OperatorAnswer,
  type RunbookProgress,
} from '../../../workflows/contract';
import { clusterName, describeIssues } from '../../../workflows/inputs';
import { RUNBOOK_WORKFLOW_TYPES } from '../../../workflows/runbooks';
import { CliError, ExitCode } from '../exit-codes';
import { followRun } from '../follow';
import { followOutputJson, formatJson, listOutputJson, statusOutputJson, type RunSummary } from '../json-output';
import { readCertificateFile } from '../certificate-files';
import { activityRetries, withDecodedFailures } from '../activity-retries';
import { renderProgress } from '../render';
import { run } from '../run';
import { whoIsActing } from '../who';
import { describeRun, queryWorker, reachRun, update, type CliContext } from '../temporal';
import { submitSignedCertificate } from '../submit-certificate';
import { fileWriteProblem } from '../../config/file-problem';

export type { RunSummary };

const RUNBOOK_TYPES = `(${RUNBOOK_WORKFLOW_TYPES.map((t) => `'${t}'`).join(',')})`;

function keyword(value: unknown): string | undefined {
  return Array.isArray(value) ? String(value[0]) : value === undefined ? undefined : String(value);
}

export async function listRuns(
  client: Client,
  filters: { cluster?: string; runbook?: string; state?: string; all?: boolean },
  limit = 50,
): Promise<RunSummary[]> {
  const clauses = [`WorkflowType IN ${RUNBOOK_TYPES}`];
  const quote = (v: string) => `'${v.replace(/'/g, "\\'")}'`;
  if (filters.cluster) clauses.push(`EkmCluster = ${quote(filters.cluster)}`);
  if (filters.runbook) clauses.push(`EkmRunbook = ${quote(filters.runbook)}`);
  if (filters.state) clauses.push(`EkmState = ${quote(filters.state)}`);
  if (!filters.all && !filters.state) clauses.push(`ExecutionStatus = 'Running'`);
  const runs: RunSummary[] = [];
  for await (const info of client.workflow.list({ query: clauses.join(' AND ') })) {
    const attributes = info.searchAttributes as Record<string, unknown>;
    runs.push({
      workflowId: info.workflowId,
      runId: info.runId,
      runbook: keyword(attributes.EkmRunbook),
      cluster: keyword(attributes.EkmCluster),
      status: info.status.name,
      state: keyword(attributes.EkmState),
      step: keyword(attributes.EkmStep),
      startTime: info.startTime.toISOString(),
      closeTime: info.closeTime?.toISOString(),
    });
    if (runs.length >= limit) break;
  }
  return runs;
}

/** A workflow id, or a cluster name: then its running runbooks (or the latest one). */
async function resolveRuns(client: Client, target: string): Promise<WorkflowHandle[]> {
  if (target.startsWith('ekm-')) return [client.workflow.getHandle(target)];
  const running = await listRuns(client, { cluster: target });
  if (running.length > 0) return running.map((r) => client.workflow.getHandle(r.workflowId, r.runId));
  const latest = await listRuns(client, { cluster: target, all: true }, 1);
  if (latest.length > 0) return [client.workflow.getHandle(latest[0]!.workflowId, latest[0]!.runId)];
  // A workflow id of another shape (a run started by a fleet, a schedule or another client).
  const handle = client.workflow.getHandle(target);
  try {
    await handle.describe();
    return [handle];
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  throw new CliError(`no runbook found for "${target}" (give a workflow id or a cluster name)`, ExitCode.notFound);
}

/**
 * `ekm csr`, `submit-cert`, `cert check --run` and `answer` take a workflow id, or a cluster name:
 * then the one run of that cluster that waits for a signed certificate (`for: 'certificate'`) or
 * for a person's answer (`for: 'answer'`); several are refused, listing them. Returns the workflow id.
 */
export async function resolveWaitingRun(
  ctx: CliContext,
  target: string,
  waitingFor: 'certificate' | 'answer' = 'certificate',
): Promise<string> {
  if (target.startsWith('ekm-')) return target;
  ctx.doing = `looking up the runs of ${target}`;
  const handles = await resolveRuns(ctx.client, target);
  if (handles.length === 1) return handles[0]!.workflowId;
  const waiting: string[] = [];
  for (const handle of handles) {
    const progress = await progressOf(handle).catch(() => undefined);
    const kind = progress?.waiting?.kind;
    if (waitingFor === 'certificate' ? kind === 'signed-certificate' : kind !== undefined && kind !== 'cluster-lock')
      waiting.push(handle.workflowId);
  }
  if (waiting.length === 1) return waiting[0]!;
  throw new CliError(
    `${target}: ${waiting.length === 0 ? 'none' : 'more than one'} of its runs (${handles.map((h) => h.workflowId).join(', ')}) waits for ${waitingFor === 'certificate' ? 'a signed certificate' : 'an answer'}; give the workflow id`,
    ExitCode.usage,
  );
}

/**
 * The run's progress query. With the run's `taskQueue` (from its description), a query no worker
 * answered says so in words (queryWorker) rather than as the SDK's 'Failed to query Workflow'.
 */
export async function progressOf(handle: WorkflowHandle, taskQueue?: string): Promise<RunbookProgress> {
  const query = () => handle.query(progressQuery.definition);
  try {
    return await (taskQueue ? queryWorker(taskQueue, 'the progress cannot be read now', query) : query());
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (err instanceof WorkflowNotFoundError) throw new CliError(`no run ${handle.workflowId}`, ExitCode.notFound);
    throw new CliError(`cannot read the progress of ${handle.workflowId}: ${(err as Error).message}`, ExitCode.unavailable);
  }
}

/** `ekm csr --out FILE`: a file that cannot be written is named with the flag (exit 2), not as Node's ENOENT message. */
export function writeCsrFile(file: string, csrPem: string): void {
  try {
    fs.writeFileSync(file, csrPem);
  } catch (err) {
    throw new CliError(`--out: ${fileWriteProblem(file, err)}`, ExitCode.usage);
  }
}

export function registerRunCommands(program: Command): void {
  program
    .command('status')
    .description('where a runbook stands: its steps, what it waits for and how to answer')
    .argument('<run|cluster>', 'workflow id (ekm-...) or cluster name')
    .option('--json', 'machine-readable output')
    .option('--watch', 'keep refreshing until the run ends')
    .action((target: string, opts: { json?: boolean; watch?: boolean }) =>
      run(async (ctx, out) => {
        ctx.doing = `looking for runs of ${target}`;
        const handles = await resolveRuns(ctx.client, target);
        if (opts.watch) {
          ctx.unbounded();
          const outcome = await followRun(handles[0]!, { quiet: opts.json });
          if (opts.json) out(formatJson(followOutputJson, { workflowId: handles[0]!.workflowId, ...outcome }));
          return outcome.exitCode;
        }
        const reports = [];
        for (const handle of handles) {
          const description = await reachRun(ctx, handle, 'the step table needs one to answer the progress query');
          ctx.doing = `reading the progress of ${handle.workflowId}`;
          const progress = await progressOf(handle, description.taskQueue);
          const pending = await withDecodedFailures(description.raw.pendingActivities, ctx.client.options.loadedDataConverter);
          const retries = activityRetries(pending);
          reports.push({
            workflowId: handle.workflowId,
            runId: description.runId,
            status: description.status.name,
            progress,
            retries,
          });
        }
        if (opts.json) out(formatJson(statusOutputJson, reports.length === 1 ? reports[0]! : reports));
        else
          out(
            reports
              .map((r) => renderProgress(r.progress, r, Date.now(), { color: process.stdout.isTTY, retries: r.retries }))
              .join('\n\n'),
          );
        return ExitCode.ok;
      }),
    );

  program
    .command('list')
    .description('runbooks, running by default')
    .option('--cluster <name>', 'only this cluster')
    .option('--runbook <name>', runbookName.options.join(', '))
    .option('--state <state>', 'running, waiting-for-input, completed, failed, cancelled')
    .option('--all', 'include ended runs')
    .option('--json', 'machine-readable output')
    .action((opts: { cluster?: string; runbook?: string; state?: string; all?: boolean; json?: boolean }) =>
      run(async ({ client }, out) => {
        checkListFilters(opts);
        const runs = await listRuns(client, opts, 500);
        if (opts.json) out(formatJson(listOutputJson, runs));
        else if (runs.length === 0) out('no runbooks match');
        else {
          out(
            'CLUSTER          RUNBOOK                     STATE              STEP            STARTED                   WORKFLOW',
          );
          for (const r of runs) {
            // The runbook's own word for how it ended (an abort is "cancelled"), else Temporal's.
            const state = r.state ?? r.status.toLowerCase().replace(/_/g, '-');
            out(
              `${(r.cluster ?? '').padEnd(16)} ${(r.runbook ?? '').padEnd(27)} ${state.padEnd(18)} ${(r.step ?? '').padEnd(15)} ${r.startTime.padEnd(25)} ${r.workflowId}`,
            );
          }
        }
        return ExitCode.ok;
      }),
    );

  program
    .command('answer')
    .description('answer a runbook that waits for a person')
    .argument('<run>', 'workflow id, or the cluster name (its run that waits for an answer)')
    .argument('<action>', 'retry | fixed | change | extend | abort | confirm | enable-internal')
    .option('--reason <text>', 'why (required for abort)')
    .option('--extend-by <duration>', 'with extend: e.g. 7d')
    .option('--hostnames <list>', 'with change: comma-separated key server hostnames, primary first')
    .option('--port <n>', 'with change: key server port')
    .option('--kmip-ca <file>', "with change: the key server's CA certificate (PEM, DER or PKCS#7)")
    .option('--client-cert <file>', "with change: a new client certificate for the cluster's key pair (PEM, DER or PKCS#7)")
    .option('--client-ca <file>', 'with --client-cert: the CA certificate(s) that issued it')
    .option('--drives <ids>', 'with change (slice recovery): comma-separated ids of the metadata drives to add back, e.g. 12,13')
    .option(
      '--confirm-unprotected <cluster>',
      "with abort, when the runbook asks for it: the cluster's name (aborting leaves encryption at rest disabled, or a renewal's key-pair window open)",
    )
    .option('--comment <text>', 'recorded with the answer')
    .option('--by <name>', 'who answers (recorded; default $USER or the account name)', whoIsActing())
    .action((target: string, action: string, opts: AnswerOptions) =>
      run(async (ctx, out) => {
        const answer = buildAnswer(action, opts);
        const workflowId = await resolveWaitingRun(ctx, target, 'answer');
        const handle = ctx.client.workflow.getHandle(workflowId);
        await reachRun(ctx, handle, 'nothing was sent; start a worker and answer again');
        ctx.sent = { what: `the answer "${action}"`, workflowId };
        const accepted = await update(() => handle.executeUpdate(answerUpdate.definition, { args: [answer] }), handle);
        out(accepted.message);
        return ExitCode.ok;
      }),
    );

  program
    .command('csr')
    .description("print (or save) the cluster's certificate signing request a setup or renew runbook waits on")
    .argument('<run>', 'workflow id, or the cluster name (its run that waits for a certificate)')
    .option('--out <file>', 'write the CSR here instead of stdout')
    .action((target: string, opts: { out?: string }) =>
      run(async (ctx, out) => {
        const workflowId = await resolveWaitingRun(ctx, target);
        const handle = ctx.client.workflow.getHandle(workflowId);
        const description = await reachRun(ctx, handle, 'the CSR is read through the progress query, which needs one');
        ctx.doing = `reading the CSR of ${workflowId}`;
        const progress = await progressOf(handle, description.taskQueue);
        const csr = progress.waiting?.csrPem ?? progress.csrPem;
        if (!csr) throw new CliError(`${workflowId} has no CSR yet (step: ${progress.currentStep ?? 'none'})`, ExitCode.notFound);
        if (opts.out) {
          writeCsrFile(opts.out, csr);
          out(`CSR written to ${opts.out}`);
        } else out(csr.trimEnd());
        return ExitCode.ok;
      }),
    );

  program
    .command('submit-cert')
    .description('hand the CA-signed client certificate to a waiting setup or renew runbook')
    .argument('<run>', 'workflow id, or the cluster name (its run that waits for a certificate)')
    .requiredOption('--cert <file>', 'the signed certificate (PEM, DER or PKCS#7; may hold its chain too)')
    .option('--ca <file>', 'the CA certificate(s) that issued it (PEM, DER or PKCS#7); leave out when --cert holds them too')
    .option('--by <name>', 'who submits (recorded; default $USER or the account name)', whoIsActing())
    .action((target: string, opts: { cert: string; ca?: string; by?: string }) =>
      run(async (ctx, out) => {
        const cert = readCertificateFile(opts.cert, '--cert');
        const ca = opts.ca === undefined ? undefined : readCertificateFile(opts.ca, '--ca');
        const workflowId = await resolveWaitingRun(ctx, target);
        const submission = { certificatePem: cert.pem, ...(ca ? { caChainPem: ca.pem } : {}), by: opts.by };
        const outcome = await submitSignedCertificate(ctx, workflowId, submission);
        if (outcome.kind === 'already-accepted') {
          out(
            `already accepted at ${outcome.at}: ${outcome.subject}, valid until ${outcome.notAfter}, SHA-256 ${outcome.fingerprint}`,
          );
          return ExitCode.ok;
        }
        const { accepted } = outcome;
        for (const note of [...cert.notes, ...(accepted.notes ?? [])]) out(note);
        out(`accepted: ${accepted.subject}, valid until ${accepted.notAfter}, SHA-256 ${accepted.fingerprint}`);
        return ExitCode.ok;
      }),
    );

  program
    .command('cancel')
    .description('cancel a runbook (it releases the cluster and records that it was cancelled)')
    .argument('<run>', 'workflow id')
    .action((workflowId: string) =>
      run(async (ctx, out) => {
        const handle = ctx.client.workflow.getHandle(workflowId);
        const { status } = await describeRun(ctx, handle);
        if (status.name !== 'RUNNING') {
          throw new CliError(
            `${workflowId} has already ended (${status.name.toLowerCase()}): nothing to cancel`,
            ExitCode.notFound,
          );
        }
        ctx.doing = `cancelling ${workflowId}`;
        try {
          await handle.cancel();
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw new CliError(`no running run ${workflowId}`, ExitCode.notFound);
          throw err;
        }
        out(`cancellation requested for ${workflowId}`);
        return ExitCode.ok;
      }),
    );
}

/** `ekm list` filters are names the runbooks use: a typo is refused, not answered with an empty list. */
function checkListFilters(opts: { cluster?: string; runbook?: string; state?: string }): void {
  const problems = [
    opts.cluster !== undefined &&
      !clusterName.safeParse(opts.cluster).success &&
      `--cluster: "${opts.cluster}" is not a cluster name`,
    opts.runbook !== undefined &&
      !runbookName.safeParse(opts.runbook).success &&
      `--runbook: "${opts.runbook}" is not one of ${runbookName.options.join(', ')}`,
    opts.state !== undefined &&
      !runbookState.safeParse(opts.state).success &&
      `--state: "${opts.state}" is not one of ${runbookState.options.join(', ')}`,
  ].filter(Boolean);
  if (problems.length > 0) throw new CliError(problems.join('; '), ExitCode.usage);
}

/** The flags of `ekm answer`. */
export interface AnswerOptions {
  reason?: string;
  extendBy?: string;
  hostnames?: string;
  port?: string;
  kmipCa?: string;
  clientCert?: string;
  clientCa?: string;
  drives?: string;
  confirmUnprotected?: string;
  comment?: string;
  by?: string;
}

/** --drives 12,13 -> [12, 13]; anything but whole numbers is refused naming the flag. */
function driveIDs(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const bad = parts.find((p) => !/^\d+$/.test(p));
  if (bad !== undefined) throw new CliError(`--drives: "${bad}" is not a drive id (give ids like 12,13)`, ExitCode.usage);
  return parts.map(Number);
}

/**
 * The flags of `ekm answer` -> an answer, checked with the runbook contract's own schema (the
 * one the runbook's validator uses), so a malformed answer exits 2 naming the flag and sends nothing.
 */
export function buildAnswer(action: string, opts: AnswerOptions): OperatorAnswer {
  const base = { by: opts.by, comment: opts.comment };
  if (opts.confirmUnprotected !== undefined && action !== 'abort')
    throw new CliError(`${action}: --confirm-unprotected goes with abort only`, ExitCode.usage);
  let raw: Record<string, unknown>;
  switch (action) {
    case 'retry':
    case 'enable-internal':
    case 'fixed':
    case 'confirm':
      raw = { action, ...base };
      break;
    case 'abort':
      if (!opts.reason) throw new CliError('abort needs --reason', ExitCode.usage);
      raw = { action, by: opts.by, reason: opts.reason, confirmUnprotected: opts.confirmUnprotected };
      break;
    case 'extend':
      if (!opts.extendBy) throw new CliError('extend needs --extend-by (e.g. 7d)', ExitCode.usage);
      raw = { action, ...base, extendBy: opts.extendBy };
      break;
    case 'change': {
      const port = opts.port === undefined ? undefined : Number(opts.port);
      if (port !== undefined && !Number.isInteger(port))
        throw new CliError(`--port: "${opts.port}" is not a number`, ExitCode.usage);
      raw = {
        action,
        ...base,
        hostnames: opts.hostnames
          ?.split(',')
          .map((h) => h.trim())
          .filter(Boolean),
        port,
        kmipCaCertificate: opts.kmipCa ? readCertificateFile(opts.kmipCa, '--kmip-ca').pem : undefined,
        clientCertificate: clientCertificate(opts),
        driveIDs: driveIDs(opts.drives),
      };
      break;
    }
    default:
      throw new CliError(`unknown answer "${action}": use ${answerAction.options.join(', ')}`, ExitCode.usage);
  }
  const defined = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  // A flag that does not go with this answer is refused, not silently dropped.
  for (const [option, field] of Object.entries(OPTION_FIELDS)) {
    if (opts[option as keyof AnswerOptions] !== undefined && defined[field] === undefined)
      throw new CliError(`${action}: ${ANSWER_FLAGS[field] ?? option} does not go with ${action}`, ExitCode.usage);
  }
  const parsed = answerUpdate.argument.safeParse(defined, { reportInput: true });
  if (!parsed.success) throw new CliError(`${action}: ${describeIssues(parsed.error, ANSWER_FLAGS)}`, ExitCode.usage);
  return parsed.data;
}

/** Which field of an answer each flag of `ekm answer` fills. */
const OPTION_FIELDS: Partial<Record<keyof AnswerOptions, string>> = {
  reason: 'reason',
  extendBy: 'extendBy',
  hostnames: 'hostnames',
  port: 'port',
  kmipCa: 'kmipCaCertificate',
  clientCert: 'clientCertificate',
  clientCa: 'clientCertificate',
  drives: 'driveIDs',
  comment: 'comment',
};

/** The flag an operator typed for each field of an answer ('': the answer as a whole). */
const ANSWER_FLAGS: Record<string, string> = {
  '': '',
  reason: '--reason',
  extendBy: '--extend-by',
  hostnames: '--hostnames',
  port: '--port',
  kmipCaCertificate: '--kmip-ca',
  'clientCertificate.certificatePem': '--client-cert',
  'clientCertificate.caChainPem': '--client-ca',
  driveIDs: '--drives',
  confirmUnprotected: '--confirm-unprotected',
  comment: '--comment',
  by: '--by',
};

function clientCertificate(opts: {
  clientCert?: string;
  clientCa?: string;
}): { certificatePem: string; caChainPem: string } | undefined {
  if (!opts.clientCert && !opts.clientCa) return undefined;
  if (!opts.clientCert || !opts.clientCa) throw new CliError('--client-cert and --client-ca go together', ExitCode.usage);
  return {
    certificatePem: readCertificateFile(opts.clientCert, '--client-cert').pem,
    caChainPem: readCertificateFile(opts.clientCa, '--client-ca').pem,
  };
}
