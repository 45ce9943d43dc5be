import { z } from 'zod';

/**
 * How long simulated background work takes. Every one is configuration, so tests run in
 * milliseconds and a rehearsal can use realistic values. Defaults aim at "realistic but not
 * tedious"; the documented ones are cited.
 */
export const durationsSchema = z.strictObject({
  /** EnableEncryptionAtRest enabling -> enabled, DisableEncryptionAtRest disabling -> disabled. */
  earTransitionMs: z.int().nonnegative().default(15_000),
  /** A SEAR master-key rekey, Ready -> ... -> DecommissionOldMasterKey -> complete. */
  rekeyMs: z.int().nonnegative().default(20_000),
  /** AddDrives: available -> active. */
  driveAddMs: z.int().nonnegative().default(5_000),
  /** RemoveDrives: active -> removing -> available. */
  driveRemoveMs: z.int().nonnegative().default(5_000),
  /** After the failed metadata drives are active again, sliceServiceUnhealthy clears after this (docs: 3-4 minutes). */
  sliceSettleMs: z.int().nonnegative().default(210_000),
  /** sliceServiceUnhealthy stays a warning this long, then becomes an error (docs: 6 minutes). */
  sliceWarningMs: z.int().nonnegative().default(360_000),
  /** While it cannot fetch its keys, the cluster retries this often. */
  kmipRetryMs: z.int().positive().default(30_000),
  /** A simulated cluster restart answers HTTP 503 this long. */
  restartDowntimeMs: z.int().nonnegative().default(0),
  /** How often background work (jobs, transitions, retries) is advanced. */
  tickMs: z.int().positive().default(250),
  /**
   * How often the cluster brings ListClusterFaults' list up to date with what holds (a real
   * cluster: about every 30 s), so a condition that began or ended shows only at the next refresh.
   * Tests and the demo set a short value.
   */
  faultRefreshMs: z.int().positive().default(30_000),
  /**
   * A key server's client or CA certificate raises kmipCertificateFault this long before its
   * notAfter (a warning; an error once expired). When a real cluster raises it is UNCONFIRMED: the
   * 30 days of the default are the minimum validity NetApp asks of a replacement certificate.
   */
  certificateFaultWarningMs: z.int().positive().default(30 * 86_400_000),
  /** KMIP connect and response timeouts of the simulated cluster's KMIP client. */
  kmipConnectTimeoutMs: z.int().positive().default(5_000),
  kmipResponseTimeoutMs: z.int().positive().default(10_000),
  /** An injected HTTP timeout holds the request this long before dropping the connection. */
  injectedTimeoutHoldMs: z.int().positive().default(300_000),
});

/** A partial change (control API PATCH): only the given members, no defaults filled in. */
export const durationsPatchSchema = z.strictObject(
  Object.fromEntries(Object.entries(durationsSchema.shape).map(([key, schema]) => [key, schema.unwrap().optional()])) as {
    [K in keyof typeof durationsSchema.shape]: z.ZodOptional<ReturnType<(typeof durationsSchema.shape)[K]['unwrap']>>;
  },
);

export type Durations = z.output<typeof durationsSchema>;
export type DurationsInput = z.input<typeof durationsSchema>;

export function resolveDurations(input: DurationsInput = {}): Durations {
  return durationsSchema.parse(input);
}
