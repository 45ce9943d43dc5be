/**
 * Plans as functions of (what was read, the validated input), unit tier: the steps each runbook
 * would take, create / reuse / modify / skip with why, the Element calls in order, the waits from
 * the input's defaults, the precheck's refusals (the runbooks' own), the windows; and the
 * read-only client, which refuses anything but a read before it is sent.
 */
import type { SetupClusterState } from '../../activities/setup';
import type { RekeyClusterState } from '../../activities/rekey';
import type { RenewalClusterState } from '../../activities/renew';
import type { SliceRecoveryState } from '../../activities/drives';
import type { FaultSummary } from '../../activities/faults';
import { ElementClient } from '../../src/element';
import type { Drive, KeyProviderKmip, KeyServerKmip } from '../../src/element/objects';
import {
  PlanCallRefused,
  planRecoverKmip,
  planRecoverSlice,
  planRekey,
  planRenew,
  planSetup,
  readOnlyClient,
} from '../../src/plan';
import { refuse } from '../../activities/element';
import { renderPlan } from '../../src/cli/plan-command';
import { Failure } from '../../workflows/failures';
import { runbookPlan, type RunbookPlan } from '../../workflows/contract';
import { rekeyInput, setupInput, type SetupInput } from '../../workflows/inputs';
import { recoverKmipInput, recoverSliceInput } from '../../workflows/inputs-recovery';
import { renewInput } from '../../workflows/inputs-renew';
import { SETUP_STEPS } from '../../workflows/setup';
import { issueClient, makeCa, makeCsr } from '../support/certificates';

const NOW = new Date('2026-11-30T12:00:00Z');
const DAY = 86_400_000;
const CA_PEM_PLACEHOLDER = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

const setup = (overrides: Partial<SetupInput> = {}) =>
  setupInput.parse({
    cluster: 'prod-a',
    subject: { commonName: 'prod-a.example.test' },
    keyProviderName: 'kmip-1',
    keyServerName: 'keysecure-1',
    hostnames: ['kms1.example.test'],
    kmipCaCertificate: CA_PEM_PLACEHOLDER,
    mode: 'hardware',
    signer: { type: 'cfssl', url: 'https://ca.example.test' },
    ...overrides,
  });

const provider = (p: Partial<KeyProviderKmip> = {}): KeyProviderKmip => ({
  keyProviderID: 7,
  keyProviderName: 'kmip-1',
  keyProviderIsActive: false,
  keyServerIDs: [],
  kmipCapabilities: 'SSL',
  ...p,
});
const server = (s: Partial<KeyServerKmip> = {}): KeyServerKmip => ({
  keyServerID: 11,
  kmipKeyServerName: 'keysecure-1',
  kmipKeyServerHostnames: ['kms1.example.test'],
  kmipKeyServerPort: 5696,
  kmipCaCertificate: CA_PEM_PLACEHOLDER,
  kmipClientCertificate: CA_PEM_PLACEHOLDER,
  keyProviderID: null,
  kmipAssignedProviderIsActive: null,
  ...s,
});
const emptyCluster = (s: Partial<SetupClusterState> = {}): SetupClusterState => ({
  apiVersion: '12.3',
  supportedVersions: ['11.7', '12.0', '12.3'],
  encryptionAtRestState: 'disabled',
  providers: [],
  servers: [],
  csrPem: null,
  ...s,
});

/** Each step as [id, action]. */
const actions = (plan: RunbookPlan) => plan.steps.map((s) => [s.id, s.action]);
/** The calls that are not reads, of the steps that surely run, in order. */
const effects = (plan: RunbookPlan) =>
  plan.steps
    .filter((s) => !['skip', 'maybe', 'refuse'].includes(s.action))
    .flatMap((s) => s.calls.filter((c) => c.effect !== 'read').map((c) => c.method));
const step = (plan: RunbookPlan, id: string) => plan.steps.find((s) => s.id === id)!;

describe('setup plan', () => {
  it('on a cluster with nothing yet: creates the key pair, provider and server, tests, enables; every step id of the runbook in order', async () => {
    const plan = runbookPlan.parse(await planSetup('prod-a', emptyCluster(), setup(), ['GetAPI'], NOW));
    expect(plan.couldStart).toBe(true);
    expect(plan.steps.map((s) => s.id)).toEqual(SETUP_STEPS.map(([id]) => id));
    expect(actions(plan)).toEqual([
      ['lock', 'run'],
      ['precheck', 'run'],
      ['key-pair', 'create'],
      ['csr', 'run'],
      ['signing', 'run'],
      ['provider', 'create'],
      ['server', 'create'],
      ['test-server', 'run'],
      ['attach', 'run'],
      ['test-provider', 'run'],
      ['retest-server', 'skip'],
      ['retest-provider', 'skip'],
      ['disable', 'skip'],
      ['await-disabled', 'skip'],
      ['enable', 'run'],
      ['enable-internal', 'skip'],
      ['await-enabled', 'skip'],
      ['verify', 'run'],
    ]);
    expect(effects(plan)).toEqual([
      'CreatePublicPrivateKeyPair',
      'CreateKeyProviderKmip',
      'CreateKeyServerKmip',
      'TestKeyServerKmip',
      'AddKeyServerToProviderKmip',
      'TestKeyProviderKmip',
      'EnableEncryptionAtRest',
    ]);
    expect(step(plan, 'disable').why).toBe('only with --replace-internal-key on hardware encryption with internal keys');
    // The defaults of the input: 5 tries from 10 s; the cfssl signer on the same budget.
    expect(step(plan, 'test-server').waits).toEqual([
      expect.objectContaining({ everyMs: 10_000, setting: 'testAttempts, testRetryInterval' }),
    ]);
    expect(step(plan, 'test-server').asks[0]).toMatchObject({
      answers: ['retry', 'change', 'abort'],
      remindEveryMs: 4 * 3_600_000,
    });
    expect(plan.window).toBeUndefined();
  });

  it('a manual signer: the CA wait with its deadline and reminders, and the extend/abort question after it', async () => {
    const plan = await planSetup('prod-a', emptyCluster(), setup({ signer: { type: 'manual' }, signingDeadline: '3d' }), [], NOW);
    const signing = step(plan, 'signing');
    expect(signing.waits).toEqual([
      expect.objectContaining({ forMs: 3 * DAY, everyMs: DAY, setting: 'signingDeadline, reminderEvery' }),
    ]);
    expect(signing.asks.map((a) => a.answers)).toEqual([['abort'], ['extend', 'abort']]);
  });

  it('an existing server whose port differs: modify, naming the fields; the provider reused', async () => {
    const state = emptyCluster({
      providers: [provider({ keyServerIDs: [11] })],
      servers: [server({ kmipKeyServerPort: 5697, keyProviderID: 7 })],
    });
    const plan = await planSetup('prod-a', state, setup(), [], NOW);
    expect(step(plan, 'provider').action).toBe('reuse');
    expect(step(plan, 'server')).toMatchObject({ action: 'modify', fields: ['kmipKeyServerPort', 'kmipClientCertificate'] });
    expect(effects(plan)).toContain('ModifyKeyServerKmip');
    expect(effects(plan)).not.toContain('CreateKeyServerKmip');
  });

  it("hardware encryption on the cluster's internal keys: refused without --replace-internal-key, naming it; nothing after the precheck", async () => {
    const state = emptyCluster({
      encryptionAtRestState: 'enabled',
      drives: { encryptionAtRestState: 'enabled', keyManagementType: 'internal', keyProviderIDs: [], keyIDs: ['k-1'] },
    });
    const plan = await planSetup('prod-a', state, setup(), [], NOW);
    expect(plan.couldStart).toBe(false);
    expect(plan.refusals).toEqual([expect.objectContaining({ type: Failure.EncryptionAlreadyEnabled, retryable: false })]);
    expect(plan.refusals[0]!.message).toContain('--replace-internal-key');
    expect(step(plan, 'precheck').action).toBe('refuse');
    expect(plan.steps.slice(2).every((s) => s.action === 'skip' && s.why === 'not reached: the precheck refuses')).toBe(true);
    expect(effects(plan)).toEqual([]);
  });

  it('with --replace-internal-key: tested again, disabled, enabled with the provider; the window the drives are not locked', async () => {
    const state = emptyCluster({
      encryptionAtRestState: 'enabled',
      drives: { encryptionAtRestState: 'enabled', keyManagementType: 'internal', keyProviderIDs: [], keyIDs: ['k-1'] },
    });
    const plan = await planSetup('prod-a', state, setup({ replaceInternalKey: true }), [], NOW);
    expect(plan.couldStart).toBe(true);
    expect(plan.window).toMatchObject({ kind: 'drives-not-locked', opensAt: 'disable', closesAt: 'await-enabled' });
    expect(step(plan, 'enable-internal')).toMatchObject({ action: 'maybe', why: 'only if a person answers enable-internal' });
    expect(effects(plan).slice(-4)).toEqual([
      'TestKeyServerKmip',
      'TestKeyProviderKmip',
      'DisableEncryptionAtRest',
      'EnableEncryptionAtRest',
    ]);
    expect(step(plan, 'disable').asks[0]!.answers).toEqual(['retry', 'enable-internal', 'abort']);
  });

  it('key servers of an active provider use the key pair: refused (KeyServersInUse) unless a new key pair is asked for', async () => {
    const state = emptyCluster({
      providers: [provider({ keyProviderID: 3, keyProviderName: 'other', keyProviderIsActive: true, keyServerIDs: [4] })],
      servers: [server({ keyServerID: 4, kmipKeyServerName: 'other-kms', keyProviderID: 3, kmipAssignedProviderIsActive: true })],
    });
    const refused = await planSetup('prod-a', state, setup(), [], NOW);
    expect(refused.refusals.map((r) => r.type)).toEqual([Failure.KeyServersInUse]);
    const allowed = await planSetup('prod-a', state, setup({ newKeyPair: true }), [], NOW);
    expect(allowed.couldStart).toBe(true);
  });

  it('an unsupported API version is refused before anything else', async () => {
    const plan = await planSetup('prod-a', emptyCluster({ apiVersion: '11.3', supportedVersions: ['11.3'] }), setup(), [], NOW);
    expect(plan.refusals.map((r) => r.type)).toEqual([Failure.UnsupportedVersion]);
  });
});

describe('rekey plan', () => {
  const sear = (s: Partial<RekeyClusterState['softwareEncryption']> = {}): RekeyClusterState['softwareEncryption'] => ({
    state: 'enabled',
    version: 1,
    masterKeyInfo: { keyManagementType: 'internal', keyID: 'old-key' },
    ...s,
  });

  it('to the active provider: tests it, starts the rekey, waits for its job with the input deadline', () => {
    const state: RekeyClusterState = {
      softwareEncryption: sear(),
      providers: [provider({ keyServerIDs: [11], keyProviderIsActive: true })],
      latestRekeyRunning: false,
    };
    const plan = runbookPlan.parse(
      planRekey('prod-a', state, rekeyInput.parse({ cluster: 'prod-a', jobDeadline: '6h' }), [], NOW),
    );
    expect(actions(plan)).toEqual([
      ['lock', 'run'],
      ['precheck', 'run'],
      ['test-provider', 'run'],
      ['start', 'run'],
      ['wait', 'run'],
      ['verify', 'run'],
    ]);
    expect(effects(plan)).toEqual(['TestKeyProviderKmip', 'RekeySoftwareEncryptionAtRestMasterKey']);
    expect(step(plan, 'wait').waits[0]).toMatchObject({ forMs: 6 * 3_600_000, everyMs: 1000 });
  });

  it('internal keys skip the provider test; a rekey already running is attached to, not started again', () => {
    const internal = planRekey(
      'prod-a',
      { softwareEncryption: sear(), latestRekeyRunning: false },
      rekeyInput.parse({ cluster: 'prod-a', keyManagement: 'internal' }),
      [],
      NOW,
    );
    expect(step(internal, 'test-provider')).toMatchObject({
      action: 'skip',
      why: 'internal key management: no provider to test',
    });
    const running = planRekey(
      'prod-a',
      {
        softwareEncryption: sear({ rekeyMasterKeyAsyncResultID: 42 }),
        providers: [provider({ keyServerIDs: [11] })],
        latestRekeyRunning: true,
      },
      rekeyInput.parse({ cluster: 'prod-a' }),
      [],
      NOW,
    );
    expect(step(running, 'start')).toMatchObject({ action: 'skip', why: 'attached to running rekey 42' });
    expect(effects(running)).toEqual([]);
  });

  it('refuses what the precheck refuses: software encryption not enabled, a provider without a key server', () => {
    const disabled = planRekey(
      'prod-a',
      { softwareEncryption: sear({ state: 'disabled' }), latestRekeyRunning: false },
      rekeyInput.parse({ cluster: 'prod-a' }),
      [],
      NOW,
    );
    expect(disabled.refusals.map((r) => r.type)).toEqual([Failure.SoftwareEncryptionNotEnabled]);
    const noServer = planRekey(
      'prod-a',
      { softwareEncryption: sear(), providers: [provider({ keyProviderIsActive: true })], latestRekeyRunning: false },
      rekeyInput.parse({ cluster: 'prod-a' }),
      [],
      NOW,
    );
    expect(noServer.refusals.map((r) => r.type)).toEqual([Failure.KeyProviderHasNoServer]);
    expect(noServer.couldStart).toBe(false);
  });
});

describe('renew plan', () => {
  async function renewalState(): Promise<RenewalClusterState> {
    const ca = await makeCa('KMIP CA');
    const csr = await makeCsr({ subject: 'CN=prod-a.example.test', version: 2 });
    const current = await issueClient(ca, csr.keys.publicKey, {
      subject: 'CN=prod-a.example.test',
      notAfter: new Date(Date.now() + 10 * DAY),
    });
    return {
      apiVersion: '12.3',
      provider: provider({ keyServerIDs: [11], keyProviderIsActive: true }),
      keyServer: server({
        kmipCaCertificate: ca.certificatePem,
        kmipClientCertificate: current,
        keyProviderID: 7,
        kmipAssignedProviderIsActive: true,
      }),
      csrPem: csr.csrPem,
      otherServersInUse: [],
      certificateFaults: [],
    };
  }
  const renew = (o: Record<string, unknown> = {}) =>
    renewInput.parse({ cluster: 'prod-a', signer: { type: 'cfssl', url: 'https://ca.example.test' }, ...o });

  it('keeps the key pair: window and key-pair skipped, ModifyKeyServerKmip of the client certificate, the fault cadence', async () => {
    const plan = runbookPlan.parse(await planRenew('prod-a', await renewalState(), undefined, renew(), [], new Date()));
    expect(actions(plan)).toEqual([
      ['lock', 'run'],
      ['precheck', 'run'],
      ['window', 'skip'],
      ['key-pair', 'skip'],
      ['csr', 'run'],
      ['signing', 'run'],
      ['install', 'modify'],
      ['confirm', 'run'],
    ]);
    expect(step(plan, 'install').fields).toEqual(['kmipClientCertificate']);
    expect(effects(plan)).toEqual(['ModifyKeyServerKmip', 'TestKeyServerKmip', 'TestKeyProviderKmip']);
    expect(step(plan, 'confirm').waits[0]).toMatchObject({ forMs: 10 * 60_000, everyMs: 30_000 });
    expect(plan.window).toBeUndefined();
  });

  it('--new-key-pair states the key-pair window and asks confirm unless accepted up front', async () => {
    const state = await renewalState();
    const asked = await planRenew('prod-a', state, undefined, renew({ newKeyPair: true }), [], new Date());
    expect(asked.window).toMatchObject({ kind: 'key-pair-mismatch', opensAt: 'key-pair', closesAt: 'install' });
    expect(asked.window!.description).toContain('could not fetch its keys');
    // Stated once: as the plan's window, not again among the facts.
    expect(asked.facts.filter((f) => f.includes('could not fetch its keys'))).toEqual([]);
    expect(step(asked, 'window').asks.map((a) => a.answers)).toEqual([
      ['retry', 'abort'],
      ['confirm', 'abort'],
    ]);
    expect(effects(asked)).toEqual([
      'TestKeyProviderKmip',
      'CreatePublicPrivateKeyPair',
      'ModifyKeyServerKmip',
      'TestKeyServerKmip',
      'TestKeyProviderKmip',
    ]);
    const accepted = await planRenew(
      'prod-a',
      state,
      undefined,
      renew({ newKeyPair: true, acceptKeyPairWindow: true }),
      [],
      new Date(),
    );
    expect(step(accepted, 'window').asks.map((a) => a.answers)).toEqual([['retry', 'abort']]);
  });

  it('a refusal of the reader (no provider) or of the precheck (the key pair the certificate does not certify)', async () => {
    const noProvider = await planRenew(
      'prod-a',
      undefined,
      refuse(Failure.KeyProviderNotFound, 'no active key provider'),
      renew(),
      [],
      new Date(),
    );
    expect(noProvider).toMatchObject({
      couldStart: false,
      refusals: [{ type: Failure.KeyProviderNotFound, message: 'no active key provider' }],
    });
    const state = await renewalState();
    const other = await makeCsr({ subject: 'CN=prod-a.example.test', version: 2 });
    const mismatch = await planRenew('prod-a', { ...state, csrPem: other.csrPem }, undefined, renew(), [], new Date());
    expect(mismatch.refusals.map((r) => r.type)).toEqual([Failure.KeyPairMismatch]);
    // In words: the refusing step says REFUSES once, then the refusal.
    const precheckLine = renderPlan(mismatch).find((l) => l.trimStart().startsWith('precheck'));
    expect(precheckLine).toMatch(/^ {2}precheck +REFUSES: key server /);
    expect(precheckLine).not.toContain('REFUSES: refuses');
  });
});

describe('recovery plans', () => {
  const fault = (code: string, f: Partial<FaultSummary> = {}): FaultSummary => ({
    clusterFaultID: 9,
    code,
    type: 'cluster',
    severity: 'error',
    details: `${code} details`,
    date: NOW.toISOString(),
    nodeID: 0,
    driveIDs: [],
    serviceID: 0,
    ...f,
  });
  const drive = (driveID: number, status: Drive['status'], nodeID = 1): Drive => ({
    driveID,
    nodeID,
    slot: driveID,
    chassisSlot: String(driveID),
    serial: `s${driveID}`,
    capacity: 1,
    usableCapacity: 1,
    segmentFileSize: 1,
    status,
    type: 'volume',
    attributes: {},
  });

  it('kmipServerFault: no fault ends at once; the key servers of the active provider are tested, the wait only if one fails', () => {
    const input = recoverKmipInput.parse({ cluster: 'prod-a' });
    const none = planRecoverKmip('prod-a', { providers: [], servers: [] }, input, [], NOW);
    expect(actions(none)).toEqual([
      ['confirm', 'run'],
      ['find-servers', 'skip'],
      ['diagnose', 'skip'],
      ['wait-for-fix', 'skip'],
      ['confirm-resolved', 'skip'],
    ]);
    const plan = runbookPlan.parse(
      planRecoverKmip(
        'prod-a',
        {
          fault: fault('kmipServerFault'),
          providers: [provider({ keyProviderIsActive: true, keyServerIDs: [11] })],
          servers: [server({ keyProviderID: 7 })],
        },
        input,
        [],
        NOW,
      ),
    );
    expect(plan.takesLock).toBe(false);
    expect(actions(plan)).toEqual([
      ['confirm', 'run'],
      ['find-servers', 'run'],
      ['diagnose', 'run'],
      ['wait-for-fix', 'maybe'],
      ['confirm-resolved', 'run'],
    ]);
    expect(effects(plan)).toEqual(['TestKeyServerKmip']);
    expect(step(plan, 'wait-for-fix').waits).toEqual([
      expect.objectContaining({ everyMs: 30_000 }),
      expect.objectContaining({ forMs: 2 * 3_600_000, setting: 'deadline' }),
    ]);
    const noActive = planRecoverKmip(
      'prod-a',
      { fault: fault('kmipServerFault'), providers: [provider()], servers: [] },
      input,
      [],
      NOW,
    );
    expect(noActive.refusals.map((r) => r.type)).toEqual([Failure.NoActiveKeyProvider]);
  });

  it('sliceServiceUnhealthy: the fault’s drives are added back; drives given that are not its drives are refused; several candidates are asked about', () => {
    const state: SliceRecoveryState = {
      faults: [fault('sliceServiceUnhealthy', { nodeID: 1, driveIDs: [5] })],
      drives: [drive(5, 'available'), drive(6, 'active')],
      asyncHandles: [],
    };
    const plan = runbookPlan.parse(
      planRecoverSlice('prod-a', state, recoverSliceInput.parse({ cluster: 'prod-a', settle: '2m' }), [], NOW),
    );
    expect(actions(plan)).toEqual([
      ['lock', 'run'],
      ['confirm', 'run'],
      ['find-drives', 'run'],
      ['add', 'run'],
      ['settle', 'run'],
      ['verify', 'run'],
      ['escalate', 'maybe'],
    ]);
    expect(effects(plan)).toEqual(['AddDrives']);
    expect(step(plan, 'settle').waits).toEqual([{ what: 'settle', forMs: 120_000, setting: 'settle' }]);

    const refused = planRecoverSlice('prod-a', state, recoverSliceInput.parse({ cluster: 'prod-a', driveIDs: [6] }), [], NOW);
    expect(refused.refusals).toEqual([expect.objectContaining({ type: Failure.DrivesRefused })]);
    expect(refused.refusals[0]!.message).toContain('drive 6 is active, not available');

    const unnamed: SliceRecoveryState = {
      faults: [fault('sliceServiceUnhealthy', { nodeID: 1 })],
      drives: [drive(5, 'available'), drive(7, 'available')],
      asyncHandles: [],
    };
    const ask = planRecoverSlice('prod-a', unnamed, recoverSliceInput.parse({ cluster: 'prod-a' }), [], NOW);
    expect(step(ask, 'find-drives').asks[0]!.answers).toEqual(['change', 'abort']);
  });
});

describe('the read-only client', () => {
  const client = new ElementClient({
    endpoint: 'https://127.0.0.1:9',
    apiVersion: '12.3',
    username: 'admin',
    password: 'not-used',
    insecure: true,
    connectTimeoutMs: 100,
    responseTimeoutMs: 100,
  });
  afterAll(() => client.close());

  it('refuses a method that changes the cluster, a test, and GetAsyncResult without keepResult, before sending anything', async () => {
    const readWith: string[] = [];
    const reader = readOnlyClient(client, readWith);
    await expect(reader.call('CreateKeyProviderKmip', { keyProviderName: 'x' })).rejects.toBeInstanceOf(PlanCallRefused);
    await expect(reader.call('TestKeyServerKmip', { keyServerID: 1 })).rejects.toBeInstanceOf(PlanCallRefused);
    await expect(reader.call('GetAsyncResult', { asyncHandle: 1 })).rejects.toBeInstanceOf(PlanCallRefused);
    expect(readWith).toEqual([]);
    // A read goes through (and fails here: nothing listens on that port), recorded.
    await expect(reader.call('GetClusterInfo')).rejects.not.toBeInstanceOf(PlanCallRefused);
    expect(readWith).toEqual(['GetClusterInfo']);
    expect(reader.apiVersion).toBe('12.3');
  });
});
