/**
 * Every failure of an Element API call is one of these classes, decided once in the client.
 * `retryable` says whether trying the same call again later can succeed. No error carries
 * credentials: the client never hands them to an error and scrubs server-supplied text.
 */
import type { z } from 'zod';

export type ElementErrorKind = 'auth' | 'api' | 'transport' | 'tls' | 'response' | 'request';

interface ElementErrorBase {
  method?: string;
  /** Cluster endpoint (MVIP base URL), never with credentials. */
  endpoint?: string;
  cause?: unknown;
}

export abstract class ElementError extends Error {
  abstract readonly kind: ElementErrorKind;
  readonly retryable: boolean;
  readonly method: string | undefined;
  readonly endpoint: string | undefined;

  protected constructor(message: string, retryable: boolean, base: ElementErrorBase) {
    super(message, base.cause === undefined ? undefined : { cause: base.cause });
    this.name = new.target.name;
    this.retryable = retryable;
    this.method = base.method;
    this.endpoint = base.endpoint;
  }
}

/** The cluster refused the credentials (HTTP 401). Not retryable: fix the account or password. */
export class ElementAuthError extends ElementError {
  readonly kind = 'auth';
  readonly status: number;

  constructor(message: string, options: ElementErrorBase & { status: number }) {
    super(message, false, options);
    this.status = options.status;
  }
}

/**
 * Element answers that mean "busy, try again" (docs/element-api.md, errors): the cluster database
 * family (xDB…: changed under the request, connection or session lost, no answer in time, closing),
 * which the API reference and SolidFire's own tooling retry, and the service states the Cinder
 * driver retries. A retry is a new request with a fresh id.
 */
export const RETRYABLE_ELEMENT_ERROR_NAMES: ReadonlySet<string> = new Set([
  'xDBVersionMismatch',
  'xDBConnectionLoss',
  'xDBOperationTimeout',
  'xDBSessionExpired',
  'xDBSessionMoved',
  'xDBNoServerResponse',
  'xDBClosing',
  'xDBInvalidState',
  'xNotReadyForIO',
  'xNotPrimary',
  'xSliceNotRegistered',
  'xRpcTimeout',
]);

/**
 * Element answers no retry and no change on the key server's side can turn around: the endpoint or
 * method does not exist at this version, the cluster does not permit the call (a demo node refuses
 * encryption), or a parameter is wrong. Never retried, even where other Element errors are.
 */
export const PERMANENT_ELEMENT_ERROR_NAMES: ReadonlySet<string> = new Set([
  'xUnknownAPIMethod',
  'xUnknownAPIVersion',
  'xUnknownRPCMethod',
  'xAPINotPermitted',
  'xInvalidParameter',
]);

/**
 * The cluster answered with a JSON-RPC error object. `name` is the Element error name
 * (e.g. xUnknownAccount), the stable identifier to branch on; `elementMessage` is its text.
 */
export class ElementApiError extends ElementError {
  readonly kind = 'api';
  readonly code: number | undefined;
  readonly elementMessage: string;
  /** Extra members of the error object, if any (e.g. volumeID). */
  readonly details: Readonly<Record<string, unknown>>;
  /** True for answers no retry can change (PERMANENT_ELEMENT_ERROR_NAMES). */
  readonly permanent: boolean;

  constructor(
    options: ElementErrorBase & {
      method: string;
      name: string;
      message: string;
      code?: number;
      details?: Record<string, unknown>;
    },
  ) {
    super(`${options.method}: ${options.message}`, RETRYABLE_ELEMENT_ERROR_NAMES.has(options.name), options);
    this.name = options.name;
    this.code = options.code;
    this.elementMessage = options.message;
    this.details = options.details ?? {};
    this.permanent = PERMANENT_ELEMENT_ERROR_NAMES.has(options.name);
  }
}

/**
 * The request did not get a usable answer: connection refused or reset, DNS failure, timeout,
 * HTTP 5xx, a body that is not JSON. Retryable unless the cluster answered with a client error
 * (HTTP 4xx other than 401/408/429), which repeats until the endpoint or version is fixed.
 */
export class ElementTransportError extends ElementError {
  readonly kind = 'transport';
  /** True when the connect or response timeout expired. */
  readonly timeout: boolean;
  /** HTTP status, when the cluster answered at all. */
  readonly status: number | undefined;
  /** Node/undici error code (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT...), when there is one. */
  readonly code: string | undefined;
  /** HTTP 404 for the pinned API version: the newest version the cluster serves (GetAPI currentVersion). */
  readonly supportedUpTo: string | undefined;

  constructor(
    message: string,
    options: ElementErrorBase & {
      timeout?: boolean;
      status?: number;
      code?: string;
      retryable?: boolean;
      supportedUpTo?: string;
    },
  ) {
    super(message, options.retryable ?? true, options);
    this.timeout = options.timeout ?? false;
    this.status = options.status;
    this.code = options.code;
    this.supportedUpTo = options.supportedUpTo;
  }
}

/** The cluster's TLS certificate could not be verified. Not retryable: fix caPem (or opt in to insecure). */
export class ElementTlsError extends ElementError {
  readonly kind = 'tls';
  /** The verification error code, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE or ERR_TLS_CERT_ALTNAME_INVALID. */
  readonly code: string;

  constructor(message: string, options: ElementErrorBase & { code: string }) {
    super(message, false, options);
    this.code = options.code;
  }
}

/** The answer does not have the documented shape (missing field, wrong type, bad envelope). */
export class ElementResponseError extends ElementError {
  readonly kind = 'response';
  /** One line per problem, each naming the field. */
  readonly problems: readonly string[];

  constructor(message: string, options: ElementErrorBase & { problems?: readonly string[] }) {
    super(message, false, options);
    this.problems = options.problems ?? [message];
  }
}

export type ElementRequestProblem = 'invalid-params' | 'api-version' | 'config';

/** Refused before anything was sent: bad params, a method newer than the pinned version, bad client options. */
export class ElementRequestError extends ElementError {
  readonly kind = 'request';
  readonly reason: ElementRequestProblem;
  readonly problems: readonly string[];
  /** For reason api-version: the version the call needs. */
  readonly requiredVersion: string | undefined;

  constructor(
    message: string,
    options: ElementErrorBase & { reason: ElementRequestProblem; problems?: readonly string[]; requiredVersion?: string },
  ) {
    super(message, false, options);
    this.reason = options.reason;
    this.problems = options.problems ?? [message];
    this.requiredVersion = options.requiredVersion;
  }
}

export function isElementError(err: unknown): err is ElementError {
  return err instanceof ElementError;
}

/** True for errors worth retrying (transport faults, timeouts, 5xx, busy answers); false for anything else. */
export function isRetryableElementError(err: unknown): boolean {
  return err instanceof ElementError && err.retryable;
}

// ---------------------------------------------------------------------------------------------
// Describing schema violations: which field, what was expected. Values are never echoed except
// short enum-like strings and numbers, so a rejected parameter cannot leak into logs.

type Issue = z.core.$ZodIssue;

/** What the described value is: a call parameter or part of the cluster's answer. */
export type IssueSubject = 'parameter' | 'response field';
const WHOLE: Record<IssueSubject, string> = { parameter: 'params', 'response field': 'response' };
type PathSegment = PropertyKey;
type InvalidValueIssue = Extract<Issue, { code: 'invalid_value' }>;

function isTopLevelInvalidValue(issue: Issue): issue is InvalidValueIssue {
  return issue.code === 'invalid_value' && issue.path.length === 1;
}

export function formatFieldPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return `${value}`;
  if (typeof value === 'string') return value.length <= 40 && /^[\w .:-]*$/.test(value) ? `"${value}"` : 'a string';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function describeExpected(expected: string): string {
  if (expected === 'int') return 'integer';
  return expected === 'record' ? 'object' : expected;
}

function hasInput(issue: Issue): boolean {
  return 'input' in issue && issue.input !== undefined;
}

/**
 * A union failed. Look at the branches that came closest: "needs one of a or b" when each lacks a
 * different member, "has both" when each forbids the other's, one merged line when they only
 * disagree on a literal (a discriminator such as status), else the closest branch's problems.
 */
function describeUnion(branches: Issue[][], prefix: readonly PathSegment[], subject: IssueSubject, field: string): string[] {
  if (branches.length === 0) return [`${field} matches none of the expected shapes`];
  const fewest = Math.min(...branches.map((issues) => issues.length));
  const closest = branches.filter((issues) => issues.length === fewest);
  const where = prefix.length === 0 ? '' : ` at ${formatFieldPath(prefix)}`;
  if (closest.length > 1 && closest.every((issues) => issues.length === 1 && issues[0]!.path.length === 1)) {
    const singles = closest.map((issues) => issues[0]!);
    const names = singles.map((i) => String(i.path[0]));
    if (singles.every((i) => i.code === 'invalid_type' && !hasInput(i))) {
      return [`${WHOLE[subject]} needs one of ${names.join(' or ')}${where}`];
    }
    if (singles.every((i) => i.code === 'invalid_type' && i.expected === 'never')) {
      return [`${WHOLE[subject]} has both ${names.join(' and ')}${where}; only one may be present`];
    }
  }
  const literalIssues = branches.map((issues) => issues.find(isTopLevelInvalidValue));
  const first = literalIssues[0];
  if (first && literalIssues.every((i) => i !== undefined && i.path[0] === first.path[0])) {
    const values = [...new Set(literalIssues.flatMap((i) => i?.values ?? []))];
    return describeIssue({ ...first, values }, prefix, subject);
  }
  return closest[0]!.flatMap((issue) => describeIssue(issue, prefix, subject));
}

/** One line per issue, e.g. `response field kmipKeyServers[0].keyServerID is required (number)`. */
export function describeIssue(issue: Issue, prefix: readonly PathSegment[], subject: IssueSubject): string[] {
  const path = [...prefix, ...issue.path];
  const field = path.length === 0 ? WHOLE[subject] : `${subject} ${formatFieldPath(path)}`;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'never') return [`${field} ${issue.message}`];
      if (!hasInput(issue)) return [`${field} is required (${describeExpected(issue.expected)})`];
      return [`${field} must be ${describeExpected(issue.expected)} (got ${describeValue(issue.input)})`];
    case 'invalid_value': {
      const listed = issue.values.map((v) => JSON.stringify(v)).join(', ');
      const allowed = issue.values.length === 1 ? listed : `one of ${listed}`;
      if (!hasInput(issue)) return [`${field} is required (${allowed})`];
      return [`${field} must be ${allowed} (got ${describeValue(issue.input)})`];
    }
    case 'unrecognized_keys': {
      const where = path.length === 0 ? '' : ` in ${formatFieldPath(path)}`;
      const kind = subject === 'parameter' ? 'parameter' : 'field';
      return [`unknown ${kind}${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}${where}`];
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const small = issue.code === 'too_small';
      const word = issue.inclusive === false ? (small ? 'more than' : 'less than') : small ? 'at least' : 'at most';
      if (issue.origin === 'array') return [`${field} must have ${word} ${bound} item${bound === 1 ? '' : 's'}`];
      if (issue.origin === 'string') {
        if (small && bound === 1) return [`${field} must not be empty`];
        return [`${field} must be ${word} ${bound} characters`];
      }
      return [`${field} must be ${word} ${bound}${hasInput(issue) ? ` (got ${describeValue(issue.input)})` : ''}`];
    }
    case 'invalid_union':
      return describeUnion(issue.errors, path, subject, field);
    default:
      return [`${field} ${issue.message}`];
  }
}

export function describeIssues(issues: readonly Issue[], subject: IssueSubject): string[] {
  return issues.flatMap((issue) => describeIssue(issue, [], subject));
}
