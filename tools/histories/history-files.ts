/**
 * Fetching every run of a workflow id and writing each as the JSON that
 * `temporal workflow show --output json` prints (historyToJSON), which historyFromJSON reads back.
 * One event per line instead of indented: a quarter smaller, and a diff still shows which events changed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client, WorkflowExecutionStatusName } from '@temporalio/client';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import { clusterLock } from '../../workflows/cluster-lock';
import { fleetRunbook } from '../../workflows/fleet';
import { runbookOfType } from '../../workflows/runbooks';

export type { History };

/** File name stem per workflow type: the runbook's name, or cluster-lock. */
function fileStemOfType(workflowType: string): string | undefined {
  if (workflowType === clusterLock.name) return 'cluster-lock';
  if (workflowType === fleetRunbook.name) return 'fleet';
  return runbookOfType(workflowType);
}

export interface RecordedRun {
  /** `<runbook>-<scenario>`, with `-run<n>` when the id has several runs (continue-as-new). */
  name: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  status: WorkflowExecutionStatusName;
  history: History;
}

/** Every run of `workflowId`, oldest first, each with its full history. */
export async function fetchRuns(client: Client, workflowId: string, scenario: string): Promise<RecordedRun[]> {
  const executions = [];
  for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) executions.push(execution);
  if (executions.length === 0) throw new Error(`no run of ${workflowId} on the server`);
  executions.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  return Promise.all(
    executions.map(async (execution, index) => {
      const runbook = fileStemOfType(execution.type);
      if (!runbook) throw new Error(`${workflowId}: unknown workflow type ${execution.type}`);
      const suffix = executions.length > 1 ? `-run${index + 1}` : '';
      return {
        name: `${runbook}-${scenario}${suffix}`,
        workflowId,
        runId: execution.runId,
        workflowType: execution.type,
        status: execution.status.name,
        history: await client.workflow.getHandle(workflowId, execution.runId).fetchHistory(),
      };
    }),
  );
}

/** Writes `<name>.json` per run and removes the other .json files in `outDir`; returns the files written with their sizes. */
export function writeHistories(outDir: string, runs: RecordedRun[]): Array<{ file: string; bytes: number; events: number }> {
  fs.mkdirSync(outDir, { recursive: true });
  const names = new Set(runs.map((r) => r.name));
  if (names.size !== runs.length) throw new Error('two recorded runs got the same file name');
  for (const stale of fs.readdirSync(outDir).filter((f) => f.endsWith('.json') && !names.has(f.slice(0, -5)))) {
    fs.rmSync(path.join(outDir, stale));
  }
  return runs.map((run) => {
    const file = path.join(outDir, `${run.name}.json`);
    const { events } = JSON.parse(historyToJSON(run.history)) as { events: unknown[] };
    const text = withoutMachinePaths(`{"events": [\n${events.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`);
    fs.writeFileSync(file, text);
    return { file, bytes: Buffer.byteLength(text), events: run.history.events?.length ?? 0 };
  });
}

const REPOSITORY = path.resolve(__dirname, '../../..');

/**
 * Failure stack traces in a history name files by their absolute path on the recording machine:
 * they become relative to the repository (`./dist/activities/faults.js`), and anything else
 * absolute under the temporary folder becomes `<tmp>`, so a committed history names no machine.
 */
export function withoutMachinePaths(text: string): string {
  return text.split(REPOSITORY).join('.').split(os.tmpdir()).join('<tmp>');
}
