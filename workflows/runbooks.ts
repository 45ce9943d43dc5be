/**
 * The table of runbooks: what clients start and how. Everything that starts a runbook (CLI,
 * schedules, demo, tests, benchmarks) takes it from here by function reference, so its input is
 * type-checked, and the workflow id and search attributes are always the same. Clients import
 * this; workflow code does not (the fault watcher starts its recoveries directly).
 */
import type { z } from 'zod';
import { EkmCluster, EkmRunbook } from '../src/temporal/search-attributes';
import { workflowIds, type RunbookName } from './contract';
import { faultWatcher } from './fault-watcher';
import { faultWatcherInput, recoverKmipInput, recoverSliceInput } from './inputs-recovery';
import { rekeyInput, setupInput } from './inputs';
import { recoverKmipServerFault } from './recover-kmip-server-fault';
import { recoverSliceService } from './recover-slice-service';
import { rekeyRunbook } from './rekey';
import { renewInput } from './inputs-renew';
import { renewRunbook } from './renew';
import { setupRunbook } from './setup';

/** One runbook: its workflow function, id, CLI noun and input schema; its result is the function's. */
interface RunbookEntry<W extends (input: never) => Promise<unknown>> {
  name: RunbookName;
  workflow: W;
  workflowId: (cluster: string) => string;
  /** How the CLI names it: `ekm <noun> <cluster>`. */
  noun: string;
  /** Validated by the CLI before anything starts, and again by the workflow. */
  input: z.ZodType;
  /** It changes the cluster, so it takes the cluster lock. */
  mutating: boolean;
}

function entry<W extends (input: never) => Promise<unknown>>(e: RunbookEntry<W>): RunbookEntry<W> {
  return e;
}

export const runbooks = {
  setup: entry({
    name: 'setup',
    workflow: setupRunbook,
    workflowId: workflowIds.setup,
    noun: 'setup',
    input: setupInput,
    mutating: true,
  }),
  rekey: entry({
    name: 'rekey',
    workflow: rekeyRunbook,
    workflowId: workflowIds.rekey,
    noun: 'rekey',
    input: rekeyInput,
    mutating: true,
  }),
  'recover-kmip-server-fault': entry({
    name: 'recover-kmip-server-fault',
    workflow: recoverKmipServerFault,
    workflowId: workflowIds['recover-kmip-server-fault'],
    noun: 'recover kmip',
    input: recoverKmipInput,
    mutating: false,
  }),
  'recover-slice-service': entry({
    name: 'recover-slice-service',
    workflow: recoverSliceService,
    workflowId: workflowIds['recover-slice-service'],
    noun: 'recover slice',
    input: recoverSliceInput,
    mutating: true,
  }),
  'fault-watcher': entry({
    name: 'fault-watcher',
    workflow: faultWatcher,
    workflowId: workflowIds['fault-watcher'],
    noun: 'watch',
    input: faultWatcherInput,
    mutating: false,
  }),
  renew: entry({
    name: 'renew',
    workflow: renewRunbook,
    workflowId: workflowIds.renew,
    noun: 'renew',
    input: renewInput,
    mutating: true,
  }),
} satisfies Record<RunbookName, RunbookEntry<(input: never) => Promise<unknown>>>;

export type Runbooks = typeof runbooks;
export type RunbookInput<R extends RunbookName> = Parameters<Runbooks[R]['workflow']>[0];
export type RunbookResult<R extends RunbookName> = Awaited<ReturnType<Runbooks[R]['workflow']>>;

/** The workflow type names of every runbook (what Temporal's visibility lists them by). */
export const RUNBOOK_WORKFLOW_TYPES: readonly string[] = Object.values(runbooks).map((r) => r.workflow.name);

/** The runbook a workflow type name belongs to. */
export function runbookOfType(workflowType: string): RunbookName | undefined {
  return Object.values(runbooks).find((r) => r.workflow.name === workflowType)?.name;
}

/**
 * The options every start of a runbook uses: its per-cluster workflow id (tests may give another),
 * the task queue, the input, and the search attributes `ekm list` filters by.
 */
export function runbookStart<R extends RunbookName>(
  name: R,
  input: RunbookInput<R>,
  options: { taskQueue: string; workflowId?: string },
) {
  const cluster = (input as { cluster: string }).cluster;
  return {
    workflowId: options.workflowId ?? runbooks[name].workflowId(cluster),
    taskQueue: options.taskQueue,
    args: [input] as [RunbookInput<R>],
    typedSearchAttributes: [
      { key: EkmCluster, value: cluster },
      { key: EkmRunbook, value: name as string },
    ],
  };
}
