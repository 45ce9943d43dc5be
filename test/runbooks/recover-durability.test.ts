/**
 * Crash matrix for both recovery runbooks: the worker process is SIGKILLed at every step (when
 * the progress query shows that step running or waiting) and a new one started; each runbook
 * must still reach the right end, and the cluster must have seen AddDrives once. The simulator
 * answers slowly (injected latency) so every step is long enough to be caught in the act. The two
 * runbooks run side by side (own cluster, task queue and worker process): most of the time goes to
 * Temporal noticing the dead worker (heartbeat and sticky-queue timeouts).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { ManagedProcess } from '../../tools/devenv/child';
import { clusterLock } from '../../workflows/cluster-lock';
import {
  acquireLockSignal,
  answerUpdate,
  progressQuery,
  releaseLockSignal,
  workflowIds,
  type RunbookProgress,
} from '../../workflows/contract';
import type { RecoverKmipResult } from '../../workflows/recover-kmip-server-fault';
import type { RecoverSliceResult } from '../../workflows/recover-slice-service';
import { configureEkmByHand, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { startRunbook } from '../support/start';
import { eventually } from '../support/eventually';
import { testEnv } from '../support/test-env';
import { connectClient, spawnWorkerProcess, uniqueTaskQueue } from '../support/worker';

const MUTATING = /^(Create|Modify|Delete|Rekey|Enable|Disable|Add|Remove|SecureErase|Clear)/;
const LATENCY_MS = 1500;

/** A spawned worker that the test kills and replaces; `killAt` waits for a step to be in progress first. */
function crashableWorker(harness: ClusterHarness, taskQueue: string) {
  const spawn = () =>
    spawnWorkerProcess({
      taskQueue,
      clustersFile: harness.clustersFile,
      logDir: path.join(harness.dir, 'logs'),
    });
  let worker: ManagedProcess = spawn();
  const killedAt: string[] = [];
  return {
    killedAt,
    async killAt(
      handle: WorkflowHandle,
      step: string,
      ready?: (p: RunbookProgress) => Promise<void> | void,
    ): Promise<RunbookProgress> {
      const progress = await eventually(
        async () => {
          const p = await handle.query(progressQuery.definition);
          expect(p.currentStep).toBe(step);
          expect(['running', 'waiting-for-input']).toContain(p.steps.find((s) => s.id === step)?.state);
          await ready?.(p);
          return p;
        },
        60_000,
        100,
      );
      await worker.kill();
      killedAt.push(step);
      worker = spawn();
      return progress;
    },
    stop: () => worker.stop(),
  };
}

describe('recovery runbooks survive the worker being SIGKILLed at every step', () => {
  it.concurrent(
    'sliceServiceUnhealthy: lock, confirm, find-drives, add (AddDrives executed, answer not yet back), settle, verify',
    async () => {
      const harness = await startClusterHarness(`slice-crash-${Date.now() % 100000}`, {
        durations: { sliceSettleMs: 1000, driveAddMs: 1500, tickMs: 50 },
      });
      const taskQueue = uniqueTaskQueue('slice-crash');
      const temporal = await connectClient();
      const worker = crashableWorker(harness, taskQueue);
      try {
        const { driveIDs } = await harness.sim.control.failMetadataDrives({ nodeIDs: [2] });
        // Another runbook holds the cluster lock, so the recovery waits at its first step.
        const holder = { workflowId: 'test-holder', runId: randomUUID() };
        await temporal.client.workflow.signalWithStart(clusterLock, {
          workflowId: workflowIds.clusterLock(harness.name),
          taskQueue,
          args: [harness.name, { livenessCheckMs: 600_000, idleExitMs: 600_000 }],
          signal: acquireLockSignal.definition,
          signalArgs: [{ ...holder, runbook: 'rekey', ifBusy: 'fail' }],
        });
        // Every call slow; the AddDrives answer held back after the cluster has started the job.
        await harness.sim.control.setHttpFaults({
          latencyMs: LATENCY_MS,
          rules: [{ kind: 'timeout', methods: ['AddDrives'], phase: 'after', remaining: 1 }],
        });

        const handle = await startRunbook(
          temporal.client,
          'recover-slice-service',
          {
            cluster: harness.name,
            ifBusy: 'wait',
            settle: 5000,
            polling: { initialInterval: 200, maxInterval: 500, attemptWindow: 10_000 },
            heartbeatTimeout: 3000,
          },
          { taskQueue, workflowId: workflowIds['recover-slice-service'](harness.name) },
        );

        await worker.killAt(handle, 'lock', (p) => expect(p.waiting?.kind).toBe('cluster-lock'));
        await temporal.client.workflow
          .getHandle(workflowIds.clusterLock(harness.name))
          .signal(releaseLockSignal.definition, holder);
        await worker.killAt(handle, 'confirm');
        await worker.killAt(handle, 'find-drives');
        await worker.killAt(handle, 'add', async () => {
          const adds = await harness.sim.control.calls({ method: 'AddDrives' });
          expect(adds.filter((c) => c.executed)).toHaveLength(1);
        });
        await worker.killAt(handle, 'settle');
        await worker.killAt(handle, 'verify');

        const result = (await handle.result()) as RecoverSliceResult;
        expect(worker.killedAt).toEqual(['lock', 'confirm', 'find-drives', 'add', 'settle', 'verify']);
        expect(result.outcome).toBe('recovered');
        expect(result.drives).toEqual(driveIDs);
        // The cluster saw one AddDrives, whatever the crashes.
        const adds = await harness.sim.control.calls({ method: 'AddDrives' });
        expect(adds).toHaveLength(1);
        expect(adds[0]!.params).toEqual({ drives: driveIDs.map((driveID) => ({ driveID, type: 'slice' })) });
        await harness.sim.control.clearHttpFaults();
        const { drives } = await harness.client().call('ListDrives');
        expect(drives.filter((d) => driveIDs.includes(d.driveID)).map((d) => d.status)).toEqual(['active']);
        const { faults } = await harness.client().call('ListClusterFaults', { faultTypes: 'current' });
        expect(faults.filter((f) => f.code === 'sliceServiceUnhealthy')).toEqual([]);
      } finally {
        await worker.stop();
        await temporal.close();
        await harness.stop();
      }
    },
    240_000,
  );

  it.concurrent(
    'kmipServerFault: confirm, find-servers, diagnose, wait-for-fix, confirm-resolved',
    async () => {
      const harness = await startClusterHarness(`kmip-crash-${Date.now() % 100000}`, {
        // The cluster retries its key fetch only every minute: the test decides when it succeeds.
        durations: { earTransitionMs: 300, kmipRetryMs: 60_000, tickMs: 50 },
      });
      const taskQueue = uniqueTaskQueue('kmip-crash');
      const temporal = await connectClient();
      const worker = crashableWorker(harness, taskQueue);
      const kmipHost = testEnv().kmip.host;
      try {
        const client = harness.client();
        const ekm = await configureEkmByHand(client, { commonName: `${harness.name}.example.test` });
        await client.call('EnableEncryptionAtRest', { keyProviderID: ekm.keyProviderID });
        await eventually(async () =>
          expect((await client.call('GetClusterInfo')).clusterInfo.encryptionAtRestState).toBe('enabled'),
        );
        await harness.sim.control.makeUnreachable(kmipHost);
        await harness.sim.control.restartCluster();
        const mark = (await harness.sim.control.calls()).at(-1)?.seq ?? 0;
        await harness.sim.control.setHttpFaults({ latencyMs: LATENCY_MS });

        const handle = await startRunbook(
          temporal.client,
          'recover-kmip-server-fault',
          {
            cluster: harness.name,
            retest: { initialInterval: 120_000 },
            faultPollInterval: 300,
            resolveWindow: 120_000,
            heartbeatTimeout: 3000,
          },
          { taskQueue, workflowId: workflowIds['recover-kmip-server-fault'](harness.name) },
        );

        await worker.killAt(handle, 'confirm');
        await worker.killAt(handle, 'find-servers');
        await worker.killAt(handle, 'diagnose');
        const waiting = await worker.killAt(handle, 'wait-for-fix');
        expect(waiting.waiting?.problem).toContain('unreachable');

        await harness.sim.control.makeReachable(kmipHost);
        await eventually(
          () => handle.executeUpdate(answerUpdate.definition, { args: [{ action: 'fixed', by: 'oncall' }] }),
          60_000,
          500,
        );
        await worker.killAt(handle, 'confirm-resolved');
        // The cluster's next key fetch succeeds; the recovery must notice it after its crash.
        await harness.sim.control.rereadKeys();

        const result = (await handle.result()) as RecoverKmipResult;
        expect(worker.killedAt).toEqual(['confirm', 'find-servers', 'diagnose', 'wait-for-fix', 'confirm-resolved']);
        expect(result.outcome).toBe('recovered');
        await harness.sim.control.clearHttpFaults();
        const { faults } = await client.call('ListClusterFaults', { faultTypes: 'current' });
        expect(faults.filter((f) => f.code === 'kmipServerFault')).toEqual([]);
        expect((await harness.sim.control.state()).keyAccess.status).toBe('unlocked');
        const methods = (await harness.sim.control.calls({ afterSeq: mark })).map((c) => c.method ?? '');
        expect(methods.filter((m) => MUTATING.test(m))).toEqual([]);
        await client.close();
      } finally {
        await worker.stop();
        await temporal.close();
        await harness.stop();
      }
    },
    240_000,
  );
});
