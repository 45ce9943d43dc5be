/**
 * "N % of calls fail transiently": the control API's shorthand for a set of HTTP fault rules
 * (PUT /control/http-faults { transient: { percent, kinds } }).
 */
import { z } from 'zod';
import type { HttpFaultRule } from './state';

export const TRANSIENT_KINDS = ['http5xx', 'reset', 'timeout', 'busy'] as const;

export const TransientFaults = z.strictObject({
  /** Share of matching requests that fail, 0..100. */
  percent: z.number().min(0).max(100),
  /**
   * Which faults, in equal shares: http5xx (503), reset, timeout (the connection held, then
   * dropped) each half before and half after the method ran; busy (xDBVersionMismatch) before.
   */
  kinds: z
    .array(z.enum(TRANSIENT_KINDS))
    .min(1)
    .default([...TRANSIENT_KINDS]),
  /** Only these JSON-RPC methods; absent = all. */
  methods: z.array(z.string()).optional(),
});
export type TransientFaults = z.output<typeof TransientFaults>;

/**
 * The rules for `spec`: one per (kind, phase), tried in order, each with the probability that
 * leaves every one an equal share of `percent` (rule i fires with q / (1 - (i - 1) q), q the share).
 */
export function transientFaultRules(spec: TransientFaults): HttpFaultRule[] {
  const variants: Array<Pick<HttpFaultRule, 'kind' | 'phase'>> = [];
  for (const kind of spec.kinds) {
    if (kind === 'busy') variants.push({ kind, phase: 'before' });
    else variants.push({ kind, phase: 'before' }, { kind, phase: 'after' });
  }
  const share = spec.percent / 100 / variants.length;
  return variants.map((variant, i) => ({
    ...variant,
    probability: Math.min(1, share / (1 - i * share)),
    ...(spec.methods ? { methods: spec.methods } : {}),
  }));
}
