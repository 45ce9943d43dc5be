export type RunbookEventKind = 'waiting-for-input' | 'reminder' | 'escalated' | 'completed' | 'failed' | 'fault-detected';

export const RUNBOOK_EVENT_KINDS: readonly RunbookEventKind[] = [
  'waiting-for-input',
  'reminder',
  'escalated',
  'completed',
  'failed',
  'fault-detected',
];

/** Something a person should hear about: a runbook waits for them, escalated, ended, or the watcher saw a fault. */
export interface RunbookEvent {
  kind: RunbookEventKind;
  runbook: string;
  cluster: string;
  workflowId: string;
  runId: string;
  step?: string;
  message: string;
  detail?: string;
  /** Structured facts for machines (fault ids, drive states, diagnosis); never secrets. */
  data?: Record<string, unknown>;
  at: string;
}
