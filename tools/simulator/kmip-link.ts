/**
 * The simulated cluster's KMIP client side: mutual TLS with the cluster's private key and a key
 * server's configured client certificate and CA, dialling the server's hostnames in order
 * (first is primary, the rest failover), through the project's KMIP client (src/kmip).
 *
 * Failures come out as KmipLinkError with a category matching the kmipServerFault sub-cases
 * (connection, authentication, server) and a sentence that says what failed where.
 */
import { X509Certificate } from 'node:crypto';
import {
  KmipConnectionError,
  KmipOperationError,
  openKmipSession,
  ResultReason,
  type KmipSession,
  type ProtocolVersion,
} from '../../src/kmip';
import { certificateFingerprint } from './crypto';
import { ElementFault, ErrorNames } from './errors';
import { kmipKeyIdAttribute } from './model';
import type { KeyServerRecord } from './state';

export type KmipFailureCategory = 'connection' | 'authentication' | 'server';

export class KmipLinkError extends Error {
  constructor(
    readonly category: KmipFailureCategory,
    message: string,
    readonly keyServerIDs: number[],
  ) {
    super(message);
    this.name = 'KmipLinkError';
  }

  /** The Element error a synchronous call (TestKeyServerKmip, ...) answers with. */
  toElementFault(): ElementFault {
    const name =
      this.category === 'connection'
        ? ErrorNames.kmipConnectionFailure
        : this.category === 'authentication'
          ? ErrorNames.kmipAuthenticationFailure
          : ErrorNames.kmipServerError;
    return new ElementFault(name, this.message);
  }

  /** Fault text in the words of the documented sub-cases. */
  get faultPrefix(): string {
    return this.category === 'connection'
      ? 'Connection failure'
      : this.category === 'authentication'
        ? 'Authentication failure'
        : 'Server error';
  }
}

/** What the cluster's KMIP client needs besides a key server's own configuration. */
export interface KmipLinkContext {
  /** The cluster's private key (PEM); undefined when no key pair exists. */
  privateKeyPem: string | undefined;
  privateKeyFingerprint: string | undefined;
  /** Hostnames made unreachable through the control API. */
  unreachableHosts: ReadonlySet<string>;
  /** KMIP unique identifiers the server is made to answer Item Not Found for. */
  withheldKeys: ReadonlySet<string>;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

export function describeServer(server: KeyServerRecord): string {
  return `key server '${server.kmipKeyServerName}' (keyServerID ${server.keyServerID})`;
}

function operationCategory(err: KmipOperationError): KmipFailureCategory {
  return err.resultReason === ResultReason.AuthenticationNotSuccessful || err.resultReason === ResultReason.PermissionDenied
    ? 'authentication'
    : 'server';
}

function connectionCategory(err: KmipConnectionError): KmipFailureCategory {
  if (err.failure === 'tls') return 'authentication';
  if (err.failure === 'protocol') return 'server';
  return 'connection';
}

/** Turns anything a KMIP exchange threw into a KmipLinkError naming the server. */
export function toLinkError(err: unknown, servers: KeyServerRecord[], context: string): KmipLinkError {
  if (err instanceof KmipLinkError) return err;
  const ids = servers.map((s) => s.keyServerID);
  const where = servers.length === 1 ? describeServer(servers[0]!) : `key servers ${ids.join(', ')}`;
  if (err instanceof KmipOperationError)
    return new KmipLinkError(operationCategory(err), `${context} on ${where}: ${err.message}`, ids);
  if (err instanceof KmipConnectionError)
    return new KmipLinkError(connectionCategory(err), `${context} on ${where}: ${err.message}`, ids);
  return new KmipLinkError('server', `${context} on ${where}: ${(err as Error).message ?? String(err)}`, ids);
}

/**
 * Opens a session to one key server: checks that its client certificate carries the cluster's
 * current public key, then tries each hostname in order until one connects. Only connection
 * failures move on to the next hostname.
 */
export async function openServerSession(
  server: KeyServerRecord,
  ctx: KmipLinkContext,
): Promise<{ session: KmipSession; host: string }> {
  const ids = [server.keyServerID];
  if (!ctx.privateKeyPem || !ctx.privateKeyFingerprint) {
    throw new KmipLinkError(
      'authentication',
      `${describeServer(server)}: the cluster has no public/private key pair (CreatePublicPrivateKeyPair)`,
      ids,
    );
  }
  let clientFingerprint: string;
  try {
    clientFingerprint = certificateFingerprint(new X509Certificate(server.kmipClientCertificate));
  } catch (err) {
    throw new KmipLinkError(
      'authentication',
      `${describeServer(server)}: the KMIP client certificate cannot be parsed: ${(err as Error).message}`,
      ids,
    );
  }
  if (clientFingerprint !== ctx.privateKeyFingerprint) {
    throw new KmipLinkError(
      'authentication',
      `${describeServer(server)}: the KMIP client certificate does not match the cluster's private key (the key pair was replaced after the certificate was signed)`,
      ids,
    );
  }
  const failures: { error: KmipConnectionError; host: string }[] = [];
  for (const host of server.kmipKeyServerHostnames) {
    if (ctx.unreachableHosts.has(host)) {
      failures.push({
        host,
        error: new KmipConnectionError(
          'unreachable',
          `${host}:${server.kmipKeyServerPort}`,
          'could not be reached: connection refused (nothing is listening on that port) (ECONNREFUSED)',
          { code: 'ECONNREFUSED' },
        ),
      });
      continue;
    }
    try {
      const session = await openKmipSession({
        host,
        port: server.kmipKeyServerPort,
        caPem: server.kmipCaCertificate,
        certificatePem: server.kmipClientCertificate,
        privateKeyPem: ctx.privateKeyPem,
        connectTimeoutMs: ctx.connectTimeoutMs,
        responseTimeoutMs: ctx.responseTimeoutMs,
      });
      return { session, host };
    } catch (err) {
      if (err instanceof KmipConnectionError) {
        failures.push({ host, error: err });
        continue;
      }
      throw toLinkError(err, [server], 'connecting');
    }
  }
  const category: KmipFailureCategory = failures.some((f) => connectionCategory(f.error) === 'authentication')
    ? 'authentication'
    : failures.some((f) => connectionCategory(f.error) === 'server')
      ? 'server'
      : 'connection';
  const detail = failures.map((f) => f.error.message).join('; ');
  throw new KmipLinkError(category, `${describeServer(server)}: ${detail}`, ids);
}

async function withServer<T>(
  server: KeyServerRecord,
  ctx: KmipLinkContext,
  context: string,
  fn: (session: KmipSession) => Promise<T>,
): Promise<T> {
  const { session } = await openServerSession(server, ctx);
  try {
    return await fn(session);
  } catch (err) {
    throw toLinkError(err, [server], context);
  } finally {
    await session.close().catch(() => undefined);
  }
}

/**
 * Runs fn on the first of the servers (provider order) that can be reached. A server that
 * cannot be connected to is skipped; an answer from a reachable server (even a refusal) is final.
 */
async function withFirstServer<T>(
  servers: KeyServerRecord[],
  ctx: KmipLinkContext,
  context: string,
  fn: (session: KmipSession, server: KeyServerRecord) => Promise<T>,
): Promise<T> {
  if (servers.length === 0) throw new KmipLinkError('connection', `${context}: no key servers are assigned`, []);
  const failures: KmipLinkError[] = [];
  for (const server of servers) {
    let opened: { session: KmipSession; host: string };
    try {
      opened = await openServerSession(server, ctx);
    } catch (err) {
      failures.push(toLinkError(err, [server], context));
      continue;
    }
    try {
      return await fn(opened.session, server);
    } catch (err) {
      throw toLinkError(err, [server], context);
    } finally {
      await opened.session.close().catch(() => undefined);
    }
  }
  const category = failures.some((f) => f.category === 'authentication') ? 'authentication' : failures[0]!.category;
  throw new KmipLinkError(
    category,
    failures.map((f) => f.message).join('; '),
    servers.map((s) => s.keyServerID),
  );
}

export interface ServerTestResult {
  versions: ProtocolVersion[];
  vendorIdentification?: string;
}

/** TestKeyServerKmip and friends: DiscoverVersions and Query over mutual TLS. */
export async function testKeyServer(server: KeyServerRecord, ctx: KmipLinkContext): Promise<ServerTestResult> {
  return withServer(server, ctx, 'KMIP test', async (session) => {
    const versions = await session.discoverVersions();
    const query = await session.query();
    return { versions, vendorIdentification: query.vendorIdentification };
  });
}

/**
 * Creates an AES-256 key tagged with the cluster's custom attribute for this keyID
 * (x-SolidFire-KeyID-<keyID>, no Name) and activates it; when a key with that attribute already
 * exists from an interrupted attempt, that one is activated and used instead. `tag` false creates
 * the key without the attribute (control API: a key server that drops it). Returns the KMIP
 * unique identifier.
 */
export async function createActiveKey(
  servers: KeyServerRecord[],
  ctx: KmipLinkContext,
  keyID: string,
  options: { tag: boolean } = { tag: true },
): Promise<{ uniqueIdentifier: string; keyServerID: number }> {
  const attribute = kmipKeyIdAttribute(keyID);
  return withFirstServer(servers, ctx, `creating key ${keyID}`, async (session, server) => {
    const existing = options.tag ? await session.locateByCustomAttribute(attribute.name, attribute.value) : [];
    if (existing.length > 0) {
      const uid = existing[0]!;
      try {
        await session.activate(uid);
      } catch (err) {
        if (!(err instanceof KmipOperationError)) throw err;
        // Already active from the interrupted attempt.
      }
      return { uniqueIdentifier: uid, keyServerID: server.keyServerID };
    }
    const uid = await session.createSymmetricKey({
      lengthBits: 256,
      customAttributes: options.tag ? { [attribute.name]: attribute.value } : {},
    });
    await session.activate(uid);
    return { uniqueIdentifier: uid, keyServerID: server.keyServerID };
  });
}

/** Fetches a key (what the cluster does at boot to unlock drives / load the master key). */
export async function fetchKey(
  servers: KeyServerRecord[],
  ctx: KmipLinkContext,
  uniqueIdentifier: string,
): Promise<{ keyServerID: number; lengthBits: number }> {
  return withFirstServer(servers, ctx, `fetching key ${uniqueIdentifier}`, async (session, server) => {
    if (ctx.withheldKeys.has(uniqueIdentifier)) {
      throw new KmipOperationError(
        `${server.kmipKeyServerHostnames[0]}:${server.kmipKeyServerPort}`,
        0x0a,
        1,
        ResultReason.ItemNotFound,
        `Could not locate object: ${uniqueIdentifier}`,
      );
    }
    const key = await session.get(uniqueIdentifier);
    return { keyServerID: server.keyServerID, lengthBits: key.cryptographicLength };
  });
}

/** Revokes a key the cluster no longer uses (decommissioned master key). */
export async function revokeKey(servers: KeyServerRecord[], ctx: KmipLinkContext, uniqueIdentifier: string): Promise<void> {
  await withFirstServer(servers, ctx, `revoking key ${uniqueIdentifier}`, (session) => session.revoke(uniqueIdentifier));
}

/** Revokes and destroys a key (control API: "the key is gone from the KMIP server"). */
export async function destroyKey(servers: KeyServerRecord[], ctx: KmipLinkContext, uniqueIdentifier: string): Promise<void> {
  await withFirstServer(servers, ctx, `destroying key ${uniqueIdentifier}`, async (session) => {
    try {
      await session.revoke(uniqueIdentifier);
    } catch (err) {
      if (!(err instanceof KmipOperationError)) throw err;
      // Already revoked, or never active: destroy decides.
    }
    await session.destroy(uniqueIdentifier);
  });
}
