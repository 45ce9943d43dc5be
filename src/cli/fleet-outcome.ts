/**
 * The words and exit codes of `ekm fleet`: limits as the operator types them, a fleet's own
 * outcome (not Temporal's COMPLETED), counts with their plural, and the exit code a fleet's
 * state maps to. No I/O: shared by the fleet commands and their unit test.
 */
import {
  fleetErrorBudget,
  fleetLimit,
  type FleetCluster,
  type FleetErrorBudget,
  type FleetLimit,
  type FleetResult,
  type FleetState,
} from '../../workflows/contract';
import type { RunbookPlan } from '../../workflows/contract/plan';
import { CliError, ExitCode } from './exit-codes';

/** `1 cluster`, `2 clusters`, `0 clusters`. */
export function count(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : pluralForm}`;
}

const LIMIT = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/;
/** The largest count --max-concurrency and --max-errors take (the fleet contract's bound). */
export const FLEET_COUNT_MAX = 100_000;
/** The longest fleet id (`--id`; the fleet contract's bound). */
export const FLEET_ID_MAX = 41;

/** A whole count above FLEET_COUNT_MAX, said as such (not as "not a whole number"). */
function tooLarge(flag: string, text: string, m: RegExpExecArray | null): CliError | undefined {
  if (!m || m[2] === '%' || !Number.isInteger(Number(m[1])) || Number(m[1]) <= FLEET_COUNT_MAX) return undefined;
  return new CliError(
    `${flag}: "${text.trim()}" is more than ${FLEET_COUNT_MAX}; give a smaller count or a percentage (e.g. 100%)`,
    ExitCode.usage,
  );
}

/** Why `id` is not a fleet id (`--id`), in the operator's words. */
export function fleetIdProblem(id: string): string {
  if (id.length > FLEET_ID_MAX)
    return `"${id.slice(0, 20)}…" is ${id.length} characters long; a fleet id has at most ${FLEET_ID_MAX}`;
  return `"${id}" must be lowercase letters, digits and dashes, starting with a letter or a digit`;
}

/** `--max-concurrency`: `50` or `10%` (at least one cluster); anything else is refused naming the flag (exit 2). */
export function parseConcurrency(text: string, flag = '--max-concurrency'): FleetLimit {
  const m = LIMIT.exec(text);
  const parsed = m ? fleetLimit.safeParse(m[2] === '%' ? { percent: Number(m[1]) } : { count: Number(m[1]) }) : undefined;
  if (parsed?.success) return parsed.data;
  const large = tooLarge(flag, text, m);
  if (large) throw large;
  throw new CliError(
    `${flag}: "${text}" must be a whole number of clusters (at least 1) or a percentage above 0 (e.g. 10%)`,
    ExitCode.usage,
  );
}

/**
 * `--max-errors`: the failed runs tolerated, `2` or `10%`; `0` (or `0%`) stops the fleet at the
 * first failure. Anything else is refused naming the flag (exit 2).
 */
export function parseErrorBudget(text: string, flag = '--max-errors'): FleetErrorBudget {
  const m = LIMIT.exec(text);
  const parsed = m ? fleetErrorBudget.safeParse(m[2] === '%' ? { percent: Number(m[1]) } : { count: Number(m[1]) }) : undefined;
  if (parsed?.success) return parsed.data;
  const large = tooLarge(flag, text, m);
  if (large) throw large;
  throw new CliError(
    `${flag}: "${text}" must be a whole number of failed runs (0 stops at the first failure) or a percentage from 0% to 100%`,
    ExitCode.usage,
  );
}

/**
 * `at most 3 at once, stop at the first failure` / `…, stop when more than 2 runs failed`. Given the
 * number of clusters, a concurrency above it is said as that number (never more run at once).
 */
export function describeLimits(limits: { maxConcurrency: number; maxErrors: number }, clusters?: number): string {
  const stop =
    limits.maxErrors === 0 ? 'stop at the first failure' : `stop when more than ${count(limits.maxErrors, 'run')} failed`;
  const atOnce = clusters === undefined ? limits.maxConcurrency : Math.max(1, Math.min(limits.maxConcurrency, clusters));
  return `at most ${atOnce} at once, ${stop}`;
}

/** Clusters by state, for a fleet's own outcome and its list row. */
export interface ClusterCounts {
  total: number;
  done: number;
  failed: number;
  cancelled: number;
  notStarted: number;
}

export function clusterCounts(clusters: Pick<FleetCluster, 'state'>[]): ClusterCounts {
  const n = (state: FleetCluster['state']) => clusters.filter((c) => c.state === state).length;
  return {
    total: clusters.length,
    done: n('completed'),
    failed: n('failed'),
    cancelled: n('cancelled'),
    notStarted: n('not-started'),
  };
}

/**
 * The fleet's own outcome in words, from its result: `done` (every cluster), `ended: 1 failed`,
 * `stopped: error budget`, `cancelled`; from Temporal's status when there is no result (`running`,
 * `failed`: the fleet workflow itself failed, `terminated`, `timed out`).
 */
export function fleetOutcome(temporalStatus: string, result?: Pick<FleetResult, 'state' | 'status'>): string {
  if (temporalStatus === 'RUNNING') return 'running';
  if (!result) return temporalStatus.toLowerCase().replace(/_/g, ' ').replace('canceled', 'cancelled');
  return endedOutcome(result.state, clusterCounts(result.status.clusters));
}

function endedOutcome(state: FleetState, c: ClusterCounts): string {
  if (state === 'stopped-error-budget') return 'stopped: error budget';
  if (state === 'cancelled') return 'cancelled';
  if (state === 'running' || state === 'stopping') return state;
  const problems = [c.failed ? `${c.failed} failed` : '', c.cancelled ? `${c.cancelled} cancelled` : ''].filter(Boolean);
  return problems.length === 0 ? 'done' : `ended: ${problems.join(', ')}`;
}

/** `11 done, 1 failed, 0 not started of 12`: a list row's clusters. */
export function describeCounts(c: ClusterCounts): string {
  const parts = [`${c.done} done`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  if (c.notStarted) parts.push(`${c.notStarted} not started`);
  return `${parts.join(', ')} of ${c.total}`;
}

/**
 * The exit code of `ekm fleet status` (with or without --watch) and of a fleet start or resume with
 * --wait, from the fleet's state: 0 ended with every cluster done; 1 ended any other way (a cluster
 * failed or was cancelled, the error budget stopped it, it was cancelled); 6 not ended yet (still
 * running or stopping: a plain status of a running fleet, or --watch that reached --timeout).
 */
export function fleetExitCode(status: { state: FleetState; endedAt?: string; clusters: Pick<FleetCluster, 'state'>[] }): number {
  if (!status.endedAt || status.state === 'running' || status.state === 'stopping') return ExitCode.stillRunning;
  const c = clusterCounts(status.clusters);
  return status.state === 'completed' && c.done === c.total ? ExitCode.ok : ExitCode.runbookFailed;
}

/** One line per cluster from its plan: would run (what changes) / would refuse (why) / nothing to do. */
export function planVerdict(plan: RunbookPlan): { verdict: 'would-run' | 'would-refuse' | 'nothing-to-do'; detail: string } {
  if (!plan.couldStart)
    return { verdict: 'would-refuse', detail: plan.refusals.map((r) => `${r.type}: ${r.message}`).join('; ') };
  const doing = plan.steps.filter((s) => s.action !== 'skip' && s.action !== 'reuse' && s.id !== 'lock');
  // Only a look (a precheck or a confirm that reads, waits for nothing and asks nothing) before every
  // other step is skipped: the run would end at once (setup already done, no fault to recover from).
  const onlyLooks = doing.every(
    (s) => s.action === 'run' && s.waits.length === 0 && s.asks.length === 0 && s.calls.every((c) => c.effect === 'read'),
  );
  if (onlyLooks) {
    const why = plan.facts.find((f) => /ends at once/.test(f)) ?? plan.facts.at(-1);
    return { verdict: 'nothing-to-do', detail: why ?? 'every step would be skipped or reused' };
  }
  return { verdict: 'would-run', detail: doing.map((s) => `${s.action} ${s.id}`).join(', ') };
}
