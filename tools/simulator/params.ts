/**
 * JSON-RPC parameter validation with zod. A missing required member answers xMissingParameter
 * ("Missing member=[name]"), a wrong type or value xInvalidParameter naming the member; members
 * the method does not know (or that are newer than the endpoint version) are ignored and
 * reported back in `unusedParameters`.
 */
import { z } from 'zod';
import { invalidParameter, missingParameter } from './errors';
import { compareVersions } from './versions';

export type ParamShape = Record<string, z.ZodType>;

export interface ParsedParams<T> {
  params: T;
  /** Members that were given but not used, with the given values. */
  unused: Record<string, unknown>;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected === 'int' || issue.expected === 'number' ? 'integer' : issue.expected}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `must have at least ${String(issue.minimum)} element(s)`
        : issue.origin === 'string'
          ? 'must not be empty'
          : `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message;
  }
}

function memberPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`;
  return out;
}

/**
 * Validates `raw` against `shape`. `since` gives the version a member appeared in (members newer
 * than `apiVersion` count as unused, as on a real cluster endpoint of that version).
 */
export function parseParams<S extends ParamShape>(
  shape: S,
  raw: Record<string, unknown>,
  apiVersion: string,
  since: Partial<Record<keyof S & string, string>> = {},
): ParsedParams<z.output<z.ZodObject<S>>> {
  const unused: Record<string, unknown> = {};
  const input: Record<string, unknown> = {};
  const sinceMap: Record<string, string | undefined> = since;
  for (const [key, value] of Object.entries(raw)) {
    const known = Object.prototype.hasOwnProperty.call(shape, key);
    const gate = sinceMap[key];
    if (!known || (gate !== undefined && compareVersions(apiVersion, gate) < 0)) {
      unused[key] = value;
      continue;
    }
    // An explicit null is taken as "not given".
    if (value !== null) input[key] = value;
  }
  for (const [key, schema] of Object.entries(shape)) {
    if (input[key] === undefined && !schema.safeParse(undefined).success) throw missingParameter(key);
  }
  for (const [key, schema] of Object.entries(shape)) {
    const result = schema.safeParse(input[key]);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw invalidParameter(memberPath(key, issue.path), describeIssue(issue));
    }
  }
  const parsed = z.object(shape).parse(input);
  return { params: parsed, unused };
}

// Common member schemas.
export const IntId = z.int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const Str = z.string();
export const NonEmptyStr = z.string().min(1);
export const Bool = z.boolean();
export const FaultSelection = z.enum(['current', 'resolved', 'all']);
