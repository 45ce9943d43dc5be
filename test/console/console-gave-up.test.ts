/**
 * A start the console gave up on must not happen later: with nothing listening at the console's
 * TEMPORAL_ADDRESS the Start page answers "cannot reach Temporal …; nothing was changed", then
 * Temporal becomes reachable at that address (a TCP forwarder to the test's dev server starts
 * listening there). The SDK's retries of the start call would reach it then; the console cancels
 * them when it gives up, so no run exists after the whole retry window. The same console then
 * starts the runbook once Temporal answers (the forwarder works; the assertion is not vacuous).
 */
import fs from 'node:fs';
import net from 'node:net';
import { freePort } from '../../tools/devenv/ports';
import path from 'node:path';
import YAML from 'yaml';
import type { FastifyInstance } from 'fastify';
import { Authenticator, loadUsersFile } from '../../src/console/auth';
import { buildConsole, signReviewedStart } from '../../src/console/server';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { workflowIds } from '../../workflows/contract';
import { csrfOf, send, signIn } from '../support/console-http';
import { testEnv } from '../support/test-env';
import { testFileDir } from '../support/test-log';
import { connectClient, uniqueTaskQueue } from '../support/worker';

const TOKEN = 'console-gave-up-token-0123456789';
const TIMEOUT_MS = 3000;

/** A free loopback port, with nothing listening on it once this returns. */

/** Forwards connections on 127.0.0.1:port to Temporal's address. */
function forwarder(port: number, to: string): Promise<net.Server> {
  const [host, targetPort] = [to.slice(0, to.lastIndexOf(':')), Number(to.slice(to.lastIndexOf(':') + 1))];
  const server = net.createServer((socket) => {
    const upstream = net.connect(targetPort, host);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

describe('the console gives up on a start: the start never happens later', () => {
  const cluster = `gave-up-${Date.now().toString(36)}`;
  let app: FastifyInstance;
  let base: string;
  let port: number;
  let proxy: net.Server | undefined;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    const dir = testFileDir();
    fs.writeFileSync(path.join(dir, 'oncall-1.token'), TOKEN, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'users.yaml'), 'users:\n  oncall-1:\n    tokenFile: oncall-1.token\n');
    const clustersFile = path.join(dir, 'clusters.yaml');
    fs.writeFileSync(
      clustersFile,
      YAML.stringify({
        clusters: { [cluster]: { mvip: 'https://127.0.0.1:9', apiVersion: '12.3', username: 'admin', password: { env: 'UNUSED' }, insecure: true } },
      }),
    );
    port = await freePort();
    const settings = loadRuntimeSettings({
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      TEMPORAL_NAMESPACE: testEnv().temporal.namespace,
      EKM_TASK_QUEUE: uniqueTaskQueue('console-gave-up'),
      EKM_CLUSTERS_FILE: clustersFile,
    });
    const auth = new Authenticator({ users: loadUsersFile(path.join(dir, 'users.yaml')), secure: false });
    ({ app } = await buildConsole({ settings, auth, timeoutMs: TIMEOUT_MS }));
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    temporal = await connectClient();
  });
  afterAll(async () => {
    const run = temporal?.client.workflow.getHandle(workflowIds.rekey(cluster));
    if ((await run?.describe().catch(() => undefined))?.status.name === 'RUNNING') await run!.terminate('test over');
    await app?.close();
    await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    await temporal?.close();
  });

  it('says nothing was changed only when so: no run appears when Temporal comes back, and a later start works', async () => {
    const login = await signIn(base, 'oncall-1', TOKEN);
    const cookie = /^ekm_session=([^;]+)/.exec(login.setCookie)![1]!;
    const csrf = csrfOf((await send(base, 'GET', '/start', { cookie })).body);
    const input = JSON.stringify({ cluster, keyManagement: 'external', requestedBy: 'oncall-1 (console)' });
    const form = { _csrf: csrf, runbook: 'rekey', input, inputSig: signReviewedStart('oncall-1', 'rekey', input), confirm: 'yes' };

    const refused = await send(base, 'POST', '/start/go', { cookie, form });
    expect(refused.status).toBe(503);
    expect(refused.body).toContain(`cannot reach Temporal at 127.0.0.1:${port}`);
    expect(refused.body).toContain('nothing was changed');

    // Temporal at that address now; the SDK's retries of the start would reach it within the bound.
    proxy = await forwarder(port, testEnv().temporal.address);
    const run = temporal.client.workflow.getHandle(workflowIds.rekey(cluster));
    // Past the whole retry window (the call's deadline is the bound plus a second), with margin.
    await new Promise((r) => setTimeout(r, TIMEOUT_MS + 4000));
    await expect(run.describe()).rejects.toThrow(/not found/i);

    // The console itself is fine: the same start, now that Temporal answers, starts the run.
    const started = await send(base, 'POST', '/start/go', { cookie, form });
    expect(started.status).toBe(303);
    expect((await run.describe()).status.name).toBe('RUNNING');
  });
});
