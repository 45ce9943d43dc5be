import type { WorkflowHandle } from '@temporalio/client';
import {
  backfillRekeySchedule,
  createRekeySchedule,
  deleteRekeySchedule,
  describeRekeySchedule,
  InvalidRekeyScheduleError,
  listRekeySchedules,
  pauseRekeySchedule,
  RekeyScheduleExistsError,
  rekeyScheduleOptions,
  ScheduleNotFoundError,
  triggerRekeySchedule,
  unpauseRekeySchedule,
  type RekeyScheduleOptions,
} from '../../src/schedules/rekey-schedules';
import { progressQuery } from '../../workflows/contract';
import { workflowIds } from '../../workflows/contract';
import { describeIssues } from '../../workflows/inputs';
import type { RekeyResult } from '../../workflows/rekey';
import { configureEkmByHand, kmipKeyExists, startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { startRunbook } from '../support/start';
import { eventually } from '../support/eventually';
import { connectClient, startInProcessWorker, uniqueTaskQueue, type InProcessWorker } from '../support/worker';

const COMMON_NAME = 'schedule-cluster.example.test';
const DAY_MS = 86_400_000;
const NINETY_DAYS_MS = 90 * DAY_MS;
const FAST_REKEY = { rekeyMs: 1500, tickMs: 50 };

describe('rekey schedules (real Temporal, simulator, PyKMIP)', () => {
  const taskQueue = uniqueTaskQueue('schedule');
  const suffix = taskQueue.slice(-8);
  let harness: ClusterHarness;
  let worker: InProcessWorker;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let providerID: number;

  beforeAll(async () => {
    harness = await startClusterHarness(`sched-${suffix}`, { softwareEncryptionAtRest: true, durations: FAST_REKEY });
    ({ keyProviderID: providerID } = await configureEkmByHand(harness.client(), { commonName: COMMON_NAME }));
    temporal = await connectClient();
    worker = await startInProcessWorker({ taskQueue, registry: harness.registry });
  });
  afterAll(async () => {
    await deleteRekeySchedule(temporal.client, harness.name).catch(() => undefined);
    await worker?.stop();
    await temporal?.close();
    await harness?.stop();
  });

  const client = () => temporal.client;
  const cluster = () => harness.name;
  const describe_ = () => describeRekeySchedule(client(), cluster());
  const rekeyCalls = async () => (await harness.sim.control.calls({ method: 'RekeySoftwareEncryptionAtRestMasterKey' })).length;
  const masterKey = async () => (await harness.client().call('GetSoftwareEncryptionAtRestInfo')).masterKeyInfo;
  const scheduledIds = async () => new Set((await describe_()).recentActions.map((a) => a.workflowId));

  /** The run the schedule started after `known` was taken (exactly one). */
  async function newScheduledRun(known: Set<string>): Promise<WorkflowHandle> {
    const id = await eventually(
      async () => {
        const fresh = (await describe_()).recentActions.map((a) => a.workflowId).filter((w) => !known.has(w));
        expect(fresh).toHaveLength(1);
        return fresh[0]!;
      },
      30_000,
      200,
    );
    return client().workflow.getHandle(id);
  }

  async function untilStep(handle: WorkflowHandle, step: string, state: string): Promise<void> {
    await eventually(
      async () => expect((await handle.query(progressQuery.definition)).steps.find((s) => s.id === step)?.state).toBe(state),
      30_000,
      200,
    );
  }

  async function expectKeyOnCluster(result: RekeyResult): Promise<void> {
    const key = await masterKey();
    expect(key?.keyID).toBe(result.newKey.keyID);
    expect(key?.keyManagementType).toBe('external');
    expect(key?.keyProviderID).toBe(providerID);
    expect(await kmipKeyExists(COMMON_NAME, result.newKey.keyID)).toBe(true);
  }

  it("a trigger runs a scheduled rekey that replaces the master key, under the schedule's workflow id", async () => {
    await createRekeySchedule(client(), taskQueue, { cluster: cluster(), every: '90d' });
    const before = await masterKey();
    const callsBefore = await rekeyCalls();

    await triggerRekeySchedule(client(), cluster());
    const run = await newScheduledRun(new Set());
    expect(run.workflowId.startsWith(`${workflowIds.scheduledRekey(cluster())}-`)).toBe(true);
    const result = (await run.result()) as RekeyResult;

    expect(result.oldKey?.keyID).toBe(before?.keyID);
    expect(result.newKey.keyID).not.toBe(before?.keyID);
    await expectKeyOnCluster(result);
    expect((await rekeyCalls()) - callsBefore).toBe(1);
    expect((await describe_()).actionsTaken).toBe(1);
  });

  it('skips a trigger while the scheduled rekey still runs: one more action taken, one skipped, one rekey on the cluster', async () => {
    await harness.sim.control.setDurations({ rekeyMs: 10_000 });
    try {
      const before = await describe_();
      const callsBefore = await rekeyCalls();
      await triggerRekeySchedule(client(), cluster());
      const run = await newScheduledRun(new Set(before.recentActions.map((a) => a.workflowId)));
      await untilStep(run, 'wait', 'running');

      await triggerRekeySchedule(client(), cluster());
      await eventually(async () => {
        const during = await describe_();
        expect(during.actionsSkippedOverlap).toBe(before.actionsSkippedOverlap + 1);
        expect(during.runningWorkflowIds).toEqual([run.workflowId]);
      });

      await expectKeyOnCluster((await run.result()) as RekeyResult);
      const after = await describe_();
      expect(after.actionsTaken).toBe(before.actionsTaken + 1);
      expect((await rekeyCalls()) - callsBefore).toBe(1);
    } finally {
      await harness.sim.control.setDurations({ rekeyMs: FAST_REKEY.rekeyMs });
    }
  });

  it('a scheduled rekey waits for the cluster lock while another runbook changes the cluster, then runs', async () => {
    await harness.sim.control.setDurations({ rekeyMs: 6000 });
    try {
      const callsBefore = await rekeyCalls();
      const onDemand = await startRunbook(
        client(),
        'rekey',
        { cluster: cluster() },
        { taskQueue, workflowId: workflowIds.rekey(cluster()) },
      );
      await untilStep(onDemand, 'wait', 'running');

      const known = await scheduledIds();
      await triggerRekeySchedule(client(), cluster());
      const scheduled = await newScheduledRun(known);
      await eventually(async () => {
        // Calls counted before the query: if it still waits for the lock then, none of these calls is its own.
        const calls = (await rekeyCalls()) - callsBefore;
        const progress = await scheduled.query(progressQuery.definition);
        // Queued behind the lock: running, not waiting for a person (nobody can answer it).
        expect(progress.state).toBe('running');
        expect(progress.waiting?.kind).toBe('cluster-lock');
        expect(progress.steps.find((s) => s.id === 'lock')?.state).toBe('running');
        expect(calls).toBe(1);
      });

      const first = (await onDemand.result()) as RekeyResult;
      const second = (await scheduled.result()) as RekeyResult;
      expect(second.attachedToRunningRekey).toBe(false);
      expect(second.oldKey?.keyID).toBe(first.newKey.keyID);
      expect(second.newKey.keyID).not.toBe(first.newKey.keyID);
      await expectKeyOnCluster(second);
      expect((await rekeyCalls()) - callsBefore).toBe(2);
    } finally {
      await harness.sim.control.setDurations({ rekeyMs: FAST_REKEY.rekeyMs });
    }
  });

  it('backfill starts the run the schedule would have started in a past period', async () => {
    // Intervals count from the Unix epoch: the last 90-day mark before now, and the next one.
    const lastMark = Math.floor(Date.now() / NINETY_DAYS_MS) * NINETY_DAYS_MS;
    const before = await describe_();
    expect(before.nextActionTimes[0]).toBe(new Date(lastMark + NINETY_DAYS_MS).toISOString());
    const keyBefore = await masterKey();

    await backfillRekeySchedule(client(), cluster(), {
      start: new Date(lastMark - 60_000),
      end: new Date(lastMark + 60_000),
    });
    const run = await newScheduledRun(new Set(before.recentActions.map((a) => a.workflowId)));
    const scheduledAt = new Date(lastMark).toISOString();
    expect(run.workflowId).toBe(`${workflowIds.scheduledRekey(cluster())}-${scheduledAt.replace('.000Z', 'Z')}`);
    const result = (await run.result()) as RekeyResult;
    expect(result.oldKey?.keyID).toBe(keyBefore?.keyID);
    await expectKeyOnCluster(result);
    expect((await describe_()).recentActions.at(-1)?.scheduledAt).toBe(scheduledAt);
  });

  it('refuses a second schedule for the same cluster and leaves the first as it was', async () => {
    await expect(createRekeySchedule(client(), taskQueue, { cluster: cluster(), cron: '0 3 * * *' })).rejects.toThrow(
      RekeyScheduleExistsError,
    );
    expect((await describe_()).spec).toBe('every 90d');
  });

  it('pause and unpause record their notes; a trigger still starts a rekey while paused (Temporal ignores pause for manual actions)', async () => {
    await pauseRekeySchedule(client(), cluster(), 'change freeze until Monday');
    let summary = await describe_();
    expect(summary.paused).toBe(true);
    expect(summary.note).toBe('change freeze until Monday');

    const keyBefore = await masterKey();
    await triggerRekeySchedule(client(), cluster());
    const run = await newScheduledRun(new Set(summary.recentActions.map((a) => a.workflowId)));
    const result = (await run.result()) as RekeyResult;
    expect(result.oldKey?.keyID).toBe(keyBefore?.keyID);
    await expectKeyOnCluster(result);
    expect((await describe_()).paused).toBe(true);

    await unpauseRekeySchedule(client(), cluster(), 'freeze over');
    summary = await describe_();
    expect(summary.paused).toBe(false);
    expect(summary.note).toBe('freeze over');
  });

  it('delete removes the schedule: describe says not found, list no longer has it', async () => {
    await eventually(async () => expect((await listRekeySchedules(client())).map((s) => s.cluster)).toContain(cluster()));
    await deleteRekeySchedule(client(), cluster());
    await expect(describe_()).rejects.toThrow(ScheduleNotFoundError);
    await expect(triggerRekeySchedule(client(), cluster())).rejects.toThrow(ScheduleNotFoundError);
    await eventually(async () => expect((await listRekeySchedules(client())).map((s) => s.cluster)).not.toContain(cluster()));
  });

  it('a paused schedule lets its due times pass; unpaused, it starts the next due rekey', async () => {
    await createRekeySchedule(client(), taskQueue, {
      cluster: cluster(),
      calendar: 'second=0-59/10 minute=* hour=*',
      paused: true,
    });
    try {
      const created = await describe_();
      expect(created.spec).toBe('calendar second=*/10 minute=* hour=* (UTC)');
      expect(created.paused).toBe(true);
      expect(created.note).toBe('created paused');
      const callsBefore = await rekeyCalls();

      // Let two due times pass while paused.
      const secondDue = Date.parse(created.nextActionTimes[1]!);
      await new Promise((r) => setTimeout(r, Math.max(0, secondDue - Date.now()) + 3000));
      const whilePaused = await describe_();
      expect(whilePaused.actionsTaken).toBe(0);
      expect(whilePaused.recentActions).toEqual([]);
      expect(await rekeyCalls()).toBe(callsBefore);

      await unpauseRekeySchedule(client(), cluster());
      const run = await newScheduledRun(new Set());
      await pauseRekeySchedule(client(), cluster(), 'one is enough');
      await expectKeyOnCluster((await run.result()) as RekeyResult);
      expect((await rekeyCalls()) - callsBefore).toBeGreaterThanOrEqual(1);
    } finally {
      await deleteRekeySchedule(client(), cluster());
    }
  });

  it('creates interval (with jitter), cron and calendar schedules paused, and lists and describes them', async () => {
    const base = `forms-${suffix}`;
    const forms: Array<RekeyScheduleOptions & { expectSpec: string }> = [
      { cluster: `${base}-i`, every: '90d', jitter: '2h', paused: true, expectSpec: 'every 90d; jitter 2h' },
      {
        cluster: `${base}-c`,
        cron: '0 3 1 */3 *',
        paused: true,
        note: 'quarterly',
        catchupWindow: '6h',
        expectSpec: 'calendar second=0 minute=0 hour=3 dayOfMonth=1 month=*/3 (UTC)',
      },
      {
        cluster: `${base}-k`,
        calendar: 'dayOfMonth=1 month=JANUARY,APRIL,JULY,OCTOBER hour=3',
        paused: true,
        keyManagement: 'internal',
        expectSpec: 'calendar second=0 minute=0 hour=3 dayOfMonth=1 month=JANUARY,APRIL,JULY,OCTOBER (UTC)',
      },
    ];
    try {
      for (const { expectSpec, ...options } of forms) {
        await createRekeySchedule(client(), taskQueue, options);
        const s = await describeRekeySchedule(client(), options.cluster);
        expect(s.spec).toBe(expectSpec);
        expect(s.paused).toBe(true);
        expect(s.note).toBe(options.note ?? 'created paused');
        expect(s.overlap).toBe('SKIP');
        expect(s.pauseOnFailure).toBe(true);
        expect(s.catchupWindowMs).toBe(options.catchupWindow === '6h' ? 6 * 3_600_000 : DAY_MS);
        expect(s.keyManagement).toBe(options.keyManagement ?? 'external');
        expect(s.actionsTaken).toBe(0);
      }

      const interval = await describeRekeySchedule(client(), `${base}-i`);
      expect(interval.jitterMs).toBe(2 * 3_600_000);
      const nextMark = Math.ceil(Date.now() / NINETY_DAYS_MS) * NINETY_DAYS_MS;
      const next = Date.parse(interval.nextActionTimes[0]!);
      expect(next).toBeGreaterThanOrEqual(nextMark);
      expect(next).toBeLessThanOrEqual(nextMark + 2 * 3_600_000);

      // The cron and the calendar form mean the same quarterly time.
      const cron = await describeRekeySchedule(client(), `${base}-c`);
      const calendar = await describeRekeySchedule(client(), `${base}-k`);
      expect(cron.nextActionTimes).toEqual(calendar.nextActionTimes);
      for (const t of cron.nextActionTimes) {
        const d = new Date(t);
        expect([0, 3, 6, 9]).toContain(d.getUTCMonth());
        expect([d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]).toEqual([1, 3, 0, 0]);
      }

      await eventually(async () => {
        const listed = await listRekeySchedules(client());
        for (const form of forms) {
          const item = listed.find((s) => s.cluster === form.cluster);
          expect(item?.spec).toBe(form.expectSpec);
          expect(item?.paused).toBe(true);
        }
      });
    } finally {
      for (const form of forms) await deleteRekeySchedule(client(), form.cluster).catch(() => undefined);
    }
  });

  it('refuses a spec the server cannot read, creating nothing', async () => {
    const name = `bad-cron-${suffix}`;
    await expect(createRekeySchedule(client(), taskQueue, { cluster: name, cron: '61 3 * * *' })).rejects.toThrow(
      InvalidRekeyScheduleError,
    );
    await expect(describeRekeySchedule(client(), name)).rejects.toThrow(ScheduleNotFoundError);
  });

  it.each<[string, Partial<RekeyScheduleOptions>, string]>([
    ['no form', {}, 'every: give exactly one of every, cron or calendar'],
    ['two forms', { every: '90d', cron: '0 3 * * *' }, 'every: give exactly one of every, cron or calendar'],
    ['too short an interval', { every: '30s' }, 'every: must be at least 1m'],
    ['a calendar value out of range', { calendar: 'hour=25' }, 'calendar: calendar: hour 25 is out of range 0-23'],
    ['an unknown calendar field', { calendar: 'week=3' }, 'calendar: calendar: unknown field "week"'],
    ['a cron of the wrong shape', { cron: 'every day' }, 'cron: "every day" has 2 fields'],
    ['a catch-up window the server would raise', { every: '90d', catchupWindow: '2s' }, 'catchupWindow: must be at least 10s'],
    [
      'a provider for internal',
      { every: '90d', keyManagement: 'internal', provider: { id: 1 } },
      'provider: is only for keyManagement external',
    ],
  ])('refuses %s, naming the field', (_what, options, message) => {
    const parsed = rekeyScheduleOptions.safeParse({ cluster: 'some-cluster', ...options });
    expect(parsed.success).toBe(false);
    expect(describeIssues(parsed.error!)).toContain(message);
  });
});
