/**
 * Side effects never decide a runbook's fate: with the webhook down (a closed port), every
 * notification point — waiting for a person, reminder, escalated, completed, failed — is recorded
 * in the run's progress as "notification failed: …", and the runs go on and end as they would
 * with it up (a rekey completes, a setup waits and takes its answer, a failing run fails with its
 * own error, not the notification's).
 */
import net from 'node:net';
import { answerUpdate, progressQuery, type RunbookProgress } from '../../workflows/contract';
import { notifierFromSettings } from '../../src/notify/notifier';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { executeRunbook, startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

/** A port nothing listens on: connections are refused at once. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const failedNotes = (p: RunbookProgress) => p.notes.filter((n) => n.includes('notification failed:'));

describe('notifications that cannot be delivered (real Temporal, simulator, PyKMIP)', () => {
  const taskQueue = uniqueTaskQueue('notify-down');
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let webhook: string;
  /** The notifier's log line, which is written even when the webhook is down. */
  const logLines: string[] = [];

  beforeAll(async () => {
    harness = await startClusterHarness('notify-down', {
      softwareEncryptionAtRest: true,
      durations: { rekeyMs: 500, tickMs: 50 },
    });
    await configureEkmByHand(harness.client(), { commonName: 'notify-down.example.test' });
    webhook = `http://127.0.0.1:${await closedPort()}/hook`;
    temporal = await connectClient();
    worker = await startInProcessWorker({
      taskQueue,
      registry: harness.registry,
      notifier: notifierFromSettings(
        { EKM_WEBHOOK_URL: webhook, EKM_WEBHOOK_KINDS: undefined, EKM_WEBHOOK_TOKEN_FILE: undefined },
        (line) => logLines.push(line),
      ),
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });

  it('a rekey that succeeded completes, and records that its completed notification failed', async () => {
    const workflowId = `notify-rekey-${Date.now()}`;
    const result = await executeRunbook(
      temporal.client,
      'rekey',
      { cluster: harness.name, polling: { initialInterval: 200, maxInterval: 500 } },
      { taskQueue, workflowId },
    );
    expect(result.newKey.keyManagementType).toBe('external');
    const progress = await temporal.client.workflow.getHandle(workflowId).query(progressQuery.definition);
    expect(progress.state).toBe('completed');
    expect(failedNotes(progress)).toEqual([
      expect.stringMatching(/notification failed: the completed notification could not be sent: .*did not take the notification/),
    ]);
    const logged = logLines.map((l) => JSON.parse(l) as { kind: string; workflowId: string });
    expect(logged.filter((e) => e.workflowId === workflowId).map((e) => e.kind)).toContain('completed');
  });

  it('a setup waiting for its certificate keeps waiting through failed waiting, reminder and escalation notices, and takes its answer', async () => {
    const kmip = testEnv().kmip;
    const handle = await startRunbook(
      temporal.client,
      'setup',
      {
        cluster: harness.name,
        subject: { commonName: 'notify-down.example.test' },
        keyProviderName: 'notify-provider',
        keyServerName: 'notify-server',
        hostnames: [kmip.host],
        port: kmip.port,
        kmipCaCertificate: kmip.caPem,
        mode: 'none',
        newKeyPair: true,
        signer: { type: 'manual' },
        signingDeadline: '2s',
        reminderEvery: '700ms',
      },
      { taskQueue, workflowId: `notify-setup-${Date.now()}` },
    );
    const escalated = await eventually(
      async () => {
        const p = await handle.query(progressQuery.definition);
        expect(p.waiting?.answers).toEqual(['extend', 'abort']);
        const notes = failedNotes(p).join('\n');
        for (const what of ['the waiting-for-input notification', 'the reminder notification', 'the escalation'])
          expect(notes).toContain(`notification failed: ${what} could not be sent`);
        return p;
      },
      60_000,
      300,
    );
    expect(escalated.state).toBe('waiting-for-input');
    await handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'abort', reason: 'test over', by: 'test' }] });
    expect(rootType(await handle.result().catch((e: unknown) => e))).toBe('RunbookAborted');
  });

  it('a run that fails fails with its own error, and records that its failed notification could not be sent', async () => {
    const workflowId = `notify-fail-${Date.now()}`;
    const failure = await executeRunbook(
      temporal.client,
      'rekey',
      { cluster: harness.name, provider: { name: 'no-such-provider' } },
      { taskQueue, workflowId },
    ).catch((e: unknown) => e);
    expect(rootType(failure)).toBe('KeyProviderNotFound');
    expect(rootMessage(failure)).toContain('no key provider named "no-such-provider"');
    const progress = await temporal.client.workflow.getHandle(workflowId).query(progressQuery.definition);
    expect(progress.state).toBe('failed');
    expect(failedNotes(progress)).toEqual([
      expect.stringContaining('notification failed: the failed notification could not be sent'),
    ]);
  });
});
