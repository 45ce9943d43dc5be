import { ApplicationFailure } from '@temporalio/common';
import { findCluster, readCaBundle, readClusterCredentials, type ClusterRegistry } from '../src/config/clusters';
import { ConfigError } from '../src/config/zod-errors';
import { activityInfo } from '@temporalio/activity';
import type { AuditLog } from '../src/audit/audit-log';
import { ElementApiError, ElementClient, ElementError, type ElementCallRecord } from '../src/element';
import type { ActivityContext } from './context';
import { rerunOnTransient } from './transient';
import { Failure, type FailureType } from '../workflows/failures';

/**
 * Opens an Element client for a registered cluster (credentials read now, from the worker's
 * environment or secret files), runs fn, closes it, and turns failures into ApplicationFailures
 * whose type is the Element error name and whose retryability was decided once in the client.
 */
export async function withElement<T>(
  ctx: ActivityContext,
  cluster: string,
  fn: (client: ElementClient) => Promise<T>,
  options: { retryApiErrors?: boolean } = {},
): Promise<T> {
  let client: ElementClient;
  try {
    const audit = ctx.audit && auditRecorder(ctx.audit, cluster);
    client = elementClientFor(ctx.registry, cluster, (call) => {
      audit?.(call);
      ctx.metrics?.elementCall(cluster, call);
    });
  } catch (err) {
    throw asActivityFailure(err);
  }
  try {
    return await rerunOnTransient(() => fn(client));
  } catch (err) {
    throw asActivityFailure(err, options.retryApiErrors);
  } finally {
    await client.close();
  }
}

/**
 * An Element client for a registered cluster, its credentials read now from the environment or
 * secret files the clusters file names (the worker's, or the CLI's for `--plan`). Throws
 * ConfigError (naming the setting, never the secret) for an unknown cluster or a missing secret.
 */
export function elementClientFor(
  registry: ClusterRegistry,
  cluster: string,
  onCall?: (call: ElementCallRecord) => void,
): ElementClient {
  const entry = findCluster(registry, cluster);
  const credentials = readClusterCredentials(cluster, entry);
  return new ElementClient({
    endpoint: entry.mvip,
    apiVersion: entry.apiVersion,
    username: credentials.username,
    password: credentials.password,
    caPem: readCaBundle(cluster, entry),
    insecure: entry.insecure,
    connectTimeoutMs: entry.connectTimeoutMs,
    responseTimeoutMs: entry.responseTimeoutMs,
    onCall,
  });
}

function auditRecorder(audit: AuditLog, cluster: string): (call: ElementCallRecord) => void {
  const info = activityInfo();
  return (call) =>
    audit.append({
      at: new Date().toISOString(),
      workflowId: info.workflowExecution?.workflowId ?? '',
      runId: info.workflowExecution?.runId ?? '',
      workflowType: info.workflowType ?? '',
      activityType: info.activityType,
      attempt: info.attempt,
      cluster,
      ...call,
    });
}

/**
 * retryApiErrors: an Element error answer is worth retrying too (key server and provider tests
 * fail with one while the key server is down; that is an outside condition that can clear),
 * except the answers no retry can change (a demo node's xAPINotPermitted, an unknown method).
 */
export function asActivityFailure(err: unknown, retryApiErrors = false): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ElementError) {
    const retryAnyway = retryApiErrors && err instanceof ElementApiError && !err.permanent;
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: !(err.retryable || retryAnyway),
      details: [{ kind: err.kind, method: err.method }],
    });
  }
  if (err instanceof ConfigError) return ApplicationFailure.nonRetryable(err.message, Failure.ConfigError);
  return err;
}

/** A failure the runbook should not retry: the cluster is not in a state this step can work with. */
export function refuse(type: FailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}
