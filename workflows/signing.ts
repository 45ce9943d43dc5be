/**
 * Step 1c, the wait for the CA: the cluster's CSR is signed by a person (a manual submission
 * through the `submitCertificate` Update, with a deadline, reminders, extend and abort) or by a
 * signer the worker runs (cfssl, or a command from the clusters file). A signer that refuses the
 * CSR or keeps failing leaves the runbook waiting for a person's submission, with the signer's own
 * message, the same CSR and no new key pair. Every certificate passes the same checks (an
 * activity: the workflow only checks sizes) before it is accepted; a refused one changes nothing.
 */
import { ApplicationFailure, isCancellation, setHandler, sleep, type RetryPolicy } from '@temporalio/workflow';
import type { SignedCertificate } from '../activities/certificates';
import type { CertificateSummary, MustOutlive } from '../src/pki/certificate-checks';
import { formatDuration } from '../src/durations';
import { clusterCalls } from './calls';
import { submitCertificateUpdate, type SignedCertificateSubmission, type WaitingFor } from './contract';
import { describeFailure, Failure } from './failures';
import { duration, parseInput, type SetupOptions } from './inputs';
import { abortedBy } from './operator';
import type { RunbookTracker } from './progress';

/** A certificate that passed the checks: the client certificate alone and its CA chain, as clean PEM. */
export interface AcceptedCertificate {
  certificatePem: string;
  caChainPem: string;
  summary: CertificateSummary;
  /** What the check noted (conversions, which block was the client certificate, a notBefore ahead). */
  notes?: string[];
}

export interface SigningOptions {
  cluster: string;
  csrPem: string;
  signer: SetupOptions['signer'];
  /** Manual signing: how long to wait before asking to extend or abort, and how often to remind. */
  deadlineMs: number;
  reminderEveryMs: number;
  activityTimeoutMs: number;
  /** Automatic signers: how a failing signer is retried before the runbook waits for a person. */
  signerRetry: RetryPolicy;
  /** A renewal: every certificate must be valid longer than the one it replaces (one more check). */
  mustOutlive?: MustOutlive;
  /** A renewal inside its key-pair window: abort only with a confirmation. */
  abortRequires?: WaitingFor['abortRequires'];
}

/** Step 1c: a certificate for the CSR that passed every check. */
export async function obtainSignedCertificate(
  run: RunbookTracker<'signing'>,
  options: SigningOptions,
): Promise<AcceptedCertificate> {
  const calls = clusterCalls({ timeoutMs: options.activityTimeoutMs });
  const check = (candidate: SignedCertificate) => checkCertificate(calls, options.csrPem, candidate, options.mustOutlive);
  const signer = options.signer;
  if (signer.type === 'manual') return waitForSubmission(run, options, check);
  const signerCalls = clusterCalls({ timeoutMs: options.activityTimeoutMs, retry: options.signerRetry });
  const sign = () =>
    signer.type === 'cfssl'
      ? signerCalls.signWithCfssl({ csrPem: options.csrPem, url: signer.url, profile: signer.profile })
      : signerCalls.signWithCommand({ csrPem: options.csrPem, signer: signer.name });
  return signOrWaitForSubmission(run, options, sign, check);
}

/**
 * Automatic signing: the signer signs; when it refuses (a CA tool that cannot read the cluster's
 * version-2 CSR, say), keeps failing, or signs a certificate the checks refuse, the runbook waits
 * with the signer's own message: a certificate signed by hand (`ekm submit-cert`), `retry` the
 * signer, or `abort`. The CSR stays the same: no new key pair is made.
 */
async function signOrWaitForSubmission(
  run: RunbookTracker<'signing'>,
  options: SigningOptions,
  sign: () => Promise<SignedCertificate>,
  check: (candidate: SignedCertificate) => Promise<AcceptedCertificate>,
): Promise<AcceptedCertificate> {
  const inbox = acceptSubmissions(run, check);
  for (;;) {
    try {
      const accepted = await run.step('signing', async () => check(await sign()), describeAccepted);
      for (const note of accepted.notes ?? []) run.note(note);
      return accepted;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const answer = await run.ask({
        kind: 'signed-certificate',
        step: 'signing',
        csrPem: options.csrPem,
        mustOutlive: options.mustOutlive,
        abortRequires: options.abortRequires,
        prompt:
          'the signer could not sign the CSR: have it signed by the CA another way and submit the certificate, or fix the signer and retry, or abort',
        answers: ['retry', 'abort'],
        problem: describeFailure(err),
        remindEveryMs: options.reminderEveryMs,
        alsoDoneWhen: () => inbox.accepted !== undefined,
      });
      if (inbox.accepted) {
        run.complete('signing', describeAccepted(inbox.accepted));
        return inbox.accepted;
      }
      if (answer?.action === 'abort') throw abortedBy(answer);
    }
  }
}

/**
 * The checks every certificate passes (PEM, the CSR's key, validity, issuer, clientAuth, and for a
 * renewal a longer validity than the certificate it replaces); refused with all its problems.
 */
export async function checkCertificate(
  calls: ReturnType<typeof clusterCalls>,
  csrPem: string,
  candidate: SignedCertificate,
  mustOutlive?: MustOutlive,
): Promise<AcceptedCertificate> {
  const verdict = await calls.checkSignedCertificate({ csrPem, ...candidate, ...(mustOutlive ? { mustOutlive } : {}) });
  if (verdict.problems.length > 0 || !verdict.summary || !verdict.certificatePem) {
    throw ApplicationFailure.nonRetryable(verdict.problems.join('; '), Failure.CertificateRejected);
  }
  // The check's clean PEM, not what was given: one client certificate block, LF only.
  return {
    certificatePem: verdict.certificatePem,
    caChainPem: verdict.caChainPem ?? '',
    summary: verdict.summary,
    notes: verdict.notes,
  };
}

/** Manual signing: wait for a submission until the deadline, then ask to extend or abort (a certificate is still accepted). */
async function waitForSubmission(
  run: RunbookTracker<'signing'>,
  options: SigningOptions,
  check: (candidate: SignedCertificate) => Promise<AcceptedCertificate>,
): Promise<AcceptedCertificate> {
  const inbox = acceptSubmissions(run, check);
  const arrived = () => inbox.accepted !== undefined;
  const question = {
    kind: 'signed-certificate' as const,
    step: 'signing',
    csrPem: options.csrPem,
    mustOutlive: options.mustOutlive,
    abortRequires: options.abortRequires,
    remindEveryMs: options.reminderEveryMs,
    alsoDoneWhen: arrived,
  };
  run.begin('signing');
  let deadlineAt = Date.now() + options.deadlineMs;
  while (!arrived()) {
    const answer = await run.ask({
      ...question,
      prompt: `have the cluster's CSR signed by the CA (client certificate, clientAuth, 30+ days) and submit it with its CA chain`,
      answers: ['abort'],
      timeoutMs: Math.max(0, deadlineAt - Date.now()),
    });
    if (answer?.action === 'abort') throw abortedBy(answer);
    if (arrived()) break;

    run.notify('escalated', `no signed certificate for cluster ${options.cluster} by the deadline`);
    const decision = await run.ask({
      ...question,
      prompt: `the signing deadline passed without a certificate: extend the wait or abort (a certificate is still accepted)`,
      answers: ['extend', 'abort'],
    });
    if (decision?.action === 'abort') throw abortedBy(decision);
    if (decision?.action === 'extend') {
      const extendByMs = parseInput(duration, decision.extendBy);
      deadlineAt = Date.now() + extendByMs;
      run.note(`signing deadline extended by ${formatDuration(extendByMs)} (${decision.by ?? 'operator'})`);
    }
  }
  run.complete('signing', describeAccepted(inbox.accepted!));
  return inbox.accepted!;
}

/**
 * A certificate whose notBefore is a little ahead (the CA's clock runs fast; the checks accept up
 * to 5 minutes) reaches the cluster only once it is valid: a durable wait, said in the progress
 * and on the step that hands it over.
 */
export async function waitUntilCertificateValid<S extends string>(
  run: RunbookTracker<S>,
  step: S,
  certificate: AcceptedCertificate,
): Promise<void> {
  const waitMs = Date.parse(certificate.summary.notBefore) - Date.now();
  if (!(waitMs > 0)) return;
  const line = `waiting until ${certificate.summary.notBefore} (the client certificate's notBefore, ${formatDuration(waitMs)} from now) before handing it to the cluster`;
  run.note(line);
  run.setDetail(step, line);
  await sleep(waitMs);
}

/** The `submitCertificate` Update: checked like any certificate; refused unless the runbook waits for one. */
function acceptSubmissions(
  run: RunbookTracker<'signing'>,
  check: (candidate: SignedCertificate) => Promise<AcceptedCertificate>,
): { accepted?: AcceptedCertificate } {
  const inbox: { accepted?: AcceptedCertificate } = {};
  setHandler(
    submitCertificateUpdate.definition,
    async (raw) => {
      const submission: SignedCertificateSubmission = submitCertificateUpdate.argument.parse(raw);
      const record = { step: 'signing', action: 'submit-certificate' as const, by: submission.by };
      try {
        const result = await check({ certificatePem: submission.certificatePem, caChainPem: submission.caChainPem ?? '' });
        if (inbox.accepted)
          throw ApplicationFailure.nonRetryable('a certificate was already accepted for this CSR', Failure.CertificateRejected);
        // Another answer (an abort, say) may have been taken while the certificate was checked.
        run.refuseWhenQuestionTaken();
        run.takeQuestion(`a certificate${submission.by ? ` from ${submission.by}` : ''}`);
        inbox.accepted = result;
        run.publishAcceptedCertificate(result.summary);
        run.recordAnswer({ ...record, outcome: 'accepted' });
        for (const note of result.notes ?? []) run.note(note);
        const { subject, notAfter, fingerprint } = result.summary;
        return { accepted: true as const, subject, notAfter, fingerprint, notes: result.notes };
      } catch (err) {
        run.recordAnswer({ ...record, outcome: 'rejected', comment: describeFailure(err) });
        throw err;
      }
    },
    {
      validator: (raw) => {
        if (run.waiting?.kind !== 'signed-certificate')
          throw new Error('the runbook is not waiting for a signed certificate now');
        run.refuseWhenQuestionTaken();
        // Only cheap checks here (size, no private key); the real reading and checks run in an activity.
        const parsed = submitCertificateUpdate.argument.safeParse(raw);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          const field = String(issue.path[0] ?? '');
          throw new Error(`${SUBMISSION_FLAGS[field] ?? (field || 'submission')}: ${issue.message}`);
        }
      },
    },
  );
  return inbox;
}

/** The submission's fields as `ekm submit-cert` names them. */
const SUBMISSION_FLAGS: Record<string, string> = { certificatePem: '--cert', caChainPem: '--ca', by: '--by' };

function describeAccepted(c: AcceptedCertificate): string {
  return `signed: ${c.summary.subject}, valid until ${c.summary.notAfter}`;
}
