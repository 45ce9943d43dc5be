/**
 * `ekm fleet`: one runbook over many clusters (workflows/fleet.ts), and its status, control and
 * batch signing. The selection comes from the clusters file (src/cli/fleet-selection.ts) and is
 * shown before anything starts; every cluster's input is checked with the runbook's own schema.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import {
  CLUSTER_PLACEHOLDER,
  fleetCancelSignal,
  fleetId,
  fleetResult,
  fleetRunbookName,
  fleetStatusQuery,
  fleetWorkflowId,
  inputForCluster,
  progressQuery,
  resolveErrorBudget,
  resolveLimit,
  submitCertificateUpdate,
  type FleetInput,
  type FleetResult,
  type FleetRunbookName,
  type FleetStatus,
  type RunbookProgress,
} from '../../../workflows/contract';
import { fleetRunbook, type FleetCarried } from '../../../workflows/fleet';
import type { RekeyInput } from '../../../workflows/inputs';
import { runbooks } from '../../../workflows/runbooks';
import { loadClusterRegistry, type ClusterRegistry } from '../../config/clusters';
import { ConfigError } from '../../config/zod-errors';
import { formatDuration } from '../../durations';
import { unreachableBecause } from '../../temporal/reachability';
import { readCertificateFile } from '../certificate-files';
import { certificateFileGaps } from '../fleet-cert-files';
import { listFleets } from '../fleet-list';
import {
  clusterCounts,
  count,
  describeCounts,
  describeLimits,
  fleetExitCode,
  fleetIdProblem,
  fleetOutcome,
  parseConcurrency,
  planVerdict,
  parseErrorBudget,
} from '../fleet-outcome';
import { CliError, ExitCode } from '../exit-codes';
import {
  fleetListJson,
  fleetPlanJson,
  fleetResumedJson,
  fleetStartedJson,
  fleetStatusJson,
  fleetSubmissionsJson,
  type FleetStatusJson,
} from '../fleet-json';
import { selectClusters, type Selection, type SelectorFlags } from '../fleet-selection';
import { formatJson } from '../json-output';
import { temporalView } from '../plan-busy';
import { withTemporalView } from '../plan-command';
import { commandTimeoutMs, run } from '../run';
import { validateInput } from '../start';
import { describeRun, queryWorker, reachRun, type CliContext } from '../temporal';
import { whoIsActing } from '../who';
import { certificateVerdict } from './cert';
import { recoverRequest } from './recover';
import { addRenewOptions, renewInputFromFlags, RENEW_FLAGS, type RenewFlags } from './renew';
import { addSetupOptions, SETUP_FLAGS, setupInputFromFlags, type SetupFlags } from './setup';

interface FleetFlags extends SelectorFlags {
  order?: string;
  maxConcurrency: string;
  maxErrors: string;
  id?: string;
  wait?: boolean;
  json?: boolean;
  plan?: boolean;
}

function addFleetOptions(command: Command): Command {
  return command
    .option('--clusters <names>', "cluster names and globs, comma-separated (e.g. 'prod-*,lab-3')")
    .option(
      '--label <key=value>',
      'clusters with this label (repeat: every one must match)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--all', 'every cluster of the clusters file')
    .option('--order <name|label:KEY>', 'the order runbooks start in (default name)')
    .option('--max-concurrency <n|p%>', 'at most this many runbooks at once', '1')
    .option(
      '--max-errors <n|p%>',
      'failed runs tolerated: once more have failed, no more runbooks start (0: stop at the first failure)',
      '0',
    )
    .option('--id <id>', 'the fleet id (ekm-fleet-<runbook>-<id>; default: the time now)')
    .option('--plan', 'only say, per cluster, what the runbook would do (read-only)')
    .option('--wait', 'follow the fleet until it ends')
    .option('--json', 'machine-readable output');
}

function readRegistry(ctx: CliContext): ClusterRegistry {
  const file = ctx.settings.EKM_CLUSTERS_FILE;
  if (!fs.existsSync(file))
    throw new CliError(`EKM_CLUSTERS_FILE: no clusters file at ${file}: fleet commands select clusters from it`, ExitCode.usage);
  try {
    return loadClusterRegistry(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.usage);
    throw err;
  }
}

function defaultFleetId(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase();
}

interface FleetRequest {
  runbook: FleetRunbookName;
  /** The runbook's input for one cluster, from the command's flags. */
  inputFor(cluster: string): Record<string, unknown>;
  fieldFlags: Readonly<Record<string, string>>;
}

/** Shows the selection, checks the input, then starts the fleet (or plans it). */
async function startFleet(
  ctx: CliContext,
  out: (line: string) => void,
  request: FleetRequest,
  flags: FleetFlags,
): Promise<number> {
  const registry = readRegistry(ctx);
  const selection = selectClusters(registry, flags, flags.order, ctx.settings.EKM_CLUSTERS_FILE);
  const maxConcurrency = parseConcurrency(flags.maxConcurrency);
  const maxErrors = parseErrorBudget(flags.maxErrors);
  const id = flags.id ?? defaultFleetId();
  if (!fleetId.safeParse(id).success) throw new CliError(`--id: ${fleetIdProblem(id)}`, ExitCode.usage);
  // The input as given ({cluster} kept: the fleet puts each cluster's name in), checked as the clusters get it.
  const sample = request.inputFor(selection.names[0]!);
  // Every cluster's, when {cluster} makes them differ (a long name can make a common name too long).
  const differ = JSON.stringify(sample).includes(CLUSTER_PLACEHOLDER);
  for (const name of differ ? selection.names : selection.names.slice(0, 1)) {
    try {
      validateInput(runbooks[request.runbook].input, { ...inputForCluster(sample, name), cluster: name }, request.fieldFlags);
    } catch (err) {
      if (differ && err instanceof CliError)
        throw new CliError(`${err.message} (cluster ${name}, with ${CLUSTER_PLACEHOLDER} = ${name})`, err.exitCode);
      throw err;
    }
  }
  const signer = (sample as { signer?: { type: string; name?: string } }).signer;
  if (signer?.type === 'command' && signer.name && !registry.signers[signer.name])
    throw new CliError(`--signer-name: no signer "${signer.name}" in ${ctx.settings.EKM_CLUSTERS_FILE}`, ExitCode.usage);
  const total = selection.names.length;
  const limits = {
    maxConcurrency: Math.min(resolveLimit(maxConcurrency, total), total),
    maxErrors: resolveErrorBudget(maxErrors, total),
  };
  if (!flags.json) out(describeSelection(request.runbook, selection, flags.plan ? undefined : limits));
  const commonName = (sample as { subject?: { commonName?: unknown } }).subject?.commonName;
  if (!flags.json && total > 1 && typeof commonName === 'string' && !commonName.includes(CLUSTER_PLACEHOLDER))
    out(
      `note: every cluster's CSR gets the same subject (CN=${commonName}), so one KMIP client identity; ` +
        `put ${CLUSTER_PLACEHOLDER} in --cn for one per cluster (e.g. --cn '${CLUSTER_PLACEHOLDER}.example.com')`,
    );
  if (flags.plan) return planFleet(ctx, out, request, selection, flags);

  const { cluster: _cluster, ...input } = sample;
  const fleetInput: FleetInput = {
    runbook: request.runbook,
    clusters: selection.names,
    selector: selection.selector,
    input,
    maxConcurrency,
    maxErrors,
    requestedBy: (sample as { requestedBy?: string }).requestedBy,
  };
  const workflowId = fleetWorkflowId(request.runbook, id);
  ctx.doing = `starting fleet ${workflowId}`;
  ctx.sent = { what: 'the start of the fleet', workflowId };
  let handle;
  try {
    handle = await ctx.client.workflow.start(fleetRunbook, {
      workflowId,
      taskQueue: ctx.settings.EKM_TASK_QUEUE,
      args: [fleetInput],
      workflowIdConflictPolicy: 'FAIL',
      // An ended fleet's id too: a new fleet under it would hide the old one from status, list and resume.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new CliError(
        `--id: fleet ${workflowId} already exists (ekm fleet status ${workflowId}); choose another --id, or leave it out`,
        ExitCode.refused,
      );
    throw err;
  }
  ctx.sent = undefined;
  const started = {
    workflowId,
    runId: handle.firstExecutionRunId,
    selection: { selector: selection.selector, clusters: selection.names },
    ...limits,
  };
  if (!flags.wait) {
    if (flags.json) out(formatJson(fleetStartedJson, started));
    else out(`started ${workflowId}\n  follow:  ekm fleet status ${workflowId} --watch`);
    return ExitCode.ok;
  }
  if (!flags.json) out(`started ${workflowId}`);
  const result = await followFleet(ctx, handle, flags.json ? undefined : out);
  const exitCode = fleetExitCode(result.status);
  if (flags.json) out(formatJson(fleetStartedJson, { ...started, result, exitCode }));
  return exitCode;
}

/** The selection as shown before a start (with its limits) or a plan (which reads PLAN_CONCURRENCY clusters at a time). */
function describeSelection(
  runbook: string,
  selection: Selection,
  limits?: { maxConcurrency: number; maxErrors: number },
): string {
  const how = limits
    ? describeLimits(limits, selection.names.length)
    : `plan only: read-only, ${PLAN_CONCURRENCY} clusters read at a time`;
  return (
    `fleet ${runbook} on ${count(selection.names.length, 'cluster')} (${selection.selector}), ` +
    `${how}:\n  ${selection.names.join(', ')}`
  );
}

/**
 * Follows a fleet to its end: the summary line whenever it changes, then (with `out`) the final
 * table and the fleet's own outcome. The fleet workflow failing or terminated: exit 1; Temporal lost
 * while following: exit 5, saying that the fleet goes on (it is not cancelled).
 */
async function followFleet(ctx: CliContext, handle: WorkflowHandle, out?: (line: string) => void): Promise<FleetResult> {
  ctx.unbounded();
  let last = '';
  const done = handle.result() as Promise<FleetResult>;
  let ended = false;
  void done.then(
    () => (ended = true),
    () => (ended = true),
  );
  while (!ended) {
    try {
      const status = await handle.query(fleetStatusQuery.definition);
      const line = summaryLine(summarize(status, []));
      if (out && line !== last) out(line);
      last = line;
    } catch {
      // no worker for a moment: look again
    }
    await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  }
  let result: FleetResult;
  try {
    result = fleetResult.parse(await done);
  } catch (err) {
    if (err instanceof WorkflowFailedError)
      throw new CliError(`fleet ${handle.workflowId} failed: ${err.cause?.message ?? err.message}`, ExitCode.runbookFailed);
    const why = (await unreachableBecause(ctx.settings.TEMPORAL_ADDRESS, 1000)) ?? 'it stopped answering';
    throw new CliError(
      `lost Temporal at ${ctx.settings.TEMPORAL_ADDRESS} (${why}) while following ${handle.workflowId}; ` +
        `the fleet goes on, it was not cancelled: ekm fleet status ${handle.workflowId} --watch`,
      ExitCode.unavailable,
    );
  }
  if (out) {
    out('');
    out(renderFleet({ status: result.status, children: [], summary: summarize(result.status, []) }, handle.workflowId));
    out(`the fleet ended: ${fleetOutcome('ENDED', result)}`);
  }
  return result;
}

type Summary = FleetStatusJson['summary'];

function summarize(status: FleetStatus, children: FleetStatusJson['children']): Summary {
  const count = (state: string) => status.clusters.filter((c) => c.state === state).length;
  const waitingForPerson = children.filter((c) => c.state === 'waiting-for-input').length;
  const running = count('running') + count('attached') - waitingForPerson;
  const durations = status.clusters
    .filter((c) => (c.state === 'completed' || c.state === 'failed') && c.startedAt && c.endedAt)
    .map((c) => Date.parse(c.endedAt!) - Date.parse(c.startedAt!));
  const notStarted = count('not-started');
  const summary: Summary = {
    total: status.clusters.length,
    done: count('completed'),
    running,
    waitingForPerson,
    failed: count('failed'),
    cancelled: count('cancelled'),
    notStarted,
  };
  const stillToRun = status.state === 'running' ? notStarted : 0;
  // Only runs waiting for a person left: no estimate (a person's answer is not a duration).
  if (durations.length > 0 && !status.endedAt && stillToRun + running > 0) {
    const mean = durations.reduce((a, b) => a + b, 0) / durations.length;
    const waves = Math.ceil((stillToRun + running) / Math.max(1, status.maxConcurrency));
    summary.etaMs = Math.round(waves * mean);
  }
  return summary;
}

function summaryLine(s: Summary, state?: string): string {
  const finished = s.done + s.failed + s.cancelled;
  const width = 20;
  const filled = s.total === 0 ? width : Math.round((finished / s.total) * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor((finished / Math.max(1, s.total)) * 100)}%`;
  const eta = s.etaMs !== undefined ? `  ETA ${formatDuration(s.etaMs)}` : '';
  return (
    `${state ? `${state}: ` : ''}done ${s.done} / running ${s.running} / waiting for a person ${s.waitingForPerson} / ` +
    `failed ${s.failed} / not started ${s.notStarted}${s.cancelled ? ` / cancelled ${s.cancelled}` : ''}  ${bar}${eta}`
  );
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order of the answers. */
async function bounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

const CHILD_QUERY_DEADLINE_MS = 5000;
/** The width of a table's WAITING FOR / ERROR text; longer ones end with '…'. */
const DETAIL_WIDTH = 160;
const FLEET_QUERY_DEADLINE_MS = 15_000;
const WATCH_EVERY_MS = 2000;
/** A watch ends this long before --timeout (at most a quarter of it), so the last refresh fits. */
const WATCH_MARGIN_MS = 3000;

const FLEET_STATUS_EXIT_CODES = `
Exit codes (status, status --watch, and a fleet start or resume with --wait):
  0  the fleet ended and every cluster is done
  1  the fleet ended otherwise: a cluster failed or was cancelled, the error budget stopped it, or it was cancelled
  3  no such fleet
  5  Temporal or a worker did not answer
  6  the fleet has not ended yet (still running; with --watch: --timeout came first)`;

/** A fleet's status and the progress of each running child (what it waits for); needs a worker. */
async function fleetView(ctx: CliContext, workflowId: string) {
  const handle = ctx.client.workflow.getHandle(workflowId);
  const needsWorker = 'the fleet status is read through its query, which needs one';
  const description = await reachRun(ctx, handle, needsWorker);
  ctx.doing = `reading the status of ${workflowId}`;
  // Bounded: a worker that stopped less than about 90 s ago still shows as polling, and a query no
  // worker takes is otherwise held until --timeout.
  const status = await queryWorker(description.taskQueue, needsWorker, () =>
    ctx.client.withDeadline(Date.now() + FLEET_QUERY_DEADLINE_MS, () => handle.query(fleetStatusQuery.definition)),
  );
  const running = status.clusters.filter((c) => c.state === 'running' || c.state === 'attached');
  ctx.doing = `reading the progress of ${count(running.length, 'running runbook')} of ${workflowId}`;
  const progress = new Map<string, RunbookProgress>();
  const children = await bounded(running, 8, async (c) => {
    let p: RunbookProgress | undefined;
    try {
      p = await ctx.client.withDeadline(Date.now() + CHILD_QUERY_DEADLINE_MS, () =>
        ctx.client.workflow.getHandle(c.workflowId, c.runId).query(progressQuery.definition),
      );
      progress.set(c.cluster, p);
    } catch {
      // A child not yet started by a worker, or just ended: the fleet's own view stands.
    }
    return {
      cluster: c.cluster,
      state: p?.state,
      step: p?.currentStep,
      waitingFor: p?.waiting ? `${p.waiting.kind}: ${p.waiting.prompt}` : undefined,
    };
  });
  return { handle, description, status, children, progress, summary: summarize(status, children) };
}

function renderFleet(
  view: Pick<Awaited<ReturnType<typeof fleetView>>, 'status' | 'children' | 'summary'>,
  workflowId: string,
): string {
  const { status, children } = view;
  const child = new Map(children.map((c) => [c.cluster, c]));
  const lines = [
    `${workflowId}: ${status.runbook} on ${count(status.clusters.length, 'cluster')} (${status.selector}); ` +
      // An ended fleet's own outcome (`ended: 1 failed`, as fleet list says it), not a bare `completed`.
      `${status.endedAt ? fleetOutcome('ENDED', { state: status.state, status }) : status.state}` +
      `; ${describeLimits(status, status.clusters.length)}`,
    summaryLine(view.summary),
    '',
    `${'CLUSTER'.padEnd(20)} ${'STATE'.padEnd(18)} ${'STEP'.padEnd(16)} WAITING FOR / ERROR`,
  ];
  for (const c of status.clusters) {
    const v = child.get(c.cluster);
    const state = v?.state === 'waiting-for-input' ? 'waiting-for-input' : c.state;
    const detail = (
      c.error ? `${c.error.name}: ${c.error.message}` : (v?.waitingFor ?? (c.outcome ? describeOutcome(c.outcome) : ''))
    ).split('\n')[0]!;
    const shown = detail.length > DETAIL_WIDTH ? `${detail.slice(0, DETAIL_WIDTH - 1)}…` : detail;
    lines.push(`${c.cluster.padEnd(20)} ${state.padEnd(18)} ${(v?.step ?? '').padEnd(16)} ${shown}`);
  }
  for (const note of status.notes) lines.push(`note: ${note}`);
  // The whole question and the commands that answer it are in the run's own status.
  const waiting = children.filter((c) => c.state === 'waiting-for-input');
  for (const c of waiting) {
    const run = status.clusters.find((x) => x.cluster === c.cluster)?.workflowId;
    if (run) lines.push(`${c.cluster} waits for a person: ekm status ${run} (what it asks, and how to answer)`);
  }
  return lines.join('\n');
}

/** A completed run's outcome as its runbook names it, in words (the recoveries': no-fault, recovered). */
function describeOutcome(outcome: string): string {
  return outcome === 'no-fault' ? 'no-fault: the fault was not current, nothing to do' : outcome;
}

/** The nearest existing part of `dir` when it is a file (so no folder can be made there), else undefined. */
function fileInTheWay(dir: string): string | undefined {
  let at = path.resolve(dir);
  while (!fs.existsSync(at)) {
    const up = path.dirname(at);
    if (up === at) return undefined;
    at = up;
  }
  return fs.statSync(at).isDirectory() ? undefined : at;
}

/** A fleet by workflow id, or by its id alone (then each runbook's fleet id is tried). */
async function resolveFleetId(ctx: CliContext, target: string): Promise<string> {
  if (target.startsWith('ekm-fleet-')) return target;
  if (!fleetId.safeParse(target).success)
    throw new CliError(`"${target}" is not a fleet id (ekm-fleet-<runbook>-<id>)`, ExitCode.usage);
  for (const runbook of fleetRunbookName.options) {
    const workflowId = fleetWorkflowId(runbook, target);
    try {
      await ctx.client.workflow.getHandle(workflowId).describe();
      return workflowId;
    } catch {
      // not this runbook's
    }
  }
  if (target.startsWith('ekm-'))
    throw new CliError(
      `${target} is not a fleet (a fleet's id starts with ekm-fleet-); a runbook's run: ekm status ${target}`,
      ExitCode.notFound,
    );
  throw new CliError(`no fleet ${target} (give the workflow id: ekm fleet list)`, ExitCode.notFound);
}

function runbookCommand(
  fleet: Command,
  name: 'rekey' | 'setup' | 'renew',
  description: string,
  addOptions: (c: Command) => Command,
  request: (flags: FleetFlags & Record<string, unknown>) => FleetRequest,
): void {
  addFleetOptions(addOptions(fleet.command(name).description(description)))
    .addHelpText('after', FLEET_STATUS_EXIT_CODES)
    .action((flags: FleetFlags & Record<string, unknown>) => run((ctx, out) => startFleet(ctx, out, request(flags), flags)));
}

export function registerFleet(program: Command): void {
  const fleet = program
    .command('fleet')
    .description('one runbook over many clusters: concurrency, an error budget, status, resume, batch signing')
    .addHelpText(
      'after',
      '\nSelect clusters with --clusters NAMES|GLOBS, --label KEY=VALUE (repeatable) or --all, from the clusters file.',
    );

  runbookCommand(
    fleet,
    'rekey',
    'rekey the software encryption-at-rest master key on every selected cluster',
    (c) =>
      c
        .option('--provider <id|name>', 'key provider by id or name (default: the active provider)')
        .option('--internal', 'move the master key to internal key management')
        .option('--if-busy <fail|wait>', 'per cluster: when another runbook is changing it', 'fail')
        .option('--by <name>', 'who asked (recorded)'),
    (flags) => ({
      runbook: 'rekey',
      fieldFlags: {
        provider: '--provider',
        'provider.id': '--provider',
        'provider.name': '--provider',
        ifBusy: '--if-busy',
        requestedBy: '--by',
      },
      inputFor: (cluster) => {
        const input: RekeyInput = {
          cluster,
          keyManagement: flags.internal ? 'internal' : 'external',
          ifBusy: flags.ifBusy as 'fail' | 'wait',
          requestedBy: flags.by as string | undefined,
        };
        const provider = flags.provider as string | undefined;
        if (provider !== undefined)
          input.provider = /^[-+]?\d+$/.test(provider.trim()) ? { id: Number(provider) } : { name: provider };
        return input;
      },
    }),
  );
  runbookCommand(fleet, 'setup', 'set up external key management on every selected cluster', addSetupOptions, (flags) => ({
    runbook: 'setup',
    fieldFlags: SETUP_FLAGS,
    inputFor: (cluster) => setupInputFromFlags(cluster, flags as unknown as SetupFlags),
  }));
  runbookCommand(fleet, 'renew', "renew the key server's certificates on every selected cluster", addRenewOptions, (flags) => ({
    runbook: 'renew',
    fieldFlags: RENEW_FLAGS,
    inputFor: (cluster) => renewInputFromFlags(cluster, flags as unknown as RenewFlags),
  }));
  addFleetOptions(
    fleet
      .command('recover')
      .description('recover a fault on every selected cluster: kmip (kmipServerFault) or slice (sliceServiceUnhealthy)')
      .argument('<fault>', 'kmip | slice')
      .option('--deadline <duration>', 'kmip: notify "escalated" when not fixed after this long')
      .option('--settle <duration>', 'slice: the wait after the drives are added back')
      .option('--attempts <n>', 'slice: rounds before escalating')
      .option('--if-busy <fail|wait>', 'slice: per cluster, when another runbook is changing it')
      .option('--by <name>', 'who asked (recorded)'),
  )
    .addHelpText('after', FLEET_STATUS_EXIT_CODES)
    .action(
      (
        fault: string,
        flags: FleetFlags & { deadline?: string; settle?: string; attempts?: string; ifBusy?: string; by?: string },
      ) =>
        run((ctx, out) => {
          const opts = {
            deadline: flags.deadline,
            settle: flags.settle,
            attempts: flags.attempts,
            ifBusy: flags.ifBusy,
            by: flags.by,
          };
          const probe = recoverRequest('probe', fault, opts);
          return startFleet(
            ctx,
            out,
            {
              runbook: probe.runbook,
              fieldFlags: probe.flags ?? {},
              inputFor: (cluster) => recoverRequest(cluster, fault, opts).input as Record<string, unknown>,
            },
            flags,
          );
        }),
    );

  fleet
    .command('status')
    .description('where a fleet stands: a summary line (progress, time left) and a table per cluster')
    .argument('<fleet>', 'fleet workflow id (ekm-fleet-...) or its id')
    .option('--watch', 'refresh until the fleet ends or --timeout passes (then say which)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', FLEET_STATUS_EXIT_CODES)
    .action((target: string, opts: { watch?: boolean; json?: boolean }) =>
      run(async (ctx, out) => {
        const began = Date.now();
        const workflowId = await resolveFleetId(ctx, target);
        const show = async () => {
          const view = await fleetView(ctx, workflowId);
          if (opts.json)
            out(formatJson(fleetStatusJson, { workflowId, status: view.status, summary: view.summary, children: view.children }));
          else out(renderFleet(view, workflowId));
          return view;
        };
        let view = await show();
        if (!opts.watch) return fleetExitCode(view.status);
        // Bounded by --timeout like every command: it stops a little before the bound and says so.
        const timeoutMs = commandTimeoutMs();
        const deadline = began + timeoutMs - Math.min(WATCH_MARGIN_MS, timeoutMs / 4);
        while (!view.status.endedAt && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, Math.max(0, Math.min(WATCH_EVERY_MS, deadline - Date.now()))));
          if (Date.now() >= deadline) break;
          if (process.stdout.isTTY && !opts.json) process.stdout.write('\x1b[2J\x1b[H');
          view = await show();
        }
        const why = view.status.endedAt
          ? `the fleet ended: ${fleetOutcome('ENDED', { state: view.status.state, status: view.status })}`
          : `--timeout ${formatDuration(timeoutMs)} reached; the fleet is still ${view.status.state} ` +
            `(watch longer: ekm fleet status ${workflowId} --watch --timeout 2h)`;
        // With --json, stdout holds the status documents only.
        if (opts.json) process.stderr.write(`watch ended: ${why}\n`);
        else out(`watch ended: ${why}`);
        return fleetExitCode(view.status);
      }),
    );

  fleet
    .command('list')
    .description('fleets, running by default')
    .option('--all', 'include ended fleets')
    .option('--json', 'machine-readable output')
    .action((opts: { all?: boolean; json?: boolean }) =>
      run(async (ctx, out) => {
        ctx.doing = 'listing fleets';
        const rows = await listFleets(ctx.client, { all: opts.all, outcomes: true });
        if (opts.json) out(formatJson(fleetListJson, rows));
        else if (rows.length === 0) out(opts.all ? 'no fleets' : 'no fleets running (--all shows the ended ones)');
        else {
          out(`${'FLEET'.padEnd(44)} ${'OUTCOME'.padEnd(22)} ${'CLUSTERS'.padEnd(34)} ${'STARTED'.padEnd(24)} ENDED`);
          for (const r of rows)
            out(
              `${r.workflowId.padEnd(44)} ${(r.outcome ?? r.status).padEnd(22)} ${(r.clusters ? describeCounts(r.clusters) : '-').padEnd(34)} ` +
                `${r.startTime.padEnd(24)} ${r.closeTime ?? '-'}`,
            );
        }
        return ExitCode.ok;
      }),
    );

  fleet
    .command('cancel')
    .description('stop starting runbooks (the running ones finish; --cancel-running cancels them too)')
    .argument('<fleet>', 'fleet workflow id or its id')
    .option('--cancel-running', 'also cancel the runbooks the fleet started that are still running')
    .option('--by <name>', 'who cancels (recorded)', whoIsActing())
    .action((target: string, opts: { cancelRunning?: boolean; by?: string }) =>
      run(async (ctx, out) => {
        const workflowId = await resolveFleetId(ctx, target);
        const handle = ctx.client.workflow.getHandle(workflowId);
        const { status } = await describeRun(ctx, handle);
        if (status.name !== 'RUNNING') {
          // The fleet's own outcome (cancelled, stopped: error budget …), not Temporal's COMPLETED.
          const result = await handle.result().then(
            (r: unknown) => fleetResult.safeParse(r).data,
            () => undefined,
          );
          throw new CliError(
            `${workflowId} has already ended (${fleetOutcome(status.name, result)}): nothing to cancel`,
            ExitCode.notFound,
          );
        }
        ctx.sent = { what: 'the cancellation', workflowId };
        await handle.signal(fleetCancelSignal.definition, { cancelRunning: Boolean(opts.cancelRunning), by: opts.by });
        out(
          `${workflowId}: no more runbooks start${opts.cancelRunning ? '; the running ones are being cancelled' : '; the running ones finish'}`,
        );
        return ExitCode.ok;
      }),
    );

  fleet
    .command('resume')
    .description('start the clusters a fleet did not start (after an error-budget stop or a cancel), with a new budget')
    .argument('<fleet>', 'fleet workflow id or its id')
    .requiredOption('--max-errors <n|p%>', 'the new error budget: failed runs tolerated from now on (0: stop at the first)')
    .option('--max-concurrency <n|p%>', 'a new concurrency (default: as before)')
    .option('--wait', 'follow the fleet until it ends')
    .option('--json', 'machine-readable output')
    .addHelpText('after', FLEET_STATUS_EXIT_CODES)
    .action((target: string, opts: { maxErrors: string; maxConcurrency?: string; wait?: boolean; json?: boolean }) =>
      run(async (ctx, out) => {
        const maxErrors = parseErrorBudget(opts.maxErrors);
        const maxConcurrency = opts.maxConcurrency === undefined ? undefined : parseConcurrency(opts.maxConcurrency);
        const workflowId = await resolveFleetId(ctx, target);
        const handle = ctx.client.workflow.getHandle(workflowId);
        const description = await describeRun(ctx, handle);
        if (description.status.name === 'RUNNING')
          throw new CliError(
            `${workflowId} is still running: resume is for a fleet that stopped (ekm fleet status ${workflowId})`,
            ExitCode.refused,
          );
        let previous: FleetResult;
        try {
          previous = fleetResult.parse(await handle.result());
        } catch (err) {
          throw new CliError(
            `${workflowId} did not end with a result to resume from: ${(err as Error).message}`,
            ExitCode.refused,
          );
        }
        const notStarted = previous.notStarted;
        if (notStarted.length === 0)
          throw new CliError(`${workflowId}: every cluster was started; nothing to resume`, ExitCode.refused);
        const input = previous.input as FleetInput;
        const carried: FleetCarried = {
          status: {
            ...previous.status,
            endedAt: undefined,
            notes: [...previous.status.notes, `${new Date().toISOString()}: resumed with a new budget`],
          },
          budgetBase: previous.status.failed,
        };
        ctx.sent = { what: 'the resume', workflowId };
        const next = await ctx.client.workflow.start(fleetRunbook, {
          workflowId,
          taskQueue: description.taskQueue,
          args: [{ ...input, maxErrors, maxConcurrency: maxConcurrency ?? input.maxConcurrency }, carried],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        });
        ctx.sent = undefined;
        if (!opts.json)
          out(`resumed ${workflowId}: ${count(notStarted.length, 'cluster')} not started yet: ${notStarted.join(', ')}`);
        if (!opts.wait) {
          if (opts.json) out(formatJson(fleetResumedJson, { workflowId, runId: next.firstExecutionRunId, notStarted }));
          return ExitCode.ok;
        }
        const result = await followFleet(ctx, next, opts.json ? undefined : out);
        if (opts.json) out(formatJson(fleetResult, result));
        return fleetExitCode(result.status);
      }),
    );

  fleet
    .command('csr')
    .description('write the CSR of every cluster whose runbook waits for a signed certificate: DIR/<cluster>.csr')
    .argument('<fleet>', 'fleet workflow id or its id')
    .requiredOption('--out <dir>', 'the folder to write the CSRs into')
    .action((target: string, opts: { out: string }) =>
      run(async (ctx, out) => {
        // Checked before asking Temporal; the folder is made only when there is a CSR to write.
        const inTheWay = fileInTheWay(opts.out);
        if (inTheWay)
          throw new CliError(
            `--out ${opts.out}: cannot create the folder for the CSRs: a file is in the way (${inTheWay} is a file)`,
            ExitCode.usage,
          );
        const workflowId = await resolveFleetId(ctx, target);
        const view = await fleetView(ctx, workflowId);
        const csrs = view.status.clusters.flatMap((c) => {
          const p = view.progress.get(c.cluster);
          const csr = p?.waiting?.kind === 'signed-certificate' ? (p.waiting.csrPem ?? p.csrPem) : undefined;
          return csr ? [{ cluster: c.cluster, csr }] : [];
        });
        if (csrs.length === 0)
          throw new CliError(
            `no cluster of ${workflowId} waits for a signed certificate now (${describeCounts(clusterCounts(view.status.clusters))}); ` +
              `nothing was written`,
            ExitCode.notFound,
          );
        try {
          fs.mkdirSync(opts.out, { recursive: true });
        } catch (err) {
          throw new CliError(
            `--out ${opts.out}: cannot create the folder for the CSRs: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
            ExitCode.usage,
          );
        }
        for (const { cluster, csr } of csrs) {
          fs.writeFileSync(path.join(opts.out, `${cluster}.csr`), csr);
          out(`${cluster}: ${path.join(opts.out, `${cluster}.csr`)}`);
        }
        const written = csrs.length;
        out(
          `${count(written, 'CSR')} written to ${opts.out}; sign each as <cluster>.crt in one folder, then: ekm fleet submit-certs ${workflowId} DIR`,
        );
        return ExitCode.ok;
      }),
    );

  fleet
    .command('submit-certs')
    .description('submit every DIR/<cluster>.crt to its waiting runbook, each checked like ekm submit-cert')
    .argument('<fleet>', 'fleet workflow id or its id')
    .argument('<dir>', 'the folder with <cluster>.crt (and <cluster>.ca.pem unless --ca)')
    .option('--ca <file>', 'the CA certificate(s) that issued every certificate (else DIR/<cluster>.ca.pem)')
    .option('--by <name>', 'who submits (recorded)', whoIsActing())
    .option('--json', 'machine-readable output')
    .action((target: string, dir: string, opts: { ca?: string; by?: string; json?: boolean }) =>
      run(async (ctx, out) => {
        if (!fs.existsSync(dir))
          throw new CliError(`${dir}: no such folder (the folder with the <cluster>.crt files)`, ExitCode.usage);
        if (!fs.statSync(dir).isDirectory())
          throw new CliError(`${dir}: is a file, not a folder (give the folder with the <cluster>.crt files)`, ExitCode.usage);
        const sharedCa = opts.ca ? readCertificateFile(opts.ca, '--ca') : undefined;
        const workflowId = await resolveFleetId(ctx, target);
        const view = await fleetView(ctx, workflowId);
        const rows = await submitAll(ctx, view, dir, sharedCa?.pem, opts.by);
        if (opts.json) out(formatJson(fleetSubmissionsJson, rows));
        else {
          out(`${'CLUSTER'.padEnd(20)} ${'OUTCOME'.padEnd(17)} DETAIL`);
          for (const r of rows) out(`${r.cluster.padEnd(20)} ${r.outcome.padEnd(17)} ${r.detail}`);
        }
        const accepted = rows.filter((r) => r.outcome === 'accepted' || r.outcome === 'already-accepted').length;
        const refused = rows.filter((r) => r.outcome === 'refused').length;
        if (!opts.json) {
          out(`${accepted} accepted, ${refused} refused`);
          const gaps = certificateFileGaps(
            fs.readdirSync(dir),
            view.status.clusters.map((c) => c.cluster),
            view.status.clusters
              .filter(
                (c) =>
                  !rows.some((r) => r.cluster === c.cluster) &&
                  view.progress.get(c.cluster)?.waiting?.kind === 'signed-certificate',
              )
              .map((c) => c.cluster),
            { sharedCa: sharedCa !== undefined },
          );
          if (gaps.missing.length > 0)
            out(`still waiting for a certificate, no <cluster>.crt in ${dir}: ${gaps.missing.join(', ')}`);
          if (gaps.stray.length > 0) out(`ignored, not a cluster of this fleet: ${gaps.stray.join(', ')}`);
          if (gaps.caNotRead.length > 0) out(`--ca is the CA of every certificate; not read: ${gaps.caNotRead.join(', ')}`);
        }
        return refused > 0 ? ExitCode.refused : ExitCode.ok;
      }),
    );
}

type SubmissionRow = z.input<typeof fleetSubmissionsJson>[number];

/** Each cluster's certificate: read and checked like a single submission, then sent; refusals say why. */
async function submitAll(
  ctx: CliContext,
  view: Awaited<ReturnType<typeof fleetView>>,
  dir: string,
  sharedCaPem: string | undefined,
  by: string | undefined,
): Promise<SubmissionRow[]> {
  const rows: SubmissionRow[] = [];
  for (const c of view.status.clusters) {
    const certFile = path.join(dir, `${c.cluster}.crt`);
    if (!fs.existsSync(certFile)) continue;
    const row = (outcome: SubmissionRow['outcome'], detail: string) =>
      rows.push({ cluster: c.cluster, workflowId: c.workflowId, outcome, detail });
    const p = view.progress.get(c.cluster);
    const csrPem = p?.waiting?.kind === 'signed-certificate' ? (p.waiting.csrPem ?? p.csrPem) : undefined;
    if (!csrPem) {
      row(
        'skipped',
        `its runbook is not waiting for a certificate (${p ? `${p.state}, step ${p.currentStep ?? '-'}` : c.state})`,
      );
      continue;
    }
    const caFile = path.join(dir, `${c.cluster}.ca.pem`);
    if (!sharedCaPem && !fs.existsSync(caFile)) {
      row('refused', `no CA: give --ca or put it in ${caFile}`);
      continue;
    }
    try {
      const cert = readCertificateFile(certFile, `${c.cluster}.crt`);
      const ca = sharedCaPem ?? readCertificateFile(caFile, `${c.cluster}.ca.pem`).pem;
      // Problems name the files of DIR (and --ca when given), not ekm submit-cert's --cert.
      const names = { certificate: `${c.cluster}.crt`, ca: sharedCaPem ? '--ca' : `${c.cluster}.ca.pem` };
      const verdict = await certificateVerdict(
        csrPem,
        `${c.workflowId}`,
        { cert: Buffer.from(cert.pem), ca: Buffer.from(ca), mustOutlive: p?.waiting?.mustOutlive },
        new Date(),
        names,
      );
      if (!verdict.accepted) {
        row('refused', verdict.problems.join('; '));
        continue;
      }
      ctx.doing = `submitting the certificate of ${c.cluster}`;
      const accepted = await ctx.client.workflow
        .getHandle(c.workflowId, c.runId)
        .executeUpdate(submitCertificateUpdate.definition, { args: [{ certificatePem: cert.pem, caChainPem: ca, by }] });
      row('accepted', `${accepted.subject}, valid until ${accepted.notAfter}`);
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) row('refused', err.cause?.message ?? err.message);
      else if (err instanceof CliError) row('refused', err.message);
      else throw err;
    }
  }
  if (rows.length === 0) throw new CliError(`no <cluster>.crt in ${dir} for a cluster of this fleet`, ExitCode.usage);
  return rows;
}

const PLAN_CONCURRENCY = 8;

/**
 * --plan: each cluster's plan (src/plan: read-only, no lock) and what Temporal knows of it (a run
 * to attach to, the cluster lock held: plan-busy.ts), a few clusters at a time.
 * Exit 0 when every cluster could start, 4 when one would refuse or could not be read.
 */
async function planFleet(
  ctx: CliContext,
  out: (line: string) => void,
  request: FleetRequest,
  selection: Selection,
  flags: FleetFlags,
): Promise<number> {
  if (flags.wait) throw new CliError('--wait: a plan starts nothing to wait for; leave out --wait or --plan', ExitCode.usage);
  const registry = readRegistry(ctx);
  ctx.temporalOptional = true;
  // Loaded only for a plan: it brings the activities' cluster readers (as `ekm rekey --plan` does).
  const { PlanInputError, planFor } = await import('../../plan');
  ctx.doing = `reading ${count(selection.names.length, 'cluster')} for their plans`;
  const rows = await bounded(selection.names, PLAN_CONCURRENCY, async (cluster) => {
    try {
      const input = inputForCluster(request.inputFor(cluster), cluster) as { ifBusy?: 'fail' | 'wait' };
      const plan = await planFor(request.runbook, input as never, { registry, flags: request.fieldFlags });
      // What Temporal adds (a run to attach to, the cluster lock held), best effort like a single plan.
      const view = await temporalView(ctx, request.runbook, cluster, input.ifBusy ?? 'fail', 'attach');
      const verdict = planVerdict(withTemporalView(plan, view));
      return { cluster, ...verdict, detail: [verdict.detail, ...view.facts].join('; ') };
    } catch (err) {
      if (err instanceof PlanInputError) throw new CliError(err.message, ExitCode.usage);
      return { cluster, verdict: 'error' as const, detail: `cannot read the cluster: ${(err as Error).message}` };
    }
  });
  if (flags.json) out(formatJson(fleetPlanJson, rows));
  else for (const r of rows) out(`${r.cluster.padEnd(20)} ${r.verdict.replace(/-/g, ' ').padEnd(14)} ${r.detail}`);
  return rows.every((r) => r.verdict === 'would-run' || r.verdict === 'nothing-to-do') ? ExitCode.ok : ExitCode.refused;
}
