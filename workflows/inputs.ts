/**
 * Runbook inputs, validated with zod twice: by the CLI before anything starts (so a mistake
 * starts nothing), and by the workflow itself (a start from elsewhere gets the same checks).
 * Inputs carry the cluster's name, never credentials. Workflow-safe: zod and data only.
 */
import { msToNumber } from '@temporalio/common';
import { ApplicationFailure } from '@temporalio/workflow';
import { z } from 'zod';

export const clusterName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a cluster name from the clusters file');

/** "90s", "4m", "14d", "12 hours" or milliseconds. */
export const duration = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  let ms = NaN;
  try {
    ms = msToNumber(value as never);
  } catch {
    // reported below
  }
  if (!(ms > 0)) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration like 90s, 4m or 14d` });
    return z.NEVER;
  }
  return ms;
});

export const pollSettings = z
  .strictObject({
    initialInterval: duration.default(1000),
    maxInterval: duration.default(30_000),
    attemptWindow: duration.default(5 * 60_000),
  })
  .transform((p) => ({ initialIntervalMs: p.initialInterval, maxIntervalMs: p.maxInterval, attemptWindowMs: p.attemptWindow }));

const providerSelector = z.union([
  z.strictObject({ id: z.number().int().nonnegative() }),
  z.strictObject({ name: z.string().min(1) }),
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
    requestedBy: z.string().max(200).optional(),
  })
  .superRefine((input, ctx) => {
    if (input.keyManagement === 'internal' && input.provider) {
      ctx.addIssue({ code: 'custom', path: ['provider'], message: 'is only for keyManagement external' });
    }
  });

export type RekeyInput = z.input<typeof rekeyInput>;
export type RekeyOptions = z.output<typeof rekeyInput>;

/** "cluster: must be ...; provider.id: ..." */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`).join('; ');
}

/** Inside a workflow: parse or fail the run at once with a non-retryable InvalidInput naming the fields. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(describeIssues(parsed.error), 'InvalidInput');
  return parsed.data;
}
