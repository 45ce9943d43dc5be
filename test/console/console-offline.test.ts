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
import { ServiceError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { Authenticator, listenProblem, loadUsersFile, MIN_TOKEN_LENGTH, SESSION_COOKIE } from '../../src/console/auth';
import { UPLOAD_LIMIT_BYTES } from '../../src/console/forms';
import { ConsoleTemporal } from '../../src/console/temporal-access';
import { buildConsole } from '../../src/console/server';
import { fleetView } from '../../src/console/views';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { Agent, fetch as undiciFetch } from 'undici';
import { checkTlsPair, parseListen } from '../../src/cli/commands/console';
import { createCertificateAuthority, issueKeyAndCertificate } from '../../src/pki/authority';
import { csrfOf, multipartBody, send } from '../support/console-http';

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
    const res = await send(base, 'POST', '/login', { form: { user: 'oncall-1', token: TOKEN } });
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
    fs.writeFileSync(path.join(dir, 'short.token'), 'short');
    const short = path.join(dir, 'short.yaml');
    fs.writeFileSync(short, 'users:\n  oncall-3:\n    tokenFile: short.token\n');
    expect(() => loadUsersFile(short)).toThrow(`shorter than ${MIN_TOKEN_LENGTH} characters`);
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
    const wrong = await send(base, 'POST', '/login', { form: { user: 'oncall-1', token: `${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('User or token not accepted.');
    const ok = await send(base, 'POST', '/login', { form: { user: 'oncall-1', token: TOKEN } });
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
    const other = await send(base, 'POST', '/runs/ekm-setup-x/answer', { cookie: a.cookie, form: { action: 'retry', _csrf: b.csrf } });
    expect(other.status).toBe(403);
    // The token is bound to the session: logging out ends it.
    expect((await send(base, 'POST', '/logout', { cookie: a.cookie, form: { _csrf: a.csrf } })).status).toBe(303);
    expect((await send(base, 'GET', '/start', { cookie: a.cookie })).status).toBe(401);
  });

  it(`refuses an upload over ${UPLOAD_LIMIT_BYTES} bytes with the limit stated, before Temporal is asked`, async () => {
    const { cookie, csrf } = await login();
    const multipart = multipartBody({ _csrf: csrf, certificateFile: { filename: 'big.pem', data: Buffer.alloc(UPLOAD_LIMIT_BYTES + 1, 0x41) } });
    const res = await send(base, 'POST', '/runs/ekm-setup-x/sign/check', { cookie, multipart });
    expect(res.status).toBe(413);
    expect(res.body).toContain(`each file may be at most ${UPLOAD_LIMIT_BYTES} bytes (64 KiB`);
    expect(res.body).toContain('Nothing was sent.');
  });

  it('with Temporal unreachable: a bounded error page that says nothing was changed', async () => {
    const { cookie } = await login();
    for (const url of ['/', '/runs/ekm-setup-x']) {
      const res = await send(base, 'GET', url, { cookie });
      // Refused connections are retried by the client until the bound: 504 with what it was doing, or 503 if it gave up first.
      expect([url, [503, 504].includes(res.status)]).toEqual([url, true]);
      expect(res.body).toMatch(/nothing was changed.*Temporal at 127\.0\.0\.1:1|Temporal at 127\.0\.0\.1:1; nothing was changed/);
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
      const res = await undiciFetch(`${url}/login`, {
        method: 'POST',
        body: new URLSearchParams({ user: 'oncall-1', token: TOKEN }),
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
    expect(() => checkTlsPair(pem(a.certificatePem), pem(b.privateKeyPem))).toThrow('--tls-key: is not the private key of the --tls-cert');
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
    const row = (name: string) => text.slice(text.indexOf(`data-cluster="${name}"`), text.indexOf('</tr>', text.indexOf(`data-cluster="${name}"`)));
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
      const accepted = await send(url, 'POST', '/start/review', { headers: alice, form: { runbook: 'rekey', cluster: 'prod-a', _csrf: csrfOf(start.body) } });
      expect(accepted.status).not.toBe(403);
    } finally {
      await proxied.close();
    }
  });
});
