/**
 * Inputs of the recovery runbooks and the fault watcher, validated by the CLI and again by the
 * workflows. Workflow-safe: zod and data only.
 */
import { z } from 'zod';
import { clusterName, duration, pollSettings, withMsNames } from './inputs';
import { renewOptions } from './inputs-renew';

const requestedBy = z.string().max(200).optional();

/**
 * How long an activity may go without a heartbeat before Temporal gives it to another worker:
 * the time it takes to notice that a worker died in the middle of a cluster call (the calls
 * heartbeat every second). Short, so a wait resumes within seconds of a worker's death.
 */
const heartbeatTimeout = duration.prefault('5s');

const kmipFields = {
  /** Notify "escalated" when the fault is not fixed this long after the runbook started (it keeps waiting). */
  deadline: duration.prefault('2h'),
  /** Re-test the key servers on a growing interval while waiting for the fix. */
  retest: z
    .strictObject({ initialInterval: duration.default(30_000), maxInterval: duration.default(10 * 60_000) })
    .prefault({})
    .transform((r) => ({ initialIntervalMs: r.initialInterval, maxIntervalMs: Math.max(r.initialInterval, r.maxInterval) })),
  /** Once the key servers pass: how often to look for the fault, and how long the cluster may take to retry and clear it. */
  faultPollInterval: duration.prefault('30s'),
  resolveWindow: duration.prefault('10m'),
  reminderEvery: duration.prefault('4h'),
  /** Re-tests per workflow run before it continues as new (keeps the history small during long waits). */
  retestsPerRun: z.number().int().min(1).max(1000).default(100),
  heartbeatTimeout,
  requestedBy,
};

export const recoverKmipOptions = z.strictObject(kmipFields);
export const recoverKmipInput = z
  .strictObject({ cluster: clusterName, ...kmipFields })
  .transform(withMsNames(['deadline', 'faultPollInterval', 'resolveWindow', 'reminderEvery', 'heartbeatTimeout']));
export type RecoverKmipInput = z.input<typeof recoverKmipInput>;
export type RecoverKmipOptions = z.output<typeof recoverKmipInput>;

const sliceFields = {
  /** Only these drives (each must be an available metadata drive the fault names); default: the fault's drives. */
  driveIDs: z
    .array(z.number().int().nonnegative())
    .min(1)
    .max(64)
    .refine((ids) => new Set(ids).size === ids.length, 'names a drive more than once')
    .optional(),
  /** The durable wait after the drives are active again (the vendor says 3 to 4 minutes). */
  settle: duration.prefault('4m'),
  /** Rounds of add, settle and verify before escalating. */
  attempts: z.number().int().min(1).max(10).default(2),
  ifBusy: z.enum(['fail', 'wait']).default('fail'),
  polling: pollSettings.prefault({}),
  reminderEvery: duration.prefault('4h'),
  heartbeatTimeout,
  requestedBy,
};

export const recoverSliceOptions = z.strictObject(sliceFields);
export const recoverSliceInput = z
  .strictObject({ cluster: clusterName, ...sliceFields })
  .transform(withMsNames(['settle', 'reminderEvery', 'heartbeatTimeout']));
export type RecoverSliceInput = z.input<typeof recoverSliceInput>;
export type RecoverSliceOptions = z.output<typeof recoverSliceInput>;

export const faultWatcherInput = z
  .strictObject({
    cluster: clusterName,
    interval: duration.prefault('60s'),
    /** Only notify (once per new fault); start no recovery. */
    notifyOnly: z.boolean().default(false),
    /** Polls per workflow run before it continues as new. */
    pollsPerRun: z.number().int().min(1).max(10_000).default(200),
    /** Options for the recoveries the watcher starts (validated here, handed on as given). */
    recovery: z.strictObject({ kmip: recoverKmipOptions.optional(), slice: recoverSliceOptions.optional() }).default({}),
    /**
     * Opt-in: kmipCertificateFault starts a renewal (`renew`) with these options, the signer among
     * them (a manual signer makes the renewal wait for a person's certificate). Absent: no renewal.
     */
    renewal: renewOptions.optional(),
    /**
     * certificate-expiring warnings: a key server certificate the cluster uses (GetKeyServerKmip)
     * that expires within `horizon` is told about once per certificate and threshold, checked every
     * `checkEvery`. false: no warnings.
     */
    certificateExpiry: z
      .union([
        z.literal(false),
        z
          .strictObject({ horizon: duration.prefault('60d'), checkEvery: duration.prefault('1h') })
          .transform((c) => ({ horizonMs: c.horizon, checkEveryMs: c.checkEvery })),
      ])
      .prefault({}),
    heartbeatTimeout,
    requestedBy,
  })
  .transform(withMsNames(['interval', 'heartbeatTimeout']));
export type FaultWatcherInput = z.input<typeof faultWatcherInput>;
export type FaultWatcherOptions = z.output<typeof faultWatcherInput>;
