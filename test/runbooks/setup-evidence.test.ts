/**
 * Setup against what real clusters answer (docs/element-api.md, evidence table), end to end: the
 * cluster's CSR has version field 2, and the manual path takes a certificate signed from it (cfssl
 * and the command signer are exercised by setup.test.ts on the same CSR); an Element demo VM
 * answers EnableEncryptionAtRest with xAPINotPermitted "Encryption is not supported on demo
 * nodes.", which ends the run at once with those words: nothing a person answers can change it; a
 * key provider holds one key server, so setup never attaches a second.
 * Real Temporal, the simulator, the extended PyKMIP.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { issueCertificate, loadCertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import { progressQuery, submitCertificateUpdate } from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const DEMO_NODE_ANSWER = 'Encryption is not supported on demo nodes.';

/** The version INTEGER at the start of a CSR's CertificationRequestInfo. */
function csrVersion(pem: string): number {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const header = (offset: number) => (der[offset + 1]! & 0x80 ? 2 + (der[offset + 1]! & 0x7f) : 2);
  const info = header(0);
  return der[info + header(info) + 2]!;
}

describe('setup on an Element demo node', () => {
  const taskQueue = uniqueTaskQueue('setup-demo-node');
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    harness = await startClusterHarness('setup-demo-node', { demoNode: true, durations: { earTransitionMs: 300, tickMs: 50 } });
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry });
  });

  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });

  it("signs the version-2 CSR by hand, then fails at enable with the cluster's words, asking nobody", async () => {
    const kmip = testEnv().kmip;
    const input: SetupInput = {
      cluster: harness.name,
      subject: { commonName: 'setup-demo-node.example.test', organization: 'EKM tests', country: 'US' },
      keyProviderName: 'kmip-provider',
      keyServerName: 'kmip-server',
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'hardware',
      signer: { type: 'manual' },
      testAttempts: 3,
      testRetryInterval: '200ms',
      polling: { initialInterval: 200, maxInterval: 500, attemptWindow: 20_000 },
    };
    const handle = await startRunbook(temporal.client, 'setup', input, { taskQueue, workflowId: `setup-demo-${Date.now()}` });

    // The manual path: the CSR the runbook shows is the cluster's version-2 CSR; a certificate signed from it is accepted.
    const csrPem = await eventually(
      async () => {
        const p = await handle.query(progressQuery.definition);
        expect(p.waiting?.kind).toBe('signed-certificate');
        return p.waiting!.csrPem!;
      },
      60_000,
      200,
    );
    expect(csrVersion(csrPem)).toBe(2);
    const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const signed = await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] });
    const accepted = await handle.executeUpdate(submitCertificateUpdate.definition, {
      args: [{ certificatePem: signed.certificatePem, caChainPem: kmip.caPem }],
    });
    expect(accepted.subject).toContain('CN=setup-demo-node.example.test');

    const failure = await handle.result().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootType(failure)).toBe('xAPINotPermitted');
    expect(rootMessage(failure)).toBe(`EnableEncryptionAtRest: ${DEMO_NODE_ANSWER}`);

    const progress = await handle.query(progressQuery.definition);
    expect(progress.state).toBe('failed');
    expect(progress.error).toBe(`xAPINotPermitted: EnableEncryptionAtRest: ${DEMO_NODE_ANSWER}`);
    expect(progress.steps.find((s) => s.id === 'enable')).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: `xAPINotPermitted: EnableEncryptionAtRest: ${DEMO_NODE_ANSWER}`,
    });
    expect(progress.steps.find((s) => s.id === 'test-provider')?.state).toBe('done');
    // Asked nobody after signing, and tried once: the answer is permanent.
    expect(progress.waiting).toBeUndefined();
    expect(progress.answers.map((a) => a.action)).toEqual(['submit-certificate']);
    expect(await harness.sim.control.calls({ method: 'EnableEncryptionAtRest' })).toHaveLength(1);
    expect((await harness.client().call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('disabled');
  });
});

describe('setup with a key provider that already holds another key server', () => {
  const taskQueue = uniqueTaskQueue('setup-second-server');
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    harness = await startClusterHarness('setup-second-server', { durations: { tickMs: 50 } });
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry });
  });

  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });

  it('refuses at the precheck, naming the server there, and attaches nothing', async () => {
    const kmip = testEnv().kmip;
    const existing = await configureEkmByHand(harness.client(), {
      providerName: 'kmip-provider',
      serverName: 'first-server',
      commonName: 'setup-second-server.example.test',
    });
    const attachesBefore = (await harness.sim.control.calls({ method: 'AddKeyServerToProviderKmip' })).length;
    const input: SetupInput = {
      cluster: harness.name,
      subject: { commonName: 'setup-second-server.example.test' },
      keyProviderName: 'kmip-provider',
      keyServerName: 'second-server',
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'none',
      signer: { type: 'cfssl', url: testEnv().cfssl.url },
    };
    const run = await startRunbook(temporal.client, 'setup', input, { taskQueue, workflowId: `setup-second-${Date.now()}` });
    const failure = await run.result().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootType(failure)).toBe('KeyProviderHasOtherServer');
    expect(rootMessage(failure)).toBe(
      `key provider ${existing.keyProviderID} "kmip-provider" already holds key server ${existing.keyServerID}, and a provider holds ` +
        "only one: set up with that server's name (a clustered key server is one server with several hostnames), or remove it " +
        'from the provider first; key server "second-server" was not attached',
    );
    expect((await harness.sim.control.calls({ method: 'AddKeyServerToProviderKmip' })).length).toBe(attachesBefore);
    expect(await harness.sim.control.calls({ method: 'CreatePublicPrivateKeyPair' })).toHaveLength(1);
  });
});
