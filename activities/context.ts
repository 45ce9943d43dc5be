import type { Client } from '@temporalio/client';
import type { AuditLog } from '../src/audit/audit-log';
import type { ActivityMetrics } from '../src/metrics/activity-metrics';
import type { ClusterRegistry } from '../src/config/clusters';
import type { Notifier } from '../src/notify/notifier';
import type { LockTiming } from '../workflows/cluster-lock';

/** What activities need from the worker process. Secrets are read from here at call time only. */
export interface ActivityContext {
  registry: ClusterRegistry;
  notifier: Notifier;
  temporal: Client;
  taskQueue: string;
  /** Tests shorten the lock's liveness check. */
  lockTiming?: LockTiming;
  /** Where every Element call is recorded (EKM_AUDIT_LOG), for `ekm report`. */
  audit?: AuditLog;
  /** Element calls counted and timed (Prometheus, EKM_METRICS_LISTEN). */
  metrics?: ActivityMetrics;
}
