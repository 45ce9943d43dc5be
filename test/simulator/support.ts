/**
 * Helpers for the simulator tests: start a simulator with short durations, talk to it through
 * the project's ElementClient (whose strict response schemas also check the simulator's answers)
 * or raw HTTP (for what the client refuses to send), sign CSRs with a real CA, and look at keys on
 * the real KMIP server with the project's KMIP client.
 *
 * KMIP identity: PyKMIP identifies a client by its certificate's CN and owns objects by it. Each
 * simulated cluster in these tests gets its own CN (the commonName given to
 * CreatePublicPrivateKeyPair); to inspect a cluster's keys the tests use a second certificate with
 * the same CN from the KMIP server's CA.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import type { CertificateAuthority } from '../../src/pki/authority';
import { issueCertificate, issueKeyAndCertificate } from '../../src/pki/authority';
import { importRsaKeyPair } from '../../src/pki/keys';
import { x509 } from '../../src/pki/x509';
import { ElementClient } from '../../src/element';
import { withKmipSession, type KmipSession } from '../../src/kmip';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../tools/simulator';
import { testEnv } from '../support/test-env';
import { testFileDir } from '../support/test-log';

export const ADMIN = { username: 'admin', password: 'sim-admin-Passw0rd!' };

/** Durations for tests: tens to hundreds of milliseconds. */
export const FAST = {
  tickMs: 20,
  earTransitionMs: 150,
  rekeyMs: 400,
  driveAddMs: 120,
  driveRemoveMs: 120,
  sliceSettleMs: 300,
  sliceWarningMs: 60_000,
  kmipRetryMs: 150,
  faultRefreshMs: 20,
  kmipConnectTimeoutMs: 2_000,
  kmipResponseTimeoutMs: 5_000,
} as const;

/** A folder for one simulator's state, in the test file's scratch folder (test/support/test-log.ts). */
export function scratchDir(name: string): string {
  const dir = path.join(testFileDir(), 'simulator', `${name}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export async function startTestSimulator(name: string, options: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  return startSimulator({
    stateFile: path.join(scratchDir(name), 'state.json'),
    admin: ADMIN,
    ...options,
    durations: { ...FAST, ...options.durations },
  });
}

/** A client that sends each call once: these tests look at the simulator's own answers, faults included. */
export function clientFor(
  sim: RunningSimulator,
  options: { apiVersion?: string; password?: string; responseTimeoutMs?: number } = {},
): ElementClient {
  return new ElementClient({
    endpoint: sim.url,
    apiVersion: options.apiVersion ?? sim.apiVersion,
    username: ADMIN.username,
    password: options.password ?? ADMIN.password,
    caPem: sim.caPem,
    connectTimeoutMs: 5_000,
    responseTimeoutMs: options.responseTimeoutMs ?? 15_000,
    retry: { attempts: 1 },
  });
}

export interface RawAnswer {
  status: number;
  text: string;
  json: Record<string, unknown> | undefined;
}

/** A raw JSON-RPC POST (bypasses the client's own checks). */
export async function rawPost(
  sim: RunningSimulator,
  body: string | Record<string, unknown>,
  options: { path?: string; version?: string; auth?: string | null; method?: string } = {},
): Promise<RawAnswer> {
  const dispatcher = new Agent({ connect: { ca: sim.caPem } });
  try {
    const auth =
      options.auth === undefined
        ? `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`
        : options.auth;
    const res = await request(`${sim.url}${options.path ?? `/json-rpc/${options.version ?? sim.apiVersion}`}`, {
      method: (options.method ?? 'POST') as 'POST',
      dispatcher,
      headers: auth === null ? {} : { authorization: auth },
      body: options.method === 'GET' ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, text, json };
  } finally {
    await dispatcher.close();
  }
}

export async function rawCall(
  sim: RunningSimulator,
  method: string,
  params: Record<string, unknown> = {},
  version?: string,
): Promise<RawAnswer> {
  return rawPost(sim, { method, params, id: 7 }, { version });
}

/** The `error` member of a raw answer. */
export function rpcError(answer: RawAnswer): { name: string; message: string; code: number } {
  const error = answer.json?.error as { name: string; message: string; code: number } | undefined;
  if (!error) throw new Error(`expected a JSON-RPC error, got HTTP ${answer.status}: ${answer.text.slice(0, 300)}`);
  return error;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Signs a CSR with the real cfssl CA (profile kmip-client: EKU clientAuth). */
export async function signWithCfssl(csrPem: string): Promise<string> {
  const { url, profile } = testEnv().cfssl;
  const res = await fetch(`${url}/api/v1/cfssl/sign`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ certificate_request: csrPem, profile }),
  });
  const body = (await res.json()) as { success: boolean; result?: { certificate: string }; errors?: unknown };
  if (!body.success || !body.result) throw new Error(`cfssl refused to sign: ${JSON.stringify(body.errors)}`);
  return body.result.certificate;
}

/** The shared PyKMIP's CA, as a CertificateAuthority that can sign. */
export async function kmipTestCa(): Promise<CertificateAuthority> {
  const { caPem, caKeyPem } = testEnv().kmip;
  return {
    certificate: new x509.X509Certificate(caPem),
    keys: await importRsaKeyPair(caKeyPem),
    certificatePem: caPem,
    privateKeyPem: caKeyPem,
  };
}

/** Signs the cluster's CSR with a CA held in memory (EKU clientAuth), as an operator's CA would. */
export async function signCsrWith(
  ca: CertificateAuthority,
  csrPem: string,
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const issued = await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'], ...validity });
  return issued.certificatePem;
}

/** A KMIP session to a KMIP server under a given identity (CN), to inspect that identity's keys. */
export async function asIdentity<T>(
  ca: CertificateAuthority,
  server: { host: string; port: number; caPem: string },
  commonName: string,
  fn: (session: KmipSession) => Promise<T>,
): Promise<T> {
  const cert = await issueKeyAndCertificate(ca, { subject: `CN=${commonName}`, usages: ['client'] });
  return withKmipSession(
    {
      host: server.host,
      port: server.port,
      caPem: server.caPem,
      certificatePem: cert.certificatePem,
      privateKeyPem: cert.privateKeyPem,
    },
    fn,
  );
}

export function uniqueCn(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/**
 * Runbook section 1, steps 1a-2c, through the client: key pair, CSR, signing, provider, server,
 * tests. Returns the ids.
 */
export async function setUpExternalKeyManagement(
  client: ElementClient,
  options: {
    commonName: string;
    sign: (csrPem: string) => Promise<string>;
    kmipCaPem: string;
    hostnames: string[];
    port: number;
    providerName?: string;
  },
): Promise<{ keyProviderID: number; keyServerID: number; csrPem: string; clientCertificate: string }> {
  await client.call('CreatePublicPrivateKeyPair', {
    commonName: options.commonName,
    organization: 'EKM runbooks',
    country: 'US',
  });
  const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
  const clientCertificate = await options.sign(clientCertificateSignRequest);
  const { kmipKeyProvider } = await client.call('CreateKeyProviderKmip', {
    keyProviderName: options.providerName ?? 'pykmip-provider',
  });
  const { kmipKeyServer } = await client.call('CreateKeyServerKmip', {
    kmipCaCertificate: options.kmipCaPem,
    kmipClientCertificate: clientCertificate,
    kmipKeyServerHostnames: options.hostnames,
    kmipKeyServerName: 'pykmip',
    kmipKeyServerPort: options.port,
  });
  await client.call('TestKeyServerKmip', { keyServerID: kmipKeyServer.keyServerID });
  await client.call('AddKeyServerToProviderKmip', {
    keyProviderID: kmipKeyProvider.keyProviderID,
    keyServerID: kmipKeyServer.keyServerID,
  });
  await client.call('TestKeyProviderKmip', { keyProviderID: kmipKeyProvider.keyProviderID });
  return {
    keyProviderID: kmipKeyProvider.keyProviderID,
    keyServerID: kmipKeyServer.keyServerID,
    csrPem: clientCertificateSignRequest,
    clientCertificate,
  };
}

/** Polls GetAsyncResult (keepResult) until the job completes. */
export async function waitForAsync(client: ElementClient, asyncHandle: number, timeoutMs = 15_000) {
  return waitFor(
    `async handle ${asyncHandle}`,
    async () => {
      const result = await client.call('GetAsyncResult', { asyncHandle, keepResult: true });
      return result.status === 'complete' ? result : undefined;
    },
    timeoutMs,
  );
}
