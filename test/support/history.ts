import type { Client } from '@temporalio/client';
import { historyText as textOf } from '../../src/dev/secrets';

/** Every string in a workflow's full history, payloads decoded (what a secret scan reads). */
export async function historyText(client: Client, workflowId: string): Promise<string> {
  return textOf(await client.workflow.getHandle(workflowId).fetchHistory());
}
