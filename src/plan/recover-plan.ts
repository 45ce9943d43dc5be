/**
 * The plans of the two recoveries: kmipServerFault (procedure 3, workflows/recover-kmip-server-fault.ts)
 * from readKmipRecoveryState, and sliceServiceUnhealthy (procedure 4, workflows/recover-slice-service.ts)
 * from readSliceRecoveryState, with the recoveries' own selections (kmipKeyServersOf,
 * faultDriveCandidates, refusals). No I/O.
 */
import { Failure } from '../../workflows/failures';
import { faultDriveCandidates, refusals, runningDriveAddFor, type SliceRecoveryState } from '../../activities/drives';
import { kmipKeyServersOf, type KmipKeyServers, type KmipRecoveryState } from '../../activities/faults';
import type { PlannedStep, RunbookPlan } from '../../workflows/contract/plan';
import type { RecoverKmipOptions, RecoverSliceOptions } from '../../workflows/inputs-recovery';
import { RECOVER_KMIP_STEPS } from '../../workflows/recover-kmip-server-fault';
import { RECOVER_SLICE_STEPS } from '../../workflows/recover-slice-service';
import { formatDuration } from '../durations';
import { asRefusal, call, lockStep, planStep, skipFrom } from './plan-steps';

const K = RECOVER_KMIP_STEPS;
const S = RECOVER_SLICE_STEPS;

/** The kmipServerFault recovery's plan: it reads and tests only, so it takes no lock. */
export function planRecoverKmip(
  cluster: string,
  state: KmipRecoveryState,
  input: RecoverKmipOptions,
  readWith: string[],
  readAt: Date,
): RunbookPlan {
  const base = {
    runbook: 'recover-kmip-server-fault' as const,
    cluster,
    readAt: readAt.toISOString(),
    takesLock: false,
    readWith,
  };
  const confirm = planStep(K, 'confirm', 'run', {
    detail: state.fault ? `kmipServerFault ${state.fault.clusterFaultID}: ${state.fault.details}` : 'no current kmipServerFault',
    calls: [call('ListClusterFaults')],
  });
  if (!state.fault) {
    return {
      ...base,
      couldStart: true,
      refusals: [],
      facts: [`no current kmipServerFault on ${cluster}: the run ends at once, saying so`],
      steps: [confirm, ...skipFrom(K, 'find-servers', 'no fault to recover from')],
    };
  }
  const findCalls = [call('ListKeyProvidersKmip'), call('ListKeyServersKmip')];
  let servers: KmipKeyServers;
  try {
    servers = kmipKeyServersOf(cluster, state.fault, state.providers, state.servers);
  } catch (err) {
    const refusal = asRefusal(err);
    return {
      ...base,
      couldStart: false,
      refusals: [refusal],
      facts: [`kmipServerFault ${state.fault.clusterFaultID}: ${state.fault.details}`],
      steps: [
        confirm,
        planStep(K, 'find-servers', 'refuse', { detail: `refuses: ${refusal.message}`, calls: findCalls }),
        ...skipFrom(K, 'diagnose', 'not reached: no key server to test'),
      ],
    };
  }
  const names = servers.servers.map((s) => `${s.keyServerID} "${s.name}" (${s.hostnames.join(', ')}:${s.port})`);
  return {
    ...base,
    couldStart: true,
    refusals: [],
    facts: [
      `kmipServerFault ${state.fault.clusterFaultID}: ${state.fault.details}`,
      `key servers to test: ${names.join(', ') || 'none'}`,
      'the plan does not test them (TestKeyServerKmip contacts the key server): the run does, in diagnose',
    ],
    steps: [
      confirm,
      planStep(K, 'find-servers', 'run', {
        detail: `providers ${servers.providers.map((p) => `${p.keyProviderID} "${p.name}"`).join(', ')}; key servers ${servers.servers.map((s) => s.keyServerID).join(', ') || 'none'}`,
        calls: findCalls,
      }),
      planStep(K, 'diagnose', 'run', {
        detail: 'TestKeyServerKmip on each key server, each failure classified (unreachable, TLS rejected, key missing)',
        calls: [call('ListClusterFaults'), ...servers.servers.map(() => call('TestKeyServerKmip'))],
      }),
      planStep(K, 'wait-for-fix', 'maybe', {
        detail: 'publishes the diagnosis and waits for the fix, re-testing on a growing interval',
        why: 'only if a key server fails its test',
        calls: [call('ListClusterFaults', 're-tests'), call('TestKeyServerKmip', 're-tests')],
        waits: [
          {
            what: `re-tests, the pause doubling up to ${formatDuration(input.retest.maxIntervalMs)}`,
            everyMs: input.retest.initialIntervalMs,
            setting: 'retest',
          },
          { what: 'notifies escalated when not fixed by then (and keeps waiting)', forMs: input.deadlineMs, setting: 'deadline' },
        ],
        asks: [
          {
            when: 'while a key server fails: fixed or retry (re-test now), or abort',
            answers: ['fixed', 'retry', 'abort'],
            remindEveryMs: input.reminderEveryMs,
          },
        ],
      }),
      planStep(K, 'confirm-resolved', 'run', {
        detail: "once the key servers pass: the cluster's own retry clears kmipServerFault",
        calls: [call('ListClusterFaults', 'polled')],
        waits: [
          {
            what: 'kmipServerFault resolved',
            forMs: input.resolveWindowMs,
            everyMs: input.faultPollIntervalMs,
            setting: 'resolveWindow, faultPollInterval',
          },
        ],
      }),
    ],
  };
}

/** The sliceServiceUnhealthy recovery's plan. */
export function planRecoverSlice(
  cluster: string,
  state: SliceRecoveryState,
  input: RecoverSliceOptions,
  readWith: string[],
  readAt: Date,
): RunbookPlan {
  const base = { runbook: 'recover-slice-service' as const, cluster, readAt: readAt.toISOString(), takesLock: true, readWith };
  const lock = lockStep(S, input.ifBusy);
  const confirm = planStep(S, 'confirm', 'run', {
    detail: state.faults.length
      ? state.faults
          .map((f) => `fault ${f.clusterFaultID} (node ${f.nodeID}, drives ${f.driveIDs.join(' ') || '-'}): ${f.details}`)
          .join('; ')
      : 'no current sliceServiceUnhealthy fault',
    calls: [call('ListClusterFaults')],
  });
  if (state.faults.length === 0) {
    return {
      ...base,
      couldStart: true,
      refusals: [],
      facts: [`no current sliceServiceUnhealthy fault on ${cluster}: the run ends at once, saying so`],
      steps: [lock, confirm, ...skipFrom(S, 'find-drives', 'no fault to recover from')],
    };
  }
  const { chosen, ambiguous } = faultDriveCandidates(state.faults, state.drives);
  const list = (ids: number[]) => ids.join(', ');
  const findCalls = [call('ListDrives')];
  if (input.driveIDs) {
    const problems = refusals(input.driveIDs, state.drives, [...chosen, ...ambiguous]);
    if (problems.length > 0) {
      const refusal = {
        type: Failure.DrivesRefused,
        message: `refusing to add drives that are not the failed metadata drives: ${problems.join('; ')}`,
        retryable: false,
      };
      return {
        ...base,
        couldStart: false,
        refusals: [refusal],
        facts: [],
        steps: [
          lock,
          confirm,
          planStep(S, 'find-drives', 'refuse', { detail: `refuses: ${refusal.message}`, calls: findCalls }),
          ...skipFrom(S, 'add', 'not reached: the drives are refused'),
        ],
      };
    }
  }
  const driveIDs = input.driveIDs ?? chosen.map((d) => d.driveID);
  const asks = !input.driveIDs && ambiguous.length > 0;
  const findDrives = planStep(S, 'find-drives', 'run', {
    detail: asks
      ? `the faults name no drive and ${ambiguous.length} available metadata drives could be theirs (${list(ambiguous.map((d) => d.driveID))}): a person picks`
      : `metadata drives ${list(driveIDs) || 'none'}`,
    calls: findCalls,
    asks: asks
      ? [
          {
            when: 'at once: which drives to add back (change --drives ...), or abort',
            answers: ['change', 'abort'],
            remindEveryMs: input.reminderEveryMs,
          },
        ]
      : [],
  });
  const escalate = (action: 'maybe' | 'run', why?: string): PlannedStep =>
    planStep(S, 'escalate', action, {
      detail: 'notifies escalated and asks a person',
      ...(why ? { why } : {}),
      asks: [
        {
          when: 'after the rounds: retry (another round), fixed (verify now) or abort',
          answers: ['retry', 'fixed', 'abort'],
          remindEveryMs: input.reminderEveryMs,
        },
      ],
    });
  if (!asks && driveIDs.length === 0) {
    return {
      ...base,
      couldStart: true,
      refusals: [],
      facts: ['the faults name no metadata drive in a state that can be added back: the run asks a person at once'],
      steps: [
        lock,
        confirm,
        findDrives,
        ...skipFrom(S, 'add', 'no failed metadata drive to add back').slice(0, 3),
        escalate('run'),
      ],
    };
  }
  const running = asks ? undefined : runningDriveAddFor(state.asyncHandles, driveIDs);
  return {
    ...base,
    couldStart: true,
    refusals: [],
    facts: [`up to ${input.attempts} round(s) of add, settle and verify before asking a person`],
    steps: [
      lock,
      confirm,
      findDrives,
      planStep(S, 'add', 'run', {
        detail:
          running !== undefined
            ? `a DriveAdd for these drives is already running (asyncHandle ${running}): waits for it instead of adding again`
            : `AddDrives ${asks ? 'the drives a person picks' : list(driveIDs)} (type slice), those still available`,
        calls: [
          call('ListAsyncResults'),
          ...(running !== undefined ? [] : [call('ListDrives'), call('AddDrives')]),
          call('GetAsyncResult', 'polled (keepResult: true)'),
        ],
        waits: [
          {
            what: `the DriveAdd job (GetAsyncResult polled, the pause doubling up to ${formatDuration(input.polling.maxIntervalMs)})`,
            forMs: 12 * 3_600_000,
            everyMs: input.polling.initialIntervalMs,
            setting: 'polling',
          },
        ],
      }),
      planStep(S, 'settle', 'run', {
        detail: 'one durable wait for the slice service to settle',
        waits: [{ what: 'settle', forMs: input.settleMs, setting: 'settle' }],
      }),
      planStep(S, 'verify', 'run', { detail: 'the fault cleared', calls: [call('ListDrives'), call('ListClusterFaults')] }),
      escalate('maybe', `only if the fault is still current after ${input.attempts} round(s)`),
    ],
  };
}
