/**
 * The plan of a certificate renewal (procedure 5): the renewal's own precheck (assessRenewal) on
 * what readRenewalState read, then each step of workflows/renew.ts. No I/O.
 */
import { assessRenewal, type RenewalClusterState, type RenewalPrecheck } from '../../activities/renew';
import type { RunbookPlan, PlanWindow } from '../../workflows/contract/plan';
import type { RenewOptions } from '../../workflows/inputs-renew';
import { RENEW_STEPS } from '../../workflows/renew';
import { sameCertificates } from '../pki/same-certificates';
import { askOnFailure, asRefusal, call, lockStep, planStep, signingStep, skipFrom, skipStep, testBudget } from './plan-steps';

const T = RENEW_STEPS;

export function renewPrecheckInput(input: RenewOptions) {
  return {
    provider: input.provider ?? { active: true as const },
    newKeyPair: input.newKeyPair,
    kmipCaCertificate: input.kmipCaCertificate,
    signer: input.signer.type,
  };
}

/** The given KMIP CA is not the one the key server has (the runbook leaves an identical one as it is). */
function caChanges(precheck: RenewalPrecheck): boolean {
  return precheck.newKmipCa !== undefined && !sameCertificates(precheck.newKmipCa, precheck.kmipCa);
}

/** The renewal plan. `state` from readRenewalState; `input` the renewal's validated input. */
export async function planRenew(
  cluster: string,
  state: RenewalClusterState | undefined,
  refusedReading: unknown,
  input: RenewOptions,
  readWith: string[],
  readAt: Date,
): Promise<RunbookPlan> {
  const base = { runbook: 'renew' as const, cluster, readAt: readAt.toISOString(), takesLock: true, readWith };
  const lock = lockStep(T, input.ifBusy);
  const precheckCalls = [
    call('ListKeyProvidersKmip'),
    call('GetKeyServerKmip'),
    call('GetClientCertificateSignRequest'),
    call('ListKeyServersKmip'),
    call('ListClusterFaults'),
  ];
  let precheck: RenewalPrecheck;
  try {
    // readRenewalState refuses too (no such provider, a provider without a key server): the same refusal.
    if (!state) throw refusedReading;
    precheck = await assessRenewal(state, renewPrecheckInput(input), readAt);
  } catch (err) {
    const refusal = asRefusal(err);
    return {
      ...base,
      couldStart: false,
      refusals: [refusal],
      facts: [],
      steps: [
        lock,
        planStep(T, 'precheck', 'refuse', { detail: `refuses: ${refusal.message}`, calls: precheckCalls }),
        ...skipFrom(T, 'window', 'not reached: the precheck refuses'),
      ],
    };
  }
  const ask = askOnFailure(['retry', 'change', 'abort'], input.questionReminderEveryMs, `${input.testAttempts} tries`);
  const server = `key server ${precheck.keyServer.id} "${precheck.keyServer.name}"`;
  const newCa = caChanges(precheck);
  const fields = ['kmipClientCertificate', ...(newCa ? ['kmipCaCertificate'] : [])];
  const steps = [
    lock,
    planStep(T, 'precheck', 'run', {
      detail: `${server}: client certificate valid until ${precheck.client.notAfter}`,
      calls: precheckCalls,
    }),
  ];
  let window: PlanWindow | undefined;
  if (precheck.keyPairAlreadyReplaced) {
    window = { kind: 'key-pair-mismatch', opensAt: 'precheck', closesAt: 'install', description: precheck.window! };
    steps.push(
      skipStep(T, 'window', 'the key pair was replaced already: the window is open, nothing to accept'),
      skipStep(
        T,
        'key-pair',
        `no new key pair: the CA signs the CSR of the current one (key ${precheck.keyFingerprint.slice(0, 16)}…)`,
      ),
    );
  } else if (input.newKeyPair) {
    window = {
      kind: 'key-pair-mismatch',
      opensAt: 'key-pair',
      closesAt: 'install',
      description: precheck.window!,
    };
    steps.push(
      planStep(T, 'window', 'run', {
        detail: `TestKeyProviderKmip on provider ${precheck.provider.id} first; then the window is ${input.acceptKeyPairWindow ? 'accepted up front (--accept-key-pair-window)' : 'put to a person (confirm or abort)'}`,
        calls: [call('TestKeyProviderKmip')],
        waits: [testBudget(input, 'TestKeyProviderKmip')],
        asks: [
          askOnFailure(['retry', 'abort'], input.questionReminderEveryMs, `${input.testAttempts} tries of TestKeyProviderKmip`),
          ...(input.acceptKeyPairWindow
            ? []
            : [
                {
                  when: 'once the provider passes: accept the key-pair window',
                  answers: ['confirm' as const, 'abort' as const],
                  remindEveryMs: input.questionReminderEveryMs,
                },
              ]),
        ],
      }),
      planStep(T, 'key-pair', 'create', {
        detail: `CreatePublicPrivateKeyPair with the same subject (${precheck.subject.commonName}): replaces key ${precheck.keyFingerprint.slice(0, 16)}…; the window opens`,
        calls: [
          call('GetClientCertificateSignRequest'),
          call('CreatePublicPrivateKeyPair'),
          call('GetClientCertificateSignRequest'),
        ],
      }),
    );
  } else {
    steps.push(
      skipStep(T, 'window', 'the key pair is kept: no window'),
      skipStep(T, 'key-pair', `the key pair is kept (key ${precheck.keyFingerprint.slice(0, 16)}…)`),
    );
  }
  steps.push(
    planStep(T, 'csr', 'run', {
      detail: "reads the cluster's CSR (what the CA signs)",
      calls: [call('GetClientCertificateSignRequest')],
    }),
    signingStep(T, input, `the current certificate (${precheck.client.notAfter})`),
    planStep(T, 'install', 'modify', {
      detail:
        `ModifyKeyServerKmip ${server}: ${fields.join(', ')}; then TestKeyServerKmip and TestKeyProviderKmip. ` +
        (input.newKeyPair
          ? 'If they fail, the previous certificate is not put back (it certifies the replaced key pair): the window stays open while a person is asked'
          : `If they fail, the previous certificate (valid until ${precheck.client.notAfter}) is put back (ModifyKeyServerKmip) before a person is asked`),
      fields,
      calls: [call('GetKeyServerKmip'), call('ModifyKeyServerKmip'), call('TestKeyServerKmip'), call('TestKeyProviderKmip')],
      waits: [testBudget(input, 'the modify and the tests')],
      asks: [ask],
    }),
    planStep(T, 'confirm', 'run', {
      detail:
        precheck.certificateFaults.length > 0
          ? `kmipCertificateFault ${precheck.certificateFaults.map((f) => f.clusterFaultID).join(', ')} resolved`
          : 'no kmipCertificateFault current: one look at the faults',
      calls: [call('ListClusterFaults', 'polled')],
      waits: [
        {
          what: "kmipCertificateFault resolved on the cluster's fault cadence",
          forMs: input.resolveWindowMs,
          everyMs: input.faultPollIntervalMs,
          setting: 'resolveWindow, faultPollInterval',
        },
      ],
    }),
  );
  // The window is the plan's own line; the precheck's note of it (which the run records) is not repeated as a fact.
  const facts = precheck.notes.filter((note) => note !== precheck.window);
  return { ...base, couldStart: true, refusals: [], facts, steps, ...(window ? { window } : {}) };
}
