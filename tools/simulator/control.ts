/**
 * The fault-injection control API: plain HTTP on its own port (loopback by default), every
 * request with `Authorization: Bearer <control token>`. The cluster admin's basic-auth
 * credentials are refused here, and the JSON-RPC port has no /control routes. README.md in this
 * folder documents each route.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { z } from 'zod';
import type { CallLog } from './call-log';
import type { SimulatedCluster } from './cluster';
import { durationsPatchSchema } from './durations';
import { destroyKey, KmipLinkError } from './kmip-link';
import { serversOfProvider } from './model';
import { HttpFaultRule, JobPlan, type ClusterState, type KeyRecord } from './state';
import { TransientFaults, transientFaultRules } from './transient-faults';

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const Int = z.int().nonnegative();

const HttpFaultsBody = z.strictObject({
  latencyMs: Int.optional(),
  jitterMs: Int.optional(),
  rules: z.array(HttpFaultRule).optional(),
  /** N % of calls fail transiently (appended to rules): see transient-faults.ts. */
  transient: TransientFaults.optional(),
});
const HostnamesBody = z.strictObject({ hostnames: z.array(z.string().min(1)).min(1) });
const KeyRefBody = z.strictObject({
  /** "hardware" (EAR key), "software" (SEAR master key) or a keyID. */
  key: z.string().min(1),
  mode: z.enum(['destroy', 'withhold']).default('destroy'),
});
const FailMetadataBody = z.strictObject({
  nodeIDs: z.array(Int).optional(),
  driveIDs: z.array(Int).optional(),
  /** false: adding the drives back does not clear sliceServiceUnhealthy (escalation rehearsal). */
  addingHelps: z.boolean().default(true),
  /** What each sliceServiceUnhealthy fault names: the drive (default), only its node, or neither. */
  faultNames: z.enum(['drive', 'node', 'none']).default('drive'),
});
const PurgeBody = z.strictObject({
  asyncHandle: Int,
  /** Also forget it as the latest rekey (GetSoftwareEncryptionAtRestInfo then reports no rekeyMasterKeyAsyncResultID). */
  forgetRekeyHandle: z.boolean().default(false),
});
const TagKeysBody = z.strictObject({ tagKeys: z.boolean() });
const ModifyKeyServerBody = z.strictObject({ mode: z.enum(['verify', 'keep', 'store']) });
const EnableFailureBody = z.strictObject({
  /** How many calls fail; absent: every call until DELETE. */
  remaining: z.int().positive().optional(),
  error: z
    .strictObject({ name: z.string().min(1), message: z.string() })
    .default({ name: 'xKmipConnectionFailure', message: 'Unable to reach the key server to create the encryption key.' }),
});
const RestartBody = z.strictObject({ wait: z.boolean().default(true) });
const JobPlansBody = z.strictObject({ plans: z.array(JobPlan) });
const DurationsPatch = durationsPatchSchema;

function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    throw new ControlError(400, problems.join('; '));
  }
  return parsed.data;
}

function bearerOk(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  const a = Buffer.from(match[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The state without secrets (private keys), for GET /control/state. */
export function publicState(state: ClusterState): unknown {
  const copy = structuredClone(state);
  if (copy.keyPair) copy.keyPair.privateKeyPem = '*****';
  if (copy.tls) copy.tls.keyPem = '*****';
  return copy;
}

function findKey(state: ClusterState, ref: string): KeyRecord {
  if (ref === 'hardware') {
    if (state.ear.key) return state.ear.key;
    throw new ControlError(409, 'hardware encryption at rest has no key');
  }
  if (ref === 'software') {
    if (state.sear.masterKey) return state.sear.masterKey;
    throw new ControlError(409, 'software encryption at rest is not enabled');
  }
  const candidates: KeyRecord[] = [];
  if (state.ear.key) candidates.push(state.ear.key);
  if (state.sear.masterKey) candidates.push(state.sear.masterKey);
  for (const r of state.asyncResults) {
    if (r.job.kind !== 'rekey') continue;
    candidates.push(r.job.fromKey);
    if (r.job.newKey) candidates.push(r.job.newKey);
  }
  const found = candidates.find((k) => k.keyID === ref);
  if (!found) throw new ControlError(404, `no key with keyID ${ref}`);
  return found;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ControlError(400, 'body is not JSON');
  }
}

export class ControlApi {
  constructor(
    private readonly cluster: SimulatedCluster,
    private readonly callLog: CallLog,
    private readonly token: string,
  ) {}

  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.route(req)
      .then((body) => {
        const text = JSON.stringify(body ?? {});
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(text);
      })
      .catch((err: unknown) => {
        const status = err instanceof ControlError ? err.status : 500;
        if (status === 500) this.cluster.log(`control API error: ${(err as Error).stack ?? String(err)}`);
        const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json' };
        if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="simulator-control"';
        res.writeHead(status, headers);
        res.end(JSON.stringify({ error: (err as Error).message }));
      });
  };

  private async route(req: http.IncomingMessage): Promise<unknown> {
    if (!bearerOk(req.headers.authorization, this.token)) {
      throw new ControlError(401, 'the control API needs "Authorization: Bearer <control token>"');
    }
    const url = new URL(req.url ?? '/', 'http://control');
    const route = `${req.method ?? 'GET'} ${url.pathname.replace(/\/+$/, '')}`;
    const body = req.method === 'GET' || req.method === 'DELETE' ? undefined : await readJson(req);
    const cluster = this.cluster;
    switch (route) {
      case 'GET /control/health':
        return { ok: true };
      case 'GET /control/state':
        return publicState(await cluster.snapshot());
      case 'GET /control/calls': {
        const after = url.searchParams.get('afterSeq');
        return {
          calls: this.callLog.list({
            method: url.searchParams.get('method') ?? undefined,
            afterSeq: after === null ? undefined : Number(after),
          }),
        };
      }
      case 'DELETE /control/calls':
        this.callLog.reset();
        return {};
      case 'PUT /control/http-faults': {
        const patch = parseBody(HttpFaultsBody, body);
        return cluster.run((state) => {
          if (patch.latencyMs !== undefined) state.injection.latencyMs = patch.latencyMs;
          if (patch.jitterMs !== undefined) state.injection.jitterMs = patch.jitterMs;
          if (patch.rules !== undefined || patch.transient !== undefined)
            state.injection.rules = [...(patch.rules ?? []), ...(patch.transient ? transientFaultRules(patch.transient) : [])];
          return { latencyMs: state.injection.latencyMs, jitterMs: state.injection.jitterMs, rules: state.injection.rules };
        });
      }
      case 'DELETE /control/http-faults':
        return cluster.run((state) => {
          state.injection.latencyMs = 0;
          state.injection.jitterMs = 0;
          state.injection.rules = [];
          return {};
        });
      case 'POST /control/kmip/unreachable': {
        const { hostnames } = parseBody(HostnamesBody, body);
        return cluster.run((state) => {
          state.injection.unreachableHosts = [...new Set([...state.injection.unreachableHosts, ...hostnames])];
          return { unreachableHosts: state.injection.unreachableHosts };
        });
      }
      case 'POST /control/kmip/reachable': {
        const { hostnames } = parseBody(HostnamesBody, body);
        return cluster.run((state) => {
          state.injection.unreachableHosts = state.injection.unreachableHosts.filter((h) => !hostnames.includes(h));
          return { unreachableHosts: state.injection.unreachableHosts };
        });
      }
      case 'POST /control/kmip/delete-key':
        return this.deleteKey(parseBody(KeyRefBody, body));
      case 'POST /control/kmip/restore-key': {
        const { key } = parseBody(KeyRefBody, body);
        return cluster.run((state) => {
          const record = findKey(state, key);
          state.injection.withheldKeys = state.injection.withheldKeys.filter((uid) => uid !== record.kmipUniqueIdentifier);
          return { keyID: record.keyID, kmipUniqueIdentifier: record.kmipUniqueIdentifier };
        });
      }
      case 'PUT /control/kmip/tag-keys': {
        const { tagKeys } = parseBody(TagKeysBody, body);
        return cluster.run((state) => {
          state.injection.tagKeys = tagKeys;
          return { tagKeys };
        });
      }
      case 'PUT /control/encryption/enable-failure': {
        const { remaining, error } = parseBody(EnableFailureBody, body);
        return cluster.run((state) => {
          state.injection.enableFailure = { remaining: remaining ?? null, error };
          return { enableFailure: state.injection.enableFailure };
        });
      }
      case 'DELETE /control/encryption/enable-failure':
        return cluster.run((state) => {
          state.injection.enableFailure = null;
          return {};
        });
      case 'PUT /control/kmip/modify-key-server': {
        const { mode } = parseBody(ModifyKeyServerBody, body);
        return cluster.run((state) => {
          state.injection.modifyKeyServer = mode;
          return { mode };
        });
      }
      case 'POST /control/async-results/purge': {
        const { asyncHandle, forgetRekeyHandle } = parseBody(PurgeBody, body);
        return cluster.run((state) => {
          const record = state.asyncResults.find((r) => r.asyncResultID === asyncHandle);
          if (!record) throw new ControlError(404, `no async result ${asyncHandle}`);
          if (!record.outcome)
            throw new ControlError(409, `async result ${asyncHandle} is still running; the cluster never purges those`);
          state.asyncResults = state.asyncResults.filter((r) => r.asyncResultID !== asyncHandle);
          if (forgetRekeyHandle && state.sear.rekeyAsyncResultID === asyncHandle) state.sear.rekeyAsyncResultID = null;
          return { asyncHandle, rekeyMasterKeyAsyncResultID: state.sear.rekeyAsyncResultID };
        });
      }
      case 'POST /control/drives/fail-metadata':
        return this.failMetadataDrives(parseBody(FailMetadataBody, body));
      case 'DELETE /control/drives/incidents':
        return cluster.run((state) => {
          state.sliceIncidents = [];
          return {};
        });
      case 'POST /control/cluster/restart':
      case 'POST /control/cluster/reread-keys': {
        const { wait } = parseBody(RestartBody, body);
        const restart = route.endsWith('restart');
        const since = await cluster.run((state, now) => {
          cluster.lockForKeyFetch(state, now, restart);
          return state.keyAccess.since;
        });
        if (wait) await this.waitForFirstKeyFetch(since);
        return cluster.run((state) => ({ restarts: state.cluster.restarts, keyAccess: state.keyAccess }));
      }
      case 'PUT /control/jobs': {
        const { plans } = parseBody(JobPlansBody, body);
        return cluster.run((state) => {
          state.injection.jobPlans = plans;
          return { plans };
        });
      }
      case 'POST /control/jobs': {
        const plan = parseBody(JobPlan, body);
        return cluster.run((state) => {
          state.injection.jobPlans.push(plan);
          return { plans: state.injection.jobPlans };
        });
      }
      case 'DELETE /control/jobs':
        return cluster.run((state) => {
          state.injection.jobPlans = [];
          return {};
        });
      case 'GET /control/durations':
        return cluster.durations;
      case 'PATCH /control/durations': {
        const patch = parseBody(DurationsPatch, body);
        Object.assign(cluster.durations, Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)));
        return cluster.durations;
      }
      default:
        throw new ControlError(404, `no control route ${route}`);
    }
  }

  private async deleteKey(ref: z.output<typeof KeyRefBody>): Promise<unknown> {
    const prepared = await this.cluster.run((state) => {
      const key = findKey(state, ref.key);
      if (key.keyManagementType !== 'external' || !key.kmipUniqueIdentifier) {
        throw new ControlError(409, `key ${key.keyID} is an internal key; it is not on a KMIP server`);
      }
      if (ref.mode === 'withhold') {
        if (!state.injection.withheldKeys.includes(key.kmipUniqueIdentifier))
          state.injection.withheldKeys.push(key.kmipUniqueIdentifier);
        return { key: structuredClone(key), servers: [], ctx: undefined };
      }
      const provider = state.keyProviders.find((p) => p.keyProviderID === key.keyProviderID);
      if (!provider) throw new ControlError(409, `the provider of key ${key.keyID} no longer exists`);
      return {
        key: structuredClone(key),
        servers: structuredClone(serversOfProvider(state, provider)),
        ctx: this.cluster.kmipContext(state),
      };
    });
    const uid = prepared.key.kmipUniqueIdentifier ?? '';
    if (prepared.ctx) {
      try {
        await destroyKey(prepared.servers, prepared.ctx, uid);
      } catch (err) {
        throw new ControlError(502, err instanceof KmipLinkError ? err.message : (err as Error).message);
      }
      this.cluster.log(`key ${prepared.key.keyID} (KMIP unique identifier ${uid}) destroyed on the KMIP server`);
    }
    return { keyID: prepared.key.keyID, kmipUniqueIdentifier: uid, mode: ref.mode };
  }

  private failMetadataDrives(body: z.output<typeof FailMetadataBody>): Promise<unknown> {
    return this.cluster.run((state, now) => {
      const volumeDrives = state.drives.filter((d) => d.type === 'volume');
      let chosen = volumeDrives;
      if (body.driveIDs) {
        chosen = body.driveIDs.map((id) => {
          const drive = volumeDrives.find((d) => d.driveID === id);
          if (!drive) throw new ControlError(400, `drive ${id} is not a metadata (volume) drive`);
          return drive;
        });
      } else if (body.nodeIDs) {
        chosen = volumeDrives.filter((d) => body.nodeIDs!.includes(d.nodeID));
      } else {
        chosen = volumeDrives.slice(0, 1);
      }
      if (chosen.length === 0) throw new ControlError(400, 'no metadata drives match');
      for (const drive of chosen) {
        // Marked failed, then put back into the available state.
        drive.status = 'available';
        state.sliceIncidents = state.sliceIncidents.filter((i) => i.driveID !== drive.driveID);
        state.sliceIncidents.push({
          driveID: drive.driveID,
          nodeID: drive.nodeID,
          serviceID: drive.serviceID,
          raisedAt: now,
          activeAt: null,
          addingHelps: body.addingHelps,
          faultNames: body.faultNames,
        });
      }
      this.cluster.log(`metadata drives ${chosen.map((d) => d.driveID).join(', ')} failed and put back to available`);
      return { driveIDs: chosen.map((d) => d.driveID), addingHelps: body.addingHelps, faultNames: body.faultNames };
    });
  }

  /** Waits until the key fetch that followed a restart has run once (or the cluster unlocked). */
  private async waitForFirstKeyFetch(since: number): Promise<void> {
    const deadline =
      Date.now() + this.cluster.durations.kmipConnectTimeoutMs + this.cluster.durations.kmipResponseTimeoutMs + 5_000;
    while (Date.now() < deadline) {
      const done = await this.cluster.run(
        (state) => state.keyAccess.since !== since || state.keyAccess.status === 'unlocked' || state.keyAccess.attempts > 0,
      );
      if (done) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
