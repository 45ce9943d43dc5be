/**
 * The fleets Temporal knows (`ekm fleet list`, the console's fleet page): by the fleet workflow's
 * type, running ones unless `all`; newest first as Temporal lists them, at most `limit`.
 */
import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import { fleetRunbookName } from '../../workflows/contract';
import { fleetRunbook } from '../../workflows/fleet';
import type { fleetListJson } from './fleet-json';

export type FleetSummary = z.input<typeof fleetListJson>[number];

export async function listFleets(client: Client, options: { all?: boolean } = {}, limit = 500): Promise<FleetSummary[]> {
  const query = `WorkflowType = '${fleetRunbook.name}'${options.all ? '' : ` AND ExecutionStatus = 'Running'`}`;
  const rows: FleetSummary[] = [];
  for await (const info of client.workflow.list({ query })) {
    const runbook = fleetRunbookName.options.find((r) => info.workflowId.startsWith(`ekm-fleet-${r}-`));
    rows.push({
      workflowId: info.workflowId,
      runbook,
      status: info.status.name,
      startTime: info.startTime.toISOString(),
      closeTime: info.closeTime?.toISOString(),
    });
    if (rows.length >= limit) break;
  }
  return rows;
}
