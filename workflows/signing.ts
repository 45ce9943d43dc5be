/**
 * Step 1c, the wait for the CA: the cluster's CSR is signed by a person (a manual submission
 * through the `submitCertificate` Update, with a deadline, reminders, extend and abort) or by a
 * signer the worker runs (cfssl, or a command from the clusters file). Every certificate passes
 * the same checks before it is accepted; a refused one changes nothing.
 */
import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import type { SignedCertificate } from '../activities/certificates';
import type { CertificateSummary } from '../src/pki/certificate-checks';
import { formatDuration } from '../src/durations';
import { clusterCalls } from './calls';
import { submitCertificateUpdate, type SignedCertificateSubmission } from './contract';
import { describeFailure, Failure } from './failures';
import { duration, parseInput, type SetupOptions } from './inputs';
import { abortedBy } from './operator';
import type { AskOnFailure, RunbookTracker } from './progress';

export type AcceptedCertificate = SignedCertificate & { summary: CertificateSummary };

export interface SigningOptions {
  cluster: string;
  csrPem: string;
  signer: SetupOptions['signer'];
  /** Manual signing: how long to wait before asking to extend or abort, and how often to remind. */
  deadlineMs: number;
  reminderEveryMs: number;
  activityTimeoutMs: number;
  /** Automatic signers: what to ask when signing keeps failing. */
  onSignerFailure: AskOnFailure;
}

/** Step 1c: a certificate for the CSR that passed every check. */
export async function obtainSignedCertificate(
  run: RunbookTracker<'signing'>,
  options: SigningOptions,
): Promise<AcceptedCertificate> {
  const calls = clusterCalls({ timeoutMs: options.activityTimeoutMs });
  const check = (candidate: SignedCertificate) => checkCertificate(calls, options.csrPem, candidate);
  const signer = options.signer;
  if (signer.type === 'manual') return waitForSubmission(run, options, check);
  return run.stepOrAsk(
    'signing',
    async () =>
      check(
        signer.type === 'cfssl'
          ? await calls.signWithCfssl({ csrPem: options.csrPem, url: signer.url, profile: signer.profile })
          : await calls.signWithCommand({ csrPem: options.csrPem, signer: signer.name }),
      ),
    options.onSignerFailure,
    describeAccepted,
  );
}

/** The checks every certificate passes (PEM, the CSR's key, validity, issuer, clientAuth); refused with all its problems. */
export async function checkCertificate(
  calls: ReturnType<typeof clusterCalls>,
  csrPem: string,
  candidate: SignedCertificate,
): Promise<AcceptedCertificate> {
  const verdict = await calls.checkSignedCertificate({ csrPem, ...candidate });
  if (verdict.problems.length > 0 || !verdict.summary) {
    throw ApplicationFailure.nonRetryable(verdict.problems.join('; '), Failure.CertificateRejected);
  }
  return { ...candidate, summary: verdict.summary };
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
        const result = await check({ certificatePem: submission.certificatePem, caChainPem: submission.caChainPem });
        if (inbox.accepted)
          throw ApplicationFailure.nonRetryable('a certificate was already accepted for this CSR', Failure.CertificateRejected);
        inbox.accepted = result;
        run.recordAnswer({ ...record, outcome: 'accepted' });
        const { subject, notAfter, fingerprint } = result.summary;
        return { accepted: true as const, subject, notAfter, fingerprint };
      } catch (err) {
        run.recordAnswer({ ...record, outcome: 'rejected', comment: describeFailure(err) });
        throw err;
      }
    },
    {
      validator: (raw) => {
        if (run.waiting?.kind !== 'signed-certificate')
          throw new Error('the runbook is not waiting for a signed certificate now');
        const parsed = submitCertificateUpdate.argument.safeParse(raw);
        if (!parsed.success) throw new Error('certificatePem and caChainPem must both be PEM text');
      },
    },
  );
  return inbox;
}

function describeAccepted(c: AcceptedCertificate): string {
  return `signed: ${c.summary.subject}, valid until ${c.summary.notAfter}`;
}
