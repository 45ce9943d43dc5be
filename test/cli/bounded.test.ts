/**
 * Every CLI command that talks to a runbook is bounded and tells the truth about what happened:
 * with no worker on the run's task queue, `ekm submit-cert`, `ekm answer`, `ekm status` and
 * `ekm csr` send nothing and say so (exit 5) at once; an answer sent just before the worker went
 * away times out saying it may still be applied, and is applied once a worker comes back; a
 * repeated submission of the accepted certificate says "already accepted" (exit 0), another one
 * is refused naming the accepted one (exit 4); with Temporal down, status, list and csr stop
 * within their timeout with one line (exit 5); output to a closed pipe ends quietly.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { issueCertificate } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import { freePort } from '../../tools/devenv/ports';
import { progressQuery } from '../../workflows/contract';
import { runCli } from '../support/cli';
import { startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

describe('bounded CLI commands (real Temporal, simulator, PyKMIP)', () => {
  let harness: ClusterHarness;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  const workers: InProcessWorker[] = [];

  beforeAll(async () => {
    harness = await startClusterHarness('bounded-cli', { durations: { tickMs: 50 } });
    temporal = await connectClient();
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    await temporal?.close();
    await harness?.stop();
  });

  const env = (taskQueue: string) => ({ EKM_TASK_QUEUE: taskQueue });
  // A setup that finds its server already holding a certificate for the cluster's key pair does not wait
  // for a signature: a test that needs the wait names its own provider and server.
  const setupInput = (names = { keyProviderName: 'bounded-provider', keyServerName: 'bounded-server' }) => {
    const kmip = testEnv().kmip;
    return {
      cluster: harness.name,
      subject: { commonName: `${harness.name}.example.test` },
      ...names,
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'none' as const,
      signer: { type: 'manual' as const },
    };
  };
  async function signed(csrPem: string, file: string): Promise<string> {
    const kmip = testEnv().kmip;
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const { loadCertificateAuthority } = await import('../../src/pki/authority');
    const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
    const { certificatePem } = await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] });
    fs.writeFileSync(file, certificatePem);
    return file;
  }

  it('with no worker on the task queue: nothing is sent, exit 5, one line naming the task queue', async () => {
    const taskQueue = uniqueTaskQueue('no-worker');
    const handle = await startRunbook(temporal.client, 'setup', setupInput(), {
      taskQueue,
      workflowId: `ekm-no-worker-${Date.now()}`,
    });
    const cert = path.join(harness.dir, 'any.pem');
    fs.writeFileSync(cert, testEnv().kmip.caPem);
    for (const args of [
      ['submit-cert', handle.workflowId, '--cert', cert, '--ca', cert],
      ['answer', handle.workflowId, 'retry'],
      ['status', handle.workflowId],
      ['csr', handle.workflowId],
    ]) {
      const cli = await runCli(args, env(taskQueue), 60_000);
      expect([args[0], cli.code]).toEqual([args[0], 5]);
      expect(cli.stderr).toContain(`no worker is serving task queue ${taskQueue}`);
      expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect((await runCli(['submit-cert', handle.workflowId, '--cert', cert, '--ca', cert], env(taskQueue))).stderr).toContain(
      'nothing was sent; start a worker and submit again',
    );
    const history = await handle.fetchHistory();
    expect(
      history.events?.some(
        (e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateAdmittedEventAttributes,
      ),
    ).toBe(false);
    await handle.terminate('test over');
  });

  it('a certificate sent as the worker goes away: times out saying it may still be applied; applied when a worker is back; repeats told apart', async () => {
    const taskQueue = uniqueTaskQueue('worker-away');
    const registry = harness.registry;
    let worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async () => undefined } });
    workers.push(worker);
    const handle = await startRunbook(temporal.client, 'setup', setupInput(), {
      taskQueue,
      workflowId: `ekm-away-${Date.now()}`,
    });
    const csrPem = await eventually(async () => {
      const p = await handle.query(progressQuery.definition);
      expect(p.waiting?.kind).toBe('signed-certificate');
      return p.waiting!.csrPem!;
    }, 60_000);
    const cert = await signed(csrPem, path.join(harness.dir, 'signed.pem'));
    const ca = path.join(harness.dir, 'ca.pem');
    fs.writeFileSync(ca, testEnv().kmip.caPem);
    await worker.stop(); // its poller is still listed for a while: the CLI sends, and nobody answers

    const sent = await runCli(['submit-cert', handle.workflowId, '--cert', cert, '--ca', ca, '--timeout', '3s'], env(taskQueue));
    expect(sent.code).toBe(5);
    expect(sent.stderr).toContain(`the certificate was sent to ${handle.workflowId} but not answered within 3s`);
    expect(sent.stderr).toContain(`may still be applied when a worker picks it up; check with: ekm status ${handle.workflowId}`);

    worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async () => undefined } });
    workers.push(worker);
    const accepted = await eventually(async () => {
      const p = await handle.query(progressQuery.definition);
      expect(p.acceptedCertificate).toBeDefined();
      return p.acceptedCertificate!;
    }, 60_000);

    const again = await runCli(['submit-cert', handle.workflowId, '--cert', cert, '--ca', ca], env(taskQueue));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`already accepted at ${accepted.at}`);
    expect(again.stdout).toContain(accepted.fingerprint);

    const other = await signed(csrPem, path.join(harness.dir, 'other.pem'));
    const refused = await runCli(['submit-cert', handle.workflowId, '--cert', other, '--ca', ca], env(taskQueue));
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`a certificate was already accepted at ${accepted.at}`);
    expect(refused.stderr).toContain(accepted.fingerprint);
    expect((await handle.result()).certificate?.fingerprint).toBe(accepted.fingerprint);
  });

  it('two answers sent while no worker ran (a certificate and an abort) are not both taken when it comes back', async () => {
    const taskQueue = uniqueTaskQueue('two-answers');
    const registry = harness.registry;
    let worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async () => undefined } });
    workers.push(worker);
    const handle = await startRunbook(
      temporal.client,
      'setup',
      setupInput({ keyProviderName: 'two-answers-provider', keyServerName: 'two-answers-server' }),
      { taskQueue, workflowId: `ekm-two-${Date.now()}` },
    );
    const csrPem = await eventually(async () => {
      const p = await handle.query(progressQuery.definition);
      expect(p.waiting?.kind).toBe('signed-certificate');
      return p.waiting!.csrPem!;
    }, 60_000);
    const cert = await signed(csrPem, path.join(harness.dir, 'two-signed.pem'));
    const ca = path.join(harness.dir, 'two-ca.pem');
    fs.writeFileSync(ca, testEnv().kmip.caPem);
    await worker.stop();
    const submitted = await runCli(
      ['submit-cert', handle.workflowId, '--cert', cert, '--ca', ca, '--timeout', '3s'],
      env(taskQueue),
    );
    const aborted = await runCli(
      ['answer', handle.workflowId, 'abort', '--reason', 'changed my mind', '--timeout', '3s'],
      env(taskQueue),
    );
    expect([submitted.code, aborted.code]).toEqual([5, 5]);

    worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async () => undefined } });
    workers.push(worker);
    await handle.result().catch(() => undefined);
    const progress = await handle.query(progressQuery.definition);
    const taken = progress.answers.filter((a) => a.outcome === 'accepted').map((a) => a.action);
    expect(taken).toHaveLength(1);
    // Consistent with what was taken: an abort leaves no accepted certificate, a certificate a completed run.
    expect(progress.state).toBe(taken[0] === 'abort' ? 'cancelled' : 'completed');
    expect(progress.acceptedCertificate === undefined).toBe(taken[0] === 'abort');
  });

  it('with Temporal down: status, list and csr stop within their timeout with one line, exit 5', async () => {
    const down = { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` };
    for (const args of [['status', 'ekm-setup-x'], ['list'], ['csr', 'ekm-setup-x']]) {
      const cli = await runCli([...args, '--timeout', '5s'], down, 30_000);
      expect([args[0], cli.code]).toEqual([args[0], 5]);
      expect(cli.stderr.trim().split('\n')).toHaveLength(1);
      expect(cli.stderr).toMatch(/cannot reach Temporal|no answer within 5s/);
    }
  });

  it('a bad --timeout is refused naming the flag (exit 2)', async () => {
    const cli = await runCli(['status', 'x', '--timeout', 'soon'], {});
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('--timeout: "soon" is not a duration');
  });

  it('output to a closed pipe ends the command quietly (ekm list --all --json | head -c 600)', async () => {
    const cli = path.resolve(__dirname, '../../dist/src/cli/main.js');
    const child = spawn(process.execPath, [cli, 'list', '--all', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TEMPORAL_ADDRESS: testEnv().temporal.address },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const first = await new Promise<string>((r) => child.stdout.once('data', (d: Buffer) => r(d.toString())));
    child.stdout.destroy(); // the reader went away after 600 bytes, like head -c 600
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(first.length).toBeGreaterThan(0);
    expect(stderr).not.toMatch(/EPIPE|Error|at /);
    expect(code).toBe(0);
  });
});
