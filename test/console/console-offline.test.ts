/**
 * The console without Temporal (unit tier): the users file and its token files, the listen rule,
 * the login cookie, 401 before logging in, the CSRF refusal, the upload limit (refused while the
 * body is read, before anything talks to Temporal) and, with nothing listening at
 * TEMPORAL_ADDRESS, a bounded error page that says nothing was changed. Requests go through
 * fastify's inject (the real routes and hooks, no socket).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ServiceError, WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import {
  Authenticator,
  listenProblem,
  loadUsersFile,
  LOGIN_FAILURE_LIMIT,
  LoginThrottle,
  MIN_TOKEN_LENGTH,
  SESSION_COOKIE,
} from '../../src/console/auth';
import { certificateVerdict } from '../../src/cli/commands/cert';
import { buildAnswer } from '../../src/cli/commands/runs';
import type { CliError } from '../../src/cli/exit-codes';
import { queryWorker } from '../../src/cli/temporal';
import { describeZodError } from '../../src/config/zod-errors';
import { answerUpdate } from '../../workflows/contract';
import { describeIssues } from '../../workflows/inputs';
import { makeCsr } from '../support/certificates';
import { typedValues, UPLOAD_LIMIT_BYTES } from '../../src/console/forms';
import { ConsoleTemporal } from '../../src/console/temporal-access';
import { buildConsole, flashOf, withFlash } from '../../src/console/server';
import { fleetView } from '../../src/console/views';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { Agent, fetch as undiciFetch } from 'undici';
import { checkTlsPair, parseListen, readFlagFile } from '../../src/cli/commands/console';
import { createCertificateAuthority, issueKeyAndCertificate } from '../../src/pki/authority';
import { csrfOf, multipartBody, send, signIn } from '../support/console-http';
import { runView, signView, waitingText } from '../../src/console/views';
import type { ChangeField, RunbookProgress } from '../../workflows/contract';

const TOKEN = 'console-offline-token-0123456789';

describe('console without Temporal', () => {
  let dir: string;
  let usersFile: string;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-console-offline-'));
    fs.writeFileSync(path.join(dir, 'oncall-1.token'), `${TOKEN}\n`, { mode: 0o600 });
    usersFile = path.join(dir, 'users.yaml');
    fs.writeFileSync(usersFile, 'users:\n  oncall-1:\n    tokenFile: oncall-1.token\n');
    const settings = loadRuntimeSettings({ TEMPORAL_ADDRESS: '127.0.0.1:1', EKM_CLUSTERS_FILE: path.join(dir, 'none.yaml') });
    const auth = new Authenticator({ users: loadUsersFile(usersFile), secure: false });
    ({ app } = await buildConsole({ settings, auth, timeoutMs: 3000 }));
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function login(): Promise<{ cookie: string; csrf: string }> {
    const res = await signIn(base, 'oncall-1', TOKEN);
    expect(res.status).toBe(303);
    const cookie = /^ekm_session=([^;]+)/.exec(res.setCookie)![1]!;
    // The Start page needs no Temporal: it carries the CSRF token in its forms.
    const start = await send(base, 'GET', '/start', { cookie });
    const csrf = csrfOf(start.body);
    return { cookie, csrf };
  }

  it('reads users with token files, and refuses a token written into the users file or one too short', () => {
    const users = loadUsersFile(usersFile);
    expect(users).toEqual([{ name: 'oncall-1', tokenFile: path.join(dir, 'oncall-1.token') }]);
    const inline = path.join(dir, 'inline.yaml');
    fs.writeFileSync(inline, `users:\n  oncall-2:\n    tokenFile: oncall-1.token\n    token: ${TOKEN}\n`);
    expect(() => loadUsersFile(inline)).toThrow(/users\.oncall-2\.token: a secret never goes in the users file/);
    // The error never repeats the secret.
    expect(() => loadUsersFile(inline)).not.toThrow(new RegExp(TOKEN));
    // A token written instead of a token file: said as such, not as a missing tokenFile.
    fs.writeFileSync(inline, `users:\n  oncall-2:\n    token: ${TOKEN}\n`);
    expect(() => loadUsersFile(inline)).toThrow(/users\.oncall-2\.token: a secret never goes in the users file/);
    expect(() => loadUsersFile(inline)).not.toThrow(/tokenFile: is required/);
    fs.writeFileSync(path.join(dir, 'short.token'), 'short');
    const short = path.join(dir, 'short.yaml');
    fs.writeFileSync(short, 'users:\n  oncall-3:\n    tokenFile: short.token\n');
    expect(() => loadUsersFile(short)).toThrow(`shorter than ${MIN_TOKEN_LENGTH} characters`);
  });

  it('refuses a users file where two users have the same token: the same token file, or two files holding the same text', () => {
    const shared = path.join(dir, 'shared.yaml');
    fs.writeFileSync(shared, 'users:\n  oncall-1:\n    tokenFile: oncall-1.token\n  oncall-2:\n    tokenFile: oncall-1.token\n');
    expect(() => loadUsersFile(shared)).toThrow(
      `users.oncall-1 and users.oncall-2 have the same token (both name ${path.join(dir, 'oncall-1.token')})`,
    );
    fs.writeFileSync(path.join(dir, 'copy.token'), `${TOKEN}\n`, { mode: 0o600 });
    fs.writeFileSync(shared, 'users:\n  oncall-1:\n    tokenFile: oncall-1.token\n  oncall-2:\n    tokenFile: copy.token\n');
    expect(() => loadUsersFile(shared)).toThrow(/users\.oncall-1 and users\.oncall-2 have the same token \(.*oncall-1\.token and .*copy\.token hold the same text\)/);
    expect(() => loadUsersFile(shared)).not.toThrow(new RegExp(TOKEN));
    fs.writeFileSync(path.join(dir, 'own.token'), 'another-token-0123456789abcdef\n', { mode: 0o600 });
    fs.writeFileSync(shared, 'users:\n  oncall-1:\n    tokenFile: oncall-1.token\n  oncall-2:\n    tokenFile: own.token\n');
    expect(loadUsersFile(shared).map((u) => u.name)).toEqual(['oncall-1', 'oncall-2']);
  });

  it('listens on loopback by default; beyond it only with TLS or behind an authenticating proxy', () => {
    expect(parseListen('[::1]:8090')).toEqual({ host: '::1', port: 8090 });
    expect(() => parseListen('8090')).toThrow('--listen: "8090" must be host:port');
    expect(listenProblem('127.0.0.1', { tls: false, behindProxy: false })).toBeUndefined();
    expect(listenProblem('::1', { tls: false, behindProxy: false })).toBeUndefined();
    expect(listenProblem('0.0.0.0', { tls: false, behindProxy: false })).toContain('needs TLS (--tls-cert and --tls-key)');
    expect(listenProblem('0.0.0.0', { tls: true, behindProxy: false })).toBeUndefined();
    expect(listenProblem('0.0.0.0', { tls: false, behindProxy: true })).toBeUndefined();
    expect(new Authenticator({ users: loadUsersFile(usersFile), secure: true }).cookieOptions().secure).toBe(true);
  });

  it('answers 401 before logging in, refuses a wrong token, and sets an HttpOnly SameSite=Strict cookie', async () => {
    const page = await send(base, 'GET', '/');
    expect(page.status).toBe(401);
    expect(page.body).toContain('Sign in');
    const post = await send(base, 'POST', '/runs/ekm-setup-x/answer', { form: { action: 'retry' } });
    expect(post.status).toBe(401);
    // What was missing, in words: nothing, a Bearer token not accepted, a session that ended.
    const api = { accept: 'application/json' };
    expect((await send(base, 'GET', '/', { headers: api })).body.trim()).toBe(
      'sign in first: POST /login, or send Authorization: Bearer <token>',
    );
    expect((await send(base, 'GET', '/', { headers: { ...api, authorization: 'Bearer nope' } })).body.trim()).toMatch(
      /^the Bearer token was not accepted/,
    );
    expect((await send(base, 'GET', '/', { headers: { ...api, cookie: `${SESSION_COOKIE}=gone` } })).body.trim()).toMatch(
      /^the session has ended/,
    );
    const wrong = await signIn(base, 'oncall-1', `${TOKEN}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('User or token not accepted.');
    const ok = await signIn(base, 'oncall-1', TOKEN);
    expect(ok.status).toBe(303);
    expect(ok.setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{40,};`));
    expect(ok.setCookie).toContain('HttpOnly');
    expect(ok.setCookie).toContain('SameSite=Strict');
    expect(ok.setCookie).not.toContain('Secure'); // plain http on loopback
    expect(ok.body).not.toContain(TOKEN);
  });

  it('refuses a mutating request without the CSRF token, or with another session’s', async () => {
    const a = await login();
    const b = await login();
    const none = await send(base, 'POST', '/runs/ekm-setup-x/answer', { cookie: a.cookie, form: { action: 'retry' } });
    expect(none.status).toBe(403);
    expect(none.body).toContain('security token (CSRF) is missing or stale');
    const other = await send(base, 'POST', '/runs/ekm-setup-x/answer', {
      cookie: a.cookie,
      form: { action: 'retry', _csrf: b.csrf },
    });
    expect(other.status).toBe(403);
    // The token is bound to the session: logging out ends it.
    expect((await send(base, 'POST', '/logout', { cookie: a.cookie, form: { _csrf: a.csrf } })).status).toBe(303);
    expect((await send(base, 'GET', '/start', { cookie: a.cookie })).status).toBe(401);
  });

  it(`refuses an upload over ${UPLOAD_LIMIT_BYTES} bytes naming the file input, the file, its size and the limit, before Temporal is asked`, async () => {
    const { cookie, csrf } = await login();
    const size = UPLOAD_LIMIT_BYTES + 4000;
    const multipart = multipartBody({
      _csrf: csrf,
      certificatePem: '',
      caChainFile: { filename: 'chain.pem', data: Buffer.alloc(size, 0x41) },
    });
    const res = await send(base, 'POST', '/runs/ekm-setup-x/sign/check', { cookie, multipart });
    expect(res.status).toBe(413);
    expect(res.body).toContain(
      `CA chain: the file (&quot;chain.pem&quot;) is ${size} bytes (${(size / 1024).toFixed(1)} KiB), over the limit of ${UPLOAD_LIMIT_BYTES} bytes (64 KiB) for an uploaded file. Nothing was sent.`,
    );
    // The setup input file on the Start page too.
    const setup = await send(base, 'POST', '/start/review', {
      cookie,
      multipart: multipartBody({ _csrf: csrf, runbook: 'setup', cluster: 'prod-a', setupFile: { filename: 'setup.yaml', data: Buffer.alloc(size, 0x23) } }),
    });
    expect(setup.status).toBe(413);
    expect(setup.body).toContain(`Setup input file: the file (&quot;setup.yaml&quot;) is ${size} bytes`);
    // Shown next to the form again (its cluster kept), not on a page of its own.
    expect(setup.body).toContain('id="setup-form"');
    expect(setup.body).toContain('name="cluster" id="setup-cluster" required value="prod-a"');
  });

  describe('setup from an uploaded input file (the Start page)', () => {
    const upload = async (text: string, filename = 'setup.yaml', extra: Record<string, string> = {}) => {
      const { cookie, csrf } = await login();
      return send(base, 'POST', '/start/review', {
        cookie,
        multipart: multipartBody({ _csrf: csrf, runbook: 'setup', cluster: 'prod-a', ...extra, setupFile: { filename, data: Buffer.from(text) } }),
      });
    };
    let caLines: string[];
    beforeAll(async () => {
      const ca = await createCertificateAuthority('EKM console setup upload CA');
      caLines = ['kmipCaCertificate: |', ...ca.certificatePem.trim().split('\n').map((l) => `  ${l}`)];
    });
    const valid = [
      'subject: { commonName: prod-a.example.com, organization: Example }',
      'keyProviderName: kmip-provider',
      'keyServerName: kmip-server',
      'hostnames: [kms1.example.com]',
      'mode: none',
    ];
    const alert = (body: string) => /<p class="flash error" role="alert">([^<]*)<\/p>/.exec(body)?.[1];

    it("names a mistake by the file and its field, as ekm setup --input does, and keeps the form's choices", async () => {
      const res = await upload([...valid, ...caLines, 'testAttempts: 0'].join('\n'), 'setup.yaml', { ifBusy: 'wait' });
      expect(res.status).toBe(400);
      expect(alert(res.body)).toBe('setup.yaml: testAttempts: must be at least 1');
      // Shown next to the setup form, with the cluster typed and the file it named (a file input cannot be refilled).
      const form = res.body.slice(res.body.indexOf('id="setup-form"'));
      expect(form).toContain('setup.yaml: testAttempts: must be at least 1');
      expect(form).toContain('(was setup.yaml: choose it again)');
      expect(form).toMatch(/name="cluster" id="setup-cluster" required value="prod-a"/);
      expect(form).toMatch(/name="ifBusy" value="wait"\s+checked/);
      expect(res.body).not.toContain('id="plan"');
    });

    it('refuses a kmipCaCertificate given as a path (an upload has no folder), a syntax error, another cluster, a command signer not in the clusters file', async () => {
      const path = await upload([...valid, 'kmipCaCertificate: certs/kmip-ca.pem'].join('\n'), 'prod-a.yaml');
      expect(path.status).toBe(400);
      expect(alert(path.body)).toMatch(
        /^prod-a\.yaml: kmipCaCertificate: &quot;certs\/kmip-ca\.pem&quot; is not a PEM certificate; an uploaded file cannot name a certificate file: put the CA certificate&#39;s PEM text in the file/,
      );
      const syntax = await upload('subject: [unclosed\n', 'broken.yaml');
      expect(alert(syntax.body)).toMatch(/^broken\.yaml: not valid YAML at line \d+, column \d+/);
      const other = await upload([...valid, ...caLines, 'cluster: prod-b'].join('\n'));
      const missing = await upload(valid.join('\n'));
      expect(alert(missing.body)).toBe('setup.yaml: kmipCaCertificate: is required');
      expect(alert(other.body)).toBe(
        'setup.yaml: cluster: &quot;prod-b&quot; is not the cluster chosen on the page (&quot;prod-a&quot;); leave it out of the file or make them the same',
      );
      const noFile = await upload('', 'empty.yaml');
      expect(noFile.status).toBe(400);
      expect(alert(noFile.body)).toBe('Setup input file: choose the setup input file (YAML or JSON) to upload');
    });
  });

  it('a refused start form is shown again as it was filled in, with the refusal', async () => {
    const { cookie, csrf } = await login();
    const res = await send(base, 'POST', '/start/review', {
      cookie,
      multipart: multipartBody({ _csrf: csrf, runbook: 'renew', cluster: 'prod-a', signer: 'cfssl', cfsslUrl: 'not a url', newKeyPair: 'yes' }),
    });
    expect(res.status).toBe(400);
    const form = res.body.slice(res.body.indexOf('id="start-form"'), res.body.indexOf('id="setup-form"'));
    expect(form).toMatch(/class="flash error" role="alert">cfssl URL: /);
    expect(form).toMatch(/<option value="renew"\s+selected>/);
    expect(form).toMatch(/<option value="cfssl"\s+selected>/);
    expect(form).toContain('value="not a url"');
    expect(form).toMatch(/name="newKeyPair" value="yes"\s+checked/);
    expect(form).toMatch(/name="cluster" id="cluster" required value="prod-a"/);
  });

  it('a refused answer form keeps what was typed (never a private key or the CSRF token)', () => {
    const values = typedValues({
      _csrf: 'csrf-secret',
      action: 'change',
      hostnames: 'kms1.example.com, kms2',
      port: 'x',
      clientCertificatePem: '-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----',
      kmipCaCertificateFile: Buffer.from('file'),
      comment: 'ticket <42>',
    });
    expect(values).toEqual({ action: 'change', hostnames: 'kms1.example.com, kms2', port: 'x', comment: 'ticket <42>' });
    const page = runView({
      workflowId: 'ekm-x',
      runId: 'r',
      status: 'RUNNING',
      workflowType: 'setup',
      taskQueue: 'q',
      csrf: 't',
      progress: {
        runbook: 'setup',
        cluster: 'prod-a',
        state: 'waiting-for-input',
        startedAt: '2026-12-01T01:00:00.000Z',
        steps: [],
        notes: [],
        answers: [],
        waiting: {
          kind: 'operator-decision',
          step: 'server',
          since: '2026-12-01T01:00:00.000Z',
          prompt: 'key server keeps failing',
          answers: ['retry', 'change', 'abort'],
          reminders: 0,
          changeFields: ['hostnames', 'port', 'clientCertificate'],
        },
      } as unknown as RunbookProgress,
      refusal: { action: 'change', text: 'change: Port: "x" is not a number', values },
    }).toString();
    const change = page.slice(page.indexOf('data-answer="change"'), page.indexOf('</form>', page.indexOf('data-answer="change"')));
    expect(change).toContain('value="kms1.example.com, kms2"');
    expect(change).toContain('value="x"');
    expect(change).toContain('value="ticket &lt;42&gt;"');
    expect(change).toContain('change: Port: &quot;x&quot; is not a number');
    // Only the refused form is filled in again.
    const retry = page.slice(page.indexOf('data-answer="retry"'), page.indexOf('</form>', page.indexOf('data-answer="retry"')));
    expect(retry).toContain('name="comment" value=""');
  });

  it('a pasted certificate over the limit is refused with its real size, not cut first; a form over the whole limit names its size', async () => {
    const { cookie, csrf } = await login();
    // 300 KiB pasted into the change form's KMIP CA field: read whole, refused with its size.
    const pasted = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(300 * 1024)}\n-----END CERTIFICATE-----\n`;
    const big = await send(base, 'POST', '/runs/ekm-setup-x/answer', {
      cookie,
      multipart: multipartBody({ _csrf: csrf, action: 'change', kmipCaCertificate: pasted }),
    });
    expect(big.status).toBe(400);
    expect(big.body).toContain(
      `KMIP CA certificate: too large (${Buffer.byteLength(pasted.trim())} bytes; limit ${UPLOAD_LIMIT_BYTES})`,
    );
    // Over the whole form's limit: refused by its length before it is read, naming that length.
    const huge = multipartBody({ _csrf: csrf, action: 'change', kmipCaCertificate: 'A'.repeat(500 * 1024) });
    const refused = await send(base, 'POST', '/runs/ekm-setup-x/answer', { cookie, multipart: huge });
    expect(refused.status).toBe(413);
    expect(refused.body).toContain(`The form is too large (this form is ${huge.body.length} bytes`);
    expect(refused.body).toContain(`a whole form at most ${6 * UPLOAD_LIMIT_BYTES} bytes`);
  });

  it('the change form: a host name over 253 characters, an empty change, a port that is no number: refused in words naming the field, before anything is sent', async () => {
    const { cookie, csrf } = await login();
    const post = (fields: Record<string, string>) =>
      send(base, 'POST', '/runs/ekm-setup-x/answer', {
        cookie,
        multipart: multipartBody({ _csrf: csrf, action: 'change', ...fields }),
      });
    const long = await post({ hostnames: `${'a'.repeat(300)}.example.com` });
    expect(long.status).toBe(400);
    expect(long.body).toContain(
      `change: Key server host names: &#39;${'a'.repeat(24)}…&#39; is longer than 253 characters (312)`,
    );
    expect(long.body).not.toContain('Too big');
    // A change with none of the form's inputs (a script's): no field list of every runbook (no drive ids on a setup).
    const bare = await post({});
    expect(bare.status).toBe(400);
    expect(bare.body).toContain('change: fill in at least one of the fields the question accepts');
    expect(bare.body).not.toContain('Drive ids');
    // The form of a setup's question carries its four fields, blank: the refusal lists those, not drive ids.
    // As a browser sends it: every input of the form, the file inputs with no file chosen.
    const none = { filename: '', data: Buffer.alloc(0) };
    const empty = await send(base, 'POST', '/runs/ekm-setup-x/answer', {
      cookie,
      multipart: multipartBody({
        _csrf: csrf,
        action: 'change',
        hostnames: '',
        port: '',
        kmipCaCertificate: '',
        kmipCaCertificateFile: none,
        clientCertificatePem: '',
        clientCertificateFile: none,
        clientCaPem: '',
        clientCaFile: none,
        comment: '',
      }),
    });
    expect(empty.status).toBe(400);
    expect(empty.body).toContain(
      'change: fill in at least one of Key server host names, Port, KMIP CA certificate, Client certificate with its CA; nothing was sent',
    );
    const port = await post({ port: '70000' });
    expect(port.body).toContain('change: Port: must be 1-65535');
  });

  it('small words: the Reason field is limited as the server limits it, the CSR downloads as <cluster>.csr, a run without a CSR says why, a fleet row words what its run waits for', () => {
    const page = runView({
      workflowId: 'ekm-x',
      runId: 'r',
      status: 'RUNNING',
      workflowType: 'setup',
      taskQueue: 'q',
      csrf: 't',
      progress: {
        runbook: 'setup',
        cluster: 'prod-a',
        state: 'waiting-for-input',
        startedAt: '2026-12-01T01:00:00.000Z',
        steps: [],
        notes: [],
        answers: [],
        waiting: { kind: 'operator-decision', step: 'server', since: '2026-12-01T01:00:00.000Z', prompt: 'p', answers: ['abort'], reminders: 0 },
      } as unknown as RunbookProgress,
    }).toString();
    expect(page).toMatch(/<input type="text" name="reason" required maxlength="500"/);
    const sign = (d: Partial<Parameters<typeof signView>[0]>) =>
      signView({ workflowId: 'ekm-setup-prod-a', waitingForCertificate: true, csrf: 't', ...d }).toString();
    expect(sign({ cluster: 'prod-a', csrPem: '-----BEGIN CERTIFICATE REQUEST-----' })).toContain('Download prod-a.csr</a>');
    expect(sign({ noCsr: 'ekm-rekey-prod-a is a rekey run, which has no CSR: only setup and renew runs make one' })).toContain(
      'ekm-rekey-prod-a is a rekey run, which has no CSR',
    );
    expect(waitingText('operator-decision', 'key server keeps failing')).toBe('waiting for a decision: key server keeps failing');
    expect(waitingText('signed-certificate', 'have the CSR signed')).toBe('waiting for its signed certificate: have the CSR signed');
  });

  it("a run's change form offers only the fields its question accepts", () => {
    const progress = (changeFields?: ChangeField[], runbook: RunbookProgress['runbook'] = 'setup') =>
      ({
        runbook,
        cluster: 'prod-a',
        state: 'waiting-for-input',
        startedAt: '2026-12-01T01:00:00.000Z',
        steps: [],
        notes: [],
        answers: [],
        waiting: {
          kind: 'operator-decision',
          step: 'server',
          since: '2026-12-01T01:00:00.000Z',
          prompt: 'key server keeps failing',
          answers: ['retry', 'change', 'abort'],
          reminders: 0,
          changeFields,
        },
      }) as unknown as RunbookProgress;
    const inputs = (p: RunbookProgress) => {
      const text = runView({
        workflowId: 'ekm-x',
        runId: 'r',
        status: 'RUNNING',
        workflowType: 'setup',
        taskQueue: 'q',
        csrf: 't',
        progress: p,
      }).toString();
      const form = text.slice(
        text.indexOf('data-answer="change"'),
        text.indexOf('</form>', text.indexOf('data-answer="change"')),
      );
      return [...form.matchAll(/(?:input|textarea) [^>]*name="([A-Za-z]+)"/g)]
        .map((m) => m[1])
        .filter((n) => !['_csrf', 'action', 'comment'].includes(n!));
    };
    expect(inputs(progress(['hostnames', 'port', 'kmipCaCertificate', 'clientCertificate']))).toEqual([
      'hostnames',
      'port',
      'kmipCaCertificate',
      'kmipCaCertificateFile',
      'clientCertificatePem',
      'clientCertificateFile',
      'clientCaPem',
      'clientCaFile',
    ]);
    expect(inputs(progress(['clientCertificate', 'kmipCaCertificate'], 'renew'))).toEqual([
      'clientCertificatePem',
      'clientCertificateFile',
      'clientCaPem',
      'clientCaFile',
      'kmipCaCertificate',
      'kmipCaCertificateFile',
    ]);
    // A question asked before questions carried their fields: what the runbook's change applies to.
    expect(inputs(progress(undefined, 'recover-slice-service'))).toEqual(['driveIDs']);
    expect(inputs(progress(undefined, 'setup'))).not.toContain('driveIDs');
  });

  it("a run id longer than any run has: a 404 page in words, not the router's JSON", async () => {
    const { cookie } = await login();
    const res = await send(base, 'GET', `/runs/${'x'.repeat(5000)}`, { cookie });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.body).toContain(
      'No such run: the id in the address is 5000 characters long, longer than any run id (at most 1000).',
    );
    expect(res.body).not.toContain('FST_ERR');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
  });

  it('with Temporal unreachable: every page says it cannot reach Temporal at its address (not "no answer" after the bound), and nothing was changed', async () => {
    const { cookie } = await login();
    for (const url of ['/', '/runs/ekm-setup-x', '/runs/ekm-setup-x/sign', '/fleets']) {
      const res = await send(base, 'GET', url, { cookie });
      // The refused connection is seen at once, beside the SDK's retries (which would use up the bound and say "no answer within 3s").
      expect([url, res.status]).toEqual([url, 503]);
      expect(res.body).toContain('cannot reach Temporal at 127.0.0.1:1 (connection refused); nothing was changed');
    }
  });

  it('over TLS: serves HTTPS and the login cookie is Secure', async () => {
    const ca = await createCertificateAuthority('EKM console test CA');
    const server = await issueKeyAndCertificate(ca, { subject: 'CN=127.0.0.1', usages: ['server'], ipAddresses: ['127.0.0.1'] });
    const settings = loadRuntimeSettings({ TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const auth = new Authenticator({ users: loadUsersFile(usersFile), secure: true });
    const https = { cert: Buffer.from(server.certificatePem), key: Buffer.from(server.privateKeyPem) };
    const { app: tls } = await buildConsole({ settings, auth, timeoutMs: 3000, https });
    const url = await tls.listen({ host: '127.0.0.1', port: 0 });
    const dispatcher = new Agent({ connect: { ca: ca.certificatePem } });
    try {
      expect(url).toMatch(/^https:\/\//);
      const form = await undiciFetch(`${url}/login`, { dispatcher });
      const loginCsrf = /ekm_login_csrf=([^;]+)/.exec(form.headers.getSetCookie().join('\n'))![1]!;
      expect(form.headers.getSetCookie().join('\n')).toContain('Secure');
      const res = await undiciFetch(`${url}/login`, {
        method: 'POST',
        headers: { cookie: `ekm_login_csrf=${loginCsrf}` },
        body: new URLSearchParams({ user: 'oncall-1', token: TOKEN, _csrf: csrfOf(await form.text()) }),
        redirect: 'manual',
        dispatcher,
      });
      expect(res.status).toBe(303);
      const cookie = res.headers.getSetCookie().join('\n');
      expect(cookie).toContain('Secure');
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Strict');
    } finally {
      await dispatcher.close();
      await tls.close();
    }
  });

  it('--tls-cert/--tls-key that are swapped, or do not belong together: exit 2 naming the flag, not an OpenSSL decoder error', async () => {
    const ca = await createCertificateAuthority('EKM console pair test CA');
    const a = await issueKeyAndCertificate(ca, { subject: 'CN=127.0.0.1', usages: ['server'], ipAddresses: ['127.0.0.1'] });
    const b = await issueKeyAndCertificate(ca, { subject: 'CN=127.0.0.1', usages: ['server'], ipAddresses: ['127.0.0.1'] });
    const pem = (text: string) => Buffer.from(text);
    expect(() => checkTlsPair(pem(a.certificatePem), pem(a.privateKeyPem))).not.toThrow();
    expect(() => checkTlsPair(pem(a.certificatePem), pem(a.certificatePem))).toThrow('--tls-key: is not a PEM private key');
    expect(() => checkTlsPair(pem(a.privateKeyPem), pem(a.privateKeyPem))).toThrow('--tls-cert: is not a PEM certificate');
    expect(() => checkTlsPair(pem(a.certificatePem), pem(b.privateKeyPem))).toThrow(
      '--tls-key: is not the private key of the --tls-cert',
    );
  });

  it('an error after an answer was sent says it was sent and may still be applied, not only the SDK message', async () => {
    const temporal = new ConsoleTemporal(loadRuntimeSettings({ TEMPORAL_ADDRESS: '127.0.0.1:1' }), 3000);
    const failure = await temporal
      .run('answering ekm-setup-a', async (ctx) => {
        ctx.doing = 'checking that a worker serves task queue q';
        ctx.sent = { what: 'the answer "retry"', workflowId: 'ekm-setup-a' };
        throw new Error('Call cancelled');
      })
      .catch((err: Error) => err);
    expect(failure.message).toContain('the answer "retry" was sent to ekm-setup-a');
    expect(failure.message).toContain('may still be applied');
    await temporal.close();
  });

  it('a Temporal call that ran out of its deadline reads as no answer in time, not as a refusal by Temporal', async () => {
    const temporal = new ConsoleTemporal(loadRuntimeSettings({ TEMPORAL_ADDRESS: '127.0.0.1:1' }), 3000);
    const deadline = Object.assign(new Error('Deadline exceeded after 0.000s,waiting for metadata filters'), { code: 4 });
    const failure = await temporal
      .run('building the report of ekm-setup-a', async () => {
        throw new ServiceError('Failed to list workflows: Deadline exceeded', { cause: deadline });
      })
      .catch((err: Error & { status?: number }) => err);
    expect(failure.status).toBe(504);
    expect(failure.message).toContain('no answer within 3s while building the report of ekm-setup-a; nothing was changed');
    await temporal.close();
  });

  it("a fleet's page shows a child that waits for a person as waiting-for-input, with what it waits for", () => {
    const cluster = (name: string, state: 'running' | 'completed') => ({
      cluster: name,
      state,
      workflowId: `ekm-setup-${name}`,
      startedAt: '2026-12-01T01:00:00.000Z',
    });
    const status = {
      runbook: 'setup' as const,
      selector: '--label env=prod',
      state: 'running' as const,
      startedAt: '2026-12-01T01:00:00.000Z',
      maxConcurrency: 3,
      maxErrors: 1,
      failed: 0,
      clusters: [cluster('prod-a', 'running'), cluster('prod-b', 'running'), cluster('prod-c', 'completed')],
      executions: 1,
      notes: [],
    };
    const waiting = new Map([['prod-a', 'signed-certificate: have the CSR signed']]);
    const text = fleetView('ekm-fleet-setup-x', status, undefined, Date.parse('2026-12-01T01:05:00.000Z'), waiting).toString();
    const row = (name: string) =>
      text.slice(text.indexOf(`data-cluster="${name}"`), text.indexOf('</tr>', text.indexOf(`data-cluster="${name}"`)));
    expect(row('prod-a')).toContain('waiting-for-input');
    expect(row('prod-a')).toContain('signed-certificate: have the CSR signed');
    expect(row('prod-b')).toContain('>running<');
    expect(text).toContain('1 running, 1 waiting for a person');
  });

  it('behind a proxy: the trusted header names the user, and a mutating request still needs the CSRF token', async () => {
    const settings = loadRuntimeSettings({ TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const auth = new Authenticator({ proxyUserHeader: 'x-forwarded-user', secure: false });
    const { app: proxied } = await buildConsole({ settings, auth, timeoutMs: 3000 });
    const url = await proxied.listen({ host: '127.0.0.1', port: 0 });
    try {
      expect((await send(url, 'GET', '/start')).status).toBe(401);
      const alice = { 'x-forwarded-user': 'alice@example.com' };
      const start = await send(url, 'GET', '/start', { headers: alice });
      expect(start.status).toBe(200);
      expect(start.body).toContain('signed in as <strong>alice@example.com</strong>');
      const refused = await send(url, 'POST', '/start/review', { headers: alice, form: { runbook: 'rekey', cluster: 'prod-a' } });
      expect(refused.status).toBe(403);
      const accepted = await send(url, 'POST', '/start/review', {
        headers: alice,
        form: { runbook: 'rekey', cluster: 'prod-a', _csrf: csrfOf(start.body) },
      });
      expect(accepted.status).not.toBe(403);
    } finally {
      await proxied.close();
    }
  });
});

describe("the success message carried in a page's address", () => {
  it('is shown only when this console made it: a link made elsewhere shows nothing', () => {
    const query = (url: string) => Object.fromEntries(new URL(url, 'https://console.test').searchParams);
    const a = '/runs/ekm-setup-a';
    expect(flashOf(query(withFlash(a, 'retry: accepted')), a)).toEqual({ kind: 'ok', text: 'retry: accepted' });
    expect(flashOf({ ok: 'Session expired: re-enter your token at evil.example' }, a)).toBeUndefined();
    const forged = query(withFlash(a, 'retry: accepted'));
    expect(flashOf({ ...forged, ok: 'Session expired: re-enter your token at evil.example' }, a)).toBeUndefined();
    // One run's message on another run's address (or the list's): not shown.
    expect(flashOf(forged, '/runs/ekm-setup-b')).toBeUndefined();
    expect(flashOf(forged, '/')).toBeUndefined();
  });
});

describe('the console: signing in, its flags and its words (no Temporal)', () => {
  let dir: string;
  let usersFile: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-console-words-'));
    fs.writeFileSync(path.join(dir, 'oncall-1.token'), `${TOKEN}\n`, { mode: 0o600 });
    usersFile = path.join(dir, 'users.yaml');
    fs.writeFileSync(usersFile, 'users:\n  oncall-1:\n    tokenFile: oncall-1.token\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function consoleApp(): Promise<{ url: string; close: () => Promise<void> }> {
    const settings = loadRuntimeSettings({ TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const { app } = await buildConsole({
      settings,
      auth: new Authenticator({ users: loadUsersFile(usersFile), secure: false }),
      timeoutMs: 3000,
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return { url, close: () => app.close() };
  }

  it('the sign-in form carries its own CSRF token: a sign-in posted without it, or with another form’s, is refused and signs nobody in', async () => {
    const { url, close } = await consoleApp();
    try {
      const form = await send(url, 'GET', '/login');
      expect(form.setCookie).toMatch(/ekm_login_csrf=[A-Za-z0-9_-]{20,}; Max-Age=3600; Path=\/login; HttpOnly; SameSite=Strict/);
      const bare = await send(url, 'POST', '/login', { form: { user: 'oncall-1', token: TOKEN } });
      expect(bare.status).toBe(403);
      expect(bare.body).toContain('The sign-in form was stale or did not come from this console');
      expect(bare.setCookie).not.toContain('ekm_session=');
      const other = await send(url, 'GET', '/login');
      const crossed = await send(url, 'POST', '/login', {
        cookies: /(ekm_login_csrf=[^;]+)/.exec(form.setCookie)![1],
        form: { user: 'oncall-1', token: TOKEN, _csrf: csrfOf(other.body) },
      });
      expect(crossed.status).toBe(403);
      expect((await signIn(url, 'oncall-1', TOKEN)).status).toBe(303);
    } finally {
      await close();
    }
  });

  it(`more than ${LOGIN_FAILURE_LIMIT} failed sign-ins from one address within a minute: 429 in words, even with the right token`, async () => {
    const { url, close } = await consoleApp();
    try {
      for (let i = 0; i < LOGIN_FAILURE_LIMIT; i++)
        expect((await signIn(url, 'oncall-1', `wrong-${i}-0123456789abcdef`)).status).toBe(401);
      const blocked = await signIn(url, 'oncall-1', TOKEN);
      expect(blocked.status).toBe(429);
      expect(blocked.body).toMatch(
        new RegExp(
          `Too many failed sign-ins from 127\\.0\\.0\\.1: ${LOGIN_FAILURE_LIMIT} within 1m\\. Wait \\d+ s, then sign in again\\.`,
        ),
      );
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(blocked.setCookie).not.toContain('ekm_session=');
    } finally {
      await close();
    }
    // The window slides: an address's failures leave it a minute after they happened; a success clears them.
    let now = 0;
    const throttle = new LoginThrottle(2, 60_000, () => now);
    throttle.recordFailure('a');
    now = 30_000;
    throttle.recordFailure('a');
    expect(throttle.retryAfterMs('a')).toBe(30_000);
    expect(throttle.retryAfterMs('b')).toBe(0);
    now = 60_001;
    expect(throttle.retryAfterMs('a')).toBe(0);
    throttle.recordFailure('a');
    throttle.clear('a');
    expect(throttle.retryAfterMs('a')).toBe(0);
  });

  it(`failed Bearer tokens count like failed sign-ins: after ${LOGIN_FAILURE_LIMIT} from one address, 429 with the wait, even for the right token and the sign-in form`, async () => {
    const { url, close } = await consoleApp();
    try {
      const bearer = (token: string) => send(url, 'GET', '/', { headers: { accept: 'application/json', authorization: `Bearer ${token}` } });
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) statuses.push((await bearer(`wrong-${i}-0123456789abcdef`)).status);
      expect(statuses).toEqual([...Array(LOGIN_FAILURE_LIMIT).fill(401), ...Array(15 - LOGIN_FAILURE_LIMIT).fill(429)]);
      const blocked = await bearer(TOKEN);
      expect(blocked.status).toBe(429);
      expect(blocked.body).toMatch(/^Too many failed sign-ins \(Bearer tokens or the sign-in form\) from 127\.0\.0\.1: 10 within 1m\. Wait \d+ s, then try again\./);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await signIn(url, 'oncall-1', TOKEN)).status).toBe(429);
    } finally {
      await close();
    }
  });

  it('--users, --tls-cert, --tls-key naming a missing file, a directory: the flag and the file in words, exit 2', () => {
    const missing = path.join(dir, 'nope.yaml');
    expect(() => loadUsersFile(missing)).toThrow(`--users: file ${missing} does not exist`);
    expect(() => loadUsersFile(dir)).toThrow(`--users: ${dir} is a directory, not a file`);
    fs.writeFileSync(path.join(dir, 'gone.yaml'), 'users:\n  oncall-2:\n    tokenFile: gone.token\n');
    expect(() => loadUsersFile(path.join(dir, 'gone.yaml'))).toThrow(
      `users.oncall-2.tokenFile: file ${path.join(dir, 'gone.token')} does not exist`,
    );
    for (const flag of ['--tls-cert', '--tls-key']) {
      const failure = (() => {
        try {
          readFlagFile(missing, flag);
        } catch (err) {
          return err as CliError;
        }
        throw new Error('read a missing file');
      })();
      expect(failure.message).toBe(`${flag}: file ${missing} does not exist`);
      expect(failure.exitCode).toBe(2);
    }
    expect(() => readFlagFile(dir, '--tls-cert')).toThrow(`--tls-cert: ${dir} is a directory, not a file`);
  });

  it("zod's refusals in an operator's words, for every field: too long, too short, wrong type, not a number, out of range", () => {
    const schema = z.strictObject({
      name: z.string().max(8),
      code: z.string().min(3),
      count: z.number(),
      port: z.int().max(65535),
      tags: z.array(z.string()).min(1),
      mode: z.enum(['hardware', 'software']),
    });
    const parsed = schema.safeParse(
      { name: 'much-too-long', code: 'ab', count: 'seven', port: 70000, tags: [], mode: 'x', extra: 1 },
      { reportInput: true },
    );
    const text = describeIssues(parsed.error!, { port: '--port' });
    expect(text.split('; ')).toEqual([
      "name: 'much-too-long' is longer than 8 characters (13)",
      "code: 'ab' is shorter than 3 characters (2)",
      "count: 'seven' is not a number",
      '--port: 70000 is more than 65535',
      'tags: must list at least one',
      "mode: 'x' is not one of hardware, software",
      '(input): extra is not a field here',
    ]);
    expect(describeIssues(schema.safeParse({ name: 1 }).error!)).toContain('name: must be text; code: is required');
    // An abort with an empty reason: one problem, said once (it was 'must not be empty; Reason: is required').
    const emptyReason = answerUpdate.argument.safeParse({ action: 'abort', reason: '' });
    expect(describeIssues(emptyReason.error!)).toMatch(/^reason: [^;]*$/);
    // ekm answer: the same words, naming the flags; a refusal of the answer as a whole names no field.
    expect(() => buildAnswer('change', { hostnames: `${'k'.repeat(260)}.example.com` })).toThrow(
      `change: --hostnames: '${'k'.repeat(24)}…' is longer than 253 characters (272)`,
    );
    expect(() => buildAnswer('change', {})).toThrow(/^change: give at least one of hostnames, port/);
    // The settings files' errors are worded by the same function.
    expect(
      describeZodError(
        z.strictObject({ port: z.int() }).safeParse({ port: 1.5 }, { reportInput: true }).error!,
        'clusters.prod-a',
      ),
    ).toBe('clusters.prod-a.port: 1.5 is not a whole number');
  });

  it("a query no worker answers is said as no worker on the run's task queue, not the SDK's 'Failed to query Workflow'", async () => {
    const deadline = Object.assign(new Error('Deadline exceeded'), { code: 4 });
    const failure = await queryWorker('ekm-main', "the run's state cannot be read now", () =>
      Promise.reject(new ServiceError('Failed to query Workflow', { cause: deadline })),
    ).catch((err: CliError) => err);
    expect(failure.message).toBe(
      "no worker is serving task queue ekm-main (the query was not answered: a worker that stopped less than about 90 s ago still shows as polling); the run's state cannot be read now",
    );
    expect(failure.exitCode).toBe(5);
    const notFound = new WorkflowNotFoundError('not found', 'ekm-setup-x', undefined);
    await expect(queryWorker('q', 'x', () => Promise.reject(notFound))).rejects.toBe(notFound);
  });

  it("the certificate verdict names the console's inputs, not the CLI's flags", async () => {
    const { csrPem } = await makeCsr();
    const ca = await createCertificateAuthority('EKM console verdict CA');
    const other = await issueKeyAndCertificate(ca, { subject: 'CN=someone-else', usages: ['client'] });
    const names = { certificate: 'Signed certificate', ca: 'CA chain' };
    const garbage = await certificateVerdict(
      csrPem,
      'run x',
      { cert: Buffer.from('not a certificate'), ca: Buffer.from(ca.certificatePem) },
      new Date(),
      names,
    );
    expect(garbage.problems[0]).toMatch(/^Signed certificate: /);
    const wrongKey = await certificateVerdict(
      csrPem,
      'run x',
      { cert: Buffer.from(other.certificatePem), ca: Buffer.from(ca.certificatePem) },
      new Date(),
      names,
    );
    expect(wrongKey.accepted).toBe(false);
    expect(wrongKey.problems.join('\n')).toContain('Signed certificate: ');
    expect(wrongKey.problems.join('\n')).not.toContain('--cert');
    // The CLI's own call still names its flags.
    expect(
      (
        await certificateVerdict(csrPem, '--csr f', {
          cert: Buffer.from(other.certificatePem),
          ca: Buffer.from(ca.certificatePem),
        })
      ).problems.join('\n'),
    ).toContain('--cert: ');
  });
});
