/**
 * The renewal's crash matrix: the worker process is SIGKILLed in each step of a renewal — while
 * the cluster has run the step's call but its answer has not reached the worker, during the CA
 * wait, and while the previous certificate is being put back — then a new worker process takes
 * over. Every run must end renewed, with the simulator's call log showing no ModifyKeyServerKmip
 * applied twice (a modify that reached the cluster is recognised by the certificate it left, not
 * sent again) and no key pair made twice.
 */
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { ManagedProcess } from '../../tools/devenv/child';
import {
  createCertificateAuthority,
  issueCertificate,
  loadCertificateAuthority,
  type CertificateAuthority,
} from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import { answerUpdate, progressQuery, submitCertificateUpdate } from '../../workflows/contract';
import type { RenewInput } from '../../workflows/inputs-renew';
import type { RenewResult } from '../../workflows/renew';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { historyText } from '../support/history';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, spawnWorkerProcess, uniqueTaskQueue } from '../support/worker';

const DAY = 86_400_000;

interface CrashCase {
  /** What the case is called (the step it kills in, and how). */
  name: string;
  step: string;
  /** Hold this method's answer after the cluster ran it (skipping the first `skip` calls), and kill the worker meanwhile. */
  hold?: { method: string; skip?: number };
  /** Manual signing: the kill comes while the runbook waits for the certificate. */
  manual?: boolean;
  newKeyPair?: boolean;
  /** The first certificate is one PyKMIP does not trust (the cluster stores it untested): the kill comes while it is put back. */
  untrustedFirst?: boolean;
  /** ModifyKeyServerKmip calls that reach the cluster in the whole run. */
  modifies: number;
}

const CASES: CrashCase[] = [
  {
    name: 'precheck (ListKeyProvidersKmip answered, lost)',
    step: 'precheck',
    hold: { method: 'ListKeyProvidersKmip' },
    modifies: 1,
  },
  {
    name: 'window (TestKeyProviderKmip answered, lost; new key pair)',
    step: 'window',
    hold: { method: 'TestKeyProviderKmip' },
    newKeyPair: true,
    modifies: 1,
  },
  {
    name: 'key-pair (CreatePublicPrivateKeyPair ran, answer lost)',
    step: 'key-pair',
    hold: { method: 'CreatePublicPrivateKeyPair' },
    newKeyPair: true,
    modifies: 1,
  },
  {
    name: 'csr (GetClientCertificateSignRequest answered, lost)',
    step: 'csr',
    hold: { method: 'GetClientCertificateSignRequest', skip: 1 },
    modifies: 1,
  },
  { name: 'signing (waiting for a manual submission)', step: 'signing', manual: true, modifies: 1 },
  {
    name: 'install (ModifyKeyServerKmip ran, answer lost)',
    step: 'install',
    hold: { method: 'ModifyKeyServerKmip' },
    modifies: 1,
  },
  { name: 'install (TestKeyServerKmip answered, lost)', step: 'install', hold: { method: 'TestKeyServerKmip' }, modifies: 1 },
  { name: 'install (TestKeyProviderKmip answered, lost)', step: 'install', hold: { method: 'TestKeyProviderKmip' }, modifies: 1 },
  {
    name: 'install (putting the previous certificate back: ModifyKeyServerKmip ran, answer lost)',
    step: 'install',
    hold: { method: 'ModifyKeyServerKmip', skip: 1 },
    manual: true,
    untrustedFirst: true,
    // the untrusted certificate, the previous one put back, the good one after `change`
    modifies: 3,
  },
  {
    name: 'confirm (ListClusterFaults answered, lost)',
    step: 'confirm',
    hold: { method: 'ListClusterFaults', skip: 1 },
    modifies: 1,
  },
];

describe('renew runbook: worker SIGKILLed in each step', () => {
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let kmipCa: CertificateAuthority;
  beforeAll(async () => {
    temporal = await connectClient();
    kmipCa = await loadCertificateAuthority(testEnv().kmip.caPem, testEnv().kmip.caKeyPem);
  });
  afterAll(async () => temporal?.close());

  async function sign(csrPem: string, ca: CertificateAuthority): Promise<string> {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    return (await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] })).certificatePem;
  }

  it.each(CASES)('ends renewed after a kill during $name', async (crash) => {
    const name = `renew-crash-${CASES.indexOf(crash)}`;
    const harness: ClusterHarness = await startClusterHarness(name, {
      durations: { earTransitionMs: 200, tickMs: 50, injectedTimeoutHoldMs: 30_000 },
    });
    const taskQueue = uniqueTaskQueue(name);
    const spawnWorker = () =>
      spawnWorkerProcess({ taskQueue, clustersFile: harness.clustersFile, logDir: path.join(harness.dir, 'logs') });
    let worker: ManagedProcess = spawnWorker();
    try {
      const client = harness.client();
      const ids = await configureEkmByHand(client, {
        commonName: `${name}.example.test`,
        clientNotAfter: new Date(Date.now() + 10 * DAY),
      });
      await client.call('EnableEncryptionAtRest', { keyProviderID: ids.keyProviderID });
      await eventually(async () =>
        expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled'),
      );
      await eventually(async () =>
        expect(
          (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.some(
            (f) => f.code === 'kmipCertificateFault',
          ),
        ).toBe(true),
      );
      if (crash.untrustedFirst) await harness.sim.control.setModifyKeyServer('store');
      await harness.sim.control.resetCalls();
      if (crash.hold) {
        await harness.sim.control.setHttpFaults({
          rules: [{ kind: 'timeout', phase: 'after', methods: [crash.hold.method], remaining: 1, skip: crash.hold.skip }],
        });
      }
      const input: RenewInput = {
        cluster: harness.name,
        signer: crash.manual ? { type: 'manual' } : { type: 'cfssl', url: testEnv().cfssl.url },
        newKeyPair: crash.newKeyPair ?? false,
        acceptKeyPairWindow: crash.newKeyPair ?? false,
        testAttempts: crash.untrustedFirst ? 2 : 20,
        testRetryInterval: '300ms',
        activityTimeout: '6s',
        faultPollInterval: '200ms',
        resolveWindow: '60s',
      };
      const handle: WorkflowHandle = await startRunbook(temporal.client, 'renew', input, {
        taskQueue,
        workflowId: `${name}-${Date.now()}`,
      });
      const stranger = crash.untrustedFirst ? await createCertificateAuthority('a CA PyKMIP does not trust') : undefined;
      if (stranger) {
        // The untrusted certificate goes in; its tests fail, and the kill comes while the previous one goes back.
        const waiting = await eventually(async () => {
          const p = await handle.query(progressQuery.definition);
          expect(p.waiting?.kind).toBe('signed-certificate');
          return p.waiting!;
        }, 60_000);
        await handle.executeUpdate(submitCertificateUpdate.definition, {
          args: [{ certificatePem: await sign(waiting.csrPem!, stranger), caChainPem: stranger.certificatePem }],
        });
        await eventually(
          async () => {
            const held = await harness.sim.control.calls({ method: 'ModifyKeyServerKmip' });
            expect(held.filter((c) => c.injected?.phase === 'after')).toHaveLength(1);
          },
          60_000,
          50,
        );
      } else {
        // Wait until the cluster has run the held call (its answer is lost), or the step is under way.
        await eventually(
          async () => {
            if (crash.hold) {
              const held = await harness.sim.control.calls({ method: crash.hold.method });
              expect(held.some((c) => c.injected?.phase === 'after')).toBe(true);
            } else {
              const p = await handle.query(progressQuery.definition);
              expect(['running', 'waiting-for-input']).toContain(p.steps.find((s) => s.id === crash.step)!.state);
            }
          },
          60_000,
          50,
        );
      }
      // The held call is the step's own (the runbook still waits on it).
      if (crash.hold) expect((await handle.query(progressQuery.definition)).currentStep).toBe(crash.step);
      await new Promise((r) => setTimeout(r, 500));
      await worker.kill();
      await harness.sim.control.clearHttpFaults();
      worker = spawnWorker();

      if (crash.manual) {
        const waiting = await eventually(async () => {
          const p = await handle.query(progressQuery.definition);
          expect(crash.untrustedFirst ? p.waiting?.step : p.waiting?.kind).toBe(
            crash.untrustedFirst ? 'install' : 'signed-certificate',
          );
          return p.waiting!;
        }, 60_000);
        if (crash.untrustedFirst) {
          // The previous certificate is back before the runbook asks; the good one comes with `change`.
          const server = (await client.call('GetKeyServerKmip', { keyServerID: ids.keyServerID })).kmipKeyServer;
          expect(new x509.X509Certificate(server.kmipClientCertificate).issuer).toBe(kmipCa.certificate.subject);
          const { csrPem } = await handle.query(progressQuery.definition);
          await handle.executeUpdate(answerUpdate.definition, {
            args: [
              {
                action: 'change',
                clientCertificate: { certificatePem: await sign(csrPem!, kmipCa), caChainPem: testEnv().kmip.caPem },
              },
            ],
          });
        } else {
          await handle.executeUpdate(submitCertificateUpdate.definition, {
            args: [{ certificatePem: await sign(waiting.csrPem!, kmipCa), caChainPem: testEnv().kmip.caPem }],
          });
        }
      }

      const result = (await handle.result()) as RenewResult;
      expect(result.keyPair).toBe(crash.newKeyPair ? 'replaced' : 'kept');
      const server = (await client.call('GetKeyServerKmip', { keyServerID: ids.keyServerID })).kmipKeyServer;
      expect(new x509.X509Certificate(server.kmipClientCertificate).notAfter.toISOString()).toBe(result.renewed.notAfter);
      await client.call('TestKeyServerKmip', { keyServerID: ids.keyServerID });
      await eventually(async () =>
        expect(
          (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.filter(
            (f) => f.code === 'kmipCertificateFault',
          ),
        ).toEqual([]),
      );

      // The call log: every ModifyKeyServerKmip that reached the cluster, and no key pair made twice.
      const calls = await harness.sim.control.calls();
      const modifies = calls.filter((c) => c.method === 'ModifyKeyServerKmip' && c.executed);
      expect([crash.name, modifies.length]).toEqual([crash.name, crash.modifies]);
      const applied = modifies.map((c) => (c.params as { kmipClientCertificate?: string }).kmipClientCertificate);
      expect(new Set(applied).size).toBe(applied.length);
      expect(calls.filter((c) => c.method === 'CreatePublicPrivateKeyPair' && c.executed)).toHaveLength(crash.newKeyPair ? 1 : 0);
      if (crash.hold) {
        // The held call really did run on the cluster before the worker died.
        expect(calls.some((c) => c.method === crash.hold!.method && c.injected?.phase === 'after' && c.executed)).toBe(true);
      }
      // Worker processes that died mid-step leave no secret in history either.
      const history = await historyText(temporal.client, handle.workflowId);
      expect(history).not.toContain('PRIVATE KEY');
      expect(history.includes(harness.password)).toBe(false);
    } finally {
      await worker.stop();
      await harness.stop();
    }
  });
});
