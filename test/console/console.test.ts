/**
 * The console against the real thing: the Temporal dev server, an in-process worker, the simulator
 * (its call log), PyKMIP. A setup waits for its signed certificate (manual signer) and a
 * kmipServerFault recovery waits for its fix. First over plain HTTP (no browser): an answer is
 * recorded with the signed-in user's name, an answer the run does not take now is refused in the
 * runbook's words, a refused certificate leaves the run waiting with no cluster call, a run whose
 * task queue has no worker says so and sends nothing. Then in a real headless Chromium (the system's,
 * driven by playwright-core): log in, the setup at the top, download its CSR, a bad certificate
 * refused, a good one uploaded, its verdict, submitted, the run completes; the recovery's diagnosis
 * and `fixed`; the report with its timeline; the start page's plan. Each page is screenshotted into
 * this file's test folder (kept with EKM_KEEP_TEST_DIR=1) and no page logs a console error.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import YAML from 'yaml';
import type { FastifyInstance } from 'fastify';
import { Authenticator, loadUsersFile } from '../../src/console/auth';
import { buildConsole } from '../../src/console/server';
import type { ClusterRegistry } from '../../src/config/clusters';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { loadCertificateAuthority } from '../../src/pki/authority';
import { generateRsaKeyPair } from '../../src/pki/keys';
import { x509 } from '../../src/pki/x509';
import { fleetWorkflowId, progressQuery, workflowIds, type RunbookProgress } from '../../workflows/contract';
import { fleetRunbook } from '../../workflows/fleet';
import type { RecoverKmipInput } from '../../workflows/inputs-recovery';
import type { SetupInput } from '../../workflows/inputs';
import { issueClient, type TestCa } from '../support/certificates';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { csrfOf, multipartBody, send, signIn } from '../support/console-http';
import { eventually } from '../support/eventually';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { testFileDir } from '../support/test-log';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const TOKEN = 'console-integration-token-0123456789';
const USER = 'oncall-1';
const CHROMIUM = process.env.EKM_CHROMIUM ?? '/usr/bin/chromium';

describe('the console (real Temporal, worker, simulator, PyKMIP; real Chromium)', () => {
  const taskQueue = uniqueTaskQueue('console');
  const registry: ClusterRegistry = { clusters: {}, signers: {} };
  let setupCluster: ClusterHarness;
  let kmipCluster: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let app: FastifyInstance;
  let base: string;
  let dir: string;
  let kmipCa: TestCa;
  let setup: WorkflowHandle;
  let recovery: WorkflowHandle;

  const progress = (h: WorkflowHandle): Promise<RunbookProgress> => h.query(progressQuery.definition);
  const waitingAt = (h: WorkflowHandle, step: string) =>
    eventually(
      async () => {
        const p = await progress(h);
        expect(p.waiting?.step).toBe(step);
        return p;
      },
      60_000,
      200,
    );
  const kmipHost = () => testEnv().kmip.host;

  beforeAll(async () => {
    dir = testFileDir();
    const kmip = testEnv().kmip;
    const ca = await loadCertificateAuthority(kmip.caPem, kmip.caKeyPem);
    kmipCa = { name: 'kmip', kind: 'rsa', certificate: ca.certificate, certificatePem: ca.certificatePem, keys: ca.keys };
    setupCluster = await startClusterHarness('con-setup', { durations: { tickMs: 50 } });
    kmipCluster = await startClusterHarness('con-kmip', { durations: { earTransitionMs: 300, kmipRetryMs: 400, tickMs: 50 } });
    Object.assign(registry.clusters, setupCluster.registry.clusters, kmipCluster.registry.clusters);
    const clustersFile = path.join(dir, 'clusters.yaml');
    fs.writeFileSync(clustersFile, YAML.stringify(registry));
    const auditLog = path.join(dir, 'audit.jsonl');
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry, auditLog });

    // The kmip cluster: encryption at rest on the provider, then a restart with the key server unreachable.
    const client = kmipCluster.client();
    const ekm = await configureEkmByHand(client, { commonName: 'con-kmip.example.test' });
    await client.call('EnableEncryptionAtRest', { keyProviderID: ekm.keyProviderID });
    await eventually(async () => expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled'));
    await client.close();

    // The setup starts first, so it has waited longest.
    const setupInput: SetupInput = {
      cluster: setupCluster.name,
      subject: { commonName: 'con-setup.example.test', organization: 'EKM tests', country: 'US' },
      keyProviderName: 'kmip-provider',
      keyServerName: 'kmip-server',
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'none',
      signer: { type: 'manual' },
      testAttempts: 2,
      testRetryInterval: '200ms',
    };
    setup = await startRunbook(temporal.client, 'setup', setupInput, { taskQueue });
    await waitingAt(setup, 'signing');

    await kmipCluster.sim.control.makeUnreachable(kmipHost());
    await kmipCluster.sim.control.restartCluster();
    const faults = async () =>
      (await kmipCluster.client().call('ListClusterFaults', { faultTypes: 'current' })).faults.filter((f) => f.code === 'kmipServerFault');
    await eventually(async () => expect(await faults()).toHaveLength(1), 10_000, 50);
    const fast: RecoverKmipInput = {
      cluster: kmipCluster.name,
      // Its own re-tests are slow, so the `fixed` the browser sends is what re-tests (a re-test of its own
      // could find the key server reachable first and end the wait, and `fixed` would be refused).
      retest: { initialInterval: 60_000, maxInterval: 60_000 },
      faultPollInterval: 200,
      resolveWindow: 10_000,
      heartbeatTimeout: 5000,
    };
    recovery = await startRunbook(temporal.client, 'recover-kmip-server-fault', fast, { taskQueue });
    await waitingAt(recovery, 'wait-for-fix');

    fs.writeFileSync(path.join(dir, 'oncall-1.token'), TOKEN, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'users.yaml'), `users:\n  ${USER}:\n    tokenFile: oncall-1.token\n`);
    const settings = loadRuntimeSettings({
      TEMPORAL_ADDRESS: testEnv().temporal.address,
      TEMPORAL_NAMESPACE: testEnv().temporal.namespace,
      EKM_TASK_QUEUE: taskQueue,
      EKM_CLUSTERS_FILE: clustersFile,
      EKM_AUDIT_LOG: auditLog,
    });
    const auth = new Authenticator({ users: loadUsersFile(path.join(dir, 'users.yaml')), secure: false });
    ({ app } = await buildConsole({ settings, auth, timeoutMs: 15_000, temporalUiUrl: 'http://localhost:8233' }));
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    for (const handle of [setup, recovery]) {
      if ((await handle?.describe().catch(() => undefined))?.status.name === 'RUNNING') await handle.terminate('test over');
    }
    await worker?.stop();
    await temporal?.close();
    await kmipCluster?.sim.control.makeReachable(kmipHost()).catch(() => undefined);
    await Promise.all([setupCluster?.stop(), kmipCluster?.stop()]);
  });

  async function login(): Promise<{ cookie: string; csrf: string }> {
    const res = await signIn(base, USER, TOKEN);
    const cookie = /^ekm_session=([^;]+)/.exec(res.setCookie)![1]!;
    return { cookie, csrf: csrfOf((await send(base, 'GET', '/start', { cookie })).body) };
  }

  /** A client certificate for the setup's CSR (or, with `otherKey`, for a key that is not the cluster's). */
  async function certificateFor(p: RunbookProgress, otherKey = false): Promise<string> {
    const csr = new x509.Pkcs10CertificateRequest(p.waiting!.csrPem!);
    const key = otherKey ? (await generateRsaKeyPair()).publicKey : csr.publicKey;
    return issueClient(kmipCa, key, { subject: csr.subject });
  }

  describe('over HTTP, without a browser', () => {
    it("records an answer with the signed-in user's name; an answer the run does not take now is refused in the runbook's words", async () => {
      const { cookie, csrf } = await login();
      const id = recovery.workflowId;
      const before = (await progress(recovery)).answers.length;
      const res = await send(base, 'POST', `/runs/${id}/answer`, {
        cookie,
        multipart: multipartBody({ _csrf: csrf, action: 'retry', comment: 'firewall ticket 4711' }),
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toMatch(new RegExp(`^/runs/${id}\\?ok=retry`));
      const answers = (await progress(recovery)).answers.slice(before);
      expect(answers).toEqual([expect.objectContaining({ action: 'retry', by: USER, outcome: 'accepted', comment: 'firewall ticket 4711' })]);
      await waitingAt(recovery, 'wait-for-fix');

      // The setup waits for its certificate: it takes abort only.
      const refused = await send(base, 'POST', `/runs/${setup.workflowId}/answer`, {
        cookie,
        multipart: multipartBody({ _csrf: csrf, action: 'retry' }),
      });
      expect(refused.status).toBe(409);
      expect(refused.body).toMatch(/class="refusal" role="alert">refused: [^<]*retry/);
      expect((await progress(setup)).waiting?.step).toBe('signing');

      // A malformed form: named, nothing sent.
      const malformed = await send(base, 'POST', `/runs/${id}/answer`, {
        cookie,
        multipart: multipartBody({ _csrf: csrf, action: 'abort', reason: '' }),
      });
      expect(malformed.status).toBe(400);
      expect(malformed.body).toContain('abort: Reason');
      expect((await progress(recovery)).answers.slice(before)).toHaveLength(1);
    });

    it('a certificate that fails the checks is refused with the verdict: the run keeps waiting and the cluster gets no call', async () => {
      const { cookie, csrf } = await login();
      const waiting = await progress(setup);
      const mark = (await setupCluster.sim.control.calls()).at(-1)?.seq ?? 0;
      const wrongKey = await certificateFor(waiting, true);
      const form = { _csrf: csrf, certificatePem: wrongKey, caChainPem: kmipCa.certificatePem };
      const check = await send(base, 'POST', `/runs/${setup.workflowId}/sign/check`, { cookie, multipart: multipartBody(form) });
      expect(check.status).toBe(200);
      expect(check.body).toContain('Verdict: refused');
      expect(check.body).not.toContain('id="submit-form"');
      // Posted straight to submit (no verdict page in between): checked again, refused, nothing sent.
      const submit = await send(base, 'POST', `/runs/${setup.workflowId}/sign/submit`, { cookie, multipart: multipartBody(form) });
      expect(submit.status).toBe(422);
      expect(submit.body).toContain('Verdict: refused');
      expect((await progress(setup)).waiting?.step).toBe('signing');
      expect(await setupCluster.sim.control.calls({ afterSeq: mark })).toEqual([]);
    });

    it('a certificate that holds its CA chain needs no CA chain input (as ekm cert check); an oversized one pasted alone gets the size verdict', async () => {
      const { cookie, csrf } = await login();
      const waiting = await progress(setup);
      const withChain = `${await certificateFor(waiting)}\n${kmipCa.certificatePem}`;
      const check = await send(base, 'POST', `/runs/${setup.workflowId}/sign/check`, {
        cookie,
        multipart: multipartBody({ _csrf: csrf, certificatePem: withChain }),
      });
      expect(check.status).toBe(200);
      expect(check.body).toContain('Verdict: would be accepted');
      expect(check.body).toContain('id="submit-form"');
      expect(check.body).not.toContain('CA chain: paste');
      const oversized = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(70 * 1024)}\n-----END CERTIFICATE-----\n`;
      const big = await send(base, 'POST', `/runs/${setup.workflowId}/sign/check`, {
        cookie,
        multipart: multipartBody({ _csrf: csrf, certificatePem: oversized }),
      });
      expect(big.body).toContain('Verdict: refused');
      expect(big.body).toMatch(/Signed certificate: [^<]*\b7\d{4} bytes/);
      expect(big.body).not.toContain('CA chain: paste');
      expect((await progress(setup)).waiting?.step).toBe('signing');
      // A run that makes no CSR says so, not "no CSR yet".
      const noCsr = await send(base, 'GET', `/runs/${recovery.workflowId}/csr`, { cookie });
      expect(noCsr.status).toBe(404);
      expect(noCsr.body).toContain(`${recovery.workflowId} is a recover-kmip-server-fault run, which has no CSR: only setup and renew runs make one`);
    });

    it('a run whose task queue has no worker: the page says so, and an answer is not sent', async () => {
      const { cookie, csrf } = await login();
      const orphan = await startRunbook(
        temporal.client,
        'recover-kmip-server-fault',
        { cluster: kmipCluster.name },
        { taskQueue: uniqueTaskQueue('console-no-worker'), workflowId: `ekm-console-orphan-${Date.now()}` },
      );
      try {
        const page = await send(base, 'GET', `/runs/${orphan.workflowId}`, { cookie });
        expect(page.status).toBe(200);
        expect(page.body).toMatch(/no worker is serving task queue console-no-worker-\w+; the step table needs one/);
        const answer = await send(base, 'POST', `/runs/${orphan.workflowId}/answer`, {
          cookie,
          multipart: multipartBody({ _csrf: csrf, action: 'fixed' }),
        });
        expect(answer.status).toBe(503);
        expect(answer.body).toContain('nothing was sent; start a worker and answer again');
      } finally {
        await orphan.terminate('test over');
      }
    });
  });

  describe('in a real headless Chromium', () => {
    let browser: Browser;
    let page: Page;
    const consoleErrors: string[] = [];
    let shots: string;

    beforeAll(async () => {
      if (!fs.existsSync(CHROMIUM))
        throw new Error(`no Chromium at ${CHROMIUM}: scripts/bootstrap.sh installs Debian's chromium (or set EKM_CHROMIUM)`);
      shots = path.join(dir, 'screenshots');
      fs.mkdirSync(shots, { recursive: true });
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
      const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
      page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(`${page.url()}: ${message.text()}`);
      });
      page.on('pageerror', (err) => consoleErrors.push(`${page.url()}: ${err.message}`));
    });
    afterAll(async () => {
      await browser?.close();
    });
    const shot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

    it('logs in and sees the setup waiting for its certificate at the top', async () => {
      await page.goto(`${base}/login`);
      await shot('01-login');
      await page.fill('#user', USER);
      await page.fill('#token', TOKEN);
      await page.click('button[type=submit]');
      await page.waitForSelector('#runs table');
      expect(await page.textContent('header')).toContain(`signed in as ${USER}`);
      const rows = await page.$$eval('#runs tbody tr[data-workflow-id]', (trs) =>
        trs.map((tr) => ({ id: tr.getAttribute('data-workflow-id'), cluster: tr.getAttribute('data-cluster'), state: tr.getAttribute('data-state') })),
      );
      const ours = rows.filter((r) => r.cluster === 'con-setup' || r.cluster === 'con-kmip');
      expect(ours.map((r) => r.id)).toEqual([setup.workflowId, recovery.workflowId]);
      // Every run waiting for a person comes before every other.
      const firstOther = rows.findIndex((r) => r.state !== 'waiting-for-input');
      expect(firstOther === -1 || rows.slice(firstOther).every((r) => r.state !== 'waiting-for-input')).toBe(true);
      expect(await page.textContent(`tr[data-workflow-id="${setup.workflowId}"]`)).toMatch(/waiting \d/);
      await shot('02-runbooks');
    });

    it("downloads the CSR, sees a bad certificate refused, uploads a good one, sees the verdict, submits, and the run completes", async () => {
      await page.click(`a[href="/runs/${setup.workflowId}"]`);
      await page.waitForSelector('#question');
      await shot('03-run-waiting-for-certificate');
      await page.click(`a[href="/runs/${setup.workflowId}/sign"] >> nth=0`);
      await page.waitForSelector('#csr');
      await shot('04-signing');
      const waiting = await progress(setup);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csr-download')]);
      expect(fs.readFileSync((await download.path())!, 'utf8')).toBe(waiting.waiting!.csrPem);
      // The copy button (the page's script): the CSR on the clipboard.
      await page.click('button[data-copy="csr"]');
      await page.waitForSelector('button[data-copy="csr"]:has-text("Copied")');
      expect(await page.evaluate('navigator.clipboard.readText()')).toBe(waiting.waiting!.csrPem);

      const wrongKey = await certificateFor(waiting, true);
      await page.fill('#certificatePem', wrongKey);
      await page.fill('#caChainPem', kmipCa.certificatePem);
      await page.click('#check');
      await page.waitForSelector('#verdict.refused');
      expect(await page.textContent('#verdict')).toContain('Verdict: refused');
      expect(await page.$('#submit-form')).toBeNull();
      // What was pasted is still there next to the verdict; cleared to upload the files instead.
      expect(await page.inputValue('#certificatePem')).toBe(wrongKey);
      expect(await page.inputValue('#caChainPem')).toBe(kmipCa.certificatePem);
      await shot('05-verdict-refused');
      await page.fill('#certificatePem', '');
      await page.fill('#caChainPem', '');

      const certFile = path.join(dir, 'signed.pem');
      const caFile = path.join(dir, 'ca.pem');
      fs.writeFileSync(certFile, await certificateFor(waiting));
      fs.writeFileSync(caFile, kmipCa.certificatePem);
      await page.setInputFiles('#certificateFile', certFile);
      await page.setInputFiles('#caChainFile', caFile);
      await page.click('#check');
      await page.waitForSelector('#verdict.accepted');
      expect(await page.textContent('#verdict')).toContain('Verdict: would be accepted');
      await shot('06-verdict-accepted');
      await page.click('#submit');
      await page.waitForSelector('#result');
      expect(await page.textContent('#result')).toContain('Accepted by the runbook: ');
      await shot('07-submitted');

      await page.goto(`${base}/runs/${setup.workflowId}`);
      // The page updates itself (no reload) until the run has completed.
      await page.waitForSelector('#run-state .state-completed', { timeout: 90_000 });
      // The heading too: the whole page is current without a reload.
      await page.waitForSelector('h1 .state-completed', { timeout: 10_000 });
      const submitted = (await progress(setup)).answers.find((a) => a.action === 'submit-certificate');
      expect(submitted).toEqual(expect.objectContaining({ by: USER, outcome: 'accepted' }));
      await shot('08-run-completed');
    });

    it("shows the kmip recovery's diagnosis and takes its `fixed`", async () => {
      await page.goto(`${base}/runs/${recovery.workflowId}`);
      await page.waitForSelector('#diagnosis');
      expect(await page.textContent('#diagnosis')).toContain('unreachable');
      expect(await page.textContent('#diagnosis')).toContain('restore network reachability');
      await shot('09-kmip-diagnosis');
      await kmipCluster.sim.control.makeReachable(kmipHost());
      await page.fill('form[data-answer="fixed"] input[name=comment]', 'link restored');
      await page.click('form[data-answer="fixed"] button[type=submit]');
      await page.waitForSelector('.flash.ok');
      expect(await page.textContent('.flash.ok')).toMatch(/^fixed: /);
      await page.waitForSelector('#run-state .state-completed', { timeout: 60_000 });
      expect(await page.textContent('#answers')).toMatch(new RegExp(`fixed\\s*${USER}\\s*accepted\\s*link restored`));
      await shot('10-kmip-recovered');
    });

    it('opens the report with its timeline, and the start page shows the plan before a confirmation', async () => {
      await page.goto(`${base}/runs/${setup.workflowId}/report`);
      await page.waitForSelector('svg.timeline');
      const bars = await page.$$eval('svg.timeline rect[rx]', (rects) => rects.length);
      expect(bars).toBeGreaterThanOrEqual((await progress(setup)).steps.filter((s) => s.startedAt).length);
      expect(await page.textContent('#summary')).toContain('COMPLETED');
      // The wait for the certificate is drawn as a wait, up to the submission.
      expect(await page.$('svg.timeline rect[data-wait="signing"]')).not.toBeNull();
      await shot('11-report');
      // One run's report, chosen by its run id; a run id this workflow does not have is "no run".
      const runId = (await setup.describe()).runId;
      expect(await page.textContent('#summary')).toContain(`run ${runId}`);
      const chosen = await page.goto(`${base}/runs/${setup.workflowId}/report?run=${runId}`);
      expect(chosen?.status()).toBe(200);
      // (Through the context's request API: a 404 page load would be a console error, which this test counts.)
      const unknown = await page.request.get(`${base}/runs/${setup.workflowId}/report?run=00000000-0000-0000-0000-000000000000`);
      expect(unknown.status()).toBe(404);

      await page.goto(`${base}/start`);
      // A setup input file with a mistake: refused in the file's words next to the setup form, the cluster kept.
      const badSetup = path.join(dir, 'setup.yaml');
      fs.writeFileSync(badSetup, 'subject: { commonName: x.example.test }\nkeyProviderName: p\nkeyServerName: s\nhostnames: [kms.example.test]\nkmipCaCertificate: certs/ca.pem\n');
      await page.selectOption('#setup-cluster', kmipCluster.name);
      await page.setInputFiles('#setupFile', badSetup);
      await page.click('#review-setup');
      await page.waitForSelector('#setup-form .flash.error');
      expect(await page.textContent('#setup-form .flash.error')).toMatch(/^setup\.yaml: kmipCaCertificate: "certs\/ca\.pem" is not a PEM certificate/);
      expect(await page.inputValue('#setup-cluster')).toBe(kmipCluster.name);
      await shot('12-start-setup-refused');
      await page.selectOption('#runbook', 'rekey');
      await page.selectOption('#cluster', kmipCluster.name);
      await shot('12-start');
      await page.click('#review');
      await page.waitForSelector('#input');
      expect(await page.textContent('h1')).toBe(`Start rekey on ${kmipCluster.name}?`);
      // The plan, made read-only from the cluster, comes before the confirmation.
      expect(await page.textContent('#plan h2')).toContain("The runbook's plan");
      expect(await page.$('#plan tr[data-plan-step="precheck"]')).not.toBeNull();
      await shot('13-start-review');
      // The refused setup file's page is a 400 on purpose, which Chromium logs as a failed resource; nothing else.
      const refusedOnPurpose = `${base}/start/review: Failed to load resource: the server responded with a status of 400 (Bad Request)`;
      expect(consoleErrors.filter((e) => e !== refusedOnPurpose)).toEqual([]);
    });
  });
  describe('the change form', () => {
    it("on a setup whose key server test keeps failing: only the question's fields, a host name too long refused in words, a new port applied", async () => {
      const changeCluster = await startClusterHarness('con-change', { durations: { tickMs: 50 } });
      Object.assign(registry.clusters, changeCluster.registry.clusters);
      const kmip = testEnv().kmip;
      const run = await startRunbook(
        temporal.client,
        'setup',
        {
          cluster: changeCluster.name,
          subject: { commonName: 'con-change.example.test', organization: 'EKM tests', country: 'US' },
          keyProviderName: 'kmip-provider',
          keyServerName: 'kmip-server',
          hostnames: [kmip.host],
          port: 1,
          kmipCaCertificate: kmip.caPem,
          mode: 'none',
          signer: { type: 'cfssl', url: testEnv().cfssl.url },
          testAttempts: 2,
          testRetryInterval: '200ms',
        },
        { taskQueue },
      );
      try {
        const waiting = await waitingAt(run, 'test-server');
        expect(waiting.waiting?.changeFields).toEqual(['hostnames', 'port', 'kmipCaCertificate', 'clientCertificate']);
        const { cookie, csrf } = await login();
        const page = await send(base, 'GET', `/runs/${run.workflowId}`, { cookie });
        const form = page.body.slice(page.body.indexOf('data-answer="change"'), page.body.indexOf('</form>', page.body.indexOf('data-answer="change"')));
        expect(form).toContain('name="hostnames"');
        expect(form).toContain('name="port"');
        expect(form).not.toContain('name="driveIDs"');

        const post = (fields: Record<string, string>) =>
          send(base, 'POST', `/runs/${run.workflowId}/answer`, { cookie, multipart: multipartBody({ _csrf: csrf, action: 'change', ...fields }) });
        const long = await post({ hostnames: `${'h'.repeat(260)}.example.com`, port: '' });
        expect(long.status).toBe(400);
        expect(long.body).toContain(`change: Key server host names: &#39;${'h'.repeat(24)}…&#39; is longer than 253 characters (272)`);
        expect(long.body).toContain('class="refusal" role="alert"');
        // The refused form again, with what was typed.
        expect(long.body).toContain(`name="hostnames" placeholder="kms1.example.com, kms2.example.com" value="${'h'.repeat(260)}.example.com"`);
        expect((await progress(run)).answers).toEqual([]);

        // The new port from the form in a real Chromium (it posts every input, the file inputs empty).
        const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
        try {
          const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
          const errors: string[] = [];
          page.on('pageerror', (err) => errors.push(err.message));
          await page.goto(`${base}/login`);
          await page.fill('#user', USER);
          await page.fill('#token', TOKEN);
          await page.click('button[type=submit]');
          await page.waitForSelector('#runs');
          await page.goto(`${base}/runs/${run.workflowId}`);
          await page.fill('form[data-answer="change"] input[name=port]', String(kmip.port));
          await page.fill('form[data-answer="change"] input[name=comment]', 'the key server listens on its own port');
          fs.mkdirSync(path.join(dir, 'screenshots'), { recursive: true });
          await page.screenshot({ path: path.join(dir, 'screenshots', '14-change-form.png'), fullPage: true });
          await page.click('form[data-answer="change"] button[type=submit]');
          await page.waitForSelector('.flash.ok');
          expect(await page.textContent('.flash.ok')).toMatch(/^change: /);
          expect(errors).toEqual([]);
        } finally {
          await browser.close();
        }
        await run.result();
        const final = await progress(run);
        expect(final.answers).toEqual([expect.objectContaining({ action: 'change', by: USER, outcome: 'accepted' })]);
        const { kmipKeyServers } = await changeCluster.client().call('ListKeyServersKmip', {});
        expect(kmipKeyServers).toEqual([expect.objectContaining({ kmipKeyServerPort: kmip.port })]);
      } finally {
        if ((await run.describe()).status.name === 'RUNNING') await run.terminate('test over');
        await changeCluster.stop();
      }
    });
  });

  describe('fleets', () => {
    it("shows a fleet's progress and one row per cluster with its run and why it failed", async () => {
      const { cookie } = await login();
      // A rekey over the setup's cluster, which has no software encryption at rest: the precheck refuses it.
      const fleet = await temporal.client.workflow.start(fleetRunbook, {
        workflowId: fleetWorkflowId('rekey', `console-${Date.now()}`),
        taskQueue,
        args: [
          {
            runbook: 'rekey',
            clusters: [setupCluster.name],
            selector: `--clusters ${setupCluster.name}`,
            input: {},
            maxConcurrency: { count: 1 },
            maxErrors: { count: 1 },
            followEveryMs: 300,
          },
        ],
      });
      await fleet.result().catch(() => undefined);
      const list = await send(base, 'GET', '/fleets?all=1', { cookie });
      expect(list.body).toContain(`data-fleet="${fleet.workflowId}"`);
      // The fleet's own outcome, not Temporal's COMPLETED (the fleet workflow returned; its one cluster failed).
      const row = list.body.slice(list.body.indexOf(`data-fleet="${fleet.workflowId}"`), list.body.indexOf('</tr>', list.body.indexOf(`data-fleet="${fleet.workflowId}"`)));
      expect(row).toMatch(/class="outcome" title="Temporal: COMPLETED">(stopped: error budget|ended: 1 failed)</);
      expect(row).toContain('0 done, 1 failed of 1');
      const page = await send(base, 'GET', `/fleets/${fleet.workflowId}`, { cookie });
      expect(page.status).toBe(200);
      expect(page.body).toMatch(/<progress max="1" value="1">/);
      expect(page.body).toContain(`<tr data-cluster="${setupCluster.name}">`);
      expect(page.body).toMatch(/class="state-failed">failed<\/span>[\s\S]*SoftwareEncryptionNotEnabled/);
    });

    it('the Fleets list counts a running fleet’s clusters too (from its status; it has no result yet)', async () => {
      const { cookie } = await login();
      // A renewal with the manual signer waits for its certificate: the fleet keeps running.
      const fleet = await temporal.client.workflow.start(fleetRunbook, {
        workflowId: fleetWorkflowId('renew', `console-${Date.now()}`),
        taskQueue,
        args: [
          {
            runbook: 'renew',
            clusters: [setupCluster.name],
            selector: `--clusters ${setupCluster.name}`,
            input: { signer: { type: 'manual' } },
            maxConcurrency: { count: 1 },
            maxErrors: { count: 1 },
            followEveryMs: 300,
          },
        ],
      });
      try {
        await eventually(async () => {
          const list = await send(base, 'GET', '/fleets', { cookie });
          const at = list.body.indexOf(`data-fleet="${fleet.workflowId}"`);
          expect(at).toBeGreaterThan(-1);
          const row = list.body.slice(at, list.body.indexOf('</tr>', at));
          expect(row).toContain('title="Temporal: RUNNING"');
          expect(row).toContain('0 done of 1');
        }, 30_000, 300);
      } finally {
        await fleet.terminate('test over').catch(() => undefined);
        const child = temporal.client.workflow.getHandle(workflowIds.renew(setupCluster.name));
        if ((await child.describe().catch(() => undefined))?.status.name === 'RUNNING') await child.terminate('test over');
      }
    });
  });
  describe('setup from an uploaded input file; answering with the worker stopped, and after the run ended', () => {
    const unescape = (text: string) =>
      text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

    it('shows the plan, starts only when confirmed, and the run waits for its certificate recorded as started by the user', async () => {
      const uploadCluster = await startClusterHarness('con-upload', { durations: { tickMs: 50 } });
      Object.assign(registry.clusters, uploadCluster.registry.clusters);
      fs.writeFileSync(path.join(dir, 'clusters.yaml'), YAML.stringify(registry));
      const id = workflowIds.setup(uploadCluster.name);
      const run = temporal.client.workflow.getHandle(id);
      try {
        const kmip = testEnv().kmip;
        const { cookie, csrf } = await login();
        const file = YAML.stringify({
          subject: { commonName: 'con-upload.example.test', organization: 'EKM tests', country: 'US' },
          keyProviderName: 'kmip-provider',
          keyServerName: 'kmip-server',
          hostnames: [kmip.host],
          port: kmip.port,
          kmipCaCertificate: kmip.caPem,
          mode: 'none',
          signer: { type: 'manual' },
          testAttempts: 2,
          testRetryInterval: '200ms',
        });
        const review = await send(base, 'POST', '/start/review', {
          cookie,
          multipart: multipartBody({
            _csrf: csrf,
            runbook: 'setup',
            cluster: uploadCluster.name,
            setupFile: { filename: 'con-upload.yaml', data: Buffer.from(file) },
          }),
        });
        expect(review.status).toBe(200);
        expect(review.body).toContain(`Start setup on ${uploadCluster.name}?`);
        expect(review.body).toContain('data-plan-step="precheck"');
        expect(review.body).toContain('data-plan-step="signing"');
        const input = unescape(/name="input"\s+value="([^"]*)"/.exec(review.body)![1]!);
        const inputSig = /name="inputSig" value="([^"]*)"/.exec(review.body)![1]!;
        // The reviewed input edited (another cluster, whose plan was never shown): refused, nothing started.
        const edited = JSON.stringify({ ...(JSON.parse(input) as object), cluster: kmipCluster.name });
        const tampered = await send(base, 'POST', '/start/go', {
          cookie,
          multipart: multipartBody({ _csrf: csrf, runbook: 'setup', input: edited, inputSig, confirm: 'yes' }),
        });
        expect(tampered.status).toBe(400);
        expect(tampered.body).toContain('The reviewed input is not the one whose plan was shown');
        await expect(temporal.client.workflow.getHandle(workflowIds.setup(kmipCluster.name)).describe()).rejects.toThrow();
        // Not confirmed: refused, nothing started.
        const unconfirmed = await send(base, 'POST', '/start/go', {
          cookie,
          multipart: multipartBody({ _csrf: csrf, runbook: 'setup', input, inputSig }),
        });
        expect(unconfirmed.status).toBe(400);
        expect(unconfirmed.body).toContain('Tick the confirmation to start the runbook; nothing was started.');
        await expect(run.describe()).rejects.toThrow();

        const go = await send(base, 'POST', '/start/go', {
          cookie,
          multipart: multipartBody({ _csrf: csrf, runbook: 'setup', input, inputSig, confirm: 'yes' }),
        });
        expect(go.status).toBe(303);
        expect(go.headers.get('location')).toMatch(new RegExp(`^/runs/${id}\\?ok=started`));
        const waiting = await waitingAt(run, 'signing');
        expect(waiting.waiting?.kind).toBe('signed-certificate');
        const started = (await run.fetchHistory()).events![0]!.workflowExecutionStartedEventAttributes!;
        const startInput = JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString('utf8')) as Record<string, unknown>;
        expect(startInput).toEqual(expect.objectContaining({ requestedBy: `${USER} (console)`, kmipCaCertificate: expect.stringContaining('BEGIN CERTIFICATE') }));

        // The worker stops; Temporal still lists it as polling for a while. The answer is refused, unsent.
        await worker.stop();
        const unsent = await send(base, 'POST', `/runs/${id}/answer`, {
          cookie,
          multipart: multipartBody({ _csrf: csrf, action: 'abort', reason: 'worker test' }),
        });
        expect(unsent.status).toBe(503);
        expect(unsent.body).toContain(
          `no worker answered within 4s (the worker serving task queue ${taskQueue} may have stopped: one that stopped less than about 90 s ago still shows as polling)`,
        );
        expect(unsent.body).toContain('<h1>No worker answered</h1>');
        // The run's page says the same next to its step table (Temporal answered: not its heading).
        const runPage = await send(base, 'GET', `/runs/${id}`, { cookie });
        expect(runPage.status).toBe(200);
        expect(runPage.body).toContain(`no worker answered within 4s (the worker serving task queue ${taskQueue} may have stopped`);
        expect(runPage.body).not.toContain('Temporal did not answer');
        expect(unsent.body).toContain('nothing was sent; start a worker and answer again');
        worker = await startInProcessWorker({ taskQueue, registry, auditLog: path.join(dir, 'audit.jsonl') });
        const after = await waitingAt(run, 'signing');
        expect(after.answers).toEqual([]);

        // Ended: the answer says how and when, not "no running run".
        await run.terminate('test over');
        const ended = await send(base, 'POST', `/runs/${id}/answer`, {
          cookie,
          multipart: multipartBody({ _csrf: csrf, action: 'abort', reason: 'too late' }),
        });
        expect(ended.status).toBe(409);
        expect(ended.body).toMatch(new RegExp(`${id} ended \\(terminated \\d+(\\.\\d+)?m?s ago\\); there is nothing to answer`));
      } finally {
        if ((await run.describe().catch(() => undefined))?.status.name === 'RUNNING') await run.terminate('test over');
        await uploadCluster.stop();
      }
    });
  });
});
