/**
 * The plan of a setup (procedure 1): setup's own precheck (assessSetup) on what readSetupState
 * read, then each step as the runbook (workflows/setup.ts) would take it. No I/O.
 */
import { assessSetup, type SetupClusterState, type SetupPrecheck } from '../../activities/setup';
import type { RunbookPlan, PlannedStep, PlanWindow } from '../../workflows/contract/plan';
import type { SetupOptions } from '../../workflows/inputs';
import { SETUP_STEPS } from '../../workflows/setup';
import { CertificateInputError, normalizeCaBundle } from '../pki/certificate-input';
import { formatDuration } from '../durations';
import {
  askOnFailure,
  asRefusal,
  call,
  encryptionStateWait,
  lockStep,
  planStep,
  signingStep,
  skipFrom,
  skipStep,
  testBudget,
} from './plan-steps';

const T = SETUP_STEPS;
const samePem = (a: string, b: string) => a.replace(/\s+/g, '') === b.replace(/\s+/g, '');

export function setupPrecheckInput(input: SetupOptions) {
  return {
    mode: input.mode,
    keyProviderName: input.keyProviderName,
    keyServerName: input.keyServerName,
    newKeyPair: input.newKeyPair,
    commonName: input.subject.commonName,
    replaceInternalKey: input.replaceInternalKey,
  };
}

function precheckCalls(input: SetupOptions, state: SetupClusterState) {
  const on = state.encryptionAtRestState === 'enabled' || state.encryptionAtRestState === 'enabling';
  return [
    call('GetAPI'),
    call('GetClusterInfo'),
    call('ListKeyProvidersKmip'),
    call('ListKeyServersKmip'),
    ...(input.mode === 'software' ? [call('GetSoftwareEncryptionAtRestInfo')] : []),
    ...(input.mode === 'hardware' && on ? [call('GetClusterInfo'), call('ListDrives')] : []),
    call('GetClientCertificateSignRequest'),
  ];
}

/** The key server's fields the run would change (ModifyKeyServerKmip), or [] when it is as asked. */
function serverChanges(state: SetupClusterState, input: SetupOptions, precheck: SetupPrecheck): string[] {
  const existing = state.servers.find((s) => s.keyServerID === precheck.existingServer?.id);
  if (!existing) return [];
  const fields: string[] = [];
  if (existing.kmipKeyServerHostnames.join('\n') !== input.hostnames.join('\n')) fields.push('kmipKeyServerHostnames');
  if (existing.kmipKeyServerPort !== input.port) fields.push('kmipKeyServerPort');
  let ca = input.kmipCaCertificate;
  try {
    ca = normalizeCaBundle(ca, 'kmipCaCertificate');
  } catch (err) {
    if (!(err instanceof CertificateInputError)) throw err;
  }
  if (!samePem(existing.kmipCaCertificate, ca)) fields.push('kmipCaCertificate');
  const reused = precheck.reusableCertificate;
  if (!reused || !samePem(existing.kmipClientCertificate, reused.certificatePem)) fields.push('kmipClientCertificate');
  return fields;
}

function trustSteps(input: SetupOptions, precheck: SetupPrecheck): PlannedStep[] {
  const reused = precheck.reusableCertificate;
  if (reused) {
    const { summary } = reused;
    return [
      skipStep(T, 'key-pair', `reusing the cluster's key pair (key ${summary.keyFingerprint.slice(0, 16)}…)`),
      skipStep(T, 'csr', `key server ${reused.keyServerID} already has a certificate for this key pair`),
      skipStep(T, 'signing', `reusing ${summary.subject}, valid until ${summary.notAfter}`),
    ];
  }
  const current = precheck.keyFingerprint ? `replaces key ${precheck.keyFingerprint.slice(0, 16)}…` : 'the cluster has none yet';
  return [
    planStep(T, 'key-pair', 'create', {
      detail: `CreatePublicPrivateKeyPair for CN=${input.subject.commonName} (${current})`,
      calls: [
        call('GetClientCertificateSignRequest'),
        call('CreatePublicPrivateKeyPair'),
        call('GetClientCertificateSignRequest'),
      ],
    }),
    planStep(T, 'csr', 'run', {
      detail: "reads the new key pair's CSR (what the CA signs)",
      calls: [call('GetClientCertificateSignRequest')],
    }),
    signingStep(T, input),
  ];
}

function keyServerSteps(state: SetupClusterState, input: SetupOptions, precheck: SetupPrecheck): PlannedStep[] {
  const ask = askOnFailure(['retry', 'change', 'abort'], input.questionReminderEveryMs, `${input.testAttempts} tries`);
  const provider = precheck.existingProvider;
  const server = precheck.existingServer;
  const changes = serverChanges(state, input, precheck);
  const attached = server?.assignedTo !== undefined && server.assignedTo !== null && server.assignedTo === provider?.id;
  const serverStep = !server
    ? planStep(T, 'server', 'create', {
        detail: `CreateKeyServerKmip "${input.keyServerName}" at ${input.hostnames.join(', ')}:${input.port} with the signed client certificate`,
        calls: [call('ListKeyServersKmip'), call('CreateKeyServerKmip')],
        asks: [ask],
      })
    : changes.length > 0
      ? planStep(T, 'server', 'modify', {
          detail: `ModifyKeyServerKmip key server ${server.id} "${server.name}": ${changes.join(', ')}`,
          fields: changes,
          calls: [call('ListKeyServersKmip'), call('ModifyKeyServerKmip')],
          asks: [ask],
        })
      : planStep(T, 'server', 'reuse', {
          detail: `key server ${server.id} "${server.name}" is as asked: no change`,
          calls: [call('ListKeyServersKmip')],
        });
  return [
    provider
      ? planStep(T, 'provider', 'reuse', {
          detail: `key provider ${provider.id} "${provider.name}"${provider.active ? ' (active)' : ''}`,
          calls: [call('ListKeyProvidersKmip')],
        })
      : planStep(T, 'provider', 'create', {
          detail: `CreateKeyProviderKmip "${input.keyProviderName}"`,
          calls: [call('ListKeyProvidersKmip'), call('CreateKeyProviderKmip')],
        }),
    serverStep,
    planStep(T, 'test-server', 'run', {
      detail: 'TestKeyServerKmip: the cluster reaches the key server over KMIP',
      calls: [call('TestKeyServerKmip')],
      waits: [testBudget(input, 'TestKeyServerKmip')],
      asks: [ask],
    }),
    planStep(T, 'attach', 'run', {
      detail: attached
        ? `key server ${server!.id} is already in provider ${provider!.id} (GetKeyServerKmip): AddKeyServerToProviderKmip is not sent`
        : 'AddKeyServerToProviderKmip: the key server into the provider (the cluster tests it as it adds it)',
      calls: attached ? [call('GetKeyServerKmip')] : [call('GetKeyServerKmip'), call('AddKeyServerToProviderKmip')],
      waits: [testBudget(input, 'AddKeyServerToProviderKmip')],
      asks: [ask],
    }),
    planStep(T, 'test-provider', 'run', {
      detail: 'TestKeyProviderKmip',
      calls: [call('TestKeyProviderKmip')],
      waits: [testBudget(input, 'TestKeyProviderKmip')],
      asks: [ask],
    }),
  ];
}

/** --replace-internal-key: tested again, disabled, enabled with the provider (workflows/replace-internal-key.ts). */
function replaceInternalKeySteps(input: SetupOptions): PlannedStep[] {
  const ask = askOnFailure(['retry', 'change', 'abort'], input.questionReminderEveryMs, `${input.testAttempts} tries`);
  const escalation = {
    when: 'only if a step fails while the drives are not locked (notifies escalated; never ends the run): abort needs --confirm-unprotected <cluster>',
    answers: ['retry', 'enable-internal', 'abort'] as ('retry' | 'enable-internal' | 'abort')[],
    remindEveryMs: input.questionReminderEveryMs,
  };
  return [
    planStep(T, 'retest-server', 'run', {
      detail: 'TestKeyServerKmip again, just before the disable',
      calls: [call('TestKeyServerKmip')],
      waits: [testBudget(input, 'TestKeyServerKmip')],
      asks: [ask],
    }),
    planStep(T, 'retest-provider', 'run', {
      detail: 'TestKeyProviderKmip again, just before the disable',
      calls: [call('TestKeyProviderKmip')],
      waits: [testBudget(input, 'TestKeyProviderKmip')],
      asks: [ask],
    }),
    planStep(T, 'disable', 'run', {
      detail: "DisableEncryptionAtRest: the drives' internal key is given up; they are not locked until enabled again",
      calls: [call('GetClusterInfo'), call('ListDrives'), call('DisableEncryptionAtRest')],
      asks: [escalation],
    }),
    planStep(T, 'await-disabled', 'run', {
      detail: 'waits for encryptionAtRestState disabled',
      calls: [call('GetClusterInfo', 'polled')],
      waits: [encryptionStateWait('disabled', input.polling)],
      asks: [escalation],
    }),
    planStep(T, 'enable', 'run', {
      detail: 'EnableEncryptionAtRest with the provider',
      calls: [call('GetClusterInfo'), call('EnableEncryptionAtRest')],
      waits: [
        testBudget(input, 'EnableEncryptionAtRest'),
        {
          what: 'while a person is asked, the enable is also tried on its own, the pause doubling up to 30m',
          everyMs: input.testRetryIntervalMs,
          setting: 'testRetryInterval',
        },
      ],
      asks: [escalation],
    }),
    planStep(T, 'enable-internal', 'maybe', {
      detail:
        "EnableEncryptionAtRest with the cluster's internal keys (the drives locked again; the run ends InternalKeysRestored)",
      why: 'only if a person answers enable-internal',
      calls: [call('GetClusterInfo'), call('EnableEncryptionAtRest')],
    }),
    planStep(T, 'await-enabled', 'run', {
      detail: 'waits for encryptionAtRestState enabled, then reads whose key the drives are under',
      calls: [call('GetClusterInfo', 'polled'), call('GetClusterInfo'), call('ListDrives')],
      waits: [encryptionStateWait('enabled', input.polling)],
      asks: [escalation],
    }),
  ];
}

function enableStep(input: SetupOptions): PlannedStep {
  const ask = askOnFailure(['retry', 'change', 'abort'], input.questionReminderEveryMs, `${input.testAttempts} tries`);
  if (input.mode === 'none') return skipStep(T, 'enable', 'mode none: stop after the provider test');
  if (input.mode === 'software') {
    return planStep(T, 'enable', 'run', {
      detail: 'RekeySoftwareEncryptionAtRestMasterKey to the provider (the software master key becomes external), then its job',
      calls: [
        call('GetSoftwareEncryptionAtRestInfo'),
        call('ListKeyProvidersKmip'),
        call('GetAsyncResult', 'when a rekey ran before (keepResult: true)'),
        call('GetSoftwareEncryptionAtRestInfo'),
        call('RekeySoftwareEncryptionAtRestMasterKey'),
        call('GetAsyncResult', 'polled (keepResult: true)'),
        call('GetSoftwareEncryptionAtRestInfo'),
      ],
      waits: [
        testBudget(input, 'RekeySoftwareEncryptionAtRestMasterKey'),
        {
          what: `the rekey job (GetAsyncResult polled, the pause doubling up to ${formatDuration(input.polling.maxIntervalMs)})`,
          forMs: 24 * 3_600_000,
          everyMs: input.polling.initialIntervalMs,
          setting: 'polling',
        },
      ],
      asks: [ask],
    });
  }
  return planStep(T, 'enable', 'run', {
    detail: 'EnableEncryptionAtRest with the provider, then the wait for enabled',
    calls: [call('GetClusterInfo'), call('EnableEncryptionAtRest'), call('GetClusterInfo', 'polled')],
    waits: [testBudget(input, 'EnableEncryptionAtRest'), encryptionStateWait('enabled', input.polling)],
    asks: [ask],
  });
}

/**
 * The setup plan: what a setup with this input would do on a cluster in this state.
 * `state` from readSetupState; `input` the setup's validated input (defaults applied).
 */
export async function planSetup(
  cluster: string,
  state: SetupClusterState,
  input: SetupOptions,
  readWith: string[],
  readAt: Date,
): Promise<RunbookPlan> {
  const base = { runbook: 'setup' as const, cluster, readAt: readAt.toISOString(), takesLock: true, readWith };
  const lock = lockStep(T, input.ifBusy);
  const precheckCallList = precheckCalls(input, state);
  let precheck: SetupPrecheck;
  try {
    precheck = await assessSetup(cluster, state, setupPrecheckInput(input));
  } catch (err) {
    const refusal = asRefusal(err);
    return {
      ...base,
      couldStart: false,
      refusals: [refusal],
      facts: [`API ${state.apiVersion}; encryptionAtRestState ${state.encryptionAtRestState}`],
      steps: [
        lock,
        planStep(T, 'precheck', 'refuse', { detail: `refuses: ${refusal.message}`, calls: precheckCallList }),
        ...skipFrom(T, 'key-pair', 'not reached: the precheck refuses'),
      ],
    };
  }
  const facts = [
    `API ${precheck.apiVersion}; encryptionAtRestState ${precheck.encryptionAtRestState}`,
    ...precheck.reuse.map((r) => `reuses ${r}`),
  ];
  const precheckStep = planStep(T, 'precheck', 'run', {
    detail: precheck.reuse.length ? `reusing ${precheck.reuse.join('; ')}` : 'nothing to reuse',
    calls: precheckCallList,
  });
  if (precheck.alreadyDone && precheck.existingProvider && precheck.existingServer) {
    return {
      ...base,
      couldStart: true,
      refusals: [],
      facts: [...facts, `already set up with provider ${precheck.existingProvider.id}: the run ends at once`],
      steps: [lock, precheckStep, ...skipFrom(T, 'key-pair', `already set up with provider ${precheck.existingProvider.id}`)],
    };
  }
  const replacing = precheck.replacesInternalKey;
  const replaceSteps = replacing
    ? replaceInternalKeySteps(input)
    : (['retest-server', 'retest-provider', 'disable', 'await-disabled', 'enable-internal', 'await-enabled'] as const).map((id) =>
        skipStep(T, id, 'only with --replace-internal-key on hardware encryption with internal keys'),
      );
  const byId = new Map(replaceSteps.map((s) => [s.id, s]));
  const steps: PlannedStep[] = [
    lock,
    precheckStep,
    ...trustSteps(input, precheck),
    ...keyServerSteps(state, input, precheck),
    byId.get('retest-server')!,
    byId.get('retest-provider')!,
    byId.get('disable')!,
    byId.get('await-disabled')!,
    replacing ? byId.get('enable')! : enableStep(input),
    byId.get('enable-internal')!,
    byId.get('await-enabled')!,
    planStep(T, 'verify', 'run', {
      detail: `the provider holds the key server and is active${input.mode === 'hardware' ? ', encryptionAtRestState enabled' : ''}${replacing ? ", every active drive under the provider's key" : ''}`,
      calls: [call('GetKeyProviderKmip'), call('GetClusterInfo'), ...(replacing ? [call('ListDrives')] : [])],
    }),
  ];
  let window: PlanWindow | undefined;
  if (replacing) {
    window = {
      kind: 'drives-not-locked',
      opensAt: 'disable',
      closesAt: 'await-enabled',
      description:
        "hardware encryption at rest is on with the cluster's internal keys: from DisableEncryptionAtRest until encryption is enabled again " +
        `with the provider, the drives are not locked (each wait up to ${formatDuration(24 * 3_600_000)}, polled); ` +
        'a failure in between notifies escalated and asks retry, enable-internal or abort (abort only with --confirm-unprotected <cluster>)',
    };
  }
  return { ...base, couldStart: true, refusals: [], facts, steps, ...(window ? { window } : {}) };
}
