/**
 * A typed client for the simulator's control API (tests, the demo, rehearsal scripts). Every
 * answer is validated with zod.
 */
import { z } from 'zod';
import type { DurationsInput } from './durations';
import { ClusterStateSchema, HttpFaultRule, JobPlan, KeyAccess, type ClusterState } from './state';
import type { TransientFaults } from './transient-faults';

export const CallRecordSchema = z.looseObject({
  seq: z.int(),
  time: z.string(),
  apiVersion: z.string().nullable(),
  method: z.string().nullable(),
  id: z.unknown(),
  params: z.unknown(),
  httpStatus: z.int().nullable(),
  outcome: z.enum([
    'result',
    'error',
    'unauthorized',
    'not-found',
    'method-not-allowed',
    'bad-request',
    'unavailable',
    'injected',
  ]),
  errorName: z.string().optional(),
  injected: z.strictObject({ kind: z.string(), phase: z.enum(['before', 'after']) }).optional(),
  executed: z.boolean(),
  durationMs: z.number(),
});
export type CallRecordJson = z.infer<typeof CallRecordSchema>;

export class ControlApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ControlApiError';
  }
}

export type HttpFaultRuleInput = z.input<typeof HttpFaultRule>;
export type JobPlanInput = z.input<typeof JobPlan>;

export class SimulatorControlClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  private async request<T extends z.ZodType>(method: string, path: string, schema: T, body?: unknown): Promise<z.output<T>> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new ControlApiError(res.status, `control API answered non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const message =
        typeof json === 'object' && json !== null && 'error' in json ? String((json as { error: unknown }).error) : text;
      throw new ControlApiError(res.status, `${method} ${path}: ${res.status} ${message}`);
    }
    return schema.parse(json);
  }

  health(): Promise<unknown> {
    return this.request('GET', '/control/health', z.looseObject({ ok: z.literal(true) }));
  }

  /** The whole cluster state, private keys replaced by "*****". */
  state(): Promise<ClusterState> {
    return this.request('GET', '/control/state', ClusterStateSchema);
  }

  async calls(filter: { method?: string; afterSeq?: number } = {}): Promise<CallRecordJson[]> {
    const query = new URLSearchParams();
    if (filter.method) query.set('method', filter.method);
    if (filter.afterSeq !== undefined) query.set('afterSeq', String(filter.afterSeq));
    const q = query.toString();
    const out = await this.request(
      'GET',
      `/control/calls${q ? `?${q}` : ''}`,
      z.strictObject({ calls: z.array(CallRecordSchema) }),
    );
    return out.calls;
  }

  async resetCalls(): Promise<void> {
    await this.request('DELETE', '/control/calls', z.unknown());
  }

  async setHttpFaults(body: {
    latencyMs?: number;
    jitterMs?: number;
    rules?: HttpFaultRuleInput[];
    transient?: z.input<typeof TransientFaults>;
  }): Promise<void> {
    await this.request('PUT', '/control/http-faults', z.unknown(), body);
  }

  async clearHttpFaults(): Promise<void> {
    await this.request('DELETE', '/control/http-faults', z.unknown());
  }

  async makeUnreachable(...hostnames: string[]): Promise<void> {
    await this.request('POST', '/control/kmip/unreachable', z.unknown(), { hostnames });
  }

  async makeReachable(...hostnames: string[]): Promise<void> {
    await this.request('POST', '/control/kmip/reachable', z.unknown(), { hostnames });
  }

  /** key: "hardware", "software" or a keyID. destroy = revoke+destroy on the KMIP server; withhold = reversible "Item Not Found". */
  deleteKey(key: string, mode: 'destroy' | 'withhold' = 'destroy'): Promise<{ keyID: string; kmipUniqueIdentifier: string }> {
    return this.request(
      'POST',
      '/control/kmip/delete-key',
      z.looseObject({ keyID: z.string(), kmipUniqueIdentifier: z.string() }),
      { key, mode },
    );
  }

  async restoreKey(key: string): Promise<void> {
    await this.request('POST', '/control/kmip/restore-key', z.unknown(), { key });
  }

  failMetadataDrives(
    options: { nodeIDs?: number[]; driveIDs?: number[]; addingHelps?: boolean; faultNames?: 'drive' | 'node' | 'none' } = {},
  ): Promise<{ driveIDs: number[] }> {
    return this.request('POST', '/control/drives/fail-metadata', z.looseObject({ driveIDs: z.array(z.int()) }), options);
  }

  /**
   * What GetAsyncResult without keepResult does to a finished job, done by someone else; with
   * forgetRekeyHandle the cluster also stops reporting it as the latest rekey.
   */
  async purgeAsyncResult(asyncHandle: number, options: { forgetRekeyHandle?: boolean } = {}): Promise<void> {
    await this.request('POST', '/control/async-results/purge', z.unknown(), { asyncHandle, ...options });
  }

  /**
   * What ModifyKeyServerKmip does with a change: verify (default: kept only if the new settings
   * work against the server), keep (kept even when that contact fails; the failure is answered),
   * store (kept without contacting the server).
   */
  async setModifyKeyServer(mode: 'verify' | 'keep' | 'store'): Promise<void> {
    await this.request('PUT', '/control/kmip/modify-key-server', z.unknown(), { mode });
  }

  /** false: keys the cluster creates from now on lack their x-SolidFire-KeyID attribute on the KMIP server. */
  async setTagKeys(tagKeys: boolean): Promise<void> {
    await this.request('PUT', '/control/kmip/tag-keys', z.unknown(), { tagKeys });
  }

  /**
   * EnableEncryptionAtRest with a keyProviderID fails with `error` (default xKmipConnectionFailure)
   * the next `remaining` times, or every time until clearEnableFailure(); internal keys unaffected.
   */
  async failEnableWithProvider(options: { remaining?: number; error?: { name: string; message: string } } = {}): Promise<void> {
    await this.request('PUT', '/control/encryption/enable-failure', z.unknown(), options);
  }

  async clearEnableFailure(): Promise<void> {
    await this.request('DELETE', '/control/encryption/enable-failure', z.unknown());
  }

  async clearSliceIncidents(): Promise<void> {
    await this.request('DELETE', '/control/drives/incidents', z.unknown());
  }

  /** Restarts the simulated cluster; with wait (default) answers after the first key fetch. */
  restartCluster(wait = true): Promise<{ restarts: number; keyAccess: KeyAccess }> {
    return this.request('POST', '/control/cluster/restart', z.looseObject({ restarts: z.int(), keyAccess: KeyAccess }), { wait });
  }

  rereadKeys(wait = true): Promise<{ keyAccess: KeyAccess }> {
    return this.request('POST', '/control/cluster/reread-keys', z.looseObject({ keyAccess: KeyAccess }), { wait });
  }

  async addJobPlan(plan: JobPlanInput): Promise<void> {
    await this.request('POST', '/control/jobs', z.unknown(), plan);
  }

  async setJobPlans(plans: JobPlanInput[]): Promise<void> {
    await this.request('PUT', '/control/jobs', z.unknown(), { plans });
  }

  async clearJobPlans(): Promise<void> {
    await this.request('DELETE', '/control/jobs', z.unknown());
  }

  async setDurations(patch: DurationsInput): Promise<void> {
    await this.request('PATCH', '/control/durations', z.unknown(), patch);
  }
}
