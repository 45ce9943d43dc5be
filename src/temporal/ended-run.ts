import type { WorkflowExecutionDescription } from '@temporalio/client';
import { formatDuration } from '../durations';

/**
 * What the CLI and the console say when an answer or a certificate goes to a run that has ended:
 * "ekm-rekey-prod-a ended (completed 2m ago); there is nothing to answer", from the run's
 * description (Temporal's status, in lower case, and its close time).
 */
export function endedRunMessage(
  workflowId: string,
  description: Pick<WorkflowExecutionDescription, 'status' | 'closeTime'>,
  now = Date.now(),
): string {
  const how = description.status.name.toLowerCase().replace(/_/g, ' ').replace('canceled', 'cancelled');
  const when = description.closeTime ? ` ${formatDuration(Math.max(0, now - description.closeTime.getTime()))} ago` : '';
  return `${workflowId} ended (${how}${when}); there is nothing to answer`;
}
