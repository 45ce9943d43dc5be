/**
 * A flaky Element API: every runbook against clusters whose JSON-RPC calls fail 30 % of the time
 * (HTTP 503, connection resets and timeouts, each before or after the cluster ran the call, and
 * xDBVersionMismatch), set through the simulator's control API. Each run completes, and the call
 * log shows exactly the intended effects: one key pair, one provider, one server, one rekey per
 * run, each drive added once, one certificate change. A permanent Element error still ends a run
 * at once (sent once, not retried), naming the error.
 *
 * The runs go side by side to keep the wall time short; the clusters' API timeouts are short so an
 * injected timeout costs seconds, and the runbooks' retry intervals are the tests' short ones.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { ClusterRegistry } from '../../src/config/clusters';
import { progressQuery, workflowIds } from '../../workflows/contract';
import type { CallRecordJson } from '../../tools/simulator/control-client';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { eventually } from '../support/eventually';
import { rootMessage, rootType } from '../support/failures';
import { startRunbook } from '../support/start';
import { testEnv } from '../support/test-env';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const FAULTY = { transient: { percent: 30 } };
const FAST_POLL = { initialInterval: 200, maxInterval: 500, attemptWindow: 20_000 };
const DAY = 86_400_000;
/** An injected timeout costs this much of a client's time (the clusters file's responseTimeoutMs). */
const RESPONSE_TIMEOUT_MS = 3_000;

describe('runbooks against a flaky Element API (30 % transient faults)', () => {
  const taskQueue = uniqueTaskQueue('faults');
  const registry: ClusterRegistry = { clusters: {}, signers: {} };
  const harnesses: ClusterHarness[] = [];
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;

  async function cluster(name: string, options: Parameters<typeof startClusterHarness>[1] = {}): Promise<ClusterHarness> {
    const harness = await startClusterHarness(name, {
      ...options,
      durations: {
        earTransitionMs: 300,
        rekeyMs: 600,
        driveAddMs: 300,
        sliceSettleMs: 500,
        kmipRetryMs: 300,
        tickMs: 50,
        injectedTimeoutHoldMs: 10_000,
        ...options.durations,
      },
    });
    harnesses.push(harness);
    const entry = harness.registry.clusters[name]!;
    entry.responseTimeoutMs = RESPONSE_TIMEOUT_MS;
    registry.clusters[name] = entry;
    return harness;
  }

  beforeAll(async () => {
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry, notifier: { send: async () => undefined } });
  });
  afterAll(async () => {
    await worker?.stop();
    await temporal?.close();
    await Promise.all(harnesses.map((h) => h.stop()));
  });

  const kmip = () => testEnv().kmip;
  const setupInput = (harness: ClusterHarness, mode: 'software' | 'hardware' | 'none') => ({
    cluster: harness.name,
    subject: { commonName: `${harness.name}.example.test`, organization: 'EKM tests', country: 'US' },
    keyProviderName: 'kmip-provider',
    keyServerName: 'kmip-server',
    hostnames: [kmip().host],
    port: kmip().port,
    kmipCaCertificate: kmip().caPem,
    mode,
    signer: { type: 'cfssl' as const, url: testEnv().cfssl.url },
    testAttempts: 3,
    testRetryInterval: '200ms',
    questionReminderEvery: '1h',
    polling: FAST_POLL,
  });
  const id = (what: string, harness: ClusterHarness) => `${what}-${harness.name}-${Date.now()}`;

  /** Calls the cluster ran to the end (its answer sent, or lost on the way by an injected fault). */
  async function effects(harness: ClusterHarness, afterSeq = 0, untilSeq = Infinity): Promise<Record<string, CallRecordJson[]>> {
    const byMethod: Record<string, CallRecordJson[]> = {};
    for (const call of await harness.sim.control.calls({ afterSeq })) {
      if (call.seq > untilSeq || !call.executed || call.errorName || !call.method) continue;
      (byMethod[call.method] ??= []).push(call);
    }
    return byMethod;
  }
  const count = (e: Record<string, CallRecordJson[]>, method: string) => e[method]?.length ?? 0;
  const lastSeq = async (harness: ClusterHarness) => (await harness.sim.control.calls()).at(-1)?.seq ?? 0;
  const injected = async (harness: ClusterHarness) =>
    (await harness.sim.control.calls()).filter((c) => c.outcome === 'injected').length;

  async function expectCompleted(handle: WorkflowHandle): Promise<void> {
    await expect(handle.result()).resolves.toBeDefined();
  }

  it('every runbook completes with exactly its intended effects', async () => {
    const [software, hardware, kmipLab, sliceLab, renewLab] = await Promise.all([
      cluster('faults-sw', { softwareEncryptionAtRest: true }),
      cluster('faults-hw'),
      cluster('faults-kmip'),
      cluster('faults-slice'),
      cluster('faults-renew'),
    ]);

    // Preparation without faults: EKM set up by hand where a runbook needs it, then the incidents.
    const kmipClient = kmipLab.client();
    const kmipIds = await configureEkmByHand(kmipClient, { commonName: 'faults-kmip.example.test' });
    await kmipClient.call('EnableEncryptionAtRest', { keyProviderID: kmipIds.keyProviderID });
    const renewClient = renewLab.client();
    const renewIds = await configureEkmByHand(renewClient, {
      commonName: 'faults-renew.example.test',
      clientNotAfter: new Date(Date.now() + 10 * DAY),
    });
    await renewClient.call('EnableEncryptionAtRest', { keyProviderID: renewIds.keyProviderID });
    for (const client of [kmipClient, renewClient]) {
      await eventually(async () =>
        expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled'),
      );
      await client.close();
    }
    await kmipLab.sim.control.makeUnreachable(kmip().host);
    expect((await kmipLab.sim.control.restartCluster()).keyAccess.status).toBe('locked');
    const { driveIDs } = await sliceLab.sim.control.failMetadataDrives({ nodeIDs: [1] });
    for (const [harness, code] of [
      [kmipLab, 'kmipServerFault'],
      [sliceLab, 'sliceServiceUnhealthy'],
      [renewLab, 'kmipCertificateFault'],
    ] as const) {
      const client = harness.client();
      await eventually(async () => {
        const { faults } = await client.call('ListClusterFaults', { faultTypes: 'current' });
        expect(faults.filter((f) => f.code === code)).toHaveLength(1);
      });
      await client.close();
    }
    const marks = new Map<ClusterHarness, number>();
    for (const harness of harnesses) {
      marks.set(harness, await lastSeq(harness));
      await harness.sim.control.setHttpFaults(FAULTY);
    }

    const softwareThenRekey = async () => {
      await expectCompleted(
        await startRunbook(temporal.client, 'setup', setupInput(software, 'software'), {
          taskQueue,
          workflowId: id('setup', software),
        }),
      );
      const between = await lastSeq(software);
      await expectCompleted(
        await startRunbook(
          temporal.client,
          'rekey',
          { cluster: software.name, keyManagement: 'external', polling: FAST_POLL },
          { taskQueue, workflowId: id('rekey', software) },
        ),
      );
      return between;
    };
    const recoverKmip = async () => {
      const handle = await startRunbook(
        temporal.client,
        'recover-kmip-server-fault',
        {
          cluster: kmipLab.name,
          retest: { initialInterval: 300, maxInterval: 600 },
          faultPollInterval: 200,
          resolveWindow: 60_000,
          heartbeatTimeout: 5000,
        },
        { taskQueue, workflowId: workflowIds['recover-kmip-server-fault'](kmipLab.name) },
      );
      // The fix arrives once the runbook has diagnosed the fault and waits for it.
      await eventually(
        async () => expect((await handle.query(progressQuery.definition)).waiting?.step).toBe('wait-for-fix'),
        60_000,
        300,
      );
      await kmipLab.sim.control.makeReachable(kmip().host);
      await expectCompleted(handle);
    };
    const recoverSlice = async () =>
      expectCompleted(
        await startRunbook(
          temporal.client,
          'recover-slice-service',
          { cluster: sliceLab.name, settle: 1000, polling: FAST_POLL, heartbeatTimeout: 5000 },
          { taskQueue, workflowId: workflowIds['recover-slice-service'](sliceLab.name) },
        ),
      );
    const renew = async () =>
      expectCompleted(
        await startRunbook(
          temporal.client,
          'renew',
          {
            cluster: renewLab.name,
            signer: { type: 'cfssl', url: testEnv().cfssl.url },
            testAttempts: 3,
            testRetryInterval: '200ms',
            faultPollInterval: '100ms',
            resolveWindow: '60s',
            questionReminderEvery: '1h',
          },
          { taskQueue, workflowId: id('renew', renewLab) },
        ),
      );

    const [rekeyMark] = await Promise.all([
      softwareThenRekey(),
      expectCompleted(
        await startRunbook(temporal.client, 'setup', setupInput(hardware, 'hardware'), {
          taskQueue,
          workflowId: id('setup', hardware),
        }),
      ),
      recoverKmip(),
      recoverSlice(),
      renew(),
    ]);
    for (const harness of harnesses) await harness.sim.control.clearHttpFaults();

    // The faults did happen, on every cluster.
    for (const harness of harnesses) expect(await injected(harness)).toBeGreaterThan(0);

    // Setup: one key pair, one provider, one server, attached once; software: one rekey; hardware: one enable.
    const softwareSetup = await effects(software, marks.get(software), rekeyMark);
    const hardwareSetup = await effects(hardware, marks.get(hardware));
    for (const e of [softwareSetup, hardwareSetup]) {
      expect([
        count(e, 'CreatePublicPrivateKeyPair'),
        count(e, 'CreateKeyProviderKmip'),
        count(e, 'CreateKeyServerKmip'),
        count(e, 'AddKeyServerToProviderKmip'),
      ]).toEqual([1, 1, 1, 1]);
    }
    expect(count(softwareSetup, 'RekeySoftwareEncryptionAtRestMasterKey')).toBe(1);
    expect(count(hardwareSetup, 'EnableEncryptionAtRest')).toBe(1);
    // The rekey runbook: one rekey of its own (the setup before it made the other).
    expect(count(await effects(software, rekeyMark), 'RekeySoftwareEncryptionAtRestMasterKey')).toBe(1);
    // The kmip recovery only reads and tests.
    const kmipEffects = await effects(kmipLab, marks.get(kmipLab));
    expect(Object.keys(kmipEffects).filter((m) => !/^(Get|List|Test)/.test(m))).toEqual([]);
    // The slice recovery adds each failed drive once.
    const adds = (await effects(sliceLab, marks.get(sliceLab))).AddDrives ?? [];
    expect(adds.flatMap((c) => (c.params as { drives: { driveID: number }[] }).drives.map((d) => d.driveID)).sort()).toEqual(
      [...driveIDs].sort(),
    );
    // The renewal changes the key server's certificate once and makes no key pair.
    const renewEffects = await effects(renewLab, marks.get(renewLab));
    expect([count(renewEffects, 'ModifyKeyServerKmip'), count(renewEffects, 'CreatePublicPrivateKeyPair')]).toEqual([1, 0]);
  });

  it('a permanent Element error still ends the run at once, naming it, the call sent once', async () => {
    const harness = await cluster('faults-permanent');
    await harness.sim.control.setHttpFaults({
      rules: [
        {
          kind: 'error',
          methods: ['CreateKeyProviderKmip'],
          error: { name: 'xInvalidParameter', message: 'Invalid keyProviderName' },
        },
      ],
      ...FAULTY,
    });
    const handle = await startRunbook(temporal.client, 'setup', setupInput(harness, 'none'), {
      taskQueue,
      workflowId: id('setup', harness),
    });
    const failure = await handle.result().catch((e: unknown) => e);
    await harness.sim.control.clearHttpFaults();

    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootType(failure)).toBe('xInvalidParameter');
    expect(rootMessage(failure)).toContain('Invalid keyProviderName');
    expect(await harness.sim.control.calls({ method: 'CreateKeyProviderKmip' })).toHaveLength(1);
  });
});
