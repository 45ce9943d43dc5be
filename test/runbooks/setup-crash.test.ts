/**
 * The crash matrix: the worker process is SIGKILLed at each step of a hardware setup — while
 * the cluster has done the step's work but its answer has not reached the worker, during the CA
 * wait, and during the key server test's retries — then a new worker process takes over. Every
 * run must end set up, with one key pair and no duplicate creates on the cluster.
 *
 * The same for setup --replace-internal-key on a cluster whose hardware encryption is on with its
 * internal key, at each of its steps (the tests again, the disable and its wait, the enable and
 * its wait, the enable while escalated and asking, enable-internal): every run ends with one
 * DisableEncryptionAtRest and one effective EnableEncryptionAtRest, the drives under the
 * provider's key (or, after enable-internal, under an internal key again).
 */
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { ManagedProcess } from '../../tools/devenv/child';
import type { CallRecordJson } from '../../tools/simulator';
import { NO_KEY_ID } from '../../tools/simulator';
import { issueCertificate, loadCertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import { answerUpdate, progressQuery, submitCertificateUpdate } from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import type { SetupResult } from '../../workflows/setup';
import { startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { rootType } from '../support/failures';
import { startRunbook } from '../support/start';
import { eventually } from '../support/eventually';
import { historyText } from '../support/history';
import { testEnv } from '../support/test-env';
import { connectClient, spawnWorkerProcess, uniqueTaskQueue } from '../support/worker';

interface CrashCase {
  step: string;
  /** Hold this method's answer after the cluster ran it, and kill the worker meanwhile. */
  holdMethod?: string;
  signer?: 'manual';
  /** The key server cannot be reached until after the crash: kill during the test's retries. */
  unreachableUntilCrash?: boolean;
}

const CASES: CrashCase[] = [
  { step: 'precheck', holdMethod: 'GetAPI' },
  { step: 'key-pair', holdMethod: 'CreatePublicPrivateKeyPair' },
  { step: 'signing', signer: 'manual' },
  { step: 'provider', holdMethod: 'CreateKeyProviderKmip' },
  { step: 'server', holdMethod: 'CreateKeyServerKmip' },
  { step: 'test-server', unreachableUntilCrash: true },
  { step: 'attach', holdMethod: 'AddKeyServerToProviderKmip' },
  { step: 'test-provider', holdMethod: 'TestKeyProviderKmip' },
  { step: 'enable', holdMethod: 'EnableEncryptionAtRest' },
  { step: 'verify', holdMethod: 'GetKeyProviderKmip' },
];

const CREATES = ['CreatePublicPrivateKeyPair', 'CreateKeyProviderKmip', 'CreateKeyServerKmip', 'EnableEncryptionAtRest'];

describe('setup runbook: worker SIGKILLed at each step', () => {
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  beforeAll(async () => {
    temporal = await connectClient();
  });
  afterAll(async () => temporal?.close());

  it.each(CASES)('ends set up after a kill during "$step"', async (crash) => {
    const harness: ClusterHarness = await startClusterHarness(`crash-${crash.step}`, {
      durations: { earTransitionMs: 500, tickMs: 50, injectedTimeoutHoldMs: 30_000 },
    });
    const taskQueue = uniqueTaskQueue(`crash-${crash.step}`);
    const kmip = testEnv().kmip;
    const spawnWorker = () =>
      spawnWorkerProcess({
        taskQueue,
        clustersFile: harness.clustersFile,
        logDir: path.join(harness.dir, 'logs'),
      });
    let worker: ManagedProcess = spawnWorker();
    try {
      if (crash.holdMethod) {
        await harness.sim.control.setHttpFaults({
          rules: [{ kind: 'timeout', phase: 'after', methods: [crash.holdMethod], remaining: 1 }],
        });
      }
      if (crash.unreachableUntilCrash) await harness.sim.control.makeUnreachable(kmip.host);
      const input: SetupInput = {
        cluster: harness.name,
        subject: { commonName: `${harness.name}.example.test` },
        keyProviderName: 'kmip-provider',
        keyServerName: 'kmip-server',
        hostnames: [kmip.host],
        port: kmip.port,
        kmipCaCertificate: kmip.caPem,
        mode: 'hardware',
        signer: crash.signer === 'manual' ? { type: 'manual' } : { type: 'cfssl', url: testEnv().cfssl.url },
        testAttempts: 20,
        testRetryInterval: '300ms',
        activityTimeout: '6s',
        polling: { initialInterval: 200, maxInterval: 500, attemptWindow: 20_000 },
      };
      const handle: WorkflowHandle = await startRunbook(temporal.client, 'setup', input, {
        taskQueue,
        workflowId: `crash-${crash.step}-${Date.now()}`,
      });

      // Wait until the step is under way (and, for a held answer, the cluster has run it).
      await eventually(
        async () => {
          const p = await handle.query(progressQuery.definition);
          const step = p.steps.find((s) => s.id === crash.step)!;
          expect(['running', 'waiting-for-input']).toContain(step.state);
        },
        60_000,
        50,
      );
      await new Promise((r) => setTimeout(r, crash.unreachableUntilCrash ? 1500 : 700));
      await worker.kill();
      await harness.sim.control.clearHttpFaults();
      if (crash.unreachableUntilCrash) await harness.sim.control.makeReachable(kmip.host);
      worker = spawnWorker();

      if (crash.signer === 'manual') {
        const waiting = await eventually(async () => {
          const p = await handle.query(progressQuery.definition);
          expect(p.waiting?.kind).toBe('signed-certificate');
          return p;
        }, 30_000);
        const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
        const csr = new x509.Pkcs10CertificateRequest(waiting.waiting!.csrPem!);
        const signed = await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] });
        await handle.executeUpdate(submitCertificateUpdate.definition, {
          args: [{ certificatePem: signed.certificatePem, caChainPem: kmip.caPem }],
        });
      }

      const result = (await handle.result()) as SetupResult;
      expect(result.encryptionAtRestState).toBe('enabled');
      const client = harness.client();
      expect((await client.call('ListKeyProvidersKmip', {})).kmipKeyProviders).toEqual([
        expect.objectContaining({
          keyProviderID: result.keyProviderID,
          keyProviderIsActive: true,
          keyServerIDs: [result.keyServerID],
        }),
      ]);
      expect((await client.call('ListKeyServersKmip', {})).kmipKeyServers).toHaveLength(1);
      const executed = await harness.sim.control.calls();
      for (const method of CREATES) {
        expect([method, executed.filter((c) => c.method === method && c.executed).length]).toEqual([method, 1]);
      }
      // Worker processes that died mid-step leave no secret in history either.
      const history = await historyText(temporal.client, handle.workflowId);
      expect(history).toContain('BEGIN CERTIFICATE');
      expect(history).not.toContain('PRIVATE KEY');
      expect(history.includes(harness.password)).toBe(false);
      if (crash.holdMethod) {
        // The held call really did run on the cluster before the worker died.
        expect(executed.some((c) => c.method === crash.holdMethod && c.injected?.phase === 'after' && c.executed)).toBe(true);
      }
    } finally {
      await worker.stop();
      await harness.stop();
    }
  });
});

interface ReplaceCrashCase {
  label: string;
  step: string;
  /** Hold this method's answer after the cluster ran it (letting `holdSkip` calls of it through first). */
  holdMethod?: string;
  holdSkip?: number;
  /** EnableEncryptionAtRest with the provider fails until the worker is back: killed while the runbook asks. */
  enableFailsUntilCrash?: boolean;
  /** The enable keeps failing and a person answers enable-internal: killed during it; the run ends on internal keys. */
  enableInternal?: boolean;
}

const REPLACE_CASES: ReplaceCrashCase[] = [
  { label: 'retest-server', step: 'retest-server', holdMethod: 'TestKeyServerKmip', holdSkip: 1 },
  { label: 'retest-provider', step: 'retest-provider', holdMethod: 'TestKeyProviderKmip', holdSkip: 1 },
  { label: 'disable', step: 'disable', holdMethod: 'DisableEncryptionAtRest' },
  { label: 'await-disabled', step: 'await-disabled' },
  { label: 'enable', step: 'enable', holdMethod: 'EnableEncryptionAtRest' },
  { label: 'enable, escalated and asking', step: 'enable', enableFailsUntilCrash: true },
  { label: 'await-enabled', step: 'await-enabled' },
  { label: 'enable-internal', step: 'enable-internal', enableInternal: true },
  { label: 'verify', step: 'verify', holdMethod: 'GetKeyProviderKmip' },
];

/** Calls the cluster carried out without an error (an injected enable failure is not one). */
const effective = (calls: CallRecordJson[], method: string) =>
  calls.filter((c) => c.method === method && c.executed && !c.errorName);
const withProvider = (c: CallRecordJson) => (c.params as { keyProviderID?: number } | null)?.keyProviderID !== undefined;

describe('setup --replace-internal-key: worker SIGKILLed at each step', () => {
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  beforeAll(async () => {
    temporal = await connectClient();
  });
  afterAll(async () => temporal?.close());

  it.each(REPLACE_CASES)('ends with one disable and one effective enable after a kill during "$label"', async (crash) => {
    const name = `crash-ik-${crash.label.replace(/\W+/g, '-')}`.slice(0, 40).replace(/-$/, '');
    const harness: ClusterHarness = await startClusterHarness(name, {
      hardwareEncryptionAtRest: 'internal',
      durations: { earTransitionMs: 3000, tickMs: 50, injectedTimeoutHoldMs: 30_000 },
    });
    const taskQueue = uniqueTaskQueue(name);
    const kmip = testEnv().kmip;
    const spawnWorker = () =>
      spawnWorkerProcess({ taskQueue, clustersFile: harness.clustersFile, logDir: path.join(harness.dir, 'logs') });
    let worker: ManagedProcess = spawnWorker();
    try {
      if (crash.holdMethod) {
        await harness.sim.control.setHttpFaults({
          rules: [{ kind: 'timeout', phase: 'after', methods: [crash.holdMethod], skip: crash.holdSkip, remaining: 1 }],
        });
      }
      if (crash.enableFailsUntilCrash || crash.enableInternal) await harness.sim.control.failEnableWithProvider();
      const input: SetupInput = {
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
        testAttempts: 3,
        testRetryInterval: '300ms',
        activityTimeout: '6s',
        polling: { initialInterval: 200, maxInterval: 500, attemptWindow: 20_000 },
      };
      const handle: WorkflowHandle = await startRunbook(temporal.client, 'setup', input, {
        taskQueue,
        workflowId: `${name}-${Date.now()}`,
      });

      if (crash.enableInternal) {
        await eventually(
          async () => expect((await handle.query(progressQuery.definition)).waiting?.step).toBe('enable'),
          60_000,
          100,
        );
        await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'enable-internal', by: 'crash-test' }] });
      }
      // Wait until the step is under way (for a held answer: the cluster has run it), then kill.
      await eventually(
        async () => {
          const p = await handle.query(progressQuery.definition);
          const step = p.steps.find((s) => s.id === crash.step)!;
          expect(crash.enableInternal ? ['running', 'done'] : ['running', 'waiting-for-input']).toContain(step.state);
          if (crash.enableFailsUntilCrash) expect(p.waiting?.step).toBe('enable');
        },
        60_000,
        50,
      );
      if (!crash.enableInternal) await new Promise((r) => setTimeout(r, 700));
      await worker.kill();
      await harness.sim.control.clearHttpFaults();
      if (crash.enableFailsUntilCrash) await harness.sim.control.clearEnableFailure();
      worker = spawnWorker();

      const client = harness.client();
      const drives = async () => (await client.call('ListDrives')).drives.filter((d) => d.status === 'active');
      const outcome = await handle.result().then(
        (r) => r as SetupResult,
        (e: unknown) => e,
      );
      const calls = await harness.sim.control.calls();
      expect(effective(calls, 'DisableEncryptionAtRest')).toHaveLength(1);
      const enables = effective(calls, 'EnableEncryptionAtRest');
      expect(enables).toHaveLength(1);
      expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled');
      if (crash.enableInternal) {
        expect(rootType(outcome)).toBe('InternalKeysRestored');
        expect(enables.map(withProvider)).toEqual([false]);
        expect((await drives()).every((d) => d.keyProviderID === 0 && d.keyID !== NO_KEY_ID)).toBe(true);
      } else {
        const result = outcome as SetupResult;
        expect(result.encryptionAtRestState).toBe('enabled');
        expect(result.encryptionAtRestDisabled).toBeDefined();
        expect(enables.map(withProvider)).toEqual([true]);
        expect((await drives()).every((d) => d.keyProviderID === result.keyProviderID)).toBe(true);
        expect((await client.call('ListKeyProvidersKmip', {})).kmipKeyProviders).toEqual([
          expect.objectContaining({
            keyProviderID: result.keyProviderID,
            keyProviderIsActive: true,
            keyServerIDs: [result.keyServerID],
          }),
        ]);
      }
      for (const method of ['CreatePublicPrivateKeyPair', 'CreateKeyProviderKmip', 'CreateKeyServerKmip']) {
        expect([method, calls.filter((c) => c.method === method && c.executed).length]).toEqual([method, 1]);
      }
      const final = await handle.query(progressQuery.definition);
      expect(final.encryptionAtRestDisabled).toBeUndefined();
      const history = await historyText(temporal.client, handle.workflowId);
      expect(history).not.toContain('PRIVATE KEY');
      expect(history.includes(harness.password)).toBe(false);
      if (crash.holdMethod) {
        expect(calls.some((c) => c.method === crash.holdMethod && c.injected?.phase === 'after' && c.executed)).toBe(true);
      }
    } finally {
      await worker.stop();
      await harness.stop();
    }
  });
});
