/**
 * Who is acting in the console (and any other HTTP endpoint of ours, e.g. a codec server): a
 * users file whose entries name token files (the tokens themselves never sit in the users file),
 * a login that sets a session cookie (HttpOnly, SameSite=Strict, Secure over TLS), a CSRF token
 * for every mutating request, and optionally a trusted header set by an authenticating proxy
 * (e.g. an OIDC proxy) instead of the login. Framework-free: the server calls these functions.
 *
 * Secrets (tokens, session ids) are compared in constant time and never returned, logged or
 * rendered: errors name the user and the file, never the content.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { fileProblem } from '../config/file-problem';
import { ConfigError, describeZodError } from '../config/zod-errors';
import { InputTextProblem, parseYamlOrJson } from '../config/yaml-input';

/** The login cookie's name. */
export const SESSION_COOKIE = 'ekm_session';
/** The form field (or `x-csrf-token` header) carrying the CSRF token on mutating requests. */
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';
/**
 * The sign-in form's own CSRF token (double submit): a random value in this cookie and in the
 * form's _csrf field; a sign-in whose two differ (a form posted from another site, which can
 * neither read nor set our cookie) is refused, so nobody can sign a browser in as someone else.
 */
export const LOGIN_CSRF_COOKIE = 'ekm_login_csrf';
/** Failed sign-ins allowed per client address within LOGIN_FAILURE_WINDOW_MS; more get 429. */
export const LOGIN_FAILURE_LIMIT = 10;
export const LOGIN_FAILURE_WINDOW_MS = 60_000;
/** A login lasts this long without use, then the user logs in again. */
export const SESSION_IDLE_MS = 12 * 3600_000;
/** Tokens shorter than this are refused when the users file is read: a guessable token is no login. */
export const MIN_TOKEN_LENGTH = 16;

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/;

const userEntry = z
  // tokenFile is checked below with the other keys: a token written in the file is said as such, not as "tokenFile: is required".
  .looseObject({ tokenFile: z.string().min(1, 'must name a file holding the token').optional() })
  .superRefine((entry, ctx) => {
    const secretWritten = Object.keys(entry).some((key) => key !== 'tokenFile' && /token|password|secret/i.test(key));
    if (entry.tokenFile === undefined && !secretWritten)
      ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: 'is required' });
    for (const key of Object.keys(entry)) {
      if (key === 'tokenFile') continue;
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: /token|password|secret/i.test(key)
          ? 'a secret never goes in the users file: put the token in its own file and name it with tokenFile'
          : 'is not a setting of a user (only tokenFile)',
      });
    }
  })
  // Present once the checks above passed.
  .transform((entry) => ({ ...entry, tokenFile: entry.tokenFile ?? '' }));

export const usersFileSchema = z.strictObject({
  users: z
    .record(z.string(), userEntry)
    .refine((users) => Object.keys(users).length > 0, 'must name at least one user')
    // Checked here, not as the record's key schema: zod words a bad key only as "Invalid key in record".
    .superRefine((users, ctx) => {
      for (const name of Object.keys(users).filter((n) => !USER_NAME.test(n)))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message:
            "is not a user name: user names are 1 to 100 letters, digits, '.', '_', '@' and '-', starting with a letter or digit (a name is recorded as `by` with every answer)",
        });
    }),
});

/** A user of the console and where their token is (absolute path). */
export interface ConsoleUser {
  name: string;
  tokenFile: string;
}

/**
 * Reads the users file (YAML: `users: {oncall-1: {tokenFile: /run/secrets/oncall-1-token}}`); a
 * relative tokenFile is relative to the users file. Each token file must exist and hold a token of
 * at least MIN_TOKEN_LENGTH characters. Throws ConfigError naming the file and the user.
 */
export function loadUsersFile(file: string): ConsoleUser[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('--users', fileProblem(file, err));
  }
  let raw: unknown;
  try {
    raw = parseYamlOrJson(text, `--users ${file}`);
  } catch (err) {
    if (err instanceof InputTextProblem) throw new ConfigError(err.label, err.detail);
    throw err;
  }
  const parsed = usersFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`--users ${file}`, describeZodError(parsed.error));
  const users = Object.entries(parsed.data.users).map(([name, entry]) => ({
    name,
    tokenFile: path.resolve(path.dirname(file), entry.tokenFile),
  }));
  // One token per person: a token (or token file) two users share records one person's answers under either name.
  const seen = new Map<string, { user: string; file: string }>();
  for (const user of users) {
    const key = digest(readToken(user, file)).toString('hex');
    const other = seen.get(key);
    if (other)
      throw new ConfigError(
        `--users ${file}`,
        `users.${other.user} and users.${user.name} have the same token (${other.file === user.tokenFile ? `both name ${user.tokenFile}` : `${other.file} and ${user.tokenFile} hold the same text`}): each user needs their own token, or answers are recorded under the wrong name`,
      );
    seen.set(key, { user: user.name, file: user.tokenFile });
  }
  return users;
}

/** The user's token (trimmed); a missing, unreadable or short token file is a ConfigError naming the user. */
function readToken(user: ConsoleUser, usersFile = 'the users file'): string {
  let token: string;
  try {
    token = fs.readFileSync(user.tokenFile, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`--users ${usersFile}`, `users.${user.name}.tokenFile: ${fileProblem(user.tokenFile, err)}`);
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(
      `--users ${usersFile}`,
      `users.${user.name}.tokenFile: the token in ${user.tokenFile} is shorter than ${MIN_TOKEN_LENGTH} characters`,
    );
  }
  return token;
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

export interface Session {
  id: string;
  user: string;
  lastUsedAt: number;
}

/** How a request proved who it is: a login session, or the authenticating proxy's header. */
export type Identity = { user: string; via: 'session'; session: Session } | { user: string; via: 'proxy' };

export interface AuthOptions {
  /** The users who may log in (from loadUsersFile); absent with a proxy that names the user. */
  users?: ConsoleUser[];
  /** Behind an authenticating proxy: the header (lower case) holding the user's name; no login then. */
  proxyUserHeader?: string;
  /** Served over TLS: the cookie gets Secure. */
  secure: boolean;
  idleMs?: number;
  now?: () => number;
}

/**
 * Sessions and CSRF tokens for one server process (sessions live in memory: a restart logs
 * everyone out). The CSRF token is an HMAC of the session id (or the proxy's user) under a key
 * made at start, so it is never stored and cannot be guessed from the cookie.
 */
export class Authenticator {
  private readonly sessions = new Map<string, Session>();
  private readonly key = randomBytes(32);
  private readonly idleMs: number;
  private readonly now: () => number;

  constructor(readonly options: AuthOptions) {
    if (!options.users?.length && !options.proxyUserHeader)
      throw new ConfigError('console', 'give a users file (--users) or a trusted proxy header (--behind-proxy --user-header)');
    this.idleMs = options.idleMs ?? SESSION_IDLE_MS;
    this.now = options.now ?? Date.now;
  }

  get loginEnabled(): boolean {
    return Boolean(this.options.users?.length);
  }

  /**
   * The user named when `token` is theirs (read from their token file now, so a rotated token
   * takes effect at the next login); undefined otherwise, without saying which part was wrong.
   */
  checkLogin(user: string, token: string): string | undefined {
    const entry = this.options.users?.find((u) => u.name === user);
    if (!entry || token.length === 0) return undefined;
    let expected: string;
    try {
      expected = readToken(entry);
    } catch {
      return undefined;
    }
    return sameSecret(token.trim(), expected) ? entry.name : undefined;
  }

  /** The user whose token this is (`Authorization: Bearer <token>`, for scripts and a codec endpoint). */
  userForBearer(token: string): string | undefined {
    for (const user of this.options.users ?? []) if (this.checkLogin(user.name, token)) return user.name;
    return undefined;
  }

  /** A new login session; its id goes into the cookie and nowhere else. */
  startSession(user: string): Session {
    const session = { id: randomBytes(32).toString('base64url'), user, lastUsedAt: this.now() };
    this.sessions.set(session.id, session);
    return session;
  }

  endSession(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  /**
   * Who is asking: the proxy's header when the console runs behind one, else the session named by
   * the cookie (refreshed on use; expired after idleMs), else a Bearer token. Undefined: nobody.
   */
  identify(request: {
    headers: Record<string, string | string[] | undefined>;
    cookies?: Record<string, string | undefined>;
  }): Identity | undefined {
    if (this.options.proxyUserHeader) {
      const value = request.headers[this.options.proxyUserHeader];
      const user = Array.isArray(value) ? value[0] : value;
      if (user && USER_NAME.test(user)) return { user, via: 'proxy' };
      if (!this.loginEnabled) return undefined;
    }
    const id = request.cookies?.[SESSION_COOKIE];
    const session = id ? this.sessions.get(id) : undefined;
    if (session) {
      if (this.now() - session.lastUsedAt > this.idleMs) {
        this.sessions.delete(session.id);
        return undefined;
      }
      session.lastUsedAt = this.now();
      return { user: session.user, via: 'session', session };
    }
    const authorization = request.headers.authorization;
    const bearer = typeof authorization === 'string' ? /^Bearer (\S+)$/.exec(authorization)?.[1] : undefined;
    const user = bearer ? this.userForBearer(bearer) : undefined;
    // A bearer token proves possession of the secret on every request: it needs no CSRF token.
    return user ? { user, via: 'proxy' } : undefined;
  }

  /** The CSRF token for this identity, to put in every form. */
  csrfToken(identity: Identity): string {
    const subject = identity.via === 'session' ? `session\0${identity.session.id}` : `user\0${identity.user}`;
    return createHmac('sha256', this.key).update(subject).digest('base64url');
  }

  /** True when `token` is this identity's CSRF token. */
  checkCsrf(identity: Identity, token: unknown): boolean {
    return typeof token === 'string' && token.length > 0 && sameSecret(token, this.csrfToken(identity));
  }

  /** The login cookie's attributes (Secure only over TLS: a browser drops a Secure cookie on http). */
  cookieOptions(): { httpOnly: true; sameSite: 'strict'; secure: boolean; path: string; maxAge: number } {
    return { httpOnly: true, sameSite: 'strict', secure: this.options.secure, path: '/', maxAge: Math.floor(this.idleMs / 1000) };
  }
}

/** A fresh value for the sign-in form's CSRF cookie and field. */
export function newLoginCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

/** True when the sign-in form's field carries the value of its cookie (both present). */
export function checkLoginCsrf(cookie: unknown, field: unknown): boolean {
  return typeof cookie === 'string' && typeof field === 'string' && cookie.length >= 16 && sameSecret(cookie, field);
}

/**
 * Failed sign-ins per client address in a sliding window (memory only: a restart forgets them).
 * `retryAfterMs` says how long an address must wait once it has LOGIN_FAILURE_LIMIT failures in
 * the window; a successful sign-in clears its address.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly limit = LOGIN_FAILURE_LIMIT,
    readonly windowMs = LOGIN_FAILURE_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  private recent(address: string): number[] {
    const since = this.now() - this.windowMs;
    const times = (this.failures.get(address) ?? []).filter((t) => t > since);
    if (times.length) this.failures.set(address, times);
    else this.failures.delete(address);
    return times;
  }

  /** 0 when the address may try; else the ms until its oldest failure leaves the window. */
  retryAfterMs(address: string): number {
    const times = this.recent(address);
    return times.length < this.limit ? 0 : Math.max(1, times[0]! + this.windowMs - this.now());
  }

  recordFailure(address: string): void {
    // Addresses that stopped trying are dropped as the map is used, so it stays small.
    if (this.failures.size > 10_000) for (const key of [...this.failures.keys()]) this.recent(key);
    this.failures.set(address, [...this.recent(address), this.now()]);
  }

  clear(address: string): void {
    this.failures.delete(address);
  }
}

/** True for a loopback address or name (the console's default: nobody else can reach it). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  return bare === '::1';
}

/**
 * The rule for listening beyond loopback: only with TLS (--tls-cert and --tls-key) or behind an
 * authenticating proxy (--behind-proxy with the header it sets). Returns the refusal, in words, or undefined.
 */
export function listenProblem(host: string, options: { tls: boolean; behindProxy: boolean }): string | undefined {
  if (isLoopback(host) || options.tls || options.behindProxy) return undefined;
  return `--listen ${host}: beyond loopback the console needs TLS (--tls-cert and --tls-key) or an authenticating proxy in front (--behind-proxy --user-header NAME); logins and certificates must not cross the network in clear text`;
}
