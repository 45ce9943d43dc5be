/**
 * Handing a signed certificate to a waiting setup run (`ekm submit-cert`, the console's signing
 * page): a run that already accepted a certificate answers from its memo (no worker needed); a
 * different one is refused; otherwise a worker must serve the run before the Update is sent.
 */
import { X509Certificate } from 'node:crypto';
import {
  ACCEPTED_CERTIFICATE_MEMO,
  acceptedCertificateMemo,
  submitCertificateUpdate,
  type CertificateAccepted,
  type SignedCertificateSubmission,
} from '../../workflows/contract';
import { CliError, ExitCode } from './exit-codes';
import { describeRun, requireWorker, update, type CliContext } from './temporal';

/** SHA-256 of each certificate in a PEM text, as the runbook reports fingerprints (hex pairs, colons). */
export function certificateFingerprints(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((block) => {
    try {
      return [new X509Certificate(block).fingerprint256.toUpperCase()];
    } catch {
      return [];
    }
  });
}

export type SubmissionOutcome =
  | { kind: 'accepted'; accepted: CertificateAccepted }
  | { kind: 'already-accepted'; at: string; subject: string; notAfter: string; fingerprint: string };

/**
 * Sends `submission` to the run. Throws CliError: refused (4) when another certificate was already
 * accepted or the runbook refuses it, unavailable (5) when no worker serves the run (nothing sent),
 * notFound (3) for no such run.
 */
export async function submitSignedCertificate(
  ctx: CliContext,
  workflowId: string,
  submission: SignedCertificateSubmission,
): Promise<SubmissionOutcome> {
  const handle = ctx.client.workflow.getHandle(workflowId);
  const description = await describeRun(ctx, handle);
  const already = acceptedCertificateMemo.safeParse(description.memo?.[ACCEPTED_CERTIFICATE_MEMO]).data;
  if (already) {
    if (!certificateFingerprints(submission.certificatePem).includes(already.fingerprint.toUpperCase())) {
      throw new CliError(
        `refused: a certificate was already accepted at ${already.at} for this run: ${already.subject}, valid until ${already.notAfter}, SHA-256 ${already.fingerprint}`,
        ExitCode.refused,
      );
    }
    return { kind: 'already-accepted', ...already };
  }
  await requireWorker(ctx, description.taskQueue, 'nothing was sent; start a worker and submit again');
  ctx.sent = { what: 'the certificate', workflowId };
  const accepted = await update(() => handle.executeUpdate(submitCertificateUpdate.definition, { args: [submission] }), handle);
  return { kind: 'accepted', accepted };
}
