/**
 * `ekm setup|rekey|renew|recover … --plan`: the plan (src/plan) printed for a person, or with
 * `--json` as the checked document; exit 0 when the run could start, 4 when the precheck would
 * refuse. Reads the cluster from this process (the clusters file and its credential references,
 * as the worker does): no runbook is started, no lock taken, no worker needed. Temporal is asked
 * too, best effort (plan-busy.ts): the same runbook already running, or the cluster lock held,
 * refuses the plan as it would refuse the start.
 */
import { ConfigError } from '../config/zod-errors';
import { loadClusterRegistry } from '../config/clusters';
import { ElementError } from '../element/errors';
import { formatDuration } from '../durations';
import type { PlanInputs, PlannableRunbook } from '../plan';
import { runbookPlan, type PlannedStep, type RunbookPlan } from '../../workflows/contract/plan';
import { CliError, ExitCode } from './exit-codes';
import { formatJson } from './json-output';
import { temporalView, type TemporalView } from './plan-busy';
import { checkKnownCluster } from './registry-check';
import type { CliContext } from './temporal';

export const PLAN_OPTION = [
  '--plan',
  'print what the run would do, read-only, then exit (0: it could start, 4: refused)',
] as const;

/** Flags that make no sense with --plan (it starts nothing): refused naming them. */
export function refuseWithPlan(flags: { wait?: boolean }): void {
  if (flags.wait) throw new CliError('--wait: a plan starts nothing to wait for; leave out --wait or --plan', ExitCode.usage);
}

const ACTION_WORDS: Record<PlannedStep['action'], string> = {
  create: 'will create',
  reuse: 'will reuse',
  modify: 'will modify',
  run: 'will run',
  skip: 'will skip',
  maybe: 'may run',
  refuse: 'REFUSES',
};

const ms = (value: number | undefined) => (value === undefined ? undefined : formatDuration(value));

/** The plan in lines a person reads: steps with what they do, calls, waits and questions; refusals and the window first. */
export function renderPlan(plan: RunbookPlan): string[] {
  const lines: string[] = [];
  const verdict = plan.couldStart ? 'the run could start' : 'the precheck would REFUSE the run';
  lines.push(`plan: ${plan.runbook} on ${plan.cluster} (read ${plan.readAt}): ${verdict}`);
  for (const r of plan.refusals) lines.push(`  refused: ${r.type}: ${r.message}${r.retryable ? ' (retried a while first)' : ''}`);
  if (plan.window)
    lines.push(`  WINDOW (${plan.window.kind}, ${plan.window.opensAt} .. ${plan.window.closesAt}): ${plan.window.description}`);
  lines.push(`  ${plan.takesLock ? 'takes the cluster lock' : 'takes no cluster lock (reads and tests only)'}`);
  for (const fact of plan.facts) lines.push(`  - ${fact}`);
  lines.push('steps:');
  for (const step of plan.steps) {
    const fields = step.fields?.length ? ` (${step.fields.join(', ')})` : '';
    // A refusing step's detail starts "refuses: " (it stands alone in --json); after REFUSES that is said twice.
    const detail = step.action === 'refuse' ? step.detail.replace(/^refuses: /, '') : step.detail;
    lines.push(`  ${step.id.padEnd(16)} ${ACTION_WORDS[step.action]}${fields}: ${step.action === 'skip' ? step.why : detail}`);
    if (step.action === 'maybe' && step.why) lines.push(`  ${''.padEnd(16)}   ${step.why}`);
    if (step.action === 'skip') continue;
    if (step.calls.length)
      lines.push(
        `  ${''.padEnd(16)}   calls: ${step.calls.map((c) => `${c.method}${c.effect === 'read' ? '' : ` [${c.effect}]`}${c.when ? ` (${c.when})` : ''}`).join(', ')}`,
      );
    for (const w of step.waits) {
      const bounds = [ms(w.forMs) && `up to ${ms(w.forMs)}`, ms(w.everyMs) && `every ${ms(w.everyMs)}`]
        .filter(Boolean)
        .join(', ');
      lines.push(`  ${''.padEnd(16)}   waits: ${w.what}${bounds ? ` [${bounds}]` : ''}${w.setting ? ` (${w.setting})` : ''}`);
    }
    for (const q of step.asks)
      lines.push(
        `  ${''.padEnd(16)}   asks: ${q.when}: ${q.answers.join(' | ')}${q.remindEveryMs ? ` (reminds every ${formatDuration(q.remindEveryMs)})` : ''}`,
      );
  }
  lines.push(`read with: ${plan.readWith.join(', ')} (read-only; nothing was changed)`);
  return lines;
}

const ifBusyOf = (input: unknown) => ((input as { ifBusy?: 'fail' | 'wait' }).ifBusy === 'wait' ? 'wait' : 'fail');

/** The plan with what Temporal adds: its refusals (the run could not start) and what it could not look at. */
export function withTemporalView(plan: RunbookPlan, view: TemporalView): RunbookPlan {
  const refusals = [...plan.refusals, ...view.refusals];
  return runbookPlan.parse({
    ...plan,
    refusals,
    couldStart: plan.couldStart && view.refusals.length === 0,
    facts: [...plan.facts, ...view.facts],
  });
}

/**
 * Makes and prints the plan. `input` is the runbook's raw input from the command's flags; `flags`
 * names each input field's flag for refusals. Returns the exit code.
 */
export async function printPlan<R extends PlannableRunbook>(
  ctx: CliContext,
  out: (line: string) => void,
  request: { runbook: R; input: PlanInputs[R]; flags: Readonly<Record<string, string>>; json?: boolean },
): Promise<number> {
  const cluster = (request.input as { cluster: string }).cluster;
  const signer = (request.input as { signer?: { type: string; name?: string } }).signer;
  // Loaded only for a plan: the readers bring in the activity modules, which other commands do not need.
  const { PlanInputError, planFor, validatePlanInput } = await import('../plan');
  ctx.temporalOptional = true;
  let plan: RunbookPlan;
  try {
    // Checked before anything is read: bad input exits 2 naming the flag.
    validatePlanInput(request.runbook, request.input, request.flags);
    checkKnownCluster(ctx.settings, cluster, signer?.type === 'command' ? signer.name : undefined, { names: request.flags });
    ctx.doing = `reading cluster ${cluster} for the plan (read-only)`;
    const registry = loadClusterRegistry(ctx.settings.EKM_CLUSTERS_FILE);
    plan = await planFor(request.runbook, request.input, { registry, flags: request.flags });
    ctx.doing = `looking in Temporal for runs on cluster ${cluster}`;
    plan = withTemporalView(plan, await temporalView(ctx, request.runbook, cluster, ifBusyOf(request.input)));
  } catch (err) {
    if (err instanceof PlanInputError || err instanceof ConfigError) throw new CliError(err.message, ExitCode.usage);
    if (err instanceof ElementError)
      throw new CliError(
        `cannot read cluster ${cluster} for the plan: ${err.message}; nothing was changed`,
        ExitCode.runbookFailed,
      );
    throw err;
  }
  const code = plan.couldStart ? ExitCode.ok : ExitCode.refused;
  // Known before printing: a reader that closes the pipe early (`--plan | head`) does not turn a refusal into 0.
  process.exitCode = code;
  if (request.json) out(formatJson(runbookPlan, plan));
  else for (const line of renderPlan(plan)) out(line);
  return code;
}
