/**
 * The renew runbook on the simulator with the real PyKMIP and cfssl: a client certificate that
 * expires in 10 days raises kmipCertificateFault; `ekm renew` with cfssl and with a manual
 * submission installs a new certificate for the same key pair, the tests pass and the fault
 * resolves; a certificate the key server does not trust is taken back before the runbook asks
 * (and a cluster that refuses it keeps the previous one); a new key pair waits for `confirm`;
 * the precheck refuses what a renewal must not do, and bad input starts nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import YAML from 'yaml';
import type { RunbookEvent } from '../../src/notify/notifier';
import {
  createCertificateAuthority,
  issueCertificate,
  loadCertificateAuthority,
  type CertificateAuthority,
} from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import type { ClusterRegistry } from '../../src/config/clusters';
import { renewResultJson, waitOutputJson } from '../../src/cli/json-output';
import { answerUpdate, progressQuery, submitCertificateUpdate, type RunbookProgress } from '../../workflows/contract';
import type { RenewInput } from '../../workflows/inputs-renew';
import type { RenewResult } from '../../workflows/renew';
import { runCli } from '../support/cli';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { historyText } from '../support/history';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const DAY = 86_400_000;

describe('renew runbook (real Temporal, simulator, PyKMIP, cfssl)', () => {
  const taskQueue = uniqueTaskQueue('renew');
  const harnesses: ClusterHarness[] = [];
  const events: RunbookEvent[] = [];
  const registry: ClusterRegistry = { clusters: {}, signers: {} };
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let kmipCa: CertificateAuthority;

  beforeAll(async () => {
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async (e) => void events.push(e) } });
    kmipCa = await loadCertificateAuthority(testEnv().kmip.caPem, testEnv().kmip.caKeyPem);
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await Promise.all(harnesses.map((h) => h.stop()));
  });

  /**
   * A cluster with EKM set up by hand (hardware encryption on with the provider, so the provider is
   * active) whose client certificate expires in `daysLeft` days.
   */
  async function expiringCluster(name: string, daysLeft = 10) {
    const harness = await startClusterHarness(name, { durations: { earTransitionMs: 200, tickMs: 50 } });
    harnesses.push(harness);
    Object.assign(registry.clusters, harness.registry.clusters);
    const client = harness.client();
    const ids = await configureEkmByHand(client, {
      commonName: `${name}.example.test`,
      clientNotAfter: new Date(Date.now() + daysLeft * DAY),
    });
    await client.call('EnableEncryptionAtRest', { keyProviderID: ids.keyProviderID });
    await eventually(async () => expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled'));
    const server = async () => (await client.call('GetKeyServerKmip', { keyServerID: ids.keyServerID })).kmipKeyServer;
    const csrKey = async () => {
      const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
      return Buffer.from(new x509.Pkcs10CertificateRequest(clientCertificateSignRequest).publicKey.rawData).toString('hex');
    };
    const certificateFaults = async () =>
      (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.filter((f) => f.code === 'kmipCertificateFault');
    return { harness, client, ids, server, csrKey, certificateFaults, before: await server(), keyBefore: await csrKey() };
  }
  type Lab = Awaited<ReturnType<typeof expiringCluster>>;

  const fast = (lab: Lab, overrides: Partial<RenewInput> = {}): RenewInput => ({
    cluster: lab.harness.name,
    signer: { type: 'cfssl', url: testEnv().cfssl.url },
    testAttempts: 2,
    testRetryInterval: '200ms',
    faultPollInterval: '100ms',
    resolveWindow: '30s',
    questionReminderEvery: '1h',
    ...overrides,
  });

  const start = (lab: Lab, overrides: Partial<RenewInput> = {}) =>
    startRunbook(temporal.client, 'renew', fast(lab, overrides), {
      taskQueue,
      workflowId: `renew-${lab.harness.name}-${Date.now()}`,
    });

  const waitingOn = (handle: WorkflowHandle, matches: (p: RunbookProgress) => boolean, timeoutMs = 30_000) =>
    eventually(async () => {
      const p = await handle.query(progressQuery.definition);
      expect(matches(p)).toBe(true);
      return p;
    }, timeoutMs);

  /** A certificate for the cluster's CSR, signed by `ca` (the KMIP server's CA unless said). */
  async function sign(csrPem: string, ca: CertificateAuthority = kmipCa, days = 365) {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const issued = await issueCertificate(ca, {
      subject: csr.subject,
      publicKey: csr.publicKey,
      usages: ['client'],
      notAfter: new Date(Date.now() + days * DAY),
    });
    return issued.certificatePem;
  }

  async function modifies(lab: Lab): Promise<{ outcome: string; client?: string }[]> {
    return (await lab.harness.sim.control.calls({ method: 'ModifyKeyServerKmip' })).map((c) => ({
      outcome: c.outcome,
      client: (c.params as { kmipClientCertificate?: string } | undefined)?.kmipClientCertificate,
    }));
  }

  /** The reason an Update was refused (WorkflowUpdateFailedError's cause). */
  async function refusal(update: Promise<unknown>): Promise<string> {
    const err = (await update.then(
      () => undefined,
      (e: unknown) => e,
    )) as (Error & { cause?: Error }) | undefined;
    if (!(err instanceof WorkflowUpdateFailedError)) throw new Error(`expected a refused Update, got ${String(err)}`);
    return err.cause?.message ?? err.message;
  }

  const samePem = (a: string | undefined, b: string | undefined) => a?.replace(/\s+/g, '') === b?.replace(/\s+/g, '');

  it('a certificate that expires in 10 days raises kmipCertificateFault; ekm renew with cfssl renews it with the same key pair (CLI, --wait --json)', async () => {
    const lab = await expiringCluster('renew-cfssl');
    const [fault] = await eventually(async () => {
      const faults = await lab.certificateFaults();
      expect(faults).toHaveLength(1);
      return faults;
    });
    expect(fault).toMatchObject({
      severity: 'warning',
      type: 'cluster',
      data: { keyServerID: lab.ids.keyServerID, certificate: 'client', expired: false },
    });
    expect(fault!.details).toContain('(in 10 days)');

    const inputFile = path.join(lab.harness.dir, 'renew.yaml');
    fs.writeFileSync(inputFile, YAML.stringify({ faultPollInterval: '100ms', resolveWindow: '30s', testRetryInterval: '200ms' }));
    // The KMIP CA the key server already has, given again: nothing to replace, and the result says so.
    const sameCaFile = path.join(lab.harness.dir, 'same-kmip-ca.pem');
    fs.writeFileSync(sameCaFile, lab.before.kmipCaCertificate);
    const cli = await runCli(
      [
        'renew',
        lab.harness.name,
        '--cfssl-url',
        testEnv().cfssl.url,
        '--test-attempts',
        '2',
        '--input',
        inputFile,
        '--kmip-ca',
        sameCaFile,
        '--wait',
        '--json',
      ],
      { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: lab.harness.clustersFile },
    );
    if (cli.code !== 0) throw new Error(`ekm renew exited ${cli.code}:\n${cli.stdout.slice(-3000)}\n${cli.stderr.slice(-2000)}`);
    const output = waitOutputJson(renewResultJson).parse(JSON.parse(cli.stdout));
    const result = output.result!;
    expect(result.keyPair).toBe('kept');
    expect(result.modify).toBe('modified');
    expect(result.previous.notAfter).toBe(new Date(Date.parse(result.previous.notAfter)).toISOString());
    expect(Date.parse(result.renewed.notAfter)).toBeGreaterThan(Date.parse(result.previous.notAfter) + 300 * DAY);
    expect(result.renewed.issuer).toContain('CN=');
    expect(result.resolvedFaultIDs).toEqual([fault!.clusterFaultID]);
    expect(result.kmipCa.replaced).toBe(false);
    expect(output.progress?.notes).toContainEqual(expect.stringContaining('the CA given is the one the key server already has'));
    expect(output.progress?.steps.map((s) => [s.id, s.state])).toEqual([
      ['lock', 'done'],
      ['precheck', 'done'],
      ['window', 'skipped'],
      ['key-pair', 'skipped'],
      ['csr', 'done'],
      ['signing', 'done'],
      ['install', 'done'],
      ['confirm', 'done'],
    ]);

    // The key server holds the new certificate, for the same key pair; the fault is gone.
    const after = await lab.server();
    expect(samePem(after.kmipClientCertificate, lab.before.kmipClientCertificate)).toBe(false);
    expect(samePem(after.kmipCaCertificate, lab.before.kmipCaCertificate)).toBe(true);
    expect(new x509.X509Certificate(after.kmipClientCertificate).notAfter.toISOString()).toBe(result.renewed.notAfter);
    expect(await lab.csrKey()).toBe(lab.keyBefore);
    expect(await lab.certificateFaults()).toEqual([]);
    await lab.client.call('TestKeyServerKmip', { keyServerID: lab.ids.keyServerID });
    // One modify, no new key pair; the tests ran against PyKMIP.
    expect(await modifies(lab)).toEqual([{ outcome: 'result', client: expect.any(String) }]);
    const calls = await lab.harness.sim.control.calls();
    const modifyParams = calls.find((c) => c.method === 'ModifyKeyServerKmip')?.params as Record<string, unknown>;
    expect(Object.keys(modifyParams)).not.toContain('kmipCaCertificate');
    expect(calls.filter((c) => c.method === 'CreatePublicPrivateKeyPair' && c.executed)).toHaveLength(1); // by hand, before
    expect(calls.filter((c) => c.method === 'TestKeyProviderKmip' && c.outcome === 'result').length).toBeGreaterThanOrEqual(1);

    // ekm list, status and report know the runbook.
    const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: lab.harness.clustersFile };
    const list = await runCli(['list', '--runbook', 'renew', '--cluster', lab.harness.name, '--all', '--json'], env);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ runbook: 'renew', workflowId: output.workflowId, status: 'COMPLETED' }),
    ]);
    const status = await runCli(['status', output.workflowId], env);
    expect(status.stdout).toContain(`renew on cluster ${lab.harness.name}: completed`);
    const report = await runCli(['report', output.workflowId, '--json'], env);
    expect(JSON.parse(report.stdout)).toMatchObject({ runbook: 'renew', workflowId: output.workflowId });
    // The history holds the certificates (public) and no secret.
    const history = await historyText(temporal.client, output.workflowId);
    expect(history).toContain('BEGIN CERTIFICATE');
    expect(history).not.toContain('PRIVATE KEY');
    expect(history.includes(lab.harness.password)).toBe(false);
  });

  it('with a manual submission: waits for the CA with the CSR of the same key pair; a certificate no longer than the current one is refused', async () => {
    const lab = await expiringCluster('renew-manual');
    const handle = await start(lab, { signer: { type: 'manual' } });
    const waiting = await waitingOn(handle, (p) => p.waiting?.kind === 'signed-certificate');
    const csrPem = waiting.waiting!.csrPem!;
    expect(Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData).toString('hex')).toBe(lab.keyBefore);
    // The notice goes out beside the wait (a notification never holds a run up), so it may come a moment later.
    await eventually(async () =>
      expect(events.some((e) => e.kind === 'waiting-for-input' && e.runbook === 'renew' && e.cluster === lab.harness.name)).toBe(
        true,
      ),
    );

    // A certificate that ends before the current one is no renewal, and the offline check says so too.
    const short = await sign(csrPem, kmipCa, 5);
    const shortFile = path.join(lab.harness.dir, 'short.crt');
    const caFile = path.join(lab.harness.dir, 'kmip-ca.pem');
    fs.writeFileSync(shortFile, short);
    fs.writeFileSync(caFile, testEnv().kmip.caPem);
    const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: lab.harness.clustersFile };
    // (The run is found by its cluster's name too: the one run of it waiting for a certificate.)
    const csrOut = await runCli(['csr', lab.harness.name], env);
    expect(csrOut.stdout.trim()).toBe(csrPem.trim());
    const check = await runCli(['cert', 'check', '--run', lab.harness.name, '--cert', shortFile, '--ca', caFile], env);
    expect(check.code).toBe(4);
    // A follow is bounded by an explicit --timeout: it stops, says so, and leaves the run alone.
    const watch = await runCli(['status', handle.workflowId, '--watch', '--timeout', '3s'], env);
    expect([watch.code, watch.stderr.trim().split('\n').at(-1)]).toEqual([
      6,
      'ekm: stopped following after --timeout 3s; the run goes on (it was not cancelled)',
    ]);
    expect(check.stdout).toMatch(/not longer than the current certificate/);
    expect(
      await refusal(
        handle.executeUpdate(submitCertificateUpdate.definition, {
          args: [{ certificatePem: short, caChainPem: testEnv().kmip.caPem }],
        }),
      ),
    ).toMatch(/not longer than the current certificate/);
    // (Nor one that expires within 30 days: the same checks as setup.)
    // Submitted as the CA team hands it out: one file with the certificate and its CA (no --ca).
    const bundle = path.join(lab.harness.dir, 'signed-with-chain.pem');
    fs.writeFileSync(bundle, `${await sign(csrPem)}${testEnv().kmip.caPem}`);
    const submitted = await runCli(['submit-cert', lab.harness.name, '--cert', bundle, '--by', 'ca-team'], env);
    expect([submitted.code, submitted.stderr]).toEqual([0, '']);
    const fingerprint = /accepted: .* SHA-256 (\S+)/.exec(submitted.stdout)?.[1];
    const result = (await handle.result()) as RenewResult;
    expect(result.renewed.fingerprint).toBe(fingerprint);
    expect(await lab.csrKey()).toBe(lab.keyBefore);
    await eventually(async () => expect(await lab.certificateFaults()).toEqual([]));
    expect(await modifies(lab)).toHaveLength(1);
  });

  it('a certificate the key server does not trust is taken back before the runbook asks; change with a good one completes', async () => {
    const lab = await expiringCluster('renew-rollback');
    // The cluster stores a modify without contacting the key server (what a real cluster does is not documented).
    await lab.harness.sim.control.setModifyKeyServer('store');
    const stranger = await createCertificateAuthority('CA PyKMIP does not trust');
    const handle = await start(lab, { signer: { type: 'manual' } });
    const { waiting } = await waitingOn(handle, (p) => p.waiting?.kind === 'signed-certificate');
    const untrusted = await sign(waiting!.csrPem!, stranger);
    await handle.executeUpdate(submitCertificateUpdate.definition, {
      args: [{ certificatePem: untrusted, caChainPem: stranger.certificatePem }],
    });

    const asking = await waitingOn(handle, (p) => p.waiting?.step === 'install');
    expect(asking.waiting!.answers).toEqual(['retry', 'change', 'abort']);
    expect(asking.waiting!.problem).toMatch(/xKmipAuthenticationFailure/);
    expect(asking.waiting!.prompt).toContain('holds the previous certificate again');
    expect(asking.notes.some((n) => n.includes('the previous one was put back'))).toBe(true);
    // Before it asked, the previous certificate was back on the key server.
    expect(samePem((await lab.server()).kmipClientCertificate, lab.before.kmipClientCertificate)).toBe(true);
    const modified = await modifies(lab);
    expect(modified).toHaveLength(2);
    expect(samePem(modified[0]!.client, untrusted)).toBe(true);
    expect(samePem(modified[1]!.client, lab.before.kmipClientCertificate)).toBe(true);
    await lab.client.call('TestKeyServerKmip', { keyServerID: lab.ids.keyServerID });

    // A renewal changes certificates only: hostnames or a port would be ignored, so they are refused.
    expect(asking.waiting!.changeFields).toEqual(['clientCertificate', 'kmipCaCertificate']);
    const ignored = await handle
      .executeUpdate(answerUpdate.definition, {
        args: [{ action: 'change', by: 'oncall', hostnames: ['kmip.example.test'], port: 5697 }],
      })
      .then(
        () => 'accepted',
        (err: Error) => `${err.message} ${(err.cause as Error | undefined)?.message ?? ''}`,
      );
    expect(ignored).toContain(
      'only clientCertificate (--client-cert/--client-ca), kmipCaCertificate (--kmip-ca) can be changed, not hostnames (--hostnames), port (--port)',
    );
    // An empty change names what this question takes; a malformed one names the field, in words.
    expect(await refusal(handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'change' }] }))).toBe(
      'change: give at least one of clientCertificate, kmipCaCertificate',
    );
    expect(
      await refusal(handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'change', kmipCaCertificate: 'junk' }] })),
    ).toMatch(/^change: kmipCaCertificate: /);
    expect(await modifies(lab)).toHaveLength(2);

    // change: a certificate signed by the CA the key server trusts.
    const good = await sign(waiting!.csrPem!);
    await handle.executeUpdate(answerUpdate.definition, {
      args: [{ action: 'change', by: 'oncall', clientCertificate: { certificatePem: good, caChainPem: testEnv().kmip.caPem } }],
    });
    const result = (await handle.result()) as RenewResult;
    expect(samePem((await lab.server()).kmipClientCertificate, good)).toBe(true);
    expect(result.renewed.issuer).toBe(kmipCa.certificate.subject);
    expect(await modifies(lab)).toHaveLength(3);
  });

  it('a cluster that refuses the certificate at ModifyKeyServerKmip keeps the previous one; the runbook asks, and abort leaves it', async () => {
    const lab = await expiringCluster('renew-refused');
    const stranger = await createCertificateAuthority('another CA PyKMIP does not trust');
    const handle = await start(lab, { signer: { type: 'manual' } });
    const { waiting } = await waitingOn(handle, (p) => p.waiting?.kind === 'signed-certificate');
    await handle.executeUpdate(submitCertificateUpdate.definition, {
      args: [{ certificatePem: await sign(waiting!.csrPem!, stranger), caChainPem: stranger.certificatePem }],
    });
    const asking = await waitingOn(handle, (p) => p.waiting?.step === 'install');
    expect(asking.waiting!.problem).toMatch(/xKmipAuthenticationFailure/);
    expect(asking.notes.some((n) => n.includes('still holds the previous one'))).toBe(true);
    expect(samePem((await lab.server()).kmipClientCertificate, lab.before.kmipClientCertificate)).toBe(true);
    // Refused by the cluster on each try of the test budget, never kept; nothing to put back.
    expect((await modifies(lab)).map((m) => m.outcome)).toEqual(['error', 'error']);
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'abort', by: 'oncall', reason: 'wrong CA' }] });
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.query(progressQuery.definition)).state).toBe('cancelled');
    expect(samePem((await lab.server()).kmipClientCertificate, lab.before.kmipClientCertificate)).toBe(true);
  });

  it('--new-key-pair: proves the provider healthy, waits for confirm with the window stated, then renews with a new key pair', async () => {
    const lab = await expiringCluster('renew-new-key');
    const handle = await start(lab, { newKeyPair: true });
    const asking = await waitingOn(handle, (p) => p.waiting?.step === 'window');
    expect(asking.keyPairWindow).toBeUndefined();
    expect(asking.waiting!.answers).toEqual(['confirm', 'abort']);
    expect(asking.waiting!.prompt).toMatch(/could not fetch its keys/);
    expect(asking.waiting!.prompt).toMatch(/cfssl signer/);
    expect(asking.steps.find((s) => s.id === 'window')?.detail).toContain('passes TestKeyProviderKmip');
    // Nothing replaced yet.
    expect(await lab.csrKey()).toBe(lab.keyBefore);
    expect(await refusal(handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'retry' }] }))).toMatch(/not offered/);
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'confirm', by: 'oncall' }] });
    const result = (await handle.result()) as RenewResult;
    expect(result.keyPair).toBe('replaced');
    expect(result.keyPairWindow).toEqual({ openedAt: expect.any(String), closedAt: expect.any(String) });
    expect(await lab.csrKey()).not.toBe(lab.keyBefore);
    expect(result.keyFingerprint).not.toBe(lab.keyBefore);
    await lab.client.call('TestKeyServerKmip', { keyServerID: lab.ids.keyServerID });
    const progress = await handle.query(progressQuery.definition);
    expect(progress.answers).toEqual([expect.objectContaining({ action: 'confirm', by: 'oncall', outcome: 'accepted' })]);
    expect(progress.notes.some((n) => n.includes('key-pair window closed after'))).toBe(true);
    expect(progress.keyPairWindow).toBeUndefined();
  });

  it('--new-key-pair with a manual CA: ekm status says first that the key-pair window is open until the certificate is in', async () => {
    const lab = await expiringCluster('renew-window-banner');
    const handle = await start(lab, { newKeyPair: true, acceptKeyPairWindow: true, signer: { type: 'manual' } });
    const waiting = await waitingOn(handle, (p) => p.waiting?.kind === 'signed-certificate');
    expect(waiting.keyPairWindow?.since).toBeDefined();
    const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: lab.harness.clustersFile };
    const status = await runCli(['status', lab.harness.name], env);
    expect(status.stderr).toBe('');
    expect(status.stdout.split('\n')[0]).toBe(
      `!! KEY-PAIR WINDOW OPEN on ${lab.harness.name} since ${waiting.keyPairWindow!.since} — the installed certificate no longer matches the cluster's key: a node restart now leaves its drives locked until the new certificate is installed`,
    );
    await handle.executeUpdate(submitCertificateUpdate.definition, {
      args: [{ certificatePem: await sign(waiting.waiting!.csrPem!), caChainPem: testEnv().kmip.caPem }],
    });
    const result = (await handle.result()) as RenewResult;
    expect(result.keyPairWindow?.openedAt).toBe(waiting.keyPairWindow!.since);
    // (A workflow id of a shape other than ekm-… is found too.)
    const after = await runCli(['status', handle.workflowId], env);
    expect(after.stdout).toContain(`renew on cluster ${lab.harness.name}: completed`);
    expect(after.stdout).not.toContain('KEY-PAIR WINDOW OPEN');
  });

  it('an abort inside the key-pair window needs the cluster name; renew --new-key-pair then closes the window without another key pair', async () => {
    const lab = await expiringCluster('renew-window-abort');
    const handle = await start(lab, { newKeyPair: true, acceptKeyPairWindow: true, signer: { type: 'manual' } });
    const waiting = await waitingOn(handle, (p) => p.waiting?.kind === 'signed-certificate');
    expect(waiting.waiting?.abortRequires?.confirmUnprotected).toBe(lab.harness.name);
    expect(await refusal(handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'abort', reason: 'x' }] }))).toMatch(
      new RegExp(
        `^abort: --confirm-unprotected must be the cluster's name "${lab.harness.name}": aborting now leaves the key-pair window open`,
      ),
    );
    await handle.executeUpdate(answerUpdate.definition, {
      args: [{ action: 'abort', reason: 'CA team away', confirmUnprotected: lab.harness.name }],
    });
    await expect(handle.result()).rejects.toThrow();
    const ended = await handle.query(progressQuery.definition);
    expect(ended.keyPairWindow?.since).toBeDefined(); // the cluster is still exposed, and says so
    const replacedKey = await lab.csrKey();
    expect(replacedKey).not.toBe(lab.keyBefore);

    // A plain renewal refuses and names the way out; --new-key-pair signs the current CSR, no third key pair.
    const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: lab.harness.clustersFile };
    const plain = await runCli(['renew', lab.harness.name, '--plan'], env);
    expect(plain.code).toBe(4);
    expect(plain.stdout).toMatch(/KeyPairMismatch: .*renew with --new-key-pair/);
    const again = await start(lab, { newKeyPair: true });
    const result = (await again.result()) as RenewResult;
    expect(result.keyPairWindow?.closedAt).toBeDefined();
    expect(await lab.csrKey()).toBe(replacedKey);
    const progress = await again.query(progressQuery.definition);
    expect(progress.steps.filter((s) => ['window', 'key-pair'].includes(s.id)).map((s) => s.state)).toEqual([
      'skipped',
      'skipped',
    ]);
    expect(progress.keyPairWindow).toBeUndefined();
    await lab.client.call('TestKeyServerKmip', { keyServerID: lab.ids.keyServerID });
    const created = (await lab.harness.sim.control.calls()).filter(
      (c) => c.method === 'CreatePublicPrivateKeyPair' && c.executed,
    );
    expect(created).toHaveLength(2); // by hand before, and the aborted run's
  });

  it('the precheck refuses a KMIP CA about to expire without a renewed one, and a key pair the certificate does not certify', async () => {
    const lab = await expiringCluster('renew-refusals');
    // The key server's CA expires in 20 days: the renewal needs the renewed CA (--kmip-ca).
    const shortCa = await createCertificateAuthority('KMIP CA ending soon', 20);
    await lab.harness.sim.control.setModifyKeyServer('store');
    await lab.client.call('ModifyKeyServerKmip', { keyServerID: lab.ids.keyServerID, kmipCaCertificate: shortCa.certificatePem });
    let handle = await start(lab);
    let failure: unknown = await handle.result().catch((err: unknown) => err);
    expect(rootType(failure)).toBe('KmipCaExpiring');
    expect(rootMessage(failure)).toContain('--kmip-ca');

    // With the renewed CA (PyKMIP's own) it renews both.
    await lab.harness.sim.control.setModifyKeyServer('verify');
    handle = await start(lab, { kmipCaCertificate: testEnv().kmip.caPem });
    const result = (await handle.result()) as RenewResult;
    expect(result.kmipCa.replaced).toBe(true);
    expect(samePem((await lab.server()).kmipCaCertificate, testEnv().kmip.caPem)).toBe(true);

    // A key pair replaced behind the certificate's back: no renewal of a certificate that cannot work.
    await lab.client.call('CreatePublicPrivateKeyPair', { commonName: 'renew-refusals.example.test' });
    handle = await start(lab);
    failure = await handle.result().catch((err: unknown) => err);
    expect(rootType(failure)).toBe('KeyPairMismatch');
  });

  it('bad input is refused before anything starts (exit 2, naming the field)', async () => {
    const lab = await expiringCluster('renew-bad-input');
    const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: lab.harness.clustersFile };
    const callsBefore = (await lab.harness.sim.control.calls()).length;
    const window = await runCli(['renew', lab.harness.name, '--accept-key-pair-window'], env);
    expect(window.code).toBe(2);
    expect(window.stderr).toContain('--accept-key-pair-window: is only for a new key pair');
    const provider = await runCli(['renew', lab.harness.name, '--provider', '0'], env);
    expect(provider.code).toBe(2);
    expect(provider.stderr).toContain('--provider: must be a positive id');
    const signer = await runCli(['renew', lab.harness.name, '--signer', 'pigeon'], env);
    expect(signer.code).toBe(2);
    expect(signer.stderr).toContain('--signer');
    const notACert = path.join(lab.harness.dir, 'not-a-cert.pem');
    fs.writeFileSync(notACert, 'hello');
    const ca = await runCli(['renew', lab.harness.name, '--kmip-ca', notACert], env);
    expect(ca.code).toBe(2);
    expect(ca.stderr).toContain('--kmip-ca');
    expect((await lab.harness.sim.control.calls()).length).toBe(callsBefore);

    const help = await runCli(['renew', '--help'], env);
    expect(help.code).toBe(0);
    for (const flag of [
      '--cfssl-url',
      '--signer-name',
      '--kmip-ca',
      '--new-key-pair',
      '--accept-key-pair-window',
      '--wait',
      '--json',
    ])
      expect(help.stdout).toContain(flag);
  });
});
