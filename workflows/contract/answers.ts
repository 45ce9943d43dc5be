/** A person's answers to a waiting runbook: `ekm answer` and `ekm submit-cert`, and the cheap checks certificates get on the way in. Workflow-safe. */
import { z } from 'zod';
import { parseDurationText } from '../../src/durations';
import { hostname, printable } from './fields';
import { update } from './messages';

/**
 * The largest certificate or CA bundle one input may be, in bytes (a certificate with a long
 * chain is a few kilobytes). The CLI checks it before it sends and the Updates' validators check
 * it again, so an oversized file is refused with its size instead of failing in transport.
 */
export const CERTIFICATE_INPUT_LIMIT_BYTES = 64 * 1024;

/** UTF-8 length of a text, without Node's Buffer (workflow-safe). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** "too large (N bytes; limit M)" when a certificate input is over the limit, else undefined. */
export function certificateInputTooLarge(input: string | number, limit = CERTIFICATE_INPUT_LIMIT_BYTES): string | undefined {
  const bytes = typeof input === 'number' ? input : utf8ByteLength(input);
  return bytes > limit
    ? `too large (${bytes} bytes; limit ${limit}): a certificate with its chain is a few kilobytes`
    : undefined;
}

const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** The cheap checks an Update validator makes on a certificate input: size and no private key. */
export function certificateInputProblem(text: string): string | undefined {
  return (
    certificateInputTooLarge(text) ??
    (PRIVATE_KEY_BLOCK.test(text)
      ? 'holds a private key: give the certificate alone (a private key must never be handed to the runbook)'
      : undefined)
  );
}

const pemCertificate = z.string().superRefine((text, ctx) => {
  const problem = certificateInputProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
  else if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(text))
    ctx.addIssue({ code: 'custom', message: 'must be a PEM certificate' });
});

// ---------------------------------------------------------------------------------------------
// A person's answer to a waiting runbook (`ekm answer`); the runbook refuses answers not offered now

const by = printable(200).optional();
const comment = printable(2000).optional();
/** "7d", "12h", "90 minutes": with a unit, at most a year. */
const durationText = z.string().superRefine((text, ctx) => {
  const parsed = parseDurationText(text);
  if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
});

export const operatorAnswer = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('retry'), by, comment }),
  z.strictObject({ action: z.literal('fixed'), by, comment }),
  z.strictObject({
    action: z.literal('abort'),
    by,
    reason: printable(500).refine((text) => text.trim() !== '', 'is required'),
    /** The cluster's name, when the question requires it (abort would leave the drives unprotected). */
    confirmUnprotected: z.string().optional(),
  }),
  /** Setup --replace-internal-key: enable hardware encryption again with the cluster's internal keys and give up the move. */
  z.strictObject({ action: z.literal('enable-internal'), by, comment }),
  z.strictObject({ action: z.literal('extend'), by, comment, extendBy: durationText }),
  /** Accepts what the runbook stated it will do next (renew --new-key-pair: the key-pair window). */
  z.strictObject({ action: z.literal('confirm'), by, comment }),
  z
    .strictObject({
      action: z.literal('change'),
      by,
      comment,
      hostnames: z.array(hostname).min(1, 'must be a non-empty list of host names').max(16).optional(),
      port: z.int().min(1, 'must be 1-65535').max(65535, 'must be 1-65535').optional(),
      kmipCaCertificate: pemCertificate.optional(),
      /** A new client certificate for the cluster's key pair (e.g. signed by the CA the key server trusts), with its CA chain. */
      clientCertificate: z.strictObject({ certificatePem: pemCertificate, caChainPem: pemCertificate }).optional(),
      /** The slice recovery: the metadata drives to add back, when the fault does not say which. */
      driveIDs: z
        .array(z.int('must be drive ids').nonnegative('must be drive ids'))
        .min(1, 'must be a non-empty list of drive ids')
        .max(64, 'must be at most 64 drive ids')
        .refine((ids) => new Set(ids).size === ids.length, 'names a drive more than once')
        .optional(),
    })
    .refine(
      (c) =>
        c.hostnames !== undefined ||
        c.port !== undefined ||
        c.kmipCaCertificate !== undefined ||
        c.clientCertificate !== undefined ||
        c.driveIDs !== undefined,
      'give at least one of hostnames, port, kmipCaCertificate, clientCertificate, driveIDs',
    ),
]);
export type OperatorAnswer = z.infer<typeof operatorAnswer>;

export const answerAccepted = z.strictObject({ accepted: z.literal(true), step: z.string(), message: z.string() });
export type AnswerAccepted = z.infer<typeof answerAccepted>;

export const answerUpdate = update('answer', operatorAnswer, answerAccepted);

// ---------------------------------------------------------------------------------------------
// The CA-signed client certificate for a setup runbook's CSR (`ekm submit-cert`)

const certificateInput = z
  .string()
  .min(1, 'is empty')
  .superRefine((text, ctx) => {
    const problem = certificateInputProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const signedCertificateSubmission = z.strictObject({
  /** What `ekm submit-cert --cert` sends: the signed certificate, maybe with its chain (the check picks the CSR's). */
  certificatePem: certificateInput,
  /** `--ca`: the CA certificate(s) that issued it; absent when `--cert` holds the chain too. */
  caChainPem: certificateInput.optional(),
  by,
});
export type SignedCertificateSubmission = z.infer<typeof signedCertificateSubmission>;

export const certificateAccepted = z.strictObject({
  accepted: z.literal(true),
  subject: z.string(),
  notAfter: z.string(),
  fingerprint: z.string(),
  /** What the check did besides accepting: which block was the client certificate, a notBefore to wait for. */
  notes: z.array(z.string()).optional(),
});
export type CertificateAccepted = z.infer<typeof certificateAccepted>;

export const submitCertificateUpdate = update('submitCertificate', signedCertificateSubmission, certificateAccepted);
