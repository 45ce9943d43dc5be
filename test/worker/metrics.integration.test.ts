import fs from 'node:fs';
import { freePort } from '../../tools/devenv/ports';
import path from 'node:path';
import YAML from 'yaml';
import type { ManagedProcess } from '../../tools/devenv/child';
import { progressQuery } from '../../workflows/contract';
import type { SetupInput } from '../../workflows/inputs';
import { addKmipCheckIdentity, configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { executeRunbook, startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { testFileDir } from '../support/test-log';
import { connectClient, spawnWorkerProcess, uniqueTaskQueue } from '../support/worker';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format -> samples (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum over samples of `name` whose labels include `labels`. */
const total = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);


/**
 * The worker process with EKM_METRICS_LISTEN: after real runs (a rekey that completes with a KMIP
 * check, a setup that waits for its certificate and is cancelled, a rekey that waits for the
 * cluster lock behind it and then fails its precheck), the endpoint shows the runbook metrics with
 * the right labels and values, next to the SDK's own; every line the worker logged is JSON, and
 * its activity lines carry the run's workflow id, cluster, runbook and step.
 */
describe('worker metrics and logs (worker process, real Temporal, simulator, PyKMIP)', () => {
  const taskQueue = uniqueTaskQueue('metrics');
  const commonName = 'metrics-a.example.test';
  let a: ClusterHarness;
  let b: ClusterHarness;
  let worker: ManagedProcess;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let metricsUrl: string;
  const scrape = async () => parseMetrics(await (await fetch(metricsUrl)).text());

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startClusterHarness('metrics-a', { softwareEncryptionAtRest: true, durations: { rekeyMs: 1000, tickMs: 50 } }),
      startClusterHarness('metrics-b', { softwareEncryptionAtRest: true }),
    ]);
    await configureEkmByHand(a.client(), { commonName });
    await addKmipCheckIdentity(a, commonName);
    const clustersFile = path.join(testFileDir(), 'clusters.yaml');
    // A third entry whose password variable is unset: the worker starts, and says at start it cannot be used.
    const broken = { ...a.registry.clusters[a.name]!, password: { env: 'EKM_TEST_UNSET_PASSWORD' } };
    fs.writeFileSync(
      clustersFile,
      YAML.stringify({ clusters: { ...a.registry.clusters, ...b.registry.clusters, 'metrics-broken': broken }, signers: {} }),
    );
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    worker = spawnWorkerProcess({
      taskQueue,
      clustersFile,
      logDir: path.join(testFileDir(), 'worker'),
      env: { EKM_METRICS_LISTEN: `127.0.0.1:${port}`, EKM_LOG_LEVEL: 'DEBUG' },
    });
    temporal = await connectClient();
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('counts runs, steps, waits, Element calls, KMIP checks, notifications and the lock wait, with their labels', async () => {
    const rekeyId = `rekey-metrics-${Date.now()}`;
    await executeRunbook(
      temporal.client,
      'rekey',
      { cluster: a.name, keyManagement: 'external' },
      { taskQueue, workflowId: rekeyId },
    );

    const kmip = testEnv().kmip;
    const setupInput: SetupInput = {
      cluster: b.name,
      subject: { commonName: 'metrics-b.example.test' },
      keyProviderName: 'kmip-provider',
      keyServerName: 'kmip-server',
      hostnames: [kmip.host],
      port: kmip.port,
      kmipCaCertificate: kmip.caPem,
      mode: 'none',
      signer: { type: 'manual' },
    } as SetupInput;
    const setup = await startRunbook(temporal.client, 'setup', setupInput, {
      taskQueue,
      workflowId: `setup-metrics-${Date.now()}`,
    });
    await eventually(
      async () => expect((await setup.query(progressQuery.definition)).waiting?.step).toBe('signing'),
      60_000,
      200,
    );
    // The gauge counts from Temporal's visibility, refreshed every 15 s.
    await eventually(
      async () => expect(total(await scrape(), 'ekm_runs_waiting_for_input', { runbook: 'setup' })).toBe(1),
      60_000,
      1000,
    );
    // Queued behind the setup's lock; once the setup is cancelled it runs and refuses: no provider on b.
    const blocked = await startRunbook(
      temporal.client,
      'rekey',
      { cluster: b.name, keyManagement: 'external', ifBusy: 'wait' },
      { taskQueue, workflowId: `rekey-blocked-${Date.now()}` },
    );
    await eventually(
      async () => expect((await blocked.query(progressQuery.definition)).waiting?.kind).toBe('cluster-lock'),
      60_000,
      200,
    );
    await setup.cancel();
    await expect(setup.result()).rejects.toThrow();
    await expect(blocked.result()).rejects.toThrow();

    const rekeyCalls = (await a.sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).length;
    await eventually(
      async () => {
        const m = await scrape();
        expect({
          started: total(m, 'ekm_runs_started_total', { runbook: 'rekey', cluster: a.name }),
          completed: total(m, 'ekm_runs_ended_total', { runbook: 'rekey', cluster: a.name, outcome: 'completed' }),
          failed: total(m, 'ekm_runs_ended_total', { runbook: 'rekey', cluster: b.name, outcome: 'failed' }),
          cancelled: total(m, 'ekm_runs_ended_total', { runbook: 'setup', cluster: b.name, outcome: 'cancelled' }),
          signingWaits: total(m, 'ekm_input_wait_seconds_count', { runbook: 'setup', step: 'signing' }),
          lockWaits: total(m, 'ekm_cluster_lock_wait_seconds_count', { runbook: 'rekey' }),
          rekeyCalls: total(m, 'ekm_element_calls_total', {
            cluster: a.name,
            method: 'RekeySoftwareEncryptionAtRestMasterKey',
            outcome: 'ok',
          }),
          kmipFound: total(m, 'ekm_kmip_checks_total', { cluster: a.name, outcome: 'found' }),
          waitingNow: total(m, 'ekm_runs_waiting_for_input', { runbook: 'setup' }),
        }).toEqual({
          started: 1,
          completed: 1,
          failed: 1,
          cancelled: 1,
          signingWaits: 1,
          lockWaits: 1,
          rekeyCalls,
          kmipFound: 1,
          waitingNow: 0,
        });
        return m;
      },
      60_000,
      1000,
    );
    const m = await scrape();
    expect(rekeyCalls).toBe(1);
    // Step durations by runbook and step; Element latency by method; notifications by kind.
    expect(total(m, 'ekm_step_duration_seconds_count', { runbook: 'rekey', outcome: 'done' })).toBeGreaterThanOrEqual(3);
    expect(total(m, 'ekm_step_duration_seconds_count', { runbook: 'rekey', step: 'precheck', outcome: 'done' })).toBe(1);
    expect(
      total(m, 'ekm_element_call_duration_seconds_count', { method: 'GetAsyncResult', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(total(m, 'ekm_notifications_total', { kind: 'completed', outcome: 'sent' })).toBe(1);
    expect(total(m, 'ekm_notifications_total', { kind: 'waiting-for-input', outcome: 'sent' })).toBe(1);
    // The SDK's own worker metrics on the same endpoint.
    expect(m.some((s) => s.name.startsWith('temporal_') && s.labels.task_queue === taskQueue)).toBe(true);
  });

  it('logs one JSON object per line; activity lines name the workflow id, cluster, runbook and step', () => {
    const lines = fs
      .readFileSync(worker.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    const notJson = lines.filter((l) => {
      try {
        return typeof JSON.parse(l) !== 'object';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.find((e) => e.cluster === 'metrics-broken')).toMatchObject({
      level: 'warn',
      msg: 'cluster metrics-broken cannot be used until this is fixed: clusters.metrics-broken.password: environment variable EKM_TEST_UNSET_PASSWORD is not set',
    });
    const rekeyActivity = entries.find((e) => e.activityType === 'startMasterKeyRekey' && e.cluster === a.name);
    expect(rekeyActivity).toMatchObject({
      runbook: 'rekey',
      cluster: a.name,
      workflowId: expect.stringMatching(/^rekey-metrics-/),
    });
    expect(typeof rekeyActivity?.step).toBe('string');
    // Workflow lines (no activity) carry them too once the run has set them.
    expect(
      entries.some((e) => e.workflowType === 'rekeyRunbook' && !e.activityType && e.cluster === a.name && e.runbook === 'rekey'),
    ).toBe(true);
  });
});
