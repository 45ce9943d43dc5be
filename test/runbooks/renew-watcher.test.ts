/**
 * The fault watcher and certificates: with its renewal option it starts a renewal on
 * kmipCertificateFault (which then clears), and independently it warns `certificate-expiring`
 * about a key server certificate within its horizon, once per certificate and threshold, however
 * many checks and continue-as-new runs see it. Without the option it starts no renewal.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { RunbookEvent } from '../../src/notify/notifier';
import type { ClusterRegistry } from '../../src/config/clusters';
import { watcherStatusQuery, workflowIds } from '../../workflows/contract';
import type { FaultWatcherInput } from '../../workflows/inputs-recovery';
import type { RenewResult } from '../../workflows/renew';
import { runCli } from '../support/cli';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const DAY = 86_400_000;

describe('fault watcher: renewals and certificate-expiring (real Temporal, simulator, PyKMIP, cfssl)', () => {
  const taskQueue = uniqueTaskQueue('renew-watcher');
  const events: RunbookEvent[] = [];
  const harnesses: ClusterHarness[] = [];
  const registry: ClusterRegistry = { clusters: {}, signers: {} };
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  beforeAll(async () => {
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async (e) => void events.push(e) } });
  });
  afterAll(async () => {
    for (const h of harnesses) {
      const watcher = temporal.client.workflow.getHandle(workflowIds['fault-watcher'](h.name));
      if ((await watcher.describe().catch(() => undefined))?.status.name === 'RUNNING') {
        await watcher.cancel();
        await watcher.result().catch(() => undefined);
      }
    }
    await worker?.stop();
    await temporal?.close();
    await Promise.all(harnesses.map((h) => h.stop()));
  });

  async function expiringCluster(name: string, daysLeft: number) {
    const harness = await startClusterHarness(name, { durations: { earTransitionMs: 200, tickMs: 50 } });
    harnesses.push(harness);
    Object.assign(registry.clusters, harness.registry.clusters);
    const client = harness.client();
    const ids = await configureEkmByHand(client, {
      commonName: `${name}.example.test`,
      clientNotAfter: new Date(Date.now() + daysLeft * DAY),
    });
    await client.call('EnableEncryptionAtRest', { keyProviderID: ids.keyProviderID });
    const certificateFaults = async () =>
      (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.filter((f) => f.code === 'kmipCertificateFault');
    await eventually(async () => expect(await certificateFaults()).toHaveLength(1));
    return { harness, client, ids, certificateFaults };
  }

  const startWatcher = (cluster: string, input: Omit<FaultWatcherInput, 'cluster'>) =>
    startRunbook(
      temporal.client,
      'fault-watcher',
      { cluster, interval: 300, pollsPerRun: 4, heartbeatTimeout: 5000, ...input },
      { taskQueue, workflowId: workflowIds['fault-watcher'](cluster) },
    );
  const status = (cluster: string) =>
    temporal.client.workflow.getHandle(workflowIds['fault-watcher'](cluster)).query(watcherStatusQuery.definition);
  const about = (cluster: string, kind: RunbookEvent['kind']) => events.filter((e) => e.cluster === cluster && e.kind === kind);

  it('starts a renewal on kmipCertificateFault, which clears it, and warns certificate-expiring once', async () => {
    const lab = await expiringCluster('watch-renew', 10);
    const cluster = lab.harness.name;
    const [fault] = await lab.certificateFaults();
    await startWatcher(cluster, {
      renewal: {
        signer: { type: 'cfssl', url: testEnv().cfssl.url },
        testAttempts: 2,
        testRetryInterval: '200ms',
        faultPollInterval: '100ms',
        resolveWindow: '30s',
      },
      certificateExpiry: { horizon: '60d', checkEvery: '200ms' },
    });

    // The renewal runs under its own workflow id, started by the watcher.
    const renewal = temporal.client.workflow.getHandle(workflowIds.renew(cluster));
    const result = (await eventually(async () => renewal.result() as Promise<RenewResult>, 60_000, 300)) as RenewResult;
    expect(result.resolvedFaultIDs).toEqual([fault!.clusterFaultID]);
    expect(Date.parse(result.renewed.notAfter)).toBeGreaterThan(Date.now() + 300 * DAY);
    expect(await lab.certificateFaults()).toEqual([]);
    const watch = await status(cluster);
    expect(watch.renewal).toBe(true);
    expect(watch.recoveries).toEqual([
      expect.objectContaining({
        code: 'kmipCertificateFault',
        faultIDs: [fault!.clusterFaultID],
        runbook: 'renew',
        workflowId: workflowIds.renew(cluster),
        outcome: 'started',
      }),
    ]);
    expect(about(cluster, 'fault-detected')).toHaveLength(1);
    expect(about(cluster, 'fault-detected')[0]!.message).toContain(`started ${workflowIds.renew(cluster)}`);

    // The 10-day certificate was warned about once; the renewed one is outside the horizon.
    const polls = watch.polls;
    await eventually(async () => expect((await status(cluster)).polls).toBeGreaterThanOrEqual(polls + 6), 20_000, 100);
    const warnings = about(cluster, 'certificate-expiring');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain(`keyServerID ${lab.ids.keyServerID}`);
    expect(warnings[0]!.message).toMatch(/client certificate .* \(in (9|10) days\); renew it: ekm renew watch-renew/);
    expect(warnings[0]!.data).toMatchObject({ keyServerID: lab.ids.keyServerID, certificate: 'client', thresholdDays: 14 });
    const later = await status(cluster);
    expect(later.certificates).toMatchObject({ horizonMs: 60 * DAY, warningsSent: 1, expiring: [] });
    expect(later.certificates?.lastCheckAt).toBeDefined();
    // Only one renewal, however many polls saw the fault before it cleared.
    expect(later.recoveries.filter((r) => r.code === 'kmipCertificateFault')).toHaveLength(1);

    // ekm watch status shows the warnings.
    const cli = await runCli(['watch', 'status', cluster], { EKM_TASK_QUEUE: taskQueue });
    expect(cli.stdout).toContain('certificates: 1 warning sent');
  });

  it('without the renewal option: no renewal, and a certificate within the horizon is warned about once across continue-as-new', async () => {
    const lab = await expiringCluster('watch-expiry', 20);
    const cluster = lab.harness.name;
    const handle = await startWatcher(cluster, { pollsPerRun: 2, certificateExpiry: { horizon: '45d', checkEvery: '100ms' } });
    await eventually(async () => expect(about(cluster, 'certificate-expiring')).toHaveLength(1), 20_000, 100);
    const polls = (await status(cluster)).polls;
    await eventually(async () => expect((await status(cluster)).polls).toBeGreaterThanOrEqual(polls + 6), 20_000, 100);
    expect(about(cluster, 'certificate-expiring')).toHaveLength(1);
    expect(about(cluster, 'certificate-expiring')[0]!.data).toMatchObject({ thresholdDays: 30, daysLeft: 19 });
    const watch = await status(cluster);
    expect(watch.renewal).toBe(false);
    expect(watch.certificates?.expiring).toEqual([
      expect.objectContaining({ keyServerID: lab.ids.keyServerID, certificate: 'client', daysLeft: 19 }),
    ]);
    expect(watch.recoveries).toEqual([]);
    expect(about(cluster, 'fault-detected')).toEqual([]);
    await expect(temporal.client.workflow.getHandle(workflowIds.renew(cluster)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    // It continued as new on the way, carrying what it had warned about.
    const first = await temporal.client.workflow
      .getHandle(workflowIds['fault-watcher'](cluster), handle.firstExecutionRunId)
      .describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
  });
});
