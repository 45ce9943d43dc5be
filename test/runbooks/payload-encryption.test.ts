import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildCodecServer } from '../../src/codec/codec-server';
import { ekmDataConverter } from '../../src/codec/data-converter';
import { KEY_ID_METADATA } from '../../src/codec/encryption-codec';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { Authenticator, loadUsersFile } from '../../src/console/auth';
import { LogNotifier } from '../../src/notify/notifier';
import { startLocalWorker, type LocalWorker } from '../../tools/devenv/local-worker';
import { workflowIds } from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import { RUN_LABELS_HEADER } from '../../workflows/telemetry';
import { runCli } from '../support/cli';
import { startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { rawText, transformHistoryPayloads } from '../support/encrypted-history';
import { executeRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { testFileDir } from '../support/test-log';
import { uniqueTaskQueue } from '../support/worker';

const UI_ORIGIN = 'http://127.0.0.1:8080';
const TOKEN = randomBytes(24).toString('base64url');

/**
 * Payload encryption end to end: a worker and a client with EKM_PAYLOAD_KEYS_FILE run a setup
 * (certificates, CSR, key server hostname, the cluster's MVIP all pass through payloads); the
 * history as the server stores it, read through the raw gRPC API, holds none of them; the codec
 * server gives them back to an authenticated caller only; the wrong key is named.
 */
describe('payload encryption (real Temporal, simulator, PyKMIP, cfssl)', () => {
  const taskQueue = uniqueTaskQueue('codec');
  let dir: string;
  let keysFile: string;
  let harness: ClusterHarness;
  let worker: LocalWorker;
  let connection: Connection;
  let client: Client;
  let workflowId: string;
  const servers: FastifyInstance[] = [];

  function writeKeys(name: string, keys: Record<string, { key: string; current?: boolean }>): string {
    const lines = ['keys:'];
    for (const [id, k] of Object.entries(keys)) {
      fs.writeFileSync(path.join(dir, `${name}-${id}.key`), k.key);
      lines.push(`  ${id}: { file: ${name}-${id}.key${k.current ? ', current: true' : ''} }`);
    }
    fs.writeFileSync(path.join(dir, `${name}.yaml`), `${lines.join('\n')}\n`);
    return path.join(dir, `${name}.yaml`);
  }

  async function codecServer(keys: string): Promise<string> {
    const auth = new Authenticator({ users: loadUsersFile(path.join(dir, 'users.yaml')), secure: false });
    const app = await buildCodecServer({ keysFile: keys, auth, allowedOrigin: UI_ORIGIN });
    servers.push(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as { port: number };
    return `http://127.0.0.1:${address.port}`;
  }

  beforeAll(async () => {
    dir = testFileDir();
    keysFile = writeKeys('keys', { k1: { key: randomBytes(32).toString('base64'), current: true } });
    fs.writeFileSync(path.join(dir, 'oncall.token'), TOKEN);
    fs.writeFileSync(path.join(dir, 'users.yaml'), 'users:\n  oncall-1: { tokenFile: oncall.token }\n');
    harness = await startClusterHarness('codec-lab');
    const settings = loadRuntimeSettings({
      TEMPORAL_ADDRESS: testEnv().temporal.address,
      EKM_TASK_QUEUE: taskQueue,
      EKM_WORKFLOW_BUNDLE: testEnv().workflowBundle,
      EKM_PAYLOAD_KEYS_FILE: keysFile,
    });
    worker = await startLocalWorker(settings, { registry: harness.registry, notifier: new LogNotifier(() => undefined) });
    connection = await Connection.connect({ address: testEnv().temporal.address });
    client = new Client({ connection, namespace: testEnv().temporal.namespace, dataConverter: ekmDataConverter(settings) });
    const kmip = testEnv().kmip;
    const input: SetupInput = {
      cluster: harness.name,
      subject: { commonName: 'codec-lab.example.test', organization: 'EKM tests', country: 'US' },
      keyProviderName: 'kmip-provider',
      keyServerName: 'kmip-server',
      hostnames: ['localhost'], // PyKMIP's certificate names it too; a name, so the search below means something
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'none',
      signer: { type: 'cfssl', url: testEnv().cfssl.url },
      testAttempts: 2,
      testRetryInterval: '200ms',
    };
    workflowId = workflowIds.setup(harness.name); // the CLI finds a run by it
    const result = await executeRunbook(client, 'setup', input, { taskQueue });
    expect(result.keyServerID).toBeGreaterThan(0);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await worker?.stop();
    await connection?.close();
    await harness?.stop();
  });

  async function rawHistory() {
    const events = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await connection.workflowService.getWorkflowExecutionHistory({
        namespace: testEnv().temporal.namespace,
        execution: { workflowId },
        nextPageToken,
      });
      events.push(...(page.history?.events ?? []));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return { events };
  }

  it('stores no PEM, no key server hostname and no MVIP in the history; decoded with the key, they are there', async () => {
    const history = await rawHistory();
    const mvip = new URL(harness.registry.clusters[harness.name]!.mvip);
    const secrets = ['BEGIN CERTIFICATE', 'BEGIN CERTIFICATE REQUEST', 'localhost', mvip.host, 'codec-lab.example.test'];
    const stored = rawText(history);
    expect(secrets.filter((s) => stored.includes(s))).toEqual([]);
    // Every payload names the key that encrypted it.
    const keyIds = new Set<string>();
    const plain = new Set<string>();
    const codec = ekmDataConverter({ EKM_PAYLOAD_KEYS_FILE: keysFile }).payloadCodecs![0]!;
    const count = await transformHistoryPayloads(history, async (p, field) => {
      const keyId = Buffer.from(p.metadata?.[KEY_ID_METADATA] ?? []).toString();
      if (keyId) keyIds.add(keyId);
      else plain.add(field);
      return (await codec.decode([p]))[0]!;
    });
    expect(count).toBeGreaterThan(20);
    expect([...keyIds]).toEqual(['k1']);
    // Headers never pass through a codec (the SDK's rule); ours holds only the run's labels (cluster name, runbook, step).
    expect([...plain]).toEqual([RUN_LABELS_HEADER]);
    // The control: the same text, decoded, holds what the search looked for (but the MVIP: workflows
    // name the cluster, and only activities read its address from the clusters file).
    const decoded = rawText(history);
    expect(secrets.filter((s) => !decoded.includes(s))).toEqual([mvip.host]);
  });

  it('the CLI reads the run with the keys file, and without it says which key it needs', async () => {
    const env = { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: harness.clustersFile };
    const withKeys = await runCli(['status', workflowId, '--json'], { ...env, EKM_PAYLOAD_KEYS_FILE: keysFile });
    expect([withKeys.code, withKeys.stderr]).toEqual([0, '']);
    expect(JSON.parse(withKeys.stdout).progress.cluster).toBe(harness.name);
    const without = await runCli(['status', workflowId, '--json'], env);
    expect(without.code).not.toBe(0);
    expect(without.stderr).toContain('key id "k1"');
  });

  it('the codec server decodes for an authenticated caller, refuses others, and answers CORS for the UI origin only', async () => {
    const url = await codecServer(keysFile);
    const started = (await rawHistory()).events[0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    const body = JSON.stringify({
      payloads: started.map((p) => ({
        metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
        data: Buffer.from(p.data ?? []).toString('base64'),
      })),
    });
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/decode`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    const ok = await post({ authorization: `Bearer ${TOKEN}`, origin: UI_ORIGIN, 'x-namespace': 'default' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const [payload] = ((await ok.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> }).payloads;
    expect(Buffer.from(payload!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(payload!.data, 'base64').toString()).subject.commonName).toBe('codec-lab.example.test');

    const strangers: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer not-the-token-of-anyone' },
      { authorization: `Basic ${TOKEN}` },
    ];
    for (const headers of strangers) {
      const refused = await post(headers);
      expect(refused.status).toBe(401);
      expect(await refused.text()).not.toContain('codec-lab');
    }

    const preflight = (origin: string) =>
      fetch(`${url}/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
    const fromUi = await preflight(UI_ORIGIN);
    expect(fromUi.status).toBe(204);
    expect(fromUi.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(fromUi.headers.get('access-control-allow-credentials')).toBe('true');
    const fromElsewhere = await preflight('http://evil.example.test');
    expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull();
    const elsewhere = await post({ authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example.test' });
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a codec server with another key under the id, or without the id, names key id k1', async () => {
    const started = (await rawHistory()).events[0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    const body = JSON.stringify({
      payloads: started.map((p) => ({
        metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
        data: Buffer.from(p.data ?? []).toString('base64'),
      })),
    });
    const wrongKey = await codecServer(writeKeys('wrong', { k1: { key: randomBytes(32).toString('base64'), current: true } }));
    const rotatedAway = await codecServer(
      writeKeys('k2-only', { k2: { key: randomBytes(32).toString('base64'), current: true } }),
    );
    for (const [url, why] of [
      [wrongKey, /key id "k1": the key with that id in .* does not decrypt it/],
      [rotatedAway, /key id "k1": .*has no key with that id/],
    ] as const) {
      const response = await fetch(`${url}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body,
      });
      expect(response.status).toBe(422);
      expect(((await response.json()) as { error: string }).error).toMatch(why);
    }
  });
});
