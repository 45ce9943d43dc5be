/**
 * Issue 12, sections 1 and 2, through the paths that need Temporal: `ekm submit-cert`, the
 * `submitCertificate` Update, `ekm cert check --run`, `ekm csr`, the durable wait for a notBefore
 * a little ahead, and the signers (cfssl, openssl, one that refuses) against the cluster's
 * version-2 CSR (what a real Element 11.7 cluster answers; until the simulator does so itself,
 * this file re-encodes the simulator's CSR as version 2). A refused certificate leaves the run
 * waiting and the cluster untouched: asserted on the simulator's call log. Generated fixtures only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { certificateVerdictJson } from '../../src/cli/json-output';
import type { ClusterRegistry } from '../../src/config/clusters';
import { loadCertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import * as simulatorCrypto from '../../tools/simulator/crypto';
import {
  CERTIFICATE_INPUT_LIMIT_BYTES,
  progressQuery,
  submitCertificateUpdate,
  type RunbookProgress,
} from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import type { SetupResult } from '../../workflows/setup';
import { csrVersion, issueClient, makeCa, shapes, toVersion2Csr, type TestCa } from '../support/certificates';
import { runCli } from '../support/cli';
import { startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { rootMessage } from '../support/failures';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const MINUTE = 60_000;

describe('certificates as they arrive, and the cluster version-2 CSR (real Temporal, simulator, PyKMIP, cfssl)', () => {
  const taskQueue = uniqueTaskQueue('certs');
  const harnesses: ClusterHarness[] = [];
  const registry: ClusterRegistry = { clusters: {}, signers: {} };
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let kmipCa: TestCa;

  beforeAll(async () => {
    // The simulated cluster answers a version-2 CSR, as a real Element 11.7 cluster does.
    const original = simulatorCrypto.createClusterKeyPair;
    // (Harmless once the simulator does so by default: re-encoding a version-2 CSR as version 2 changes nothing.)
    jest.spyOn(simulatorCrypto, 'createClusterKeyPair').mockImplementation(async (...args) => {
      const keyPair = await original(...args);
      return { ...keyPair, csrPem: await toVersion2Csr(keyPair.csrPem, keyPair.privateKeyPem) };
    });
    const kmip = testEnv().kmip;
    const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
    kmipCa = { name: 'kmip', kind: 'rsa', certificate: ca.certificate, certificatePem: ca.certificatePem, keys: ca.keys };
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry });
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await worker?.stop();
    await temporal?.close();
    await Promise.all(harnesses.map((h) => h.stop()));
  });

  async function cluster(name: string): Promise<ClusterHarness> {
    const harness = await startClusterHarness(name, { durations: { tickMs: 50 } });
    harnesses.push(harness);
    Object.assign(registry.clusters, harness.registry.clusters);
    return harness;
  }

  function start(harness: ClusterHarness, overrides: Partial<SetupInput> = {}): Promise<WorkflowHandle> {
    const kmip = testEnv().kmip;
    const input: SetupInput = {
      cluster: harness.name,
      subject: { commonName: `${harness.name}.example.test`, organization: 'EKM tests', country: 'US' },
      keyProviderName: 'kmip-provider',
      keyServerName: 'kmip-server',
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'none',
      signer: { type: 'manual' },
      testAttempts: 2,
      testRetryInterval: '200ms',
      ...overrides,
    };
    return startRunbook(temporal.client, 'setup', input, { taskQueue, workflowId: `ekm-setup-${harness.name}` });
  }

  const progress = (h: WorkflowHandle) => h.query(progressQuery.definition);
  const waitingFor = (h: WorkflowHandle, step: string) =>
    eventually(
      async () => {
        const p = await progress(h);
        expect(p.waiting?.step).toBe(step);
        return p;
      },
      90_000,
      200,
    );
  const calls = async (harness: ClusterHarness, method: string) => (await harness.sim.control.calls({ method })).length;
  const env = (harness: ClusterHarness) => ({ EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: harness.clustersFile });
  const file = (harness: ClusterHarness, name: string, data: string | Buffer) => {
    const target = path.join(harness.dir, name);
    fs.writeFileSync(target, data);
    return target;
  };
  /** A client certificate for the run's CSR, signed by `ca` (the KMIP test CA unless told). */
  const signFor = (p: RunbookProgress, options: Parameters<typeof issueClient>[2] = {}, ca = kmipCa) => {
    const csr = new x509.Pkcs10CertificateRequest(p.waiting!.csrPem!);
    return issueClient(ca, csr.publicKey, { subject: csr.subject, ...options });
  };
  /** Nothing of the key server side has reached the cluster. */
  async function expectClusterUntouched(harness: ClusterHarness): Promise<void> {
    for (const method of ['CreateKeyProviderKmip', 'CreateKeyServerKmip', 'ModifyKeyServerKmip'])
      expect([method, await calls(harness, method)]).toEqual([method, 0]);
    expect(await calls(harness, 'CreatePublicPrivateKeyPair')).toBe(1);
  }

  it('manual signing with a version-2 CSR: ekm csr, refused inputs (run waiting, cluster untouched), ekm cert check, then a .p7b chain (DER) accepted and one clean block sent', async () => {
    const harness = await cluster('certs-manual');
    const handle = await start(harness);
    const waiting = await waitingFor(handle, 'signing');
    const e = env(harness);
    const id = handle.workflowId;

    // ekm csr: the cluster's version-2 request, unchanged, with real newlines.
    const csrFile = path.join(harness.dir, 'cluster.csr');
    const csr = await runCli(['csr', id, '--out', csrFile], e);
    expect(csr.stderr).toBe('');
    const written = fs.readFileSync(csrFile, 'utf8');
    expect(written).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE REQUEST-----\n$/);
    expect(csrVersion(written)).toBe(2);
    const state = JSON.parse(fs.readFileSync(harness.sim.stateFile, 'utf8')) as { keyPair: { csrPem: string } };
    expect(Buffer.from(x509.PemConverter.decodeFirst(written))).toEqual(
      Buffer.from(x509.PemConverter.decodeFirst(state.keyPair.csrPem)),
    );

    const intermediate = await makeCa('KMIP Issuing CA', { issuer: kmipCa });
    const leaf = await signFor(waiting);
    const root = file(harness, 'root.pem', kmipCa.certificatePem);

    // Too large: refused by the CLI before anything is sent (exit 2), and by the Update's validator.
    const big = file(harness, 'big.pem', leaf + 'x'.repeat(CERTIFICATE_INPUT_LIMIT_BYTES));
    const bigSize = fs.statSync(big).size;
    const tooLarge = await runCli(['submit-cert', id, '--cert', big, '--ca', root], e);
    expect(tooLarge.code).toBe(2);
    expect(tooLarge.stderr).toContain(`--cert: ${big} is too large (${bigSize} bytes; limit ${CERTIFICATE_INPUT_LIMIT_BYTES})`);
    const direct = await handle
      .executeUpdate(submitCertificateUpdate.definition, {
        args: [{ certificatePem: leaf + 'x'.repeat(CERTIFICATE_INPUT_LIMIT_BYTES), caChainPem: kmipCa.certificatePem }],
      })
      .catch((err: unknown) => err);
    expect(direct).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(rootMessage(direct)).toBe(
      `--cert: too large (${bigSize} bytes; limit ${CERTIFICATE_INPUT_LIMIT_BYTES}): a certificate with its chain is a few kilobytes`,
    );

    // A private key in the file: never sent.
    const { privateKeyPem } = await loadCertificateAuthority(kmipCa.certificatePem, testEnv().kmip.caKeyPem);
    const withKey = await runCli(
      ['submit-cert', id, '--cert', file(harness, 'with-key.pem', leaf + privateKeyPem), '--ca', root],
      e,
    );
    expect(withKey.code).toBe(2);
    expect(withKey.stderr).toContain('--cert: holds a private key');

    // notBefore 10 minutes ahead: refused naming notBefore and the date.
    const early = await signFor(waiting, { notBefore: new Date(Date.now() + 10 * MINUTE) });
    const earlyFile = file(harness, 'early.pem', early);
    const tooEarly = await runCli(['submit-cert', id, '--cert', earlyFile, '--ca', root], e);
    expect(tooEarly.code).toBe(4);
    const notBefore = new x509.X509Certificate(early).notBefore.toISOString();
    expect(tooEarly.stderr).toContain(`--cert: not valid yet: its notBefore is ${notBefore}`);

    // Issued by an intermediate that is not in the bundle.
    const viaIntermediate = file(harness, 'via-intermediate.pem', await signFor(waiting, {}, intermediate));
    const missing = await runCli(['submit-cert', id, '--cert', viaIntermediate, '--ca', root], e);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('--cert: issuer "CN=KMIP Issuing CA" is not in the CA bundle: include the intermediate');
    expect(missing.stderr).not.toMatch(/Unsupported format|Workflow Update failed/);

    // ekm cert check: the same checks, offline from a CSR file, or with the run's CSR.
    const checkEarly = await runCli(['cert', 'check', '--csr', csrFile, '--cert', earlyFile, '--ca', root], e);
    expect(checkEarly.code).toBe(4);
    expect(checkEarly.stdout).toContain(`not valid yet: its notBefore is ${notBefore}`);
    const p7b = file(harness, 'chain.p7b', shapes.pkcs7([kmipCa.certificatePem, leaf], 'der'));
    const rootCer = file(harness, 'root.cer', shapes.der(kmipCa.certificatePem));
    // Offline: no Temporal needed at all.
    const offline = await runCli(['cert', 'check', '--csr', csrFile, '--cert', p7b, '--ca', rootCer], {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    });
    expect(offline.code).toBe(0);
    expect(offline.stdout).toContain(`accepted: ${new x509.X509Certificate(leaf).subject}`);
    const noCsr = await runCli(['cert', 'check', '--cert', p7b], e);
    expect(noCsr.code).toBe(2);
    expect(noCsr.stderr).toContain('give the CSR: --csr FILE, or --run RUN');
    const checked = await runCli(['cert', 'check', '--run', id, '--cert', p7b, '--ca', rootCer, '--json'], e);
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);
    const verdict = certificateVerdictJson.parse(JSON.parse(checked.stdout));
    expect(verdict).toMatchObject({ accepted: true, problems: [], csr: { from: `--run ${id}` } });
    expect(verdict.notes).toEqual(
      expect.arrayContaining([
        '--cert: binary PKCS#7 bundle (.p7b) of 2 certificates: converted to PEM',
        '--ca: binary DER certificate: converted to PEM',
        "--cert holds 2 certificates: the client certificate is --cert[2] (its public key is the CSR's); the others are taken as CA certificates",
      ]),
    );

    // Still waiting, the refusals recorded (the ones that reached the runbook), nothing sent to the cluster.
    const after = await progress(handle);
    expect(after.waiting?.kind).toBe('signed-certificate');
    expect(after.answers.map((a) => a.outcome)).toEqual(['rejected', 'rejected']);
    await expectClusterUntouched(harness);

    // The .p7b (CA first, leaf last) with a DER root: accepted, saying what it converted and which block it took.
    const accepted = await runCli(['submit-cert', id, '--cert', p7b, '--ca', rootCer], e);
    expect(accepted.stderr).toBe('');
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain('--cert: binary PKCS#7 bundle (.p7b) of 2 certificates: converted to PEM');
    expect(accepted.stdout).toContain('the client certificate is --cert[2]');
    expect(accepted.stdout).toContain(`accepted: ${new x509.X509Certificate(leaf).subject}`);
    const result = (await handle.result()) as SetupResult;
    expect(result.keyServerAction).toBe('created');
    const [create] = await harness.sim.control.calls({ method: 'CreateKeyServerKmip' });
    const params = create!.params as { kmipClientCertificate: string; kmipCaCertificate: string };
    expect(params.kmipClientCertificate).toBe(`${leaf.trim()}\n`);
    expect(params.kmipCaCertificate).toBe(`${kmipCa.certificatePem.trim()}\n`);
  });

  it('a certificate whose notBefore is 3 minutes ahead is accepted and the runbook waits durably before the cluster gets it', async () => {
    const harness = await cluster('certs-early3');
    const handle = await start(harness);
    const waiting = await waitingFor(handle, 'signing');
    const early = await signFor(waiting, { notBefore: new Date(Date.now() + 3 * MINUTE) });
    const notBefore = new x509.X509Certificate(early).notBefore.toISOString();
    const submitted = await runCli(
      [
        'submit-cert',
        handle.workflowId,
        '--cert',
        file(harness, 'early.pem', shapes.crlf(early)),
        '--ca',
        file(harness, 'ca.pem', kmipCa.certificatePem),
      ],
      env(harness),
    );
    expect(submitted.stderr).toBe('');
    expect(submitted.stdout).toMatch(
      new RegExp(`--cert: valid from ${notBefore}, [23] minutes ahead of now .*the runbook waits until then`),
    );
    const waitingForNotBefore = await eventually(async () => {
      const p = await progress(handle);
      expect(p.steps.find((s) => s.id === 'server')?.detail).toContain(
        `waiting until ${notBefore} (the client certificate's notBefore`,
      );
      return p;
    }, 30_000);
    expect(waitingForNotBefore.notes.join('\n')).toContain(`waiting until ${notBefore}`);
    // A durable timer, not a busy wait: the history holds it.
    const history = await handle.fetchHistory();
    expect(history.events?.some((event) => event.timerStartedEventAttributes)).toBe(true);
    expect(await calls(harness, 'CreateKeyServerKmip')).toBe(0);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
  });

  it('the wait for notBefore survives a worker restart; the cluster gets the certificate only once it is valid', async () => {
    const harness = await cluster('certs-early');
    const handle = await start(harness);
    const waiting = await waitingFor(handle, 'signing');
    const early = await signFor(waiting, { notBefore: new Date(Date.now() + 20_000) });
    const notBefore = new x509.X509Certificate(early).notBefore;
    await handle.executeUpdate(submitCertificateUpdate.definition, {
      args: [{ certificatePem: early, caChainPem: kmipCa.certificatePem }],
    });
    await eventually(async () => expect((await progress(handle)).notes.join('\n')).toContain('waiting until'), 30_000);
    await worker.stop();
    await new Promise((r) => setTimeout(r, Math.max(0, notBefore.getTime() - Date.now()) + 1000));
    expect(await calls(harness, 'CreateKeyServerKmip')).toBe(0);
    worker = await startInProcessWorker({ taskQueue, registry });
    await handle.result();
    const [create] = await harness.sim.control.calls({ method: 'CreateKeyServerKmip' });
    expect(Date.parse(create!.time)).toBeGreaterThanOrEqual(notBefore.getTime());
  });

  it('cfssl and the command signer (OpenSSL 3.0) sign the version-2 CSR', async () => {
    const cfsslCluster = await cluster('certs-cfssl');
    const cfssl = await start(cfsslCluster, { signer: { type: 'cfssl', url: testEnv().cfssl.url } });
    await cfssl.result();
    const state = JSON.parse(fs.readFileSync(cfsslCluster.sim.stateFile, 'utf8')) as { keyPair: { csrPem: string } };
    expect(csrVersion(state.keyPair.csrPem)).toBe(2);

    const kmip = testEnv().kmip;
    const dir = fs.mkdtempSync(path.join(testEnv().dir, 'openssl-ca-'));
    const caFile = path.join(dir, 'ca.pem');
    const caKeyFile = path.join(dir, 'ca-key.pem');
    const extFile = path.join(dir, 'client.ext');
    fs.writeFileSync(caFile, kmip.caPem);
    fs.writeFileSync(caKeyFile, kmip.caKeyPem, { mode: 0o600 });
    fs.writeFileSync(extFile, 'extendedKeyUsage = clientAuth\nkeyUsage = digitalSignature, keyEncipherment\n');
    // The command prints DER: the worker reads it like any certificate.
    registry.signers['openssl-der'] = {
      command: [
        'openssl',
        'x509',
        '-req',
        '-CA',
        caFile,
        '-CAkey',
        caKeyFile,
        '-days',
        '90',
        '-extfile',
        extFile,
        '-outform',
        'DER',
      ],
      caBundle: caFile,
      timeoutMs: 30_000,
    };
    const commandCluster = await cluster('certs-openssl');
    const signed = await start(commandCluster, { signer: { type: 'command', name: 'openssl-der' } });
    const result = (await signed.result()) as SetupResult;
    expect(result.certificate?.subject).toContain('CN=certs-openssl.example.test');
  });

  it('a signer that refuses the CSR: its own message in ekm status, the run waiting for a manual submission, no new key pair', async () => {
    registry.signers['refuses-v2'] = {
      command: [
        'sh',
        '-c',
        'cat >/dev/null; echo "unable to load X509 request: unsupported version 2 (the CA tool refuses it)" >&2; exit 1',
      ],
      timeoutMs: 10_000,
    };
    const harness = await cluster('certs-refused');
    const handle = await start(harness, { signer: { type: 'command', name: 'refuses-v2' } });
    const waiting = await waitingFor(handle, 'signing');
    expect(waiting.waiting).toMatchObject({ kind: 'signed-certificate', answers: ['retry', 'abort'] });
    expect(waiting.waiting?.problem).toContain('unable to load X509 request: unsupported version 2 (the CA tool refuses it)');
    expect(waiting.waiting?.csrPem).toBe(waiting.csrPem);
    const status = await runCli(['status', handle.workflowId], env(harness));
    expect(status.stdout).toContain('unable to load X509 request: unsupported version 2 (the CA tool refuses it)');
    expect(status.stdout).toContain(`ekm submit-cert ${handle.workflowId}`);

    // retry runs the signer again (it refuses again); the CSR and the key pair stay.
    const retried = await runCli(['answer', handle.workflowId, 'retry'], env(harness));
    expect(retried.code).toBe(0);
    await eventually(async () => {
      const p = await progress(handle);
      expect(p.steps.find((s) => s.id === 'signing')?.attempts).toBe(2);
      expect(p.waiting?.kind).toBe('signed-certificate');
    }, 30_000);
    await expectClusterUntouched(harness);

    // Signed another way and submitted by hand: accepted, the setup goes on.
    const leaf = await signFor(waiting);
    const submitted = await runCli(
      [
        'submit-cert',
        handle.workflowId,
        '--cert',
        file(harness, 'signed.txt', shapes.oneLineEscaped(leaf, '\\n')),
        '--ca',
        file(harness, 'ca.pem', kmipCa.certificatePem),
      ],
      env(harness),
    );
    expect(submitted.stderr).toBe('');
    expect(submitted.stdout).toContain('--cert: one-line PEM with literal \\n escapes');
    await handle.result();
    expect(await calls(harness, 'CreatePublicPrivateKeyPair')).toBe(1);
    expect((await harness.sim.control.calls({ method: 'CreateKeyServerKmip' }))[0]?.params).toMatchObject({
      kmipClientCertificate: `${leaf.trim()}\n`,
    });
  });
});
