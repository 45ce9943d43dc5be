/**
 * A KMIP session over mutual TLS: one connection, one request at a time, each answered before
 * the next is sent. Failures come out as KmipConnectionError or KmipOperationError (errors.ts).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { KmipConnectionFailure, KmipEndpoint, KmipSession, ProtocolVersion, QueryResult, SymmetricKey } from './api';
import { KmipConnectionError, KmipMessageError, KmipOperationError } from './errors';
import {
  activateRequest,
  createSymmetricKeyRequest,
  destroyRequest,
  discoverVersionsRequest,
  getRequest,
  locateByCustomAttributeRequest,
  locateByNameRequest,
  type CreateSymmetricKeyOptions,
  parseCreateResponse,
  parseDiscoverVersionsResponse,
  parseGetResponse,
  parseLocateResponse,
  parseQueryResponse,
  parseResponseMessage,
  parseUniqueIdentifierResponse,
  queryRequest,
  revokeRequest,
  type ResponseBatchItem,
  type ResponseMessage,
} from './messages';
import { Operation, operationName, ResultStatus } from './tags';
import { decodeTtlv, encodeTtlv, TtlvError, TtlvMessageReader, type TtlvStructure } from './ttlv';
import { CHAIN_VERIFY_CODES, HOSTNAME_MISMATCH_CODES } from '../tls/verify-codes';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
const CLOSE_GRACE_MS = 1_000;

export interface KmipSessionOptions {
  /** Protocol version stamped on every request; KMIP 1.2 unless given. */
  protocolVersion?: ProtocolVersion;
}

// ---------------------------------------------------------------------------------------------
// Classifying Node's errors

const UNREACHABLE_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing is listening on that port)',
  EHOSTUNREACH: 'no route to the host',
  EHOSTDOWN: 'the host is down',
  ENETUNREACH: 'the network is unreachable',
  ENETDOWN: 'the network is down',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (temporary DNS failure)',
  EADDRNOTAVAIL: 'the address is not available',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed',
};

// Duck-typed rather than `instanceof Error`: errors from Node internals can come from another realm (jest's sandbox).
function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') return err.message;
  return String(err);
}

/** "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA" -> "unknown ca" */
function tlsAlert(code: string): string | undefined {
  const match = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)$/.exec(code);
  return match ? match[1]!.toLowerCase().replace(/_/g, ' ') : undefined;
}

const CLIENT_CERTIFICATE_ALERTS = new Set([
  'unknown ca',
  'bad certificate',
  'certificate required',
  'certificate unknown',
  'access denied',
  'unsupported certificate',
  'certificate expired',
  'certificate revoked',
]);

interface Classified {
  failure: KmipConnectionFailure;
  detail: string;
}

/** Errors that mean TLS refused, whenever they happen (TLS 1.3 servers reject client certificates after the handshake). */
function classifyTlsError(err: unknown, identity: string): Classified | undefined {
  const code = errorCode(err) ?? '';
  if (HOSTNAME_MISMATCH_CODES.has(code)) {
    return { failure: 'tls', detail: `presented a certificate that is not valid for "${identity}": ${errorMessage(err)}` };
  }
  if (CHAIN_VERIFY_CODES.has(code)) {
    return {
      failure: 'tls',
      detail: `presented a certificate that the configured CA bundle does not trust: ${errorMessage(err)} (${code})`,
    };
  }
  const alert = tlsAlert(code);
  if (alert !== undefined) {
    const hint = CLIENT_CERTIFICATE_ALERTS.has(alert) ? '; it does not accept our client certificate' : '';
    return { failure: 'tls', detail: `refused the TLS handshake with alert "${alert}"${hint} (${code})` };
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_OSSL_') || code.startsWith('ERR_TLS_')) {
    return { failure: 'tls', detail: `could not agree on TLS with us: ${errorMessage(err)} (${code})` };
  }
  return undefined;
}

function classifyConnectError(err: unknown, identity: string, tcpConnected: boolean): Classified {
  const tlsFailure = classifyTlsError(err, identity);
  if (tlsFailure) return tlsFailure;
  const code = errorCode(err) ?? '';
  if (code === 'ETIMEDOUT') return { failure: 'timeout', detail: `did not accept a TCP connection in time (${code})` };
  if (tcpConnected) {
    return {
      failure: 'tls',
      detail: `dropped the connection during the TLS handshake (${code || errorMessage(err)}); it may not trust our client certificate or share a TLS version or cipher with us`,
    };
  }
  const why = UNREACHABLE_CODES[code];
  return { failure: 'unreachable', detail: `could not be reached: ${why ?? errorMessage(err)}${code ? ` (${code})` : ''}` };
}

// ---------------------------------------------------------------------------------------------
// Connecting

function serverLabel(endpoint: KmipEndpoint): string {
  return net.isIPv6(endpoint.host) ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

/**
 * The certificate is checked against servername, or host when none is given. An IP address is
 * checked against the certificate's IP SANs but never sent as SNI (RFC 6066 forbids it and Node
 * warns, DEP0123).
 */
function connectTls(endpoint: KmipEndpoint, server: string): Promise<tls.TLSSocket> {
  const identity = endpoint.servername ?? endpoint.host;
  const timeoutMs = endpoint.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let socket: tls.TLSSocket;
    try {
      socket = tls.connect({
        host: endpoint.host,
        port: endpoint.port,
        servername: net.isIP(identity) ? undefined : identity,
        checkServerIdentity: (_hostname, certificate) => tls.checkServerIdentity(identity, certificate),
        ca: endpoint.caPem,
        cert: endpoint.certificatePem,
        key: endpoint.privateKeyPem,
        minVersion: 'TLSv1.2',
        rejectUnauthorized: true,
      });
    } catch (err) {
      const detail = `could not be contacted: the client certificate, key or CA bundle is unusable: ${errorMessage(err)}`;
      reject(new KmipConnectionError('tls', server, detail, { cause: err, code: errorCode(err) }));
      return;
    }
    let tcpConnected = false;
    let settled = false;
    const fail = (failure: KmipConnectionFailure, detail: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new KmipConnectionError(failure, server, detail, { cause, code: errorCode(cause) }));
    };
    const timer = setTimeout(() => {
      const stage = tcpConnected ? 'complete the TLS handshake' : 'accept a TCP connection';
      fail('timeout', `did not ${stage} within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.once('connect', () => {
      tcpConnected = true;
    });
    socket.on('error', (err) => {
      const { failure, detail } = classifyConnectError(err, identity, tcpConnected);
      fail(failure, detail, err);
    });
    socket.once('close', () =>
      fail(tcpConnected ? 'tls' : 'unreachable', 'closed the connection before the TLS handshake completed'),
    );
    socket.once('secureConnect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // The handlers above stay attached (inert once settled) so an error never finds no listener.
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The session

interface PendingRequest {
  operation: string;
  resolve: (frame: Buffer) => void;
  reject: (err: KmipConnectionError) => void;
  timer: NodeJS.Timeout;
}

class TlsKmipSession implements KmipSession {
  private readonly reader = new TtlvMessageReader();
  private pending: PendingRequest | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set once the connection is unusable; later calls throw it again. */
  private broken: KmipConnectionError | undefined;
  private closing = false;
  /** Set when we end the connection ourselves, so its 'close' is not taken for a failure. */
  private ending = false;

  constructor(
    private readonly socket: tls.TLSSocket,
    private readonly server: string,
    identity: string,
    private readonly responseTimeoutMs: number,
    private readonly protocolVersion: ProtocolVersion | undefined,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => {
      if (this.ending) return;
      const classified = classifyTlsError(err, identity);
      if (classified) this.fail(classified.failure, classified.detail, err);
      else this.fail('unreachable', this.lostConnectionDetail(`${errorMessage(err)}`), err);
    });
    socket.on('close', () => {
      if (!this.ending) this.fail('unreachable', this.lostConnectionDetail('closed by the server'));
    });
  }

  discoverVersions(): Promise<ProtocolVersion[]> {
    return this.invoke(Operation.DiscoverVersions, discoverVersionsRequest(this.protocolVersion), parseDiscoverVersionsResponse);
  }

  query(): Promise<QueryResult> {
    return this.invoke(Operation.Query, queryRequest(this.protocolVersion), parseQueryResponse);
  }

  async createSymmetricKey(options: CreateSymmetricKeyOptions): Promise<string> {
    const request = createSymmetricKeyRequest(options, this.protocolVersion);
    return (await this.invoke(Operation.Create, request, parseCreateResponse)).uniqueIdentifier;
  }

  async activate(uniqueIdentifier: string): Promise<void> {
    await this.invoke(Operation.Activate, activateRequest(uniqueIdentifier, this.protocolVersion), parseUniqueIdentifierResponse);
  }

  get(uniqueIdentifier: string): Promise<SymmetricKey> {
    return this.invoke(Operation.Get, getRequest(uniqueIdentifier, this.protocolVersion), parseGetResponse);
  }

  locateByName(name: string): Promise<string[]> {
    return this.invoke(Operation.Locate, locateByNameRequest(name, this.protocolVersion), parseLocateResponse);
  }

  async locateByCustomAttribute(name: string, value: string): Promise<string[]> {
    // Built before the request is queued, so a bad name is refused without touching the session.
    const request = locateByCustomAttributeRequest(name, value, this.protocolVersion);
    return this.invoke(Operation.Locate, request, parseLocateResponse);
  }

  async revoke(uniqueIdentifier: string): Promise<void> {
    await this.invoke(
      Operation.Revoke,
      revokeRequest(uniqueIdentifier, undefined, this.protocolVersion),
      parseUniqueIdentifierResponse,
    );
  }

  async destroy(uniqueIdentifier: string): Promise<void> {
    await this.invoke(Operation.Destroy, destroyRequest(uniqueIdentifier, this.protocolVersion), parseUniqueIdentifierResponse);
  }

  /** Lets requests already made finish, then ends the connection. Never rejects; safe to call twice. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.queue;
    if (this.socket.destroyed) return;
    this.ending = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
  }

  /** Sends one request after the previous one finished, checks the answer and parses its payload. */
  private invoke<T>(operation: Operation, request: TtlvStructure, parse: (payload: TtlvStructure | undefined) => T): Promise<T> {
    if (this.closing) return Promise.reject(new Error(`KMIP session to ${this.server} is closed`));
    const run = async (): Promise<T> => {
      if (this.broken) throw this.broken;
      const frame = await this.exchange(operationName(operation), encodeTtlv(request));
      const { status, payload } = this.readResponse(operation, frame);
      if (status.resultStatus !== ResultStatus.Success) {
        throw new KmipOperationError(this.server, operation, status.resultStatus, status.resultReason, status.resultMessage);
      }
      try {
        return parse(payload);
      } catch (err) {
        throw this.asProtocolError(operation, err);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private readResponse(operation: Operation, frame: Buffer): { status: ResponseBatchItem; payload: TtlvStructure | undefined } {
    let parsed: ResponseMessage;
    try {
      parsed = parseResponseMessage(decodeTtlv(frame));
    } catch (err) {
      throw this.asProtocolError(operation, err);
    }
    if (parsed.batchItems.length !== 1) {
      throw this.asProtocolError(operation, new KmipMessageError(`expected 1 batch item, got ${parsed.batchItems.length}`));
    }
    const item = parsed.batchItems[0]!;
    if (item.operation !== undefined && item.operation !== operation) {
      throw this.asProtocolError(operation, new KmipMessageError(`the answer is for ${operationName(item.operation)}`));
    }
    return { status: item, payload: item.payload };
  }

  /** A malformed answer breaks the session (the server cannot be trusted to stay in step); other errors pass through. */
  private asProtocolError(operation: Operation, err: unknown): unknown {
    if (!(err instanceof TtlvError || err instanceof KmipMessageError)) return err;
    this.fail('protocol', `sent a malformed answer to the ${operationName(operation)} request: ${err.message}`, err);
    return this.broken ?? err;
  }

  private exchange(operation: string, request: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail('timeout', `did not answer the ${operation} request within ${this.responseTimeoutMs} ms`);
      }, this.responseTimeoutMs);
      this.pending = { operation, resolve, reject, timer };
      this.socket.write(request);
    });
  }

  private receive(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      const what = this.pending ? `in answer to the ${this.pending.operation} request` : 'unprompted';
      this.fail('protocol', `sent data that is not a KMIP message ${what}: ${errorMessage(err)}`, err);
      return;
    }
    for (const frame of frames) {
      const pending = this.pending;
      if (!pending) {
        this.fail('protocol', 'sent a message that answers no request');
        return;
      }
      this.pending = undefined;
      clearTimeout(pending.timer);
      pending.resolve(frame);
    }
  }

  private lostConnectionDetail(why: string): string {
    return this.pending
      ? `dropped the connection before answering the ${this.pending.operation} request (${why})`
      : `dropped the connection (${why})`;
  }

  /** Marks the session unusable, rejects the request in flight and tears the connection down. */
  private fail(failure: KmipConnectionFailure, detail: string, cause?: unknown): void {
    if (this.broken) return;
    this.broken = new KmipConnectionError(failure, this.server, detail, { cause, code: errorCode(cause) });
    const pending = this.pending;
    this.pending = undefined;
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(this.broken);
    }
    this.socket.destroy();
  }
}

export async function openKmipSession(endpoint: KmipEndpoint, options: KmipSessionOptions = {}): Promise<KmipSession> {
  const server = serverLabel(endpoint);
  const socket = await connectTls(endpoint, server);
  const identity = endpoint.servername ?? endpoint.host;
  return new TlsKmipSession(
    socket,
    server,
    identity,
    endpoint.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS,
    options.protocolVersion,
  );
}

/** Opens a session, hands it to fn and closes it however fn ends. */
export async function withKmipSession<T>(
  endpoint: KmipEndpoint,
  fn: (session: KmipSession) => Promise<T>,
  options?: KmipSessionOptions,
): Promise<T> {
  const session = await openKmipSession(endpoint, options);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}
