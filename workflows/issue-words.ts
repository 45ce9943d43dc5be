/**
 * A zod issue in an operator's words ("is longer than 253 characters", "'abc' is not a number"),
 * for every place that turns a schema's refusal into text: runbook inputs and answers (CLI,
 * console, the runbooks' own checks) and the settings files. The schemas' own messages ("must be a
 * cluster name from the clusters file") are kept; only zod's built-in English ("Too big: expected
 * string to have <=253 characters") is replaced. The value is quoted (shortened) when the issue
 * carries it (`safeParse(data, { reportInput: true })`). Workflow-safe: no I/O.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue & { input?: unknown };

/** zod's built-in messages start like this; a schema's own message does not. */
const BUILT_IN = /^(Too big|Too small|Invalid|Unrecognized key|Expected)/;

/** A value as an operator would recognise it: text quoted and cut at 24 characters. */
export function quoteValue(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 24 ? `${value.slice(0, 24)}…` : value}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

const KINDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of fields',
  bigint: 'a whole number',
};

const FORMATS: Record<string, string> = { email: 'an e-mail address', url: 'a URL', regex: 'in the expected form' };

/** The problem one issue describes, without the field's name: "is longer than 253 characters". */
export function issueWords(issue: Issue): string {
  const has = 'input' in issue && issue.input !== undefined;
  const value = has ? `${quoteValue(issue.input)} ` : '';
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) return 'is required';
  if (!BUILT_IN.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'too_big':
    case 'too_small': {
      const big = issue.code === 'too_big';
      const bound = Number(big ? (issue as { maximum: unknown }).maximum : (issue as { minimum: unknown }).minimum);
      const inclusive = issue.inclusive !== false;
      if (issue.origin === 'string') {
        if (!big && bound <= 1) return 'must not be empty';
        const length = typeof issue.input === 'string' ? ` (${issue.input.length})` : '';
        return big
          ? `${value}is longer than ${inclusive ? bound : bound - 1} characters${length}`
          : `${value}is shorter than ${inclusive ? bound : bound + 1} characters${length}`;
      }
      if (issue.origin === 'array' || issue.origin === 'set') {
        const count = Array.isArray(issue.input) ? ` (${issue.input.length} given)` : '';
        if (!big && bound <= 1) return 'must list at least one';
        return `must list at ${big ? 'most' : 'least'} ${bound}${count}`;
      }
      if (has) {
        const beyond = big ? (inclusive ? 'is more than' : 'is not less than') : inclusive ? 'is less than' : 'is not more than';
        return `${value}${beyond} ${bound}`;
      }
      return `must be ${big ? (inclusive ? 'at most' : 'less than') : inclusive ? 'at least' : 'more than'} ${bound}`;
    }
    case 'invalid_type': {
      const expected = String(issue.expected);
      if (
        (expected === 'number' || expected === 'int') &&
        (typeof issue.input === 'string' || /received NaN$/.test(issue.message))
      )
        return `${value}is not a number`;
      if (expected === 'int' && typeof issue.input === 'number') return `${value}is not a whole number`;
      return `must be ${KINDS[expected] ?? expected}${has ? ` (got ${quoteValue(issue.input)})` : ''}`;
    }
    case 'invalid_value': {
      const values = issue.values.map(String).join(', ');
      return has ? `${value}is not one of ${values}` : `must be one of ${values}`;
    }
    case 'invalid_format': {
      const what = FORMATS[issue.format] ?? `a valid ${issue.format}`;
      return `${value}is not ${what}`;
    }
    case 'unrecognized_keys':
      return `${issue.keys.join(', ')} ${issue.keys.length === 1 ? 'is not a field' : 'are not fields'} here`;
    case 'invalid_union':
      return `${value}does not match any accepted form`;
    default:
      return issue.message;
  }
}
