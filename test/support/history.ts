import type { Client } from '@temporalio/client';
import { historyText as textOf } from '../../tools/histories/secrets';

/** Every string in a workflow's full history, payloads decoded (what a secret scan reads). */
export async function historyText(client: Client, workflowId: string): Promise<string> {
  return textOf(await client.workflow.getHandle(workflowId).fetchHistory());
}
