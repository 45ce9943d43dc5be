/**
 * Setup with --replace-internal-key (real Temporal, simulator, PyKMIP, cfssl): a cluster whose
 * hardware encryption at rest is on with its internal key ends with it enabled on the external
 * provider (the drives under the provider's key), the provider and key server tested again just
 * before the disable; without the flag the precheck refuses, naming it. An enable that keeps
 * failing after the disable escalates and keeps trying on a growing interval; `ekm status` says
 * first that encryption is disabled; abort needs the cluster's name; enable-internal locks the
 * drives with internal keys again; `ekm cancel` waits for the window's end.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { RunbookEvent } from '../../src/notify/notifier';
import type { CallRecordJson } from '../../tools/simulator';
import { NO_KEY_ID } from '../../tools/simulator';
import { answerUpdate, progressQuery, type RunbookProgress } from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import type { SetupResult } from '../../workflows/setup';
import type { ClusterRegistry } from '../../src/config/clusters';
import { runCli } from '../support/cli';
import { kmipKeyExists, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const FAST_POLL = { initialInterval: 200, maxInterval: 500, attemptWindow: 20_000 };
const NEW_STEPS = ['retest-server', 'retest-provider', 'disable', 'await-disabled', 'enable', 'await-enabled'];

describe('setup --replace-internal-key: hardware encryption from internal to external keys', () => {
  const taskQueue = uniqueTaskQueue('replace-key');
  const harnesses: ClusterHarness[] = [];
  const events: RunbookEvent[] = [];
  const registry: ClusterRegistry = { clusters: {}, signers: {} };
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async (e) => void events.push(e) } });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await Promise.all(harnesses.map((h) => h.stop()));
  });

  /** A cluster that turned hardware encryption on years ago, with its internal key. */
  async function cluster(name: string, earTransitionMs = 800): Promise<ClusterHarness> {
    const harness = await startClusterHarness(name, {
      hardwareEncryptionAtRest: 'internal',
      durations: { earTransitionMs, tickMs: 50 },
    });
    harnesses.push(harness);
    Object.assign(registry.clusters, harness.registry.clusters);
    return harness;
  }

  function input(harness: ClusterHarness, overrides: Partial<SetupInput> = {}): SetupInput {
    const kmip = testEnv().kmip;
    return {
      cluster: harness.name,
      subject: { commonName: `${harness.name}.example.test` },
      keyProviderName: 'kmip-provider',
      keyServerName: 'kmip-server',
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'hardware',
      replaceInternalKey: true,
      signer: { type: 'cfssl', url: testEnv().cfssl.url },
      testAttempts: 2,
      testRetryInterval: '300ms',
      questionReminderEvery: '1h',
      polling: FAST_POLL,
      ...overrides,
    };
  }

  function start(harness: ClusterHarness, overrides: Partial<SetupInput> = {}): Promise<WorkflowHandle> {
    return startRunbook(temporal.client, 'setup', input(harness, overrides), {
      taskQueue,
      workflowId: `ekm-setup-${harness.name}`,
    });
  }

  const progress = (h: WorkflowHandle) => h.query(progressQuery.definition);
  const cliEnv = (harness: ClusterHarness) => ({ EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: harness.clustersFile });
  const calls = (harness: ClusterHarness, method: string) => harness.sim.control.calls({ method });
  /** Calls the cluster carried out without an error (an injected enable failure is not one). */
  const effective = (records: CallRecordJson[]) => records.filter((c) => c.executed && !c.errorName);
  const withProvider = (c: CallRecordJson) => (c.params as { keyProviderID?: number } | null)?.keyProviderID !== undefined;
  const earState = async (h: ClusterHarness) => (await h.client().call('GetClusterInfo')).clusterInfo.encryptionAtRestState;
  const activeDrives = async (h: ClusterHarness) =>
    (await h.client().call('ListDrives')).drives.filter((d) => d.status === 'active');

  /** Waits for the escalated question of step `step` while encryption is disabled. */
  async function escalated(h: WorkflowHandle, step: string): Promise<RunbookProgress> {
    return eventually(
      async () => {
        const p = await progress(h);
        expect(p.waiting?.step).toBe(step);
        expect(p.waiting?.answers).toEqual(['retry', 'enable-internal', 'abort']);
        return p;
      },
      60_000,
      200,
    );
  }

  it('ends enabled on the provider, the drives under its key; tested again just before the disable (ekm setup --replace-internal-key --wait)', async () => {
    const harness = await cluster('replace-hw', 1500);
    const internalKey = (await activeDrives(harness))[0]!.keyID;
    expect(internalKey).not.toBe(NO_KEY_ID);
    const kmip = testEnv().kmip;
    fs.writeFileSync(path.join(harness.dir, 'kmip-ca.pem'), kmip.caPem);
    const cli = await runCli(
      [
        'setup',
        harness.name,
        '--cn',
        'replace-hw.example.test',
        '--provider-name',
        'kmip-provider',
        '--server-name',
        'kmip-server',
        '--hostname',
        kmip.host,
        '--port',
        String(kmip.port),
        '--kmip-ca',
        path.join(harness.dir, 'kmip-ca.pem'),
        '--mode',
        'hardware',
        '--replace-internal-key',
        '--signer',
        'cfssl',
        '--cfssl-url',
        testEnv().cfssl.url,
        '--wait',
      ],
      cliEnv(harness),
    );
    expect([cli.code, cli.stderr.split('\n').filter((l) => /error|refused/i.test(l))]).toEqual([0, []]);
    // The follow lines (not a terminal) say first, while it lasts, that encryption is disabled.
    expect(cli.stderr).toContain(`!! ENCRYPTION AT REST IS DISABLED on ${harness.name} since`);

    const handle = temporal.client.workflow.getHandle(`ekm-setup-${harness.name}`);
    const result = (await handle.result()) as SetupResult;
    expect(result).toMatchObject({ mode: 'hardware', encryptionAtRestState: 'enabled', alreadySetUp: false });
    const window = result.encryptionAtRestDisabled!;
    expect(Date.parse(window.until)).toBeGreaterThan(Date.parse(window.since));

    // The cluster: enabled, every active drive under the provider's key, which the KMIP server holds.
    expect(await earState(harness)).toBe('enabled');
    const drives = await activeDrives(harness);
    expect(drives.every((d) => d.keyProviderID === result.keyProviderID)).toBe(true);
    expect(new Set(drives.map((d) => d.keyID)).size).toBe(1);
    expect(drives[0]!.keyID).not.toBe(internalKey);
    expect(await kmipKeyExists('replace-hw.example.test', drives[0]!.keyID!)).toBe(true);
    const { kmipKeyProviders } = await harness.client().call('ListKeyProvidersKmip', {});
    expect(kmipKeyProviders).toEqual([
      expect.objectContaining({ keyProviderID: result.keyProviderID, keyProviderIsActive: true }),
    ]);

    // Tested twice each (steps 2b/2c, then just before the disable); one disable, one enable with the provider.
    const log = await harness.sim.control.calls();
    const seqs = (method: string) => log.filter((c) => c.method === method).map((c) => c.seq);
    expect(seqs('TestKeyServerKmip')).toHaveLength(2);
    expect(seqs('TestKeyProviderKmip')).toHaveLength(2);
    expect(seqs('DisableEncryptionAtRest')).toHaveLength(1);
    const enables = log.filter((c) => c.method === 'EnableEncryptionAtRest');
    expect(enables.map(withProvider)).toEqual([true]);
    expect(Math.max(...seqs('TestKeyProviderKmip'))).toBeLessThan(seqs('DisableEncryptionAtRest')[0]!);
    expect(seqs('DisableEncryptionAtRest')[0]!).toBeLessThan(enables[0]!.seq);

    const final = await progress(handle);
    expect(final.encryptionAtRestDisabled).toBeUndefined();
    for (const id of NEW_STEPS) expect([id, final.steps.find((s) => s.id === id)?.state]).toEqual([id, 'done']);
    expect(final.steps.find((s) => s.id === 'enable-internal')?.state).toBe('skipped');
    expect(final.steps.find((s) => s.id === 'await-enabled')?.detail).toContain(`key provider ${result.keyProviderID}`);
    expect(final.notes.join('\n')).toMatch(/the drives were not locked for /);
  });

  it('without the flag the precheck refuses, naming it; nothing is made, nothing disabled', async () => {
    const harness = await cluster('replace-noflag');
    const handle = await start(harness, { replaceInternalKey: false });
    const failure = await handle.result().catch((e: unknown) => e);
    expect(rootType(failure)).toBe('EncryptionAlreadyEnabled');
    expect(rootMessage(failure)).toContain("with the cluster's internal keys");
    expect(rootMessage(failure)).toContain('--replace-internal-key');
    for (const method of ['CreatePublicPrivateKeyPair', 'CreateKeyProviderKmip', 'DisableEncryptionAtRest']) {
      expect([method, (await calls(harness, method)).length]).toEqual([method, 0]);
    }
    expect(await earState(harness)).toBe('enabled');

    // The flag is for hardware mode only: refused before anything starts, naming the field.
    const bad = await runCli(
      ['setup', harness.name, '--input', writeInput(harness, { ...input(harness), mode: 'none' }), '--replace-internal-key'],
      cliEnv(harness),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/(replaceInternalKey|--replace-internal-key).*: is only for mode hardware/);
  });

  it('an enable that keeps failing escalates and keeps trying; abort needs the cluster name; enable-internal locks the drives again', async () => {
    const harness = await cluster('replace-escalate');
    await harness.sim.control.failEnableWithProvider(); // until told
    const handle = await start(harness);
    const waiting = await escalated(handle, 'enable');
    expect(waiting.encryptionAtRestDisabled?.since).toBeDefined();
    expect(waiting.waiting?.abortRequires).toEqual({ confirmUnprotected: harness.name });
    expect(waiting.waiting?.prompt).toMatch(
      /^ESCALATED: encryption at rest is DISABLED on replace-escalate since .*LEAVES THE DRIVES UNPROTECTED/,
    );
    expect(waiting.waiting?.prompt).toContain('. Step 3 (Turn on encryption with the provider) failed; ');
    expect(waiting.waiting?.problem).toContain('xKmipConnectionFailure');
    expect(await earState(harness)).toBe('disabled');
    await eventually(async () =>
      expect(events.some((e) => e.kind === 'escalated' && e.cluster === harness.name && e.step === 'enable')).toBe(true),
    );

    // ekm status: the first line says so; the abort line names the confirmation.
    const status = await runCli(['status', handle.workflowId], cliEnv(harness));
    expect(status.stderr).toBe('');
    expect(status.stdout.split('\n')[0]).toMatch(
      new RegExp(`^!! ENCRYPTION AT REST IS DISABLED on ${harness.name} since \\S+ — drives are not locked$`),
    );
    expect(status.stdout).toContain(`--confirm-unprotected ${harness.name}`);

    // It keeps trying on its own, on a growing interval (2 tries in the step, then its own).
    const tries = await eventually(
      async () => {
        const enables = await calls(harness, 'EnableEncryptionAtRest');
        expect(enables.length).toBeGreaterThanOrEqual(5);
        return enables;
      },
      30_000,
      200,
    );
    expect(tries.length).toBeGreaterThanOrEqual(5);
    // The interval is the workflow's own timers (wall-clock gaps on a loaded machine prove nothing): 300 ms, doubling.
    const timers = (await handle.fetchHistory()).events!.flatMap((e) => {
      const t = e.timerStartedEventAttributes?.startToFireTimeout;
      return t ? [Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6)] : [];
    });
    // (The cluster lock's 2 s grace timer comes first.)
    expect(timers.slice(timers.indexOf(300), timers.indexOf(300) + 3)).toEqual([300, 600, 1200]);

    // abort without the cluster's name, or with another one, is refused (exit 4) and changes nothing.
    const abort = (...extra: string[]) =>
      runCli(['answer', handle.workflowId, 'abort', '--reason', 'not today', ...extra], cliEnv(harness));
    const plain = await abort();
    expect(plain.code).toBe(4);
    expect(plain.stderr).toContain(`--confirm-unprotected must be the cluster's name "${harness.name}"`);
    const other = await abort('--confirm-unprotected', 'other-cluster');
    expect([other.code, other.stderr]).toEqual([4, expect.stringContaining('--confirm-unprotected must be')]);
    expect((await progress(handle)).waiting?.step).toBe('enable');

    const answered = await runCli(
      ['answer', handle.workflowId, 'enable-internal', '--comment', 'key server down for days', '--by', 'on-call'],
      cliEnv(harness),
    );
    expect([answered.code, answered.stdout]).toEqual([0, expect.stringContaining('enable-internal accepted for step enable')]);
    const failure = await handle.result().catch((e: unknown) => e);
    expect(rootType(failure)).toBe('InternalKeysRestored');
    expect(rootMessage(failure)).toContain("enabled again with the cluster's internal keys");

    // Locked again with an internal key; the provider is not in use; one disable, one effective enable.
    expect(await earState(harness)).toBe('enabled');
    const drives = await activeDrives(harness);
    expect(drives.every((d) => d.keyProviderID === 0 && d.keyID !== NO_KEY_ID)).toBe(true);
    expect((await harness.client().call('ListKeyProvidersKmip', {})).kmipKeyProviders).toEqual([
      expect.objectContaining({ keyProviderIsActive: false }),
    ]);
    expect(await calls(harness, 'DisableEncryptionAtRest')).toHaveLength(1);
    const enabled = effective(await calls(harness, 'EnableEncryptionAtRest'));
    expect(enabled.map(withProvider)).toEqual([false]);
    const final = await progress(handle);
    expect(final.state).toBe('failed');
    expect(final.encryptionAtRestDisabled).toBeUndefined();
    expect(final.steps.find((s) => s.id === 'enable-internal')).toMatchObject({ state: 'done' });
    expect(final.steps.find((s) => s.id === 'enable')).toMatchObject({ state: 'failed' });
    expect(final.answers).toEqual([expect.objectContaining({ action: 'enable-internal', by: 'on-call', outcome: 'accepted' })]);
  });

  it('an enable that fails a few times escalates, then a try of its own works: enabled on the provider, nobody asked', async () => {
    const harness = await cluster('replace-recovers');
    await harness.sim.control.failEnableWithProvider({ remaining: 4 });
    const handle = await start(harness);
    const result = (await handle.result()) as SetupResult;
    expect(result.encryptionAtRestState).toBe('enabled');
    expect((await activeDrives(harness)).every((d) => d.keyProviderID === result.keyProviderID)).toBe(true);
    expect(events.some((e) => e.kind === 'escalated' && e.cluster === harness.name)).toBe(true);
    const enables = await calls(harness, 'EnableEncryptionAtRest');
    expect(enables).toHaveLength(5);
    expect(effective(enables)).toHaveLength(1);
    const final = await progress(handle);
    expect(final.answers).toEqual([]);
    expect(final.steps.find((s) => s.id === 'enable')).toMatchObject({ state: 'done' });
    expect(final.notes.join('\n')).toContain('escalated: encryption at rest is DISABLED');
  });

  it('ekm cancel waits until encryption is enabled again; retry then enables on the provider and the run ends cancelled', async () => {
    const harness = await cluster('replace-cancel');
    await harness.sim.control.failEnableWithProvider();
    const handle = await start(harness);
    await escalated(handle, 'enable');
    await handle.cancel();
    const noted = await eventually(async () => {
      const p = await progress(handle);
      expect(p.notes.join('\n')).toContain('cancellation requested: it takes effect once encryption at rest is enabled again');
      return p;
    });
    expect(noted.state).toBe('waiting-for-input');
    expect(await earState(harness)).toBe('disabled');

    await harness.sim.control.clearEnableFailure();
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'retry', by: 'on-call' }] });
    await expect(handle.result()).rejects.toThrow();
    const final = await progress(handle);
    expect(final.state).toBe('cancelled');
    expect(final.encryptionAtRestDisabled).toBeUndefined();
    expect(await earState(harness)).toBe('enabled');
    const providers = (await harness.client().call('ListKeyProvidersKmip', {})).kmipKeyProviders;
    expect((await activeDrives(harness)).every((d) => d.keyProviderID === providers[0]!.keyProviderID)).toBe(true);
    // Cancelled after the window: the provider in use is kept.
    expect(final.notes.join('\n')).toMatch(/abort: left key provider \d+: it is active/);
  });

  it('abort with the cluster name ends the run and leaves encryption disabled, and says so', async () => {
    const harness = await cluster('replace-abort');
    await harness.sim.control.failEnableWithProvider();
    const handle = await start(harness);
    await escalated(handle, 'enable');
    await handle.executeUpdate(answerUpdate.definition, {
      args: [{ action: 'abort', reason: 'rolling back by hand', by: 'ops', confirmUnprotected: harness.name }],
    });
    const failure = await handle.result().catch((e: unknown) => e);
    expect(rootMessage(failure)).toBe('aborted by ops: rolling back by hand');
    const final = await progress(handle);
    expect(final.state).toBe('cancelled');
    // Still disabled: the ended run's status says so first.
    expect(final.encryptionAtRestDisabled).toBeDefined();
    expect(final.notes.join('\n')).toContain('abort confirmed by ops');
    expect(await earState(harness)).toBe('disabled');
  });
});

function writeInput(harness: ClusterHarness, value: SetupInput): string {
  const file = path.join(harness.dir, 'setup-input.json');
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}
