/**
 * The fleets Temporal knows (`ekm fleet list`, the console's fleet page): by the fleet workflow's
 * type, running ones unless `all`; newest first, one row per fleet (its latest run: not the runs it
 * continued as new from, nor the run a resume followed), at most `limit`. With `outcomes`, each
 * ended fleet's own outcome (done / stopped: error budget / cancelled …) and cluster counts are read
 * from its result, a few fleets at a time: Temporal's COMPLETED says only that the workflow returned.
 */
import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import { fleetResult, fleetRunbookName, type FleetResult } from '../../workflows/contract';
import { fleetRunbook } from '../../workflows/fleet';
import { clusterCounts, fleetOutcome } from './fleet-outcome';
import type { fleetListJson } from './fleet-json';

export type FleetSummary = z.input<typeof fleetListJson>[number];

const RESULT_READS_AT_ONCE = 8;

export async function listFleets(
  client: Client,
  options: { all?: boolean; outcomes?: boolean } = {},
  limit = 500,
): Promise<FleetSummary[]> {
  const query =
    `WorkflowType = '${fleetRunbook.name}'` +
    (options.all ? ` AND ExecutionStatus != 'ContinuedAsNew'` : ` AND ExecutionStatus = 'Running'`);
  const latest = new Map<string, FleetSummary & { runId: string }>();
  for await (const info of client.workflow.list({ query })) {
    const seen = latest.get(info.workflowId);
    if (!seen && latest.size >= limit) break;
    if (seen && seen.startTime >= info.startTime.toISOString()) continue;
    latest.set(info.workflowId, {
      workflowId: info.workflowId,
      runId: info.runId,
      runbook: fleetRunbookName.options.find((r) => info.workflowId.startsWith(`ekm-fleet-${r}-`)),
      status: info.status.name,
      startTime: info.startTime.toISOString(),
      closeTime: info.closeTime?.toISOString(),
    });
  }
  const rows = [...latest.values()].sort((a, b) => b.startTime.localeCompare(a.startTime)).slice(0, limit);
  if (options.outcomes) {
    let next = 0;
    const worker = async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        row.outcome = fleetOutcome(row.status, row.status === 'COMPLETED' ? await resultOf(client, row) : undefined);
      }
    };
    await Promise.all(Array.from({ length: RESULT_READS_AT_ONCE }, worker));
  }
  return rows.map(({ runId: _runId, ...row }) => row);
}

/** An ended fleet's result (one history read); undefined when it cannot be read or is not a fleet result. */
async function resultOf(client: Client, row: FleetSummary & { runId: string }): Promise<FleetResult | undefined> {
  try {
    const parsed = fleetResult.safeParse(await client.workflow.getHandle(row.workflowId, row.runId).result());
    if (!parsed.success) return undefined;
    row.clusters = clusterCounts(parsed.data.status.clusters);
    return parsed.data;
  } catch {
    return undefined;
  }
}
