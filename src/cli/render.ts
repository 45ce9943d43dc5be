import { riskBanners, type AnswerAction, type RunbookProgress, type StepProgress } from '../../workflows/contract';
import { formatDuration } from '../durations';
import type { ActivityRetry } from './activity-retries';

const MARK: Record<StepProgress['state'], string> = {
  pending: '·',
  running: '▶',
  'waiting-for-input': '?',
  done: '✓',
  failed: '✗',
  skipped: '-',
};

function stepDuration(step: StepProgress, now: number): string {
  if (!step.startedAt) return '';
  const end = step.endedAt ? Date.parse(step.endedAt) : now;
  return formatDuration(end - Date.parse(step.startedAt));
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/**
 * The first lines while the cluster is exposed by this run (encryption at rest disabled, a
 * key-pair window open), in bold red on a terminal.
 */
export function riskBannerLines(progress: RunbookProgress, color = false): string[] {
  return riskBanners(progress).map((banner) => (color ? `\x1b[1;31m!! ${banner}\x1b[0m` : `!! ${banner}`));
}

/** What each answer needs after its name, as a person would type it. */
const ANSWER_EXAMPLES: Partial<Record<AnswerAction, string>> = {
  change:
    ' --hostnames kms1.example.com,kms2.example.com [--port 5696] [--kmip-ca ca.pem] [--client-cert c.pem --client-ca ca.pem]',
  extend: ' --extend-by 7d',
  abort: ' --reason "why"',
};

/**
 * `change` takes what the runbook can change: a renewal only the key server's certificates (it
 * ignores host names and port), a slice recovery only the drives to add back.
 */
const CHANGE_EXAMPLES: Partial<Record<RunbookProgress['runbook'], string>> = {
  renew: ' [--client-cert c.pem --client-ca ca.pem] [--kmip-ca ca.pem]',
  'recover-slice-service': ' --drives 12,13',
};

/** The flags after `ekm answer <run> <action>` in the commands `ekm status` lists. */
export function answerExample(action: AnswerAction, runbook: RunbookProgress['runbook']): string {
  return (action === 'change' ? CHANGE_EXAMPLES[runbook] : undefined) ?? ANSWER_EXAMPLES[action] ?? '';
}

/**
 * The step table `ekm status` prints; `color` (a terminal) for the encryption-disabled line;
 * `retries` (activityRetries of the run's description): the running step shows the attempt and the
 * last error of its activity while Temporal retries it.
 */
export function renderProgress(
  progress: RunbookProgress,
  run: { workflowId: string; runId?: string },
  now = Date.now(),
  options: { color?: boolean; retries?: readonly ActivityRetry[] } = {},
): string {
  const lines: string[] = [];
  lines.push(...riskBannerLines(progress, options.color));
  const elapsed = formatDuration((progress.endedAt ? Date.parse(progress.endedAt) : now) - Date.parse(progress.startedAt));
  lines.push(`${progress.runbook} on cluster ${progress.cluster}: ${progress.state} (${elapsed})   ${run.workflowId}`);
  const idWidth = Math.max(4, ...progress.steps.map((s) => s.id.length));
  lines.push(`    ${pad('STEP', idWidth)}  ${pad('STATE', 17)}  ${pad('TRIES', 5)}  ${pad('TIME', 8)}  DETAIL`);
  const retry = progress.state === 'running' ? options.retries?.[0] : undefined;
  for (const step of progress.steps) {
    let detail =
      step.state === 'failed' || (step.lastError && step.state !== 'done') ? (step.lastError ?? '') : (step.detail ?? step.title);
    let tries = String(step.attempts);
    if (retry && step.state === 'running' && step.id === progress.currentStep) {
      tries = String(Math.max(step.attempts, retry.attempt));
      const next = retry.nextAttemptAt ? `, next try at ${retry.nextAttemptAt}` : '';
      detail = `retrying ${retry.activityType} (attempt ${retry.attempt}${next}): ${retry.lastError ?? 'no error recorded'}`;
    }
    lines.push(
      `  ${MARK[step.state]} ${pad(step.id, idWidth)}  ${pad(step.state, 17)}  ${pad(tries, 5)}  ${pad(stepDuration(step, now), 8)}  ${detail}`,
    );
  }
  if (progress.waiting) {
    const w = progress.waiting;
    lines.push('', `Waiting since ${w.since} for: ${w.prompt}`);
    if (w.problem) lines.push(`  problem: ${w.problem}`);
    if (w.deadline) lines.push(`  deadline: ${w.deadline}`);
    if (w.kind === 'signed-certificate') {
      lines.push(`  get the CSR:        ekm csr ${run.workflowId} --out cluster.csr`);
      lines.push(`  submit the result:  ekm submit-cert ${run.workflowId} --cert signed.pem --ca ca-chain.pem`);
    }
    if (w.answers.length > 0) {
      lines.push('  answer with one of:');
      const confirmed = w.abortRequires?.confirmUnprotected !== undefined;
      for (const action of w.answers) {
        // An abort that needs a confirmation gets its own line below.
        if (!(action === 'abort' && confirmed))
          lines.push(`    ekm answer ${run.workflowId} ${action}${answerExample(action, progress.runbook)}`);
      }
    }
    const confirm = w.abortRequires?.confirmUnprotected;
    if (confirm && w.answers.includes('abort'))
      lines.push(
        `  abort (drives stay unprotected): ekm answer ${run.workflowId} abort --reason "..." --confirm-unprotected ${confirm}`,
      );
  }
  if (progress.error) lines.push('', `Error: ${progress.error}`);
  if (progress.notes.length > 0) lines.push('', 'Notes:', ...progress.notes.map((n) => `  ${n}`));
  return lines.join('\n');
}
