/**
 * Runbook inputs, validated with zod twice: by the CLI before anything starts (so a mistake
 * starts nothing), and by the workflow itself (a start from elsewhere gets the same checks).
 * Inputs carry the cluster's name, never credentials. Durations are given as text ("14d") or
 * milliseconds and come out of parsing as milliseconds, in fields whose names end in `Ms`.
 * Workflow-safe: zod and data only.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { parseDurationText } from '../src/durations';
import { elementId, hostname, printable } from './contract/fields';
import { Failure } from './failures';
import { issueWords } from './issue-words';
import { z } from 'zod';

export const clusterName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a cluster name from the clusters file');

/** "90s", "4m", "14d", "12 hours" or milliseconds. */
export const duration = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const parsed = parseDurationText(value);
  if ('problem' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  }
  return parsed.ms;
});

/** `{ deadline: 7200000 }` -> `{ deadlineMs: 7200000 }`: parsed durations carry their unit in their name. */
export type MsNamed<T, K extends keyof T & string> = Omit<T, K> & { [P in K as `${P}Ms`]: T[P] };

export function withMsNames<T extends object, const K extends keyof T & string>(keys: readonly K[]) {
  return (value: T): MsNamed<T, K> => {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const key of keys) {
      out[`${key}Ms`] = out[key];
      delete out[key];
    }
    return out as MsNamed<T, K>;
  };
}

export const pollSettings = z
  .strictObject({
    initialInterval: duration.default(1000),
    maxInterval: duration.default(30_000),
    attemptWindow: duration.default(5 * 60_000),
  })
  .transform((p) => ({ initialIntervalMs: p.initialInterval, maxIntervalMs: p.maxInterval, attemptWindowMs: p.attemptWindow }));

export const providerSelector = z.union([
  z.strictObject({ id: elementId }),
  z.strictObject({ name: printable(64) }),
  z.strictObject({ active: z.literal(true) }),
]);

export const rekeyInput = z
  .strictObject({
    cluster: clusterName,
    keyManagement: z.enum(['external', 'internal']).default('external'),
    /** External only: by id, by name, or (default) the active provider. */
    provider: providerSelector.optional(),
    /** A second mutating runbook on the cluster: refuse at once ('fail') or queue behind it ('wait'). */
    ifBusy: z.enum(['fail', 'wait']).default('fail'),
    /** How long the rekey job may run before the runbook gives up on it. */
    jobDeadline: duration.prefault('24h'),
    polling: pollSettings.prefault({}),
    /** Longest a single cluster step may take before it is retried (a dead worker is noticed after this). */
    activityTimeout: duration.prefault('2m'),
    requestedBy: z.string().max(200).optional(),
  })
  .superRefine((input, ctx) => {
    if (input.keyManagement === 'internal' && input.provider) {
      ctx.addIssue({ code: 'custom', path: ['provider'], message: 'is only for keyManagement external' });
    }
  })
  .transform(withMsNames(['jobDeadline', 'activityTimeout']));

export type RekeyInput = z.input<typeof rekeyInput>;
export type RekeyOptions = z.output<typeof rekeyInput>;

/**
 * "cluster: must be ...; hostnames: 'kms…' is longer than 253 characters": each issue names its
 * field (or the flag/label the caller gives for it, `names`) and says what is wrong in an
 * operator's words (issueWords).
 */
export function describeIssues(error: z.ZodError, names: Readonly<Record<string, string>> = {}): string {
  const seen = new Set<string>();
  return error.issues
    .filter((issue) => {
      // One problem per field: a 300-character host name is too long, whatever else is wrong with it.
      // (At the top level every refinement says its own thing, so those are all kept.)
      const key = issue.path.map(String).join('.');
      if (seen.has(key) && key !== '') return false;
      seen.add(key);
      return true;
    })
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      // The flag the operator typed, when the caller knows it (the CLI); the field otherwise.
      const name = names[path] ?? names[path.replace(/\.\d+$/, '')] ?? (path || '(input)');
      // A caller may name the top level '' (an answer's own refusal reads "change: give at least one of …").
      return name === '' ? issueWords(issue) : `${name}: ${issueWords(issue)}`;
    })
    .join('; ');
}

/** Inside a workflow: parse or fail the run at once with a non-retryable InvalidInput naming the fields. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(describeIssues(parsed.error), Failure.InvalidInput);
  return parsed.data;
}

export const pemCertificate = z.string().refine((s) => /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(s), {
  message: 'must be a PEM certificate (-----BEGIN CERTIFICATE-----)',
});

export const setupInput = z
  .strictObject({
    cluster: clusterName,
    /** Subject of the cluster's client certificate (CreatePublicPrivateKeyPair). */
    subject: z.strictObject({
      // The upper bounds of RFC 5280 (ub-common-name, ub-organization-name, ...); Element documents none.
      commonName: printable(64),
      organization: printable(64).optional(),
      organizationalUnit: printable(64).optional(),
      locality: printable(128).optional(),
      state: printable(128).optional(),
      country: z
        .string()
        .regex(/^[A-Z]{2}$/, 'must be a two-letter country code')
        .optional(),
      emailAddress: z.string().email().optional(),
    }),
    keyProviderName: printable(64),
    keyServerName: printable(64),
    /** Primary first, then failover. */
    hostnames: z.array(hostname).min(1, 'give at least one key server host name').max(16),
    port: z.number().int().min(1).max(65535).default(5696),
    /** The KMIP server's CA certificate(s), PEM. */
    kmipCaCertificate: pemCertificate,
    /** hardware: EnableEncryptionAtRest; software: master-key rekey to the provider; none: stop after the provider test. */
    mode: z.enum(['hardware', 'software', 'none']),
    signer: z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('manual') }),
        z.strictObject({
          type: z.literal('cfssl'),
          url: z
            .string()
            .regex(/^https?:\/\/[^\s/]+/i, 'must be an http:// or https:// URL of the cfssl server, e.g. http://127.0.0.1:8888'),
          profile: z.string().min(1, 'must not be empty').default('kmip-client'),
        }),
        /** A signer named in the worker's clusters file (signers section). */
        z.strictObject({
          type: z.literal('command'),
          name: z.string().min(1, "must name a signer of the clusters file's signers"),
        }),
      ])
      .default({ type: 'manual' }),
    /** Replace the key pair even though key servers of an active provider use it. */
    newKeyPair: z.boolean().default(false),
    /**
     * Hardware mode on a cluster whose hardware encryption at rest is on with its internal keys:
     * disable it and enable it again with the provider (the drives are not locked in between).
     */
    replaceInternalKey: z.boolean().default(false),
    /** How long to wait for the signed certificate before asking to extend or abort. */
    signingDeadline: duration.prefault('14d'),
    reminderEvery: duration.prefault('1d'),
    /** A failing key server or provider test is retried this many times before a person is asked. */
    testAttempts: z.number().int().min(1).max(100).default(5),
    testRetryInterval: duration.prefault('10s'),
    /** How long an unanswered question waits between reminders. */
    questionReminderEvery: duration.prefault('4h'),
    ifBusy: z.enum(['fail', 'wait']).default('fail'),
    polling: pollSettings.prefault({}),
    /** Longest a single cluster step may take before it is retried (a dead worker is noticed after this). */
    activityTimeout: duration.prefault('2m'),
    requestedBy: z.string().max(200).optional(),
  })
  .superRefine((input, ctx) => {
    if (input.replaceInternalKey && input.mode !== 'hardware')
      ctx.addIssue({ code: 'custom', path: ['replaceInternalKey'], message: 'is only for mode hardware' });
  })
  .transform(withMsNames(['signingDeadline', 'reminderEvery', 'testRetryInterval', 'questionReminderEvery', 'activityTimeout']));

export type SetupInput = z.input<typeof setupInput>;
export type SetupOptions = z.output<typeof setupInput>;
