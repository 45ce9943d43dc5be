import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { RunbookEvent } from '../../src/notify/notifier';
import { issueCertificate, loadCertificateAuthority, createCertificateAuthority } from '../../src/pki/authority';
import { generateRsaKeyPair } from '../../src/pki/keys';
import { x509 } from '../../src/pki/x509';
import { answerUpdate, progressQuery, submitCertificateUpdate, type RunbookProgress } from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import type { SetupResult } from '../../workflows/setup';
import type { ClusterRegistry } from '../../src/config/clusters';
import { shapes } from '../support/certificates';
import { runCli } from '../support/cli';
import { historyText } from '../support/history';
import { addKmipCheckIdentity, kmipKeyExists, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { startRunbook } from '../support/start';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const FAST_POLL = { initialInterval: 200, maxInterval: 500, attemptWindow: 20_000 };
const DAY = 86_400_000;

describe('setup runbook (real Temporal, simulator, PyKMIP, cfssl)', () => {
  const taskQueue = uniqueTaskQueue('setup');
  const harnesses: ClusterHarness[] = [];
  const events: RunbookEvent[] = [];
  const workflowIds: string[] = [];
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  async function cluster(name: string, softwareEncryptionAtRest = false): Promise<ClusterHarness> {
    const harness = await startClusterHarness(name, {
      softwareEncryptionAtRest,
      durations: { earTransitionMs: 800, rekeyMs: 1000, tickMs: 50 },
    });
    harnesses.push(harness);
    return harness;
  }

  // One worker serves every cluster of this file; their registry entries are added as they are created.
  const registry: ClusterRegistry = { clusters: {}, signers: {} };

  beforeAll(async () => {
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async (e) => void events.push(e) } });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await Promise.all(harnesses.map((h) => h.stop()));
  });

  function register(harness: ClusterHarness) {
    Object.assign(registry.clusters, harness.registry.clusters);
  }

  function input(harness: ClusterHarness, overrides: Partial<SetupInput> = {}): SetupInput {
    const kmip = testEnv().kmip;
    return {
      cluster: harness.name,
      subject: { commonName: `${harness.name}.example.test`, organization: 'EKM tests', country: 'US' },
      keyProviderName: 'kmip-provider',
      keyServerName: 'kmip-server',
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'none',
      signer: { type: 'cfssl', url: testEnv().cfssl.url },
      testAttempts: 2,
      testRetryInterval: '200ms',
      questionReminderEvery: '1h',
      polling: FAST_POLL,
      ...overrides,
    };
  }

  async function start(harness: ClusterHarness, overrides: Partial<SetupInput> = {}): Promise<WorkflowHandle> {
    register(harness);
    const workflowId = `setup-${harness.name}-${Date.now()}`;
    workflowIds.push(workflowId);
    return startRunbook(temporal.client, 'setup', input(harness, overrides), { taskQueue, workflowId });
  }

  const progress = (h: WorkflowHandle) => h.query(progressQuery.definition);
  async function waitingFor(h: WorkflowHandle, step: string): Promise<RunbookProgress> {
    return eventually(
      async () => {
        const p = await progress(h);
        expect(p.waiting?.step).toBe(step);
        return p;
      },
      60_000,
      200,
    );
  }
  const calls = async (harness: ClusterHarness, method: string) => (await harness.sim.control.calls({ method })).length;
  /** What an abort or cancel leaves: nothing of this run's on the cluster. */
  async function expectNoKeyServerOrProvider(harness: ClusterHarness): Promise<void> {
    const client = harness.client();
    expect((await client.call('ListKeyServersKmip', {})).kmipKeyServers).toEqual([]);
    expect((await client.call('ListKeyProvidersKmip', {})).kmipKeyProviders).toEqual([]);
  }

  /** The CA's side of manual signing: a client certificate for the CSR's key, from the KMIP test CA. */
  async function signAsTheCa(csrPem: string, overrides: Partial<Parameters<typeof issueCertificate>[1]> = {}) {
    const kmip = testEnv().kmip;
    const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    return (await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'], ...overrides }))
      .certificatePem;
  }

  it('sets up hardware encryption, signed by hand through the CLI', async () => {
    const harness = await cluster('setup-hw');
    register(harness);
    const dir = harness.dir;
    fs.writeFileSync(path.join(dir, 'kmip-ca.pem'), testEnv().kmip.caPem);
    const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: harness.clustersFile };
    const kmip = testEnv().kmip;
    const started = await runCli(
      [
        'setup',
        harness.name,
        '--cn',
        'setup-hw.example.test',
        '--org',
        'EKM tests',
        '--country',
        'US',
        '--provider-name',
        'kmip-provider',
        '--server-name',
        'kmip-server',
        '--hostname',
        kmip.host,
        '--port',
        String(kmip.port),
        '--kmip-ca',
        path.join(dir, 'kmip-ca.pem'),
        '--mode',
        'hardware',
        '--test-attempts',
        '2',
        '--test-interval',
        '200ms',
      ],
      env,
    );
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    const workflowId = `ekm-setup-${harness.name}`;
    workflowIds.push(workflowId);
    const handle = temporal.client.workflow.getHandle(workflowId);
    await waitingFor(handle, 'signing');

    const csrFile = path.join(dir, 'cluster.csr');
    const csr = await runCli(['csr', workflowId, '--out', csrFile], env);
    expect(csr.code).toBe(0);
    const csrPem = fs.readFileSync(csrFile, 'utf8');
    expect(csrPem).toContain('-----BEGIN CERTIFICATE REQUEST-----');
    fs.writeFileSync(path.join(dir, 'signed.pem'), await signAsTheCa(csrPem));

    const status = await runCli(['status', workflowId], env);
    expect(status.stdout).toContain(`ekm submit-cert ${workflowId}`);
    const submitted = await runCli(
      ['submit-cert', workflowId, '--cert', path.join(dir, 'signed.pem'), '--ca', path.join(dir, 'kmip-ca.pem')],
      env,
    );
    expect(submitted.stderr).toBe('');
    expect(submitted.stdout).toContain('accepted: CN=setup-hw.example.test');

    const result = (await handle.result()) as SetupResult;
    expect(result.mode).toBe('hardware');
    expect(result.encryptionAtRestState).toBe('enabled');
    const client = harness.client();
    const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip', {});
    const { kmipKeyServers } = await client.call('ListKeyServersKmip', {});
    expect(kmipKeyProviders).toHaveLength(1);
    expect(kmipKeyProviders[0]).toMatchObject({
      keyProviderID: result.keyProviderID,
      keyProviderIsActive: true,
      keyServerIDs: [result.keyServerID],
    });
    expect(kmipKeyServers).toHaveLength(1);
    expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled');
    for (const method of [
      'CreatePublicPrivateKeyPair',
      'CreateKeyProviderKmip',
      'CreateKeyServerKmip',
      'EnableEncryptionAtRest',
    ]) {
      expect([method, await calls(harness, method)]).toEqual([method, 1]);
    }
    expect((await progress(handle)).answers).toEqual([
      expect.objectContaining({ action: 'submit-certificate', outcome: 'accepted' }),
    ]);
  });

  it('moves a software-encryption cluster to the external provider, signed by cfssl', async () => {
    const harness = await cluster('setup-sw', true);
    await addKmipCheckIdentity(harness, 'setup-sw.example.test');
    const handle = await start(harness, { mode: 'software' });
    const result = (await handle.result()) as SetupResult;
    expect(result.masterKey?.keyManagementType).toBe('external');
    expect(result.masterKey?.keyProviderID).toBe(result.keyProviderID);
    expect(result.certificate?.subject).toContain('CN=setup-sw.example.test');
    const sear = await harness.client().call('GetSoftwareEncryptionAtRestInfo');
    expect(sear.masterKeyInfo).toMatchObject({
      keyManagementType: 'external',
      keyProviderID: result.keyProviderID,
      keyID: result.masterKey?.keyID,
    });
    expect(await kmipKeyExists('setup-sw.example.test', result.masterKey!.keyID)).toBe(true);
    // The worker found the key on the key server itself (kmipCheck identity), by its x-SolidFire-KeyID attribute.
    expect(result.kmipCheck).toMatchObject({
      checked: true,
      keyAttribute: { name: `x-SolidFire-KeyID-${result.masterKey!.keyID}`, value: result.masterKey!.keyID },
    });
    const { kmipKeyProviders } = await harness.client().call('ListKeyProvidersKmip', {});
    expect(kmipKeyProviders).toEqual([
      expect.objectContaining({ keyProviderIsActive: true, keyServerIDs: [result.keyServerID] }),
    ]);
    expect((await harness.client().call('ListKeyServersKmip', {})).kmipKeyServers).toHaveLength(1);
  });

  it('signs through a command named in the clusters file, whose certificate passes the same checks', async () => {
    // The signing commands: openssl acting as the CA, one issuing for a year, one for 10 days (refused: under 30).
    const kmip = testEnv().kmip;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-signer-'));
    const caFile = path.join(dir, 'ca.pem');
    const caKeyFile = path.join(dir, 'ca-key.pem');
    const extFile = path.join(dir, 'client.ext');
    fs.writeFileSync(caFile, kmip.caPem);
    fs.writeFileSync(caKeyFile, kmip.caKeyPem, { mode: 0o600 });
    fs.writeFileSync(extFile, 'extendedKeyUsage = clientAuth\nkeyUsage = digitalSignature, keyEncipherment\n');
    const opensslCa = (days: number) => ({
      command: ['openssl', 'x509', '-req', '-CA', caFile, '-CAkey', caKeyFile, '-days', String(days), '-extfile', extFile],
      caBundle: caFile,
      timeoutMs: 30_000,
    });
    registry.signers['openssl-ca'] = opensslCa(365);
    registry.signers['short-lived-ca'] = opensslCa(10);
    try {
      const harness = await cluster('setup-cmd');
      const handle = await start(harness, { signer: { type: 'command', name: 'openssl-ca' } });
      const result = (await handle.result()) as SetupResult;
      expect(result.certificate?.subject).toContain('CN=setup-cmd.example.test');
      const { kmipKeyServers } = await harness.client().call('ListKeyServersKmip', {});
      expect(new x509.X509Certificate(kmipKeyServers[0]!.kmipClientCertificate).issuer).toBe(
        new x509.X509Certificate(kmip.caPem).subject,
      );

      const refused = await cluster('setup-cmd-short');
      const short = await start(refused, { signer: { type: 'command', name: 'short-lived-ca' } });
      const waiting = await waitingFor(short, 'signing');
      // The signer's certificate is refused: the runbook waits for one signed another way (or retry, abort).
      expect(waiting.waiting?.kind).toBe('signed-certificate');
      expect(waiting.waiting?.answers).toEqual(['retry', 'abort']);
      expect(waiting.waiting?.problem).toMatch(/30 days/);
      expect(await calls(refused, 'CreateKeyServerKmip')).toBe(0);
      await short.executeUpdate(answerUpdate.definition, {
        args: [{ action: 'abort', reason: 'CA profile too short', by: 'test' }],
      });
      await expect(short.result()).rejects.toThrow();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('software: a new key the key server does not have makes it ask; "retry" re-checks this rekey, never starts another', async () => {
    const harness = await cluster('setup-sw-check', true);
    const check = await addKmipCheckIdentity(harness, 'setup-sw-check.example.test');
    // The explicit override: an attribute value the cluster did not use stands for a key that is not on the server.
    check.keyAttribute = { name: 'x-SolidFire-KeyID-{keyID}', value: 'elsewhere' };
    const handle = await start(harness, { mode: 'software' });
    const waiting = await waitingFor(handle, 'enable');
    expect(waiting.waiting?.problem).toContain('KeyNotOnKmipServer');
    expect(await calls(harness, 'RekeySoftwareEncryptionAtRestMasterKey')).toBe(1);

    check.keyAttribute = undefined;
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'retry', by: 'on-call' }] });
    const result = (await handle.result()) as SetupResult;
    expect(result.kmipCheck).toMatchObject({ checked: true });
    expect(await calls(harness, 'RekeySoftwareEncryptionAtRestMasterKey')).toBe(1);
    expect((await harness.client().call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo?.keyID).toBe(result.masterKey?.keyID);
  });

  it('rejects each bad certificate with its reason and keeps waiting, the cluster untouched', async () => {
    const harness = await cluster('setup-badcert');
    const handle = await start(harness, { signer: { type: 'manual' } });
    const waiting = await waitingFor(handle, 'signing');
    const csrPem = waiting.waiting!.csrPem!;
    const caPem = testEnv().kmip.caPem;
    const otherCa = await createCertificateAuthority('Not The Right CA');
    const stranger = await generateRsaKeyPair();
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const now = Date.now();
    const cases: Array<[string, string, string, string]> = [
      ['not PEM', 'just some text', caPem, '--cert: is not a certificate'],
      ['a CSR', csrPem, caPem, '--cert: is a certificate signing request (CSR), not a certificate'],
      ['another key', await signAsTheCa(csrPem, { publicKey: stranger.publicKey }), caPem, "its public key is not the cluster's"],
      ['not yet valid', await signAsTheCa(csrPem, { notBefore: new Date(now + DAY) }), caPem, 'not valid yet'],
      [
        'expired',
        await signAsTheCa(csrPem, { notBefore: new Date(now - 9 * DAY), notAfter: new Date(now - DAY) }),
        caPem,
        'expired on',
      ],
      ['expiring soon', await signAsTheCa(csrPem, { notAfter: new Date(now + 10 * DAY) }), caPem, 'expires within 30 days'],
      [
        'another CA',
        (await issueCertificate(otherCa, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] })).certificatePem,
        caPem,
        'is not in the CA bundle: include the intermediate',
      ],
      ['no clientAuth', await signAsTheCa(csrPem, { usages: ['server'] }), caPem, 'no clientAuth extended key usage'],
    ];
    for (const [name, certificatePem, caChainPem, reason] of cases) {
      const failure = await handle
        .executeUpdate(submitCertificateUpdate.definition, { args: [{ certificatePem, caChainPem }] })
        .catch((e: unknown) => e);
      expect([name, failure]).toEqual([name, expect.any(WorkflowUpdateFailedError)]);
      expect([name, rootMessage(failure)]).toEqual([name, expect.stringContaining(reason)]);
    }
    const after = await progress(handle);
    expect(after.waiting?.kind).toBe('signed-certificate');
    expect(after.answers.filter((a) => a.outcome === 'rejected')).toHaveLength(cases.length);
    for (const method of ['CreateKeyProviderKmip', 'CreateKeyServerKmip', 'ModifyKeyServerKmip'])
      expect(await calls(harness, method)).toBe(0);

    // A refused answer (not offered now) leaves nothing in history; abort is offered and ends the run.
    await expect(handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'retry' }] })).rejects.toThrow();
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'abort', reason: 'wrong cluster', by: 'test' }] });
    const failure = await handle.result().catch((e: unknown) => e);
    expect(rootType(failure)).toBe('RunbookAborted');
    expect((await progress(handle)).state).toBe('cancelled');
  });

  it('waits for a person when the key server test keeps failing, and goes on after "retry"', async () => {
    const harness = await cluster('setup-retry');
    await harness.sim.control.makeUnreachable(testEnv().kmip.host);
    const handle = await start(harness);
    const waiting = await waitingFor(handle, 'test-server');
    expect(waiting.waiting?.answers).toEqual(['retry', 'change', 'abort']);
    expect(waiting.waiting?.problem).toMatch(/xKmip\w+/);
    expect(waiting.steps.find((s) => s.id === 'test-server')?.attempts).toBe(1);
    await eventually(async () =>
      expect(events.some((e) => e.kind === 'waiting-for-input' && e.cluster === harness.name && e.step === 'test-server')).toBe(
        true,
      ),
    );
    await harness.sim.control.makeReachable(testEnv().kmip.host);
    const accepted = await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'retry', by: 'on-call' }] });
    expect(accepted.step).toBe('test-server');
    const result = (await handle.result()) as SetupResult;
    expect(result.keyServerAction).toBe('created');
    const final = await progress(handle);
    expect(final.steps.find((s) => s.id === 'test-server')).toMatchObject({ state: 'done', attempts: 2 });
    expect(final.answers).toEqual([expect.objectContaining({ action: 'retry', by: 'on-call', outcome: 'accepted' })]);
  });

  it('asks a person when enabling keeps failing (the cluster cannot create its key), and goes on after "retry"', async () => {
    const harness = await cluster('setup-enable-retry');
    const failure = { name: 'xKmipConnectionFailure', message: 'Unable to connect to the key server to create the key.' };
    await harness.sim.control.setHttpFaults({ rules: [{ kind: 'error', methods: ['EnableEncryptionAtRest'], error: failure }] });
    const handle = await start(harness, { mode: 'hardware' });
    const waiting = await waitingFor(handle, 'enable');
    expect(waiting.waiting?.answers).toEqual(['retry', 'change', 'abort']);
    expect(waiting.waiting?.problem).toContain('xKmipConnectionFailure');
    // Retried on the test budget (testAttempts: 2) before asking; the cluster never enabled anything.
    expect(await calls(harness, 'EnableEncryptionAtRest')).toBe(2);
    expect((await harness.client().call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('disabled');

    await harness.sim.control.clearHttpFaults();
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'retry', by: 'on-call' }] });
    const result = (await handle.result()) as SetupResult;
    expect(result.encryptionAtRestState).toBe('enabled');
    expect((await progress(handle)).steps.find((s) => s.id === 'enable')).toMatchObject({ state: 'done', attempts: 2 });
  });

  it('signed by a CA the key server does not trust: "change" with a new client certificate (ekm answer) fixes it', async () => {
    const harness = await cluster('setup-wrong-ca');
    const handle = await start(harness, { signer: { type: 'manual' } });
    const { waiting } = await waitingFor(handle, 'signing');
    const csr = new x509.Pkcs10CertificateRequest(waiting!.csrPem!);
    // The CA team signed with their own CA: the certificate passes the checks, but PyKMIP does not trust that CA.
    const wrongCa = await createCertificateAuthority('Some Other Issuing CA');
    const wrong = await issueCertificate(wrongCa, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] });
    await handle.executeUpdate(submitCertificateUpdate.definition, {
      args: [{ certificatePem: wrong.certificatePem, caChainPem: wrongCa.certificatePem }],
    });
    const failing = await waitingFor(handle, 'test-server');
    expect(failing.waiting?.prompt).toContain('the client certificate');
    expect(failing.waiting?.prompt).toMatch(/^step 2b \(TestKeyServerKmip\) keeps failing\. /);

    const dir = harness.dir;
    const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: harness.clustersFile };
    const answer = (certificatePem: string | Buffer, caPem: string | Buffer) => {
      fs.writeFileSync(path.join(dir, 'client.pem'), certificatePem);
      fs.writeFileSync(path.join(dir, 'client-ca.pem'), caPem);
      return runCli(
        [
          'answer',
          handle.workflowId,
          'change',
          '--client-cert',
          path.join(dir, 'client.pem'),
          '--client-ca',
          path.join(dir, 'client-ca.pem'),
        ],
        env,
      );
    };
    // A certificate for another key is refused by the same checks; the runbook asks again, the old one kept.
    const stranger = await generateRsaKeyPair();
    expect(
      (await answer(await signAsTheCa(waiting!.csrPem!, { publicKey: stranger.publicKey }), testEnv().kmip.caPem)).code,
    ).toBe(0);
    const again = await eventually(async () => {
      const p = await progress(handle);
      expect(p.notes.join('\n')).toContain("client certificate refused: --client-cert: its public key is not the cluster's");
      expect(p.waiting?.step).toBe('test-server');
      return p;
    }, 30_000);
    expect(again.answers.map((a) => a.action)).toEqual(['submit-certificate', 'change']);

    // The CA team's files as AD CS hands them out: the certificate as DER (.cer), the CA as a PKCS#7 bundle (.p7b).
    const rightPem = await signAsTheCa(waiting!.csrPem!);
    const right = await answer(shapes.der(rightPem), shapes.pkcs7([testEnv().kmip.caPem], 'der'));
    expect(right.stderr).toBe('');
    expect(right.stdout).toContain('change accepted for step test-server');
    const result = (await handle.result()) as SetupResult;
    expect(result.certificate?.subject).toContain('CN=setup-wrong-ca.example.test');
    const { kmipKeyServers } = await harness.client().call('ListKeyServersKmip', {});
    expect(new x509.X509Certificate(kmipKeyServers[0]!.kmipClientCertificate).issuer).toBe(
      new x509.X509Certificate(testEnv().kmip.caPem).subject,
    );
    expect(await calls(harness, 'ModifyKeyServerKmip')).toBe(1);
    // What the cluster got is the clean PEM of the DER file: one block, LF only.
    const [modify] = await harness.sim.control.calls({ method: 'ModifyKeyServerKmip' });
    expect((modify!.params as { kmipClientCertificate: string }).kmipClientCertificate).toBe(`${rightPem.trim()}\n`);
    expect((await progress(handle)).notes.join('\n')).toContain('client certificate replaced');
  });

  it('updates the key server in place when the operator changes its port', async () => {
    const harness = await cluster('setup-change');
    const handle = await start(harness, { port: 1 });
    await waitingFor(handle, 'test-server');
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'change', port: testEnv().kmip.port }] });
    const result = (await handle.result()) as SetupResult;
    expect(result.keyServerAction).toBe('updated');
    const { kmipKeyServers } = await harness.client().call('ListKeyServersKmip', {});
    expect(kmipKeyServers).toEqual([
      expect.objectContaining({ keyServerID: result.keyServerID, kmipKeyServerPort: testEnv().kmip.port }),
    ]);
    expect(await calls(harness, 'CreateKeyServerKmip')).toBe(1);
    expect(await calls(harness, 'ModifyKeyServerKmip')).toBe(1);
  });

  it('removes the server and provider it created when aborted', async () => {
    const harness = await cluster('setup-abort');
    await harness.sim.control.makeUnreachable(testEnv().kmip.host);
    const handle = await start(harness);
    await waitingFor(handle, 'test-server');
    await handle.executeUpdate(answerUpdate.definition, {
      args: [{ action: 'abort', reason: 'key server not ready this week', by: 'ops' }],
    });
    const failure = await handle.result().catch((e: unknown) => e);
    expect(rootMessage(failure)).toBe('aborted by ops: key server not ready this week');
    await expectNoKeyServerOrProvider(harness);
    const final = await progress(handle);
    expect(final.state).toBe('cancelled');
    expect(final.notes.join('\n')).toMatch(/abort: removed key server \d+ "kmip-server"/);
    expect(final.notes.join('\n')).toMatch(/abort: removed key provider \d+ "kmip-provider"/);
  });

  it("removes them on abort even when the creates' answers were lost and the retries found them by name", async () => {
    const harness = await cluster('setup-abort-lost');
    await harness.sim.control.setDurations({ injectedTimeoutHoldMs: 10_000 });
    // The cluster creates each, then its answer never reaches the worker: the activity times out and its retry finds the object.
    await harness.sim.control.setHttpFaults({
      rules: [{ kind: 'timeout', phase: 'after', methods: ['CreateKeyProviderKmip', 'CreateKeyServerKmip'], remaining: 2 }],
    });
    await harness.sim.control.makeUnreachable(testEnv().kmip.host);
    const handle = await start(harness, { activityTimeout: '3s' });
    await waitingFor(handle, 'test-server');
    const lost = (await harness.sim.control.calls()).filter((c) => c.injected?.phase === 'after' && c.executed);
    expect(lost.map((c) => c.method)).toEqual(['CreateKeyProviderKmip', 'CreateKeyServerKmip']);
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'abort', reason: 'wrong CA', by: 'ops' }] });
    await expect(handle.result()).rejects.toThrow();
    await expectNoKeyServerOrProvider(harness);
    expect(await calls(harness, 'CreateKeyProviderKmip')).toBe(1);
    expect(await calls(harness, 'CreateKeyServerKmip')).toBe(1);
  });

  it('cleans up the same way when cancelled (ekm cancel)', async () => {
    const harness = await cluster('setup-cancel');
    await harness.sim.control.makeUnreachable(testEnv().kmip.host);
    const handle = await start(harness);
    await waitingFor(handle, 'test-server');
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    await expectNoKeyServerOrProvider(harness);
    expect((await progress(handle)).state).toBe('cancelled');
    // The cluster lock was released: another setup may start at once.
    const next = await start(harness, { keyProviderName: 'other', keyServerName: 'other', ifBusy: 'fail' });
    await waitingFor(next, 'test-server');
    await next.cancel();
  });

  it('asks to extend or abort at the signing deadline, reminding meanwhile', async () => {
    const harness = await cluster('setup-deadline');
    const handle = await start(harness, { signer: { type: 'manual' }, signingDeadline: '1500ms', reminderEvery: '500ms' });
    const pastDeadline = await eventually(
      async () => {
        const p = await progress(handle);
        expect(p.waiting?.answers).toEqual(['extend', 'abort']);
        return p;
      },
      30_000,
      200,
    );
    expect(pastDeadline.notes.some((n) => n.includes('reminder'))).toBe(true);
    await eventually(async () => expect(events.some((e) => e.kind === 'escalated' && e.cluster === harness.name)).toBe(true));
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'extend', extendBy: '1h', by: 'ops' }] });
    const extended = await waitingFor(handle, 'signing');
    expect(extended.waiting?.answers).toEqual(['abort']);
    expect(Date.parse(extended.waiting!.deadline!) - Date.now()).toBeGreaterThan(50 * 60_000);
    await handle.executeUpdate(submitCertificateUpdate.definition, {
      args: [{ certificatePem: await signAsTheCa(extended.waiting!.csrPem!), caChainPem: testEnv().kmip.caPem }],
    });
    const result = (await handle.result()) as SetupResult;
    expect(result.keyProviderID).toBeGreaterThan(0);
  });

  it('refuses to replace a key pair that active key servers use, unless asked; a finished setup is recognized', async () => {
    const harness = await cluster('setup-inuse');
    await (await start(harness, { mode: 'hardware' })).result();
    const again = await (await start(harness, { mode: 'hardware' })).result();
    expect((again as SetupResult).alreadySetUp).toBe(true);
    expect(await calls(harness, 'CreatePublicPrivateKeyPair')).toBe(1);

    const other = await start(harness, { mode: 'none', keyProviderName: 'second', keyServerName: 'second' });
    const failure = await other.result().catch((e: unknown) => e);
    expect(rootType(failure)).toBe('KeyServersInUse');
    expect(rootMessage(failure)).toContain('Start the setup with an explicit request for a new key pair');
    expect(await calls(harness, 'CreatePublicPrivateKeyPair')).toBe(1);
  });

  it('set up again, keeps the key pair and the certificate that still serve it (no new CA round), unless the name changes', async () => {
    const harness = await cluster('setup-again');
    const first = (await (await start(harness, { mode: 'none' })).result()) as SetupResult;
    expect(await calls(harness, 'CreatePublicPrivateKeyPair')).toBe(1);

    // Another common name: a new identity, so a new key pair and a new signature.
    const renamed = { commonName: 'setup-again-2.example.test' };
    const second = (await (await start(harness, { mode: 'none', subject: renamed })).result()) as SetupResult;
    expect(await calls(harness, 'CreatePublicPrivateKeyPair')).toBe(2);
    expect(second.keyFingerprint).not.toBe(first.keyFingerprint);

    // Same name, now enabling: the key server's certificate still serves the current key pair.
    const handle = await start(harness, { mode: 'hardware', subject: renamed });
    const third = (await handle.result()) as SetupResult;
    expect(await calls(harness, 'CreatePublicPrivateKeyPair')).toBe(2);
    expect(await calls(harness, 'GetClientCertificateSignRequest')).toBeGreaterThan(0);
    expect(third.keyFingerprint).toBe(second.keyFingerprint);
    expect(third.certificate?.fingerprint).toBe(second.certificate?.fingerprint);
    expect(third.keyServerAction).toBe('unchanged');
    expect(third.encryptionAtRestState).toBe('enabled');
    const steps = (await progress(handle)).steps;
    expect(steps.filter((s) => ['key-pair', 'csr', 'signing'].includes(s.id)).map((s) => s.state)).toEqual([
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(steps.find((s) => s.id === 'signing')?.detail).toContain('CN=setup-again-2.example.test');
  });

  it('keeps secrets out of every history: no admin password, no private key', async () => {
    expect(workflowIds.length).toBeGreaterThan(5);
    const privateKeys = harnesses.map((h) => {
      const state = JSON.parse(fs.readFileSync(h.sim.stateFile, 'utf8')) as { keyPair?: { privateKeyPem?: string } };
      return state.keyPair?.privateKeyPem?.split('\n')[1];
    });
    // The worker's own kmipCheck identity key, read by an activity, must stay out too.
    const checkKeys = harnesses.flatMap((h) => {
      const file = path.join(h.dir, 'kmip-check.key');
      return fs.existsSync(file) ? [fs.readFileSync(file, 'utf8').split('\n')[1]!] : [];
    });
    expect(checkKeys.length).toBeGreaterThan(0);
    privateKeys.push(...checkKeys);
    for (const id of workflowIds) {
      const decoded = await historyText(temporal.client, id);
      expect(decoded).toContain('BEGIN CERTIFICATE');
      expect(decoded).not.toContain('PRIVATE KEY');
      for (const h of harnesses) expect(decoded.includes(h.password)).toBe(false);
      for (const line of privateKeys) if (line) expect(decoded.includes(line)).toBe(false);
    }
  });
});
