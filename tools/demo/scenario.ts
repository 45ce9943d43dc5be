/**
 * The demo's story, one runbook after another on the simulated cluster: set up external key
 * management (CSR signed by cfssl, software encryption moved to the KMIP server), rekey the
 * master key, recover from a kmipServerFault (an on-call engineer fixes the key server and
 * answers the runbook) and from sliceServiceUnhealthy. What happened is kept in the data folder,
 * so running the demo again resumes the runbooks that were in flight.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, type Client, type Workflow, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { hasFaultCode } from '../../src/element/objects';
import { answerUpdate, progressQuery, type RunbookName, type RunbookProgress } from '../../workflows/contract';
import { runbooks, runbookStart, type RunbookInput } from '../../workflows/runbooks';
import { DEMO_CLUSTER, DEMO_COMMON_NAME, DEMO_TASK_QUEUE, type DemoEnvironment } from './environment';
import { LiveView } from './live';

export type DemoSpeed = 'normal' | 'fast';

/** Short simulated durations; faults refresh every second or less, not on a cluster's 30 s. */
export const SIMULATOR_DURATIONS: Record<DemoSpeed, Record<string, number>> = {
  normal: {
    earTransitionMs: 3000,
    rekeyMs: 6000,
    driveAddMs: 3000,
    sliceSettleMs: 6000,
    kmipRetryMs: 2000,
    tickMs: 100,
    faultRefreshMs: 1000,
  },
  fast: {
    earTransitionMs: 500,
    rekeyMs: 1000,
    driveAddMs: 500,
    sliceSettleMs: 1000,
    kmipRetryMs: 500,
    tickMs: 50,
    faultRefreshMs: 250,
  },
};
const SETTLE: Record<DemoSpeed, string> = { normal: '10s', fast: '2s' };
const POLL = { initialInterval: 250, maxInterval: 1000, attemptWindow: 30_000 };

const phaseRecord = z.object({
  status: z.enum(['pending', 'running', 'completed', 'failed']),
  workflowId: z.string().optional(),
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
  firstCallSeq: z.number().optional(),
  lastCallSeq: z.number().optional(),
  injected: z.boolean().optional(),
  result: z.unknown().optional(),
  error: z.string().optional(),
});
type PhaseRecord = z.infer<typeof phaseRecord>;
const demoState = z.record(z.string(), phaseRecord);

export interface PhaseSummary {
  phase: string;
  runbook: RunbookName;
  workflowId: string;
  status: PhaseRecord['status'];
  durationMs: number;
  elementCalls: number;
  topCalls: Record<string, number>;
  outcome: string;
  uiLink: string;
}

interface Phase {
  name: string;
  runbook: RunbookName;
  title: string;
  workflowId: string;
  /** Starts the runbook, or attaches to the run still in flight when the demo resumes. */
  start: () => Promise<WorkflowHandle>;
  /** Break something on the cluster first (only once, even across resumed demos). */
  inject?: () => Promise<void>;
  /** What the on-call engineer does when the runbook waits for a person. */
  answer?: (progress: RunbookProgress, handle: WorkflowHandle) => Promise<void>;
  outcome: (result: unknown) => string;
}

export class DemoScenario {
  private readonly stateFile: string;
  private state: Record<string, PhaseRecord>;

  constructor(
    private readonly env: DemoEnvironment,
    private readonly client: Client,
    private readonly speed: DemoSpeed,
    private readonly log: (line: string) => void,
  ) {
    this.stateFile = path.join(env.dataDir, 'demo-progress.json');
    this.state = fs.existsSync(this.stateFile) ? demoState.parse(JSON.parse(fs.readFileSync(this.stateFile, 'utf8'))) : {};
  }

  private save(): void {
    fs.writeFileSync(`${this.stateFile}.tmp`, JSON.stringify(this.state, null, 2));
    fs.renameSync(`${this.stateFile}.tmp`, this.stateFile);
  }

  private async waitForFault(code: string): Promise<void> {
    const client = this.env.cluster.adminClient();
    try {
      for (let i = 0; i < 600; i++) {
        const { faults } = await client.call('ListClusterFaults', { faultTypes: 'current' });
        if (faults.some((f) => hasFaultCode(f, code))) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`the simulated cluster did not raise ${code}`);
    } finally {
      await client.close();
    }
  }

  private async lastCallSeq(): Promise<number> {
    const calls = await this.env.cluster.sim.control.calls();
    return calls.length === 0 ? 0 : Math.max(...calls.map((c) => c.seq));
  }

  private phases(): Phase[] {
    const { stack } = this.env;
    const { sim } = this.env.cluster;
    const kmipHost = stack.kmip.host;
    return [
      {
        name: 'setup',
        runbook: 'setup',
        title: 'Setup: trust, CSR signed by cfssl, provider and server, software encryption to the KMIP server',
        workflowId: runbooks.setup.workflowId(DEMO_CLUSTER),
        start: () =>
          this.startOrAttach('setup', {
            cluster: DEMO_CLUSTER,
            subject: { commonName: DEMO_COMMON_NAME, organization: 'EKM demo', country: 'US' },
            keyProviderName: 'demo-kmip',
            keyServerName: 'pykmip-1',
            hostnames: [kmipHost],
            port: stack.kmip.port,
            kmipCaCertificate: stack.kmip.pki.ca.certificatePem,
            mode: 'software',
            signer: { type: 'cfssl', url: stack.cfssl.url, profile: stack.cfssl.profile },
            testRetryInterval: '1s',
            polling: POLL,
            requestedBy: 'demo',
          }),
        outcome: (r) => {
          const result = r as { alreadySetUp?: boolean; keyProviderID?: number; masterKey?: { keyID: string } };
          return result.alreadySetUp
            ? 'already set up'
            : `provider ${result.keyProviderID}, master key ${result.masterKey?.keyID ?? '?'}`;
        },
      },
      {
        name: 'rekey',
        runbook: 'rekey',
        title: 'Rekey: a brand-new external master key',
        workflowId: runbooks.rekey.workflowId(DEMO_CLUSTER),
        start: () =>
          this.startOrAttach('rekey', { cluster: DEMO_CLUSTER, keyManagement: 'external', polling: POLL, requestedBy: 'demo' }),
        outcome: (r) => {
          const result = r as { oldKey?: { keyID?: string }; newKey: { keyID: string } };
          return `${result.oldKey?.keyID ?? '?'} -> ${result.newKey.keyID}`;
        },
      },
      {
        name: 'kmip-fault',
        runbook: 'recover-kmip-server-fault',
        title: 'Recover kmipServerFault: the key server went away while the cluster restarted',
        workflowId: runbooks['recover-kmip-server-fault'].workflowId(DEMO_CLUSTER),
        inject: async () => {
          this.log(`  injecting: key server ${kmipHost} unreachable, cluster restart`);
          await sim.control.makeUnreachable(kmipHost);
          await sim.control.restartCluster(false);
          await this.waitForFault('kmipServerFault');
        },
        start: () =>
          this.startOrAttach('recover-kmip-server-fault', {
            cluster: DEMO_CLUSTER,
            retest: { initialInterval: 2000, maxInterval: 5000 },
            faultPollInterval: '1s',
            resolveWindow: '2m',
            deadline: '10m',
            requestedBy: 'demo',
          }),
        answer: async (progress, handle) => {
          if (!progress.waiting?.answers.includes('fixed')) return;
          this.log(`  on-call engineer: read the diagnosis (${progress.waiting.problem ?? progress.waiting.prompt})`);
          this.log(`  on-call engineer: key server ${kmipHost} is back; answering "fixed"`);
          await sim.control.makeReachable(kmipHost);
          await handle.executeUpdate(answerUpdate.definition, {
            args: [{ action: 'fixed', by: 'demo on-call', comment: 'key server restarted' }],
          });
        },
        outcome: (r) => {
          const result = r as { outcome: string; retests: number };
          return `${result.outcome} after ${result.retests} re-test(s)`;
        },
      },
      {
        name: 'slice-fault',
        runbook: 'recover-slice-service',
        title: 'Recover sliceServiceUnhealthy: metadata drives failed and back in "available"',
        workflowId: runbooks['recover-slice-service'].workflowId(DEMO_CLUSTER),
        inject: async () => {
          const { driveIDs } = await sim.control.failMetadataDrives({ addingHelps: true });
          this.log(`  injecting: metadata drives ${driveIDs.join(', ')} failed and put back to available`);
          await this.waitForFault('sliceServiceUnhealthy');
        },
        start: () =>
          this.startOrAttach('recover-slice-service', {
            cluster: DEMO_CLUSTER,
            settle: SETTLE[this.speed],
            polling: POLL,
            requestedBy: 'demo',
          }),
        outcome: (r) => {
          const result = r as { outcome: string; rounds: number; drives: number[] };
          return `${result.outcome}: drives ${result.drives.join(', ')} added back, ${result.rounds} round(s)`;
        },
      },
    ];
  }

  /** Runs (or resumes) every phase in order; stops at the first failure. */
  async run(shouldStop: () => boolean): Promise<PhaseSummary[]> {
    for (const phase of this.phases()) {
      if (shouldStop()) break;
      const record: PhaseRecord = this.state[phase.name] ?? { status: 'pending' };
      this.state[phase.name] = record;
      if (record.status === 'completed') {
        this.log(`\n${phase.title}: completed in an earlier run`);
        continue;
      }
      this.log(`\n${phase.title}`);
      this.log(`  Temporal UI: ${this.uiLink(phase.workflowId)}`);
      if (record.status === 'pending' || record.status === 'failed') {
        record.firstCallSeq = await this.lastCallSeq();
        record.startedAt = Date.now();
        record.status = 'running';
        record.error = undefined;
        this.save();
      }
      if (phase.inject && !record.injected) {
        await phase.inject();
        record.injected = true;
        this.save();
      }
      // The latest run, whatever continue-as-new made of the one started.
      const handle = this.client.workflow.getHandle((await phase.start()).workflowId);
      record.workflowId = handle.workflowId;
      this.save();
      await this.follow(phase, handle, record, shouldStop);
      if ((record as PhaseRecord).status !== 'completed') break;
    }
    return this.summaries();
  }

  private async startOrAttach<R extends RunbookName>(runbook: R, input: RunbookInput<R>): Promise<WorkflowHandle> {
    return this.client.workflow.start(runbooks[runbook].workflow as Workflow, {
      ...runbookStart(runbook, input, { taskQueue: DEMO_TASK_QUEUE }),
      // Resuming the demo finds the run still in flight and attaches to it.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
  }

  private async follow(phase: Phase, handle: WorkflowHandle, record: PhaseRecord, shouldStop: () => boolean): Promise<void> {
    const view = new LiveView(phase.title, handle.workflowId);
    let progress: RunbookProgress | undefined;
    let answered = false;
    // Poll (no long-lived result() call), so Ctrl-C can stop between two short requests.
    while ((await handle.describe()).status.name === 'RUNNING') {
      if (shouldStop()) return;
      progress = await handle.query(progressQuery.definition).catch(() => progress);
      view.update(progress, record.startedAt ?? Date.now());
      if (progress?.waiting && phase.answer && !answered) {
        answered = true;
        await new Promise((r) => setTimeout(r, this.speed === 'fast' ? 200 : 3000));
        await phase.answer(progress, handle);
      }
      await new Promise((r) => setTimeout(r, this.speed === 'fast' ? 200 : 120));
    }
    try {
      record.result = await handle.result();
      record.status = 'completed';
    } catch (err) {
      record.status = 'failed';
      record.error = err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : (err as Error).message;
    }
    progress = await handle.query(progressQuery.definition).catch(() => progress);
    view.finish(progress);
    record.endedAt = Date.now();
    record.lastCallSeq = await this.lastCallSeq();
    this.save();
    this.log(record.status === 'completed' ? `  completed: ${phase.outcome(record.result)}` : `  FAILED: ${record.error}`);
  }

  private uiLink(workflowId: string): string {
    return `${this.env.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`;
  }

  private async summaries(): Promise<PhaseSummary[]> {
    const calls = await this.env.cluster.sim.control.calls();
    return this.phases().map((phase) => {
      const record = this.state[phase.name] ?? { status: 'pending' as const };
      const inRange = calls.filter(
        (c) => c.seq > (record.firstCallSeq ?? Infinity) && c.seq <= (record.lastCallSeq ?? record.firstCallSeq ?? -1),
      );
      const topCalls: Record<string, number> = {};
      for (const c of inRange) if (c.method) topCalls[c.method] = (topCalls[c.method] ?? 0) + 1;
      return {
        phase: phase.name,
        runbook: phase.runbook,
        workflowId: phase.workflowId,
        status: record.status,
        durationMs: (record.endedAt ?? Date.now()) - (record.startedAt ?? Date.now()),
        elementCalls: inRange.length,
        topCalls,
        outcome: record.status === 'completed' ? phase.outcome(record.result) : (record.error ?? record.status),
        uiLink: this.uiLink(phase.workflowId),
      };
    });
  }
}
