/**
 * The fleet's words and exit codes without a server: --max-errors 0 and 0% accepted (stop at the
 * first failure), limits refused naming the flag, plurals, a fleet's own outcome instead of
 * Temporal's COMPLETED, and the exit code each state maps to.
 */
import { CliError, ExitCode } from '../../src/cli/exit-codes';
import {
  count,
  describeCounts,
  describeLimits,
  fleetExitCode,
  fleetIdProblem,
  fleetOutcome,
  parseConcurrency,
  parseErrorBudget,
  planVerdict,
} from '../../src/cli/fleet-outcome';
import type { PlannedStep, RunbookPlan } from '../../workflows/contract/plan';
import {
  fleetInput,
  inputForCluster,
  resolveErrorBudget,
  resolveLimit,
  type FleetClusterState,
  type FleetState,
} from '../../workflows/contract';

const refusal = (fn: () => unknown): CliError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error('not refused');
};

describe('--max-errors: failed runs tolerated', () => {
  it('accepts 0 and 0% (stop at the first failure) as well as counts and percentages', () => {
    expect(parseErrorBudget('0')).toEqual({ count: 0 });
    expect(parseErrorBudget('0%')).toEqual({ percent: 0 });
    expect(parseErrorBudget('3')).toEqual({ count: 3 });
    expect(parseErrorBudget('12.5%')).toEqual({ percent: 12.5 });
    expect(resolveErrorBudget({ count: 0 }, 12)).toBe(0);
    expect(resolveErrorBudget({ percent: 0 }, 12)).toBe(0);
    expect(resolveErrorBudget({ percent: 10 }, 12)).toBe(1); // 1.2 failures tolerated: 1
    expect(resolveErrorBudget({ percent: 25 }, 4)).toBe(1);
    expect(resolveErrorBudget({ percent: 100 }, 7)).toBe(7);
    // The fleet's own input schema takes it too (the CLI and the workflow agree).
    const input = { runbook: 'rekey', clusters: ['a'], selector: 'a', input: {}, maxConcurrency: { count: 1 } };
    expect(fleetInput.safeParse({ ...input, maxErrors: { count: 0 } }).success).toBe(true);
    expect(fleetInput.safeParse({ ...input, maxErrors: { percent: 0 } }).success).toBe(true);
    expect(fleetInput.safeParse({ ...input, maxErrors: { count: -1 } }).success).toBe(false);
  });

  it.each(['-1', '1.5', '101%', 'many', '', '5 %%'])('refuses %j naming the flag (exit 2)', (text) => {
    const err = refusal(() => parseErrorBudget(text));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toBe(
      `--max-errors: "${text}" must be a whole number of failed runs (0 stops at the first failure) or a percentage from 0% to 100%`,
    );
  });
});

describe('--max-concurrency', () => {
  it.each(['0', '0%', '-2', '2.5', '150%', 'x'])('refuses %j naming the flag (exit 2)', (text) => {
    const err = refusal(() => parseConcurrency(text));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toMatch(new RegExp(`^--max-concurrency: "${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" must be`));
  });

  it('50% of 4 clusters is 2 at once; a percentage rounds up to at least 1', () => {
    expect(resolveLimit(parseConcurrency('50%'), 4)).toBe(2);
    expect(resolveLimit(parseConcurrency('10%'), 3)).toBe(1);
    expect(resolveLimit(parseConcurrency('5'), 3)).toBe(5);
  });
});

it('counts agree with their number', () => {
  expect(count(1, 'cluster')).toBe('1 cluster');
  expect(count(0, 'cluster')).toBe('0 clusters');
  expect(count(2, 'CSR')).toBe('2 CSRs');
  expect(describeLimits({ maxConcurrency: 3, maxErrors: 0 })).toBe('at most 3 at once, stop at the first failure');
  expect(describeLimits({ maxConcurrency: 1, maxErrors: 1 })).toBe('at most 1 at once, stop when more than 1 run failed');
  expect(describeLimits({ maxConcurrency: 2, maxErrors: 2 })).toBe('at most 2 at once, stop when more than 2 runs failed');
  // A concurrency above the selection is said as what can run at once (--max-concurrency 100000 over 6 clusters).
  expect(describeLimits({ maxConcurrency: 100_000, maxErrors: 0 }, 6)).toBe('at most 6 at once, stop at the first failure');
  expect(describeLimits({ maxConcurrency: 2, maxErrors: 0 }, 6)).toBe('at most 2 at once, stop at the first failure');
});

describe('limits and ids beyond their bounds are said as such', () => {
  it.each([
    ['--max-concurrency', parseConcurrency],
    ['--max-errors', parseErrorBudget],
  ] as const)('%s 1000000 is refused as more than 100000, not as "not a whole number"', (flag, parse) => {
    const err = refusal(() => parse('1000000'));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toBe(`${flag}: "1000000" is more than 100000; give a smaller count or a percentage (e.g. 100%)`);
    expect(refusal(() => parse('100001')).message).toContain('is more than 100000');
    expect(parse('100000')).toEqual({ count: 100_000 });
  });

  it('--id: a long id is refused for its length, a malformed one for its characters', () => {
    expect(fleetIdProblem('x'.repeat(42))).toBe(`"${'x'.repeat(20)}…" is 42 characters long; a fleet id has at most 41`);
    expect(fleetIdProblem('A B')).toBe('"A B" must be lowercase letters, digits and dashes, starting with a letter or a digit');
  });
});

describe('a fleet plan line per cluster', () => {
  const step = (id: string, action: PlannedStep['action'], calls: [string, 'read' | 'test' | 'change'][] = []): PlannedStep => ({
    id,
    title: id,
    action,
    detail: '',
    calls: calls.map(([method, effect]) => ({ method, effect })),
    waits: [],
    asks: [],
  });
  const plan = (steps: PlannedStep[], facts: string[] = []): RunbookPlan => ({
    runbook: 'recover-kmip-server-fault',
    cluster: 'lab-2',
    readAt: '2026-12-01T00:00:00.000Z',
    couldStart: true,
    refusals: [],
    takesLock: false,
    facts,
    steps,
    readWith: ['ListClusterFaults'],
  });

  it('a run that would only look and end at once (no fault, already set up) is nothing to do, saying why', () => {
    const noFault = plan(
      [step('confirm', 'run', [['ListClusterFaults', 'read']]), step('find-servers', 'skip'), step('diagnose', 'skip')],
      ['no current kmipServerFault on lab-2: the run ends at once, saying so'],
    );
    expect(planVerdict(noFault)).toEqual({
      verdict: 'nothing-to-do',
      detail: 'no current kmipServerFault on lab-2: the run ends at once, saying so',
    });
  });

  it('a step that tests, changes, waits or may run makes it a run', () => {
    const fault = plan([
      step('confirm', 'run', [['ListClusterFaults', 'read']]),
      step('diagnose', 'run', [['TestKeyServerKmip', 'test']]),
      step('wait-for-fix', 'maybe'),
    ]);
    expect(planVerdict(fault)).toEqual({ verdict: 'would-run', detail: 'run confirm, run diagnose, maybe wait-for-fix' });
    const rekey = plan([
      step('precheck', 'run', [['GetSoftwareEncryptionAtRestInfo', 'read']]),
      step('start', 'run', [['RekeySoftwareEncryptionAtRestMasterKey', 'change']]),
    ]);
    expect(planVerdict(rekey).verdict).toBe('would-run');
    const waits = plan([{ ...step('settle', 'run'), waits: [{ what: 'settle', forMs: 240_000 }] }]);
    expect(planVerdict(waits).verdict).toBe('would-run');
  });
});

const clusters = (...states: FleetClusterState[]) => states.map((state) => ({ state }));
const status = (state: FleetState, states: FleetClusterState[], ended = true) => ({
  state,
  endedAt: ended ? '2026-12-01T00:00:00.000Z' : undefined,
  clusters: clusters(...states),
});

describe("a fleet's own outcome, not Temporal's", () => {
  it('names how the fleet ended, from its result', () => {
    const outcome = (state: FleetState, states: FleetClusterState[]) =>
      fleetOutcome('COMPLETED', { state, status: status(state, states) as never });
    expect(outcome('completed', ['completed', 'completed'])).toBe('done');
    expect(outcome('completed', ['completed', 'failed'])).toBe('ended: 1 failed');
    expect(outcome('completed', ['failed', 'failed', 'cancelled'])).toBe('ended: 2 failed, 1 cancelled');
    expect(outcome('stopped-error-budget', ['completed', 'failed', 'not-started'])).toBe('stopped: error budget');
    expect(outcome('cancelled', ['completed', 'cancelled'])).toBe('cancelled');
  });

  it('falls back to the workflow status in words when there is no result', () => {
    expect(fleetOutcome('RUNNING')).toBe('running');
    expect(fleetOutcome('FAILED')).toBe('failed');
    expect(fleetOutcome('TIMED_OUT')).toBe('timed out');
    expect(fleetOutcome('TERMINATED')).toBe('terminated');
    expect(fleetOutcome('CANCELED')).toBe('cancelled');
  });

  it('counts the clusters of a list row', () => {
    expect(describeCounts({ total: 12, done: 10, failed: 1, cancelled: 0, notStarted: 1 })).toBe(
      '10 done, 1 failed, 1 not started of 12',
    );
    expect(describeCounts({ total: 3, done: 3, failed: 0, cancelled: 0, notStarted: 0 })).toBe('3 done of 3');
  });
});

describe('exit codes of fleet status, --watch and --wait', () => {
  it('0 every cluster done, 1 ended any other way, 6 not ended yet', () => {
    expect(fleetExitCode(status('completed', ['completed', 'completed']))).toBe(ExitCode.ok);
    expect(fleetExitCode(status('completed', ['completed', 'failed']))).toBe(ExitCode.runbookFailed);
    expect(fleetExitCode(status('completed', ['completed', 'cancelled']))).toBe(ExitCode.runbookFailed);
    expect(fleetExitCode(status('stopped-error-budget', ['failed', 'not-started']))).toBe(ExitCode.runbookFailed);
    expect(fleetExitCode(status('cancelled', ['completed', 'not-started']))).toBe(ExitCode.runbookFailed);
    expect(fleetExitCode(status('running', ['completed', 'running'], false))).toBe(ExitCode.stillRunning);
    expect(fleetExitCode(status('stopping', ['failed', 'running'], false))).toBe(ExitCode.stillRunning);
    expect(ExitCode.stillRunning).toBe(6);
  });
});

it("{cluster} in a fleet setup's subject becomes each cluster's name; other fields and inputs are left alone", () => {
  const input = {
    subject: { commonName: '{cluster}.example.com', organization: 'Example', organizationalUnit: 'ops {cluster} {cluster}' },
    keyServerName: '{cluster}-kmip',
  };
  expect(inputForCluster(input, 'prod-ams-1')).toEqual({
    subject: { commonName: 'prod-ams-1.example.com', organization: 'Example', organizationalUnit: 'ops prod-ams-1 prod-ams-1' },
    keyServerName: '{cluster}-kmip',
  });
  expect(input.subject.commonName).toBe('{cluster}.example.com'); // the fleet's own input is not changed
  const rekey = { keyManagement: 'external' };
  expect(inputForCluster(rekey, 'a')).toBe(rekey);
});
