import type { RunbookProgress, StepProgress } from '../../workflows/contract';
import { formatDuration } from '../durations';

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

/** The step table `ekm status` prints. */
export function renderProgress(progress: RunbookProgress, run: { workflowId: string; runId?: string }, now = Date.now()): string {
  const lines: string[] = [];
  const elapsed = formatDuration((progress.endedAt ? Date.parse(progress.endedAt) : now) - Date.parse(progress.startedAt));
  lines.push(`${progress.runbook} on cluster ${progress.cluster}: ${progress.state} (${elapsed})   ${run.workflowId}`);
  const idWidth = Math.max(4, ...progress.steps.map((s) => s.id.length));
  lines.push(`    ${pad('STEP', idWidth)}  ${pad('STATE', 17)}  ${pad('TRIES', 5)}  ${pad('TIME', 8)}  DETAIL`);
  for (const step of progress.steps) {
    const detail =
      step.state === 'failed' || (step.lastError && step.state !== 'done') ? (step.lastError ?? '') : (step.detail ?? step.title);
    lines.push(
      `  ${MARK[step.state]} ${pad(step.id, idWidth)}  ${pad(step.state, 17)}  ${pad(String(step.attempts), 5)}  ${pad(stepDuration(step, now), 8)}  ${detail}`,
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
    if (w.answers.length > 0) lines.push(`  answer with:        ekm answer ${run.workflowId} ${w.answers.join('|')} ...`);
  }
  if (progress.error) lines.push('', `Error: ${progress.error}`);
  if (progress.notes.length > 0) lines.push('', 'Notes:', ...progress.notes.map((n) => `  ${n}`));
  return lines.join('\n');
}
