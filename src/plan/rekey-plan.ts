/**
 * The plan of a master-key rekey (procedure 2): the rekey's own precheck (assessRekey) on what
 * readRekeyState read, then each step of workflows/rekey.ts. No I/O.
 */
import { assessRekey, type RekeyClusterState, type RekeyPrecheck, type RekeyTarget } from '../../activities/rekey';
import type { RunbookPlan } from '../../workflows/contract/plan';
import type { RekeyOptions } from '../../workflows/inputs';
import { REKEY_STEPS } from '../../workflows/rekey';
import { formatDuration } from '../durations';
import { asRefusal, call, lockStep, planStep, skipFrom, skipStep } from './plan-steps';

const T = REKEY_STEPS;

export function rekeyTarget(input: RekeyOptions): RekeyTarget {
  return input.keyManagement === 'external'
    ? { keyManagement: 'external', provider: input.provider ?? { active: true } }
    : { keyManagement: 'internal' };
}

/** The rekey plan. `state` from readRekeyState; `input` the rekey's validated input. */
export function planRekey(
  cluster: string,
  state: RekeyClusterState,
  input: RekeyOptions,
  readWith: string[],
  readAt: Date,
): RunbookPlan {
  const base = { runbook: 'rekey' as const, cluster, readAt: readAt.toISOString(), takesLock: true, readWith };
  const target = rekeyTarget(input);
  const precheckCalls = [
    call('GetSoftwareEncryptionAtRestInfo'),
    ...(target.keyManagement === 'external' ? [call('ListKeyProvidersKmip')] : []),
    call('GetAsyncResult', 'when a rekey ran before (keepResult: true)'),
  ];
  const lock = lockStep(T, input.ifBusy);
  let precheck: RekeyPrecheck;
  try {
    precheck = assessRekey(cluster, state, target);
  } catch (err) {
    const refusal = asRefusal(err);
    return {
      ...base,
      couldStart: false,
      refusals: [refusal],
      facts: [`software encryption at rest ${state.softwareEncryption.state}`],
      steps: [
        lock,
        planStep(T, 'precheck', 'refuse', { detail: `refuses: ${refusal.message}`, calls: precheckCalls }),
        ...skipFrom(T, 'test-provider', 'not reached: the precheck refuses'),
      ],
    };
  }
  const key = precheck.masterKey;
  const goal = precheck.provider ? `provider ${precheck.provider.id} "${precheck.provider.name}"` : 'internal key management';
  const facts = [
    `current master key ${key?.keyID ?? 'unknown'} (${key?.keyManagementType ?? '?'}${key?.keyProviderID !== undefined ? `, provider ${key.keyProviderID}` : ''})`,
    `the new key comes from ${goal}`,
  ];
  const job = {
    what: `the rekey job (GetAsyncResult polled, the pause doubling from ${formatDuration(input.polling.initialIntervalMs)} up to ${formatDuration(input.polling.maxIntervalMs)})`,
    forMs: input.jobDeadlineMs,
    everyMs: input.polling.initialIntervalMs,
    setting: 'jobDeadline, polling',
  };
  const verify = planStep(T, 'verify', 'run', {
    detail: `GetSoftwareEncryptionAtRestInfo shows a new ${input.keyManagement} key${precheck.provider ? ' from the provider; the key is also looked up on the key server when the clusters file has a kmipCheck identity (KMIP Locate)' : ''}`,
    calls: [call('GetSoftwareEncryptionAtRestInfo')],
  });
  const precheckStep = planStep(T, 'precheck', 'run', { detail: facts.join('; '), calls: precheckCalls });
  if (precheck.inFlightHandle !== undefined) {
    facts.push(`rekey ${precheck.inFlightHandle} is already running: the run attaches to it instead of starting another`);
    return {
      ...base,
      couldStart: true,
      refusals: [],
      facts,
      steps: [
        lock,
        precheckStep,
        skipStep(T, 'test-provider', 'attached to the rekey already running'),
        skipStep(T, 'start', `attached to running rekey ${precheck.inFlightHandle}`),
        planStep(T, 'wait', 'run', {
          detail: `waits for rekey ${precheck.inFlightHandle}; if it ends with another key than asked, the precheck runs again and the asked rekey follows`,
          calls: [call('GetAsyncResult', 'polled (keepResult: true)')],
          waits: [job],
        }),
        verify,
      ],
    };
  }
  return {
    ...base,
    couldStart: true,
    refusals: [],
    facts,
    steps: [
      lock,
      precheckStep,
      precheck.provider
        ? planStep(T, 'test-provider', 'run', {
            detail: `TestKeyProviderKmip on provider ${precheck.provider.id}`,
            calls: [call('TestKeyProviderKmip')],
          })
        : skipStep(T, 'test-provider', 'internal key management: no provider to test'),
      planStep(T, 'start', 'run', {
        detail: `RekeySoftwareEncryptionAtRestMasterKey (${input.keyManagement === 'external' ? 'External' : 'Internal'})`,
        calls: [call('GetSoftwareEncryptionAtRestInfo'), call('RekeySoftwareEncryptionAtRestMasterKey')],
      }),
      planStep(T, 'wait', 'run', {
        detail: 'waits for the rekey job to end',
        calls: [call('GetAsyncResult', 'polled (keepResult: true)')],
        waits: [job],
      }),
      verify,
    ],
  };
}
