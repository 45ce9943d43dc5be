export type RunbookEventKind =
  | 'waiting-for-input'
  | 'reminder'
  | 'escalated'
  | 'completed'
  | 'failed'
  | 'fault-detected'
  /** The fault watcher: a key server certificate the cluster uses expires within its horizon (once per certificate and threshold). */
  | 'certificate-expiring';

export const RUNBOOK_EVENT_KINDS: readonly RunbookEventKind[] = [
  'waiting-for-input',
  'reminder',
  'escalated',
  'completed',
  'failed',
  'fault-detected',
  'certificate-expiring',
];

/** Something a person should hear about: a runbook waits for them, escalated, ended, or the watcher saw a fault or an expiring certificate. */
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
