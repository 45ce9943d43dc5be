/**
 * Typed Element JSON-RPC client: validates params against the registry, POSTs to
 * `${endpoint}/json-rpc/${apiVersion}` with HTTP Basic auth over verified TLS, and turns every
 * outcome into either a validated result or exactly one ElementError subclass.
 */
import { randomInt } from 'node:crypto';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { CHAIN_VERIFY_CODES, HOSTNAME_MISMATCH_CODES } from '../tls/verify-codes';
import {
  describeIssue,
  describeIssues,
  ElementApiError,
  ElementAuthError,
  ElementError,
  ElementRequestError,
  ElementResponseError,
  ElementTlsError,
  ElementTransportError,
} from './errors';
import {
  elementMethods,
  findVersionShortfall,
  isApiVersion,
  isElementMethodName,
  isRepeatableMethod,
  type ApiVersion,
  type ElementMethodName,
  type ElementMethodSpec,
  type ElementParams,
  type ElementResult,
} from './methods';

export interface ElementClientOptions {
  /** MVIP base URL, e.g. https://10.0.0.5 or https://127.0.0.1:8443 (https only, no credentials in it). */
  endpoint: string;
  /** API version to pin, e.g. "12.3"; calls newer than it are refused before sending. */
  apiVersion: string;
  /** Cluster admin account. */
  username: string;
  password: string;
  /** PEM CA bundle that issued the cluster certificate; default: Node's built-in CAs. */
  caPem?: string;
  /** Skip TLS verification. Explicit opt-in only, never the default. */
  insecure?: boolean;
  connectTimeoutMs: number;
  /** Limit for the response headers, and for each pause while reading the body. */
  responseTimeoutMs: number;
  /** Told about every call once it has ended (audit trails). Never given params or credentials. */
  onCall?: (call: ElementCallRecord) => void;
  /** How a call that meets a transient fault is sent again (CallRetry); default DEFAULT_CALL_RETRY. */
  retry?: Partial<CallRetry>;
}

/**
 * Per-call retry of transient faults (HTTP 5xx, resets, timeouts, the busy xDB… answers), each
 * time with a fresh request id. A method that changes something is sent again only when the
 * failure shows the cluster did not execute it (a busy answer, no connection made): when its
 * answer may have been lost after it ran, the error goes to the caller, whose activity looks at
 * the cluster (finds the object by name) before trying again.
 */
export interface CallRetry {
  /** Tries in all, the first included (1 = no retry). */
  attempts: number;
  /** Pause before the second try; doubles per try up to maxDelayMs, each pause jittered by up to half. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_CALL_RETRY: CallRetry = { attempts: 6, initialDelayMs: 250, maxDelayMs: 4_000 };

export interface ElementCallRecord {
  method: string;
  outcome: 'ok' | 'error';
  /** The error class or Element error name (e.g. xInvalidParameter) when outcome is error. */
  errorName?: string;
  durationMs: number;
  /** Requests sent for this call (more than 1 when transient faults were retried). */
  tries: number;
}

export interface CallOptions {
  /** Cancels the request (e.g. a cancelled Temporal activity). */
  signal?: AbortSignal;
}

/** The params argument may be left out when every parameter of the method is optional. */
export type ElementCallArgs<M extends ElementMethodName> =
  {} extends ElementParams<M>
    ? [params?: ElementParams<M>, options?: CallOptions]
    : [params: ElementParams<M>, options?: CallOptions];

interface HttpAnswer {
  status: number;
  text: string;
}

const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** The JSON-RPC envelope; `result` is checked against the method's schema afterwards. */
const Envelope = z.looseObject({
  id: z.union([z.number(), z.string(), z.null()]).optional(),
  result: z.unknown().optional(),
  error: z.unknown().optional(),
});

const ErrorObject = z.looseObject({
  name: z.string(),
  message: z.string(),
  code: z.number().optional(),
});

function configError(message: string): ElementRequestError {
  return new ElementRequestError(`Element client options: ${message}`, { reason: 'config' });
}

function positiveMs(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw configError(`${name} must be a positive whole number of milliseconds`);
  return value;
}

function normaliseEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw configError('endpoint is not a URL (expected e.g. https://10.0.0.5)');
  }
  // Checked before anything echoes the URL: credentials belong in username/password.
  if (url.username !== '' || url.password !== '') {
    throw configError('endpoint must not contain credentials; pass username and password separately');
  }
  if (url.protocol !== 'https:') throw configError(`endpoint must use https (got ${url.protocol})`);
  if (url.search !== '' || url.hash !== '') throw configError('endpoint must not have a query or fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** Error codes along the cause chain (undici and Node nest them; happy-eyeballs aggregates them). */
function errorCodes(err: unknown, seen = new Set<unknown>()): string[] {
  if (typeof err !== 'object' || err === null || seen.has(err)) return [];
  seen.add(err);
  const codes: string[] = [];
  const { code, cause } = err as { code?: unknown; cause?: unknown };
  if (typeof code === 'string') codes.push(code);
  if (err instanceof AggregateError) for (const inner of err.errors) codes.push(...errorCodes(inner, seen));
  codes.push(...errorCodes(cause, seen));
  return codes;
}

/**
 * Request ids count up from a random start, shared by every client in the process: a call retried
 * after a busy answer (or by a new activity attempt with a new client) goes out with a fresh id.
 */
let nextRequestId = randomInt(1, 2 ** 24);

/** GetAPI exists at every version; this one is the oldest, which every cluster serves. */
const DISCOVERY_VERSION = '1.0';

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ElementClient {
  /** Normalised MVIP base URL (no trailing slash). */
  readonly endpoint: string;
  readonly apiVersion: ApiVersion;
  readonly #url: string;
  readonly #authorization: string;
  /** Every form of the credentials that must never reach an error. */
  readonly #secrets: readonly string[];
  readonly #agent: Agent;
  readonly #connectTimeoutMs: number;
  readonly #responseTimeoutMs: number;
  readonly #insecure: boolean;
  readonly #onCall: ((call: ElementCallRecord) => void) | undefined;
  readonly #retry: CallRetry;

  constructor(options: ElementClientOptions) {
    this.#onCall = options.onCall;
    this.#retry = { ...DEFAULT_CALL_RETRY, ...options.retry };
    if (!Number.isInteger(this.#retry.attempts) || this.#retry.attempts < 1)
      throw configError('retry.attempts must be a whole number >= 1');
    this.endpoint = normaliseEndpoint(options.endpoint);
    if (!isApiVersion(options.apiVersion)) throw configError('apiVersion must look like "12.3"');
    this.apiVersion = options.apiVersion;
    if (options.username === '' || options.username.includes(':')) {
      throw configError('username must be non-empty and must not contain ":" (HTTP Basic auth)');
    }
    if (options.password === '') throw configError('password must not be empty');
    if (options.caPem !== undefined && !options.caPem.includes('-----BEGIN CERTIFICATE-----')) {
      throw configError('caPem must be PEM text containing -----BEGIN CERTIFICATE-----');
    }
    this.#connectTimeoutMs = positiveMs('connectTimeoutMs', options.connectTimeoutMs);
    this.#responseTimeoutMs = positiveMs('responseTimeoutMs', options.responseTimeoutMs);
    this.#insecure = options.insecure === true;

    this.#url = `${this.endpoint}/json-rpc/${this.apiVersion}`;
    const token = Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64');
    this.#authorization = `Basic ${token}`;
    this.#secrets = [token, options.password];
    this.#agent = new Agent({
      connect: {
        ca: options.caPem,
        rejectUnauthorized: !this.#insecure,
        timeout: this.#connectTimeoutMs,
      },
      headersTimeout: this.#responseTimeoutMs,
      bodyTimeout: this.#responseTimeoutMs,
    });
  }

  /**
   * Calls one registered method. Params are validated (and version-checked) before anything is
   * sent; the result is validated against the method's schema. Transient faults are retried here
   * (CallRetry); what is thrown is the last try's error. Throws only ElementError subclasses.
   */
  async call<M extends ElementMethodName>(method: M, ...args: ElementCallArgs<M>): Promise<ElementResult<M>> {
    const started = Date.now();
    const signal = args[1]?.signal;
    let tries = 0;
    for (;;) {
      tries += 1;
      try {
        const result = await this.#call(method, ...args);
        this.#onCall?.({ method, outcome: 'ok', durationMs: Date.now() - started, tries });
        return result;
      } catch (err) {
        if (tries >= this.#retry.attempts || signal?.aborted || !worthSendingAgain(method, err)) {
          this.#onCall?.({ method, outcome: 'error', errorName: (err as Error).name, durationMs: Date.now() - started, tries });
          throw err;
        }
      }
      const backoff = Math.min(this.#retry.initialDelayMs * 2 ** (tries - 1), this.#retry.maxDelayMs);
      await pause(backoff / 2 + Math.random() * (backoff / 2), signal);
    }
  }

  async #call<M extends ElementMethodName>(method: M, ...args: ElementCallArgs<M>): Promise<ElementResult<M>> {
    const [params, options] = args;
    const spec = this.#spec(method);
    const sentParams = this.#checkParams(method, spec, params ?? {});
    const id = nextRequestId++;
    const answer = await this.#post(this.#url, { method, params: sentParams, id }, options?.signal);
    if (answer.status === 404 && !hasJsonRpcError(answer.text)) throw await this.#missingVersion(method, answer, options?.signal);
    const result = this.#unwrap(method, id, answer);
    const parsed = spec.result.safeParse(result, { reportInput: true });
    if (!parsed.success) {
      const problems = describeIssues(parsed.error.issues, 'response field');
      throw new ElementResponseError(this.#summary(method, problems), this.#context(method, { problems }));
    }
    // The registry pairs each name with its schema, so the parsed value has the method's result type.
    return parsed.data as ElementResult<M>;
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  #spec(method: string): ElementMethodSpec {
    if (!isElementMethodName(method)) {
      throw new ElementRequestError(`${method} is not a method this client knows; nothing was sent`, {
        method,
        reason: 'invalid-params',
      });
    }
    return elementMethods[method];
  }

  #checkParams(method: ElementMethodName, spec: ElementMethodSpec, params: unknown): Record<string, unknown> {
    const parsed = spec.params.safeParse(params, { reportInput: true });
    if (!parsed.success) {
      const problems = describeIssues(parsed.error.issues, 'parameter');
      throw new ElementRequestError(`${this.#summary(method, problems)}; nothing was sent to the cluster`, {
        method,
        endpoint: this.endpoint,
        reason: 'invalid-params',
        problems,
      });
    }
    const sent = parsed.data as Record<string, unknown>;
    const shortfall = findVersionShortfall(method, this.apiVersion, sent);
    if (shortfall) {
      throw new ElementRequestError(
        `${method}: ${shortfall.feature} needs Element API ` +
          `${shortfall.requiredVersion} or later, but this client is pinned to ${this.apiVersion}; nothing was sent. ` +
          `Pin a newer apiVersion if the cluster supports it (GetAPI lists supportedVersions).`,
        { method, endpoint: this.endpoint, reason: 'api-version', requiredVersion: shortfall.requiredVersion },
      );
    }
    return sent;
  }

  async #post(
    url: string,
    body: { method: string; params: Record<string, unknown>; id: number },
    signal?: AbortSignal,
  ): Promise<HttpAnswer> {
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: {
          'content-type': 'application/json-rpc',
          accept: 'application/json',
          authorization: this.#authorization,
        },
        body: JSON.stringify(body),
        signal,
      });
      return { status: response.statusCode, text: await response.body.text() };
    } catch (err) {
      throw this.#requestFailure(body.method, err, signal);
    }
  }

  /** Classifies an exception from sending the request or reading the answer. */
  #requestFailure(method: string, err: unknown, signal?: AbortSignal): ElementError {
    const codes = errorCodes(err);
    const tlsCode = codes.find(
      (code) => CHAIN_VERIFY_CODES.has(code) || HOSTNAME_MISMATCH_CODES.has(code) || code.startsWith('ERR_TLS_CERT'),
    );
    const cause = err;
    if (tlsCode !== undefined) {
      const host = new URL(this.endpoint).hostname;
      const what = HOSTNAME_MISMATCH_CODES.has(tlsCode)
        ? `its certificate does not name ${host}; use an endpoint host listed in the certificate's subjectAltName, or`
        : 'set caBundle (clusters file) to the CA bundle that issued the cluster certificate (for a self-signed cluster certificate, that certificate itself), or';
      return new ElementTlsError(
        `${method}: TLS certificate verification failed for ${this.endpoint} (${tlsCode}: ${this.#redact(errorText(err))}); ` +
          `${what} set insecure: true to skip verification (not for production)`,
        this.#context(method, { code: tlsCode, cause }),
      );
    }
    if (signal?.aborted) {
      return new ElementTransportError(
        `${method}: request to ${this.endpoint} was cancelled`,
        this.#context(method, {
          code: 'ABORTED',
          retryable: false,
          cause,
        }),
      );
    }
    const code = codes.find((c) => !c.startsWith('UND_ERR_') || TIMEOUT_CODES.has(c)) ?? codes[0];
    if (code !== undefined && TIMEOUT_CODES.has(code)) {
      const connecting = code === 'UND_ERR_CONNECT_TIMEOUT';
      const message = connecting
        ? `${method}: could not connect to ${this.endpoint} within ${this.#connectTimeoutMs} ms (${code})`
        : `${method}: no response from ${this.endpoint} within ${this.#responseTimeoutMs} ms (${code})`;
      return new ElementTransportError(message, this.#context(method, { code, timeout: true, cause }));
    }
    const explanation: Record<string, string> = {
      ECONNREFUSED: 'connection refused: check the MVIP and port, and that the cluster API is up',
      ENOTFOUND: 'host name not found: check the endpoint',
      EAI_AGAIN: 'DNS lookup failed temporarily',
      ECONNRESET: 'connection reset by the peer',
      EHOSTUNREACH: 'host unreachable',
      ENETUNREACH: 'network unreachable',
      EPIPE: 'connection closed while sending',
      UND_ERR_SOCKET: 'connection closed unexpectedly',
    };
    const reason = (code !== undefined ? explanation[code] : undefined) ?? this.#redact(errorText(err));
    return new ElementTransportError(
      `${method}: request to ${this.endpoint} failed: ${reason}${code !== undefined ? ` (${code})` : ''}`,
      this.#context(method, { code, cause }),
    );
  }

  /**
   * HTTP 404 on /json-rpc/<version>: the cluster does not serve that API version (a real cluster
   * answers 404, not a JSON-RPC error). GetAPI on the oldest endpoint says what it does serve; when
   * it cannot tell either, the endpoint itself is wrong. Not retryable: the pinned version or the
   * endpoint must change.
   */
  async #missingVersion(method: string, answer: HttpAnswer, signal?: AbortSignal): Promise<ElementError> {
    let currentVersion: string | undefined;
    try {
      const discovery = await this.#post(
        `${this.endpoint}/json-rpc/${DISCOVERY_VERSION}`,
        { method: 'GetAPI', params: {}, id: nextRequestId++ },
        signal,
      );
      const parsed = z
        .looseObject({ result: z.looseObject({ currentVersion: z.string() }) })
        .safeParse(parseJson(discovery.text));
      if (discovery.status === 200 && parsed.success) currentVersion = parsed.data.result.currentVersion;
    } catch {
      // Reported below as "could not tell".
    }
    const context = this.#context(method, { status: 404, retryable: false });
    if (currentVersion === undefined) {
      return new ElementTransportError(
        `${method}: ${this.endpoint} answered HTTP 404${this.#snippet(answer.text)}, and GetAPI on /json-rpc/${DISCOVERY_VERSION} ` +
          `did not say which API versions it serves; check that the endpoint is the cluster's MVIP`,
        context,
      );
    }
    return new ElementTransportError(
      `${method}: the cluster at ${this.endpoint} does not serve API ${this.apiVersion}; it supports up to ${currentVersion} ` +
        `(HTTP 404 on /json-rpc/${this.apiVersion}). Pin an apiVersion it supports in the clusters file.`,
      { ...context, supportedUpTo: currentVersion },
    );
  }

  /** Returns the JSON-RPC `result`, or throws the error the answer stands for. */
  #unwrap(method: string, id: number, answer: HttpAnswer): unknown {
    const { status, text } = answer;
    if (status === 401 || text.includes('401 Unauthorized.')) {
      throw new ElementAuthError(
        `${method}: ${this.endpoint} rejected the credentials (HTTP ${status === 401 ? 401 : `${status}, 401 Unauthorized in body`}); ` +
          'check the cluster admin username and password',
        this.#context(method, { status }),
      );
    }
    const json = parseJson(text);
    const envelope = Envelope.safeParse(json);
    if (envelope.success && envelope.data.error !== undefined && envelope.data.error !== null) {
      throw this.#apiError(method, envelope.data.error);
    }
    if (status >= 400) {
      // 408 and 429 are "try later"; other 4xx repeat until the endpoint is fixed (404: #missingVersion).
      const retryable = status >= 500 || status === 408 || status === 429;
      throw new ElementTransportError(
        `${method}: ${this.endpoint} answered HTTP ${status}${this.#snippet(text)}`,
        this.#context(method, { status, retryable }),
      );
    }
    if (json === undefined) {
      throw new ElementTransportError(
        `${method}: ${this.endpoint} answered HTTP ${status} with a body that is not JSON${this.#snippet(text)}`,
        this.#context(method, { status }),
      );
    }
    if (!envelope.success || !('result' in envelope.data)) {
      throw new ElementResponseError(
        `${method}: the answer is not a JSON-RPC response (no result or error member)`,
        this.#context(method, {}),
      );
    }
    const answeredId = envelope.data.id;
    if (answeredId !== undefined && answeredId !== null && String(answeredId) !== String(id)) {
      throw new ElementResponseError(
        `${method}: the answer is for request id ${String(answeredId)}, not ${id}`,
        this.#context(method, {}),
      );
    }
    return envelope.data.result;
  }

  #apiError(method: string, error: unknown): ElementError {
    const parsed = ErrorObject.safeParse(error, { reportInput: true });
    if (!parsed.success) {
      const problems = parsed.error.issues.flatMap((issue) => describeIssue(issue, ['error'], 'response field'));
      return new ElementResponseError(this.#summary(method, problems), this.#context(method, { problems }));
    }
    const { name, message, code, ...details } = parsed.data;
    return new ElementApiError({
      ...this.#context(method, {}),
      name: this.#redact(name),
      message: this.#redact(message),
      code,
      details: JSON.parse(this.#redact(JSON.stringify(details))) as Record<string, unknown>,
    });
  }

  #summary(method: string, problems: readonly string[]): string {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1).join('; ')})` : '';
    return `${method}: ${problems[0] ?? 'invalid'}${more}`;
  }

  #snippet(text: string): string {
    const flat = this.#redact(text).replace(/\s+/g, ' ').trim();
    if (flat === '') return '';
    return `: "${flat.length > 200 ? `${flat.slice(0, 200)}…` : flat}"`;
  }

  #redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join('[redacted]');
    return out;
  }

  #context<T extends object>(method: string, extra: T): T & { method: string; endpoint: string } {
    return { ...extra, method, endpoint: this.endpoint };
  }
}

/** Connection-level codes that mean the request never reached the cluster. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether to send the call again: a retryable fault, and for a method that changes something only
 * one that shows it was not executed (a busy xDB… answer, a connection never made).
 */
function worthSendingAgain(method: string, err: unknown): boolean {
  if (!(err instanceof ElementError) || !err.retryable) return false;
  if (isRepeatableMethod(method)) return true;
  if (err instanceof ElementApiError) return true;
  return err instanceof ElementTransportError && err.code !== undefined && NOT_SENT_CODES.has(err.code);
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A body carrying a JSON-RPC error object (some servers answer those with HTTP 4xx/5xx). */
function hasJsonRpcError(text: string): boolean {
  const json = parseJson(text);
  return typeof json === 'object' && json !== null && 'error' in json && (json as { error: unknown }).error != null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
