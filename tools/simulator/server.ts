/**
 * The cluster's JSON-RPC endpoint: `POST /json-rpc/<version>` (trailing slash too) over HTTPS
 * (or plain HTTP for tests), HTTP basic auth with the cluster admin account (401 otherwise), the
 * Element envelope (`{id, result}` / `{id, error: {code: 500, name, message}}`, plus
 * `unusedParameters` when members were ignored), and the transport faults the control API injects.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { CallLog, redact, type NewCallRecord } from './call-log';
import type { SimulatedCluster } from './cluster';
import { ElementFault, ErrorNames } from './errors';
import { lookupMethod, methodsAt } from './methods';
import type { Json } from './model';
import type { HttpFaultRule } from './state';
import { isKnownVersion, supportedVersions } from './versions';

export interface AdminAccount {
  username: string;
  password: string;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const PATH = /^\/json-rpc\/([^/?#]+)\/?(?:\?.*)?$/;

/** Element answers with members in alphabetical order; so does the simulator. */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeysDeep((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export function checkBasicAuth(header: string | undefined, admin: AdminAccount): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Evaluate both so timing does not tell which one was wrong.
  const userOk = safeEqual(decoded.slice(0, colon), admin.username);
  const passOk = safeEqual(decoded.slice(colon + 1), admin.password);
  return userOk && passOk;
}

function readBody(req: http.IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function sendText(res: http.ServerResponse, status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', ...headers });
  res.end(`<html><head><title>${text}</title></head><body><h1>${text}</h1></body></html>\n`);
}

function sendJson(res: http.ServerResponse, body: unknown): void {
  const text = JSON.stringify(sortKeysDeep(body));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

interface InjectionDecision {
  rule: HttpFaultRule | undefined;
  latencyMs: number;
}

export class JsonRpcFrontEnd {
  /** Requests held open by an injected timeout; dropped on stop. */
  private readonly held = new Set<Socket>();

  constructor(
    private readonly cluster: SimulatedCluster,
    private readonly callLog: CallLog,
    private readonly admin: AdminAccount,
  ) {}

  dropHeldRequests(): void {
    for (const socket of this.held) socket.destroy();
    this.held.clear();
  }

  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.handleRequest(req, res).catch((err: unknown) => {
      this.cluster.log(`request failed: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) sendText(res, 500, '500 Internal Server Error');
      else res.destroy();
    });
  };

  private async handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const record: NewCallRecord = {
      time: new Date(started).toISOString(),
      apiVersion: null,
      method: null,
      id: null,
      params: null,
      httpStatus: null,
      outcome: 'result',
      executed: false,
      durationMs: 0,
    };
    const finish = (patch: Partial<NewCallRecord>) => {
      this.callLog.append({ ...record, ...patch, durationMs: Date.now() - started });
    };

    const pathMatch = PATH.exec(req.url ?? '');
    if (!checkBasicAuth(req.headers.authorization, this.admin)) {
      await readBody(req).catch(() => undefined);
      sendText(res, 401, '401 Unauthorized.', { 'WWW-Authenticate': 'Basic realm="SolidFire"' });
      finish({ httpStatus: 401, outcome: 'unauthorized', apiVersion: pathMatch?.[1] ?? null });
      return;
    }
    if (!pathMatch) {
      sendText(res, 404, '404 Not Found');
      finish({ httpStatus: 404, outcome: 'not-found' });
      return;
    }
    const version = decodeURIComponent(pathMatch[1]!);
    record.apiVersion = version;
    if (req.method !== 'POST') {
      sendText(res, 405, '405 Method Not Allowed', { Allow: 'POST' });
      finish({ httpStatus: 405, outcome: 'method-not-allowed' });
      return;
    }
    // Only endpoint versions the cluster supports exist (an unknown version is an HTTP 404).
    if (!isKnownVersion(version) || !supportedVersions(this.cluster.config.apiVersion).includes(version)) {
      await readBody(req).catch(() => undefined);
      sendText(res, 404, '404 Not Found');
      finish({ httpStatus: 404, outcome: 'not-found' });
      return;
    }
    const body = await readBody(req);
    if (body === 'too-large') {
      sendText(res, 413, '413 Request Entity Too Large');
      finish({ httpStatus: 413, outcome: 'bad-request' });
      return;
    }
    const down = await this.cluster.run((state, now) =>
      state.cluster.downUntil !== null && now < state.cluster.downUntil ? state.cluster.downUntil - now : 0,
    );
    if (down > 0) {
      sendText(res, 503, '503 Service Unavailable', { 'Retry-After': String(Math.ceil(down / 1000)) });
      finish({ httpStatus: 503, outcome: 'unavailable' });
      return;
    }

    // Envelope.
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      sendJson(res, {
        id: null,
        error: new ElementFault(ErrorNames.invalidJson, `Invalid JSON in request: ${(err as Error).message}`).toJson(),
      });
      finish({ httpStatus: 200, outcome: 'error', errorName: ErrorNames.invalidJson });
      return;
    }
    const envelopeError = (message: string, id: unknown = null) => {
      sendJson(res, { id, error: new ElementFault(ErrorNames.invalidRequest, message).toJson() });
      finish({ httpStatus: 200, outcome: 'error', errorName: ErrorNames.invalidRequest, id });
    };
    if (Array.isArray(parsed)) return envelopeError('Batch requests are not supported.');
    if (parsed === null || typeof parsed !== 'object') return envelopeError('The request must be a JSON object.');
    const envelope = parsed as Record<string, unknown>;
    const rawId = envelope.id;
    const id = rawId === undefined ? null : rawId;
    if (id !== null && typeof id !== 'number' && typeof id !== 'string')
      return envelopeError('Member "id" must be a number, a string or null.');
    record.id = id;
    if (typeof envelope.method !== 'string' || envelope.method === '') return envelopeError('Missing member=[method]', id);
    const method = envelope.method;
    record.method = method;
    const rawParams = envelope.params === undefined || envelope.params === null ? {} : envelope.params;
    if (typeof rawParams !== 'object' || Array.isArray(rawParams))
      return envelopeError('Member "params" must be an object (named parameters).', id);
    const params = rawParams as Record<string, unknown>;
    record.params = redact(params);

    // Injected transport trouble, before the method runs.
    const decision = await this.decideInjection(method);
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);
    const rule = decision.rule;
    if (rule && (rule.phase === 'before' || rule.kind === 'busy' || rule.kind === 'error')) {
      if (rule.kind === 'busy' || rule.kind === 'error') {
        const fault =
          rule.kind === 'busy'
            ? new ElementFault(ErrorNames.busy, 'The cluster database changed during the request; retry it.')
            : new ElementFault(rule.error?.name ?? 'xInjectedError', rule.error?.message ?? 'Injected error.');
        sendJson(res, { id, error: fault.toJson() });
        finish({
          httpStatus: 200,
          outcome: 'injected',
          errorName: fault.elementName,
          injected: { kind: rule.kind, phase: 'before' },
        });
        return;
      }
      this.applyTransportFault(req, res, rule);
      finish({
        httpStatus: rule.kind === 'http5xx' ? (rule.status ?? 503) : null,
        outcome: 'injected',
        injected: { kind: rule.kind, phase: 'before' },
      });
      return;
    }

    // The method.
    let response: Json;
    let errorName: string | undefined;
    const handler = lookupMethod(method, version);
    if (!handler) {
      const fault = new ElementFault(ErrorNames.unknownMethod, `method=${method}`);
      response = { id, error: fault.toJson() };
      errorName = fault.elementName;
    } else {
      try {
        const { result, unused } = await handler.invoke({ cluster: this.cluster, apiVersion: version, methodsAt }, params);
        response = { id, result };
        if (Object.keys(unused).length > 0) response.unusedParameters = unused;
      } catch (err) {
        const fault =
          err instanceof ElementFault
            ? err
            : new ElementFault('xAssertionFailure', `Internal error: ${(err as Error).message ?? String(err)}`);
        if (!(err instanceof ElementFault))
          this.cluster.log(`${method} failed unexpectedly: ${(err as Error).stack ?? String(err)}`);
        response = { id, error: fault.toJson() };
        errorName = fault.elementName;
      }
    }

    if (rule && rule.phase === 'after') {
      this.applyTransportFault(req, res, rule);
      finish({
        httpStatus: rule.kind === 'http5xx' ? (rule.status ?? 503) : null,
        outcome: 'injected',
        errorName,
        executed: true,
        injected: { kind: rule.kind, phase: 'after' },
      });
      return;
    }
    sendJson(res, response);
    finish({ httpStatus: 200, outcome: errorName ? 'error' : 'result', errorName, executed: handler !== undefined });
  }

  /** Picks the first matching rule (consuming one use) and the latency for this request. */
  private decideInjection(method: string): Promise<InjectionDecision> {
    return this.cluster.run((state): InjectionDecision => {
      const injection = state.injection;
      const latencyMs = injection.latencyMs + (injection.jitterMs > 0 ? Math.floor(Math.random() * injection.jitterMs) : 0);
      for (let i = 0; i < injection.rules.length; i += 1) {
        const rule = injection.rules[i]!;
        if (rule.methods && !rule.methods.includes(method)) continue;
        if (rule.remaining !== undefined && rule.remaining <= 0) continue;
        if (rule.skip !== undefined && rule.skip > 0) {
          rule.skip -= 1;
          continue;
        }
        if (Math.random() >= rule.probability) continue;
        if (rule.remaining !== undefined) {
          rule.remaining -= 1;
          if (rule.remaining <= 0) injection.rules.splice(i, 1);
        }
        return { rule: structuredClone(rule), latencyMs };
      }
      return { rule: undefined, latencyMs };
    });
  }

  private applyTransportFault(req: http.IncomingMessage, res: http.ServerResponse, rule: HttpFaultRule): void {
    if (rule.kind === 'http5xx') {
      const status = rule.status ?? 503;
      sendText(res, status, `${status} ${http.STATUS_CODES[status] ?? 'Server Error'}`);
      return;
    }
    const socket = req.socket;
    if (rule.kind === 'reset') {
      // A TCP RST on plain HTTP; over TLS Node cannot reset the wrapped socket, so it is dropped.
      try {
        socket.resetAndDestroy();
      } catch {
        socket.destroy();
      }
      return;
    }
    // timeout: hold the request without answering, then drop the connection.
    this.held.add(socket);
    const timer = setTimeout(() => {
      this.held.delete(socket);
      socket.destroy();
    }, this.cluster.durations.injectedTimeoutHoldMs);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      this.held.delete(socket);
    });
  }
}
