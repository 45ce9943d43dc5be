/**
 * The input of the certificate renewal runbook (`ekm renew`), validated by the CLI and again by
 * the workflow; the fault watcher takes the same options (without the cluster) to start renewals
 * itself. Workflow-safe: zod and data only.
 */
import { z } from 'zod';
import { clusterName, duration, pemCertificate, providerSelector, setupInput, withMsNames } from './inputs';

/** How the cluster's CSR gets signed: the same choice as setup's (manual, cfssl, or a signer from the clusters file). */
export const signerInput = setupInput.in.shape.signer;

const renewFields = {
  /** The key provider whose one key server gets the new certificate: by id, by name, or (default) the active one. */
  provider: providerSelector.optional(),
  /** The key server's renewed CA certificate(s), PEM, for a key server whose CA rotated (installed with the client certificate). */
  kmipCaCertificate: pemCertificate.optional(),
  signer: signerInput,
  /** Also replace the cluster's key pair (the key-pair window: see docs/procedures.md). */
  newKeyPair: z.boolean().default(false),
  /** With newKeyPair: the window is accepted up front, so the runbook does not ask `confirm`. */
  acceptKeyPairWindow: z.boolean().default(false),
  /** How long to wait for the signed certificate before asking to extend or abort. */
  signingDeadline: duration.prefault('14d'),
  reminderEvery: duration.prefault('1d'),
  /** A failing modify or test is retried this many times before a person is asked. */
  testAttempts: z.number().int().min(1).max(100).default(5),
  testRetryInterval: duration.prefault('10s'),
  /** How long an unanswered question waits between reminders. */
  questionReminderEvery: duration.prefault('4h'),
  /** After the install: how often to look for kmipCertificateFault, and how long the cluster may take to clear it. */
  faultPollInterval: duration.prefault('30s'),
  resolveWindow: duration.prefault('10m'),
  ifBusy: z.enum(['fail', 'wait']).default('fail'),
  /** Longest a single cluster step may take before it is retried (a dead worker is noticed after this). */
  activityTimeout: duration.prefault('2m'),
  requestedBy: z.string().max(200).optional(),
};

type RenewFields = z.infer<z.ZodObject<typeof renewFields>>;

function windowOnlyWithNewKeyPair(input: Pick<RenewFields, 'newKeyPair' | 'acceptKeyPairWindow'>, ctx: z.RefinementCtx): void {
  if (input.acceptKeyPairWindow && !input.newKeyPair) {
    ctx.addIssue({
      code: 'custom',
      path: ['acceptKeyPairWindow'],
      message: 'is only for a new key pair (newKeyPair, --new-key-pair): without one there is no window',
    });
  }
}

/** The renewal options without the cluster: what the fault watcher's `renewal` holds. */
export const renewOptions = z.strictObject(renewFields).superRefine(windowOnlyWithNewKeyPair);

export const renewInput = z
  .strictObject({ cluster: clusterName, ...renewFields })
  .superRefine(windowOnlyWithNewKeyPair)
  .transform(
    withMsNames([
      'signingDeadline',
      'reminderEvery',
      'testRetryInterval',
      'questionReminderEvery',
      'faultPollInterval',
      'resolveWindow',
      'activityTimeout',
    ]),
  );

export type RenewInput = z.input<typeof renewInput>;
export type RenewOptions = z.output<typeof renewInput>;
