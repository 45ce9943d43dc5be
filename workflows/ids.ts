/** Workflow ids are derived from the runbook and the cluster: one of each per cluster at a time. */
export const workflowIds = {
  setup: (cluster: string) => `ekm-setup-${cluster}`,
  rekey: (cluster: string) => `ekm-rekey-${cluster}`,
  /** Schedules append the scheduled time to this. */
  scheduledRekey: (cluster: string) => `ekm-scheduled-rekey-${cluster}`,
  recoverKmipServerFault: (cluster: string) => `ekm-recover-kmip-${cluster}`,
  recoverSliceService: (cluster: string) => `ekm-recover-slice-${cluster}`,
  faultWatcher: (cluster: string) => `ekm-watch-${cluster}`,
};

export const rekeyScheduleId = (cluster: string) => `ekm-rekey-schedule-${cluster}`;
