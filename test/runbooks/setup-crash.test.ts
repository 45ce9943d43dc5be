/**
 * The crash matrix: the worker process is SIGKILLed at each step of a hardware setup — while
 * the cluster has done the step's work but its answer has not reached the worker, during the CA
 * wait, and during the key server test's retries — then a new worker process takes over. Every
 * run must end set up, with one key pair and no duplicate creates on the cluster.
 */
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { ManagedProcess } from '../../tools/devenv/child';
import { issueCertificate, loadCertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import { progressQuery, submitCertificateUpdate } from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import type { SetupResult } from '../../workflows/setup';
import { startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
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
