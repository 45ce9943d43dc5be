/**
 * The timeline picture of a run: one row per step that started, a bar from its start to its end
 * (or now) on a shared time axis, coloured by state; a wait for a person is drawn hatched (the
 * current one from the moment the question was asked, a past one until its accepted answer), and
 * each answer is a mark at its time. Inline SVG, no script.
 */
import type { AnswerRecord, StepProgress, WaitingFor } from '../../workflows/contract';
import { formatDuration } from '../durations';
import { escapeHtml } from './html';

const FILL: Record<StepProgress['state'], string> = {
  pending: '#c9d1dc',
  running: '#0b5cad',
  'waiting-for-input': '#a15c00',
  done: '#1e7a3c',
  failed: '#b3261e',
  skipped: '#9aa4b2',
};

export interface TimelineInput {
  steps: readonly Pick<StepProgress, 'id' | 'title' | 'state' | 'startedAt' | 'endedAt'>[];
  answers: readonly (Pick<AnswerRecord, 'at' | 'step' | 'by' | 'outcome'> & { action: string })[];
  waiting?: Pick<WaitingFor, 'step' | 'since'>;
  startedAt: string;
  endedAt?: string;
}

const LABEL_WIDTH = 190;
const WIDTH = 1000;
const ROW = 22;
const AXIS = 26;

/** The SVG markup (escaped text only); `now` in ms since the epoch for bars still open. */
export function timelineSvg(input: TimelineInput, now = Date.now()): string {
  const rows = input.steps.filter((s) => s.startedAt);
  const start = Date.parse(input.startedAt);
  const end = Math.max(input.endedAt ? Date.parse(input.endedAt) : now, start + 1000, ...rows.map((s) => Date.parse(s.endedAt ?? s.startedAt!)));
  const span = end - start;
  const plot = WIDTH - LABEL_WIDTH - 12;
  const x = (ms: number) => LABEL_WIDTH + Math.max(0, Math.min(plot, ((ms - start) / span) * plot));
  const height = AXIS + Math.max(1, rows.length) * ROW + 8;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-label="Timeline of the run's steps">`,
    '<defs><pattern id="wait-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
      '<rect width="6" height="6" fill="#ffe3b3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#a15c00" stroke-width="2"/></pattern></defs>',
  ];
  for (let i = 0; i <= 4; i++) {
    const t = start + (span * i) / 4;
    const tx = x(t);
    parts.push(
      `<line x1="${tx}" y1="${AXIS - 6}" x2="${tx}" y2="${height}" stroke="#e3e8ef"/>`,
      `<text x="${tx}" y="${AXIS - 10}" font-size="11" fill="#5b6475" text-anchor="${i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}">+${escapeHtml(formatDuration(t - start))}</text>`,
    );
  }
  if (rows.length === 0)
    parts.push(`<text x="${LABEL_WIDTH}" y="${AXIS + 15}" font-size="12" fill="#5b6475">no step has started yet</text>`);
  rows.forEach((step, i) => {
    const y = AXIS + i * ROW;
    const s = Date.parse(step.startedAt!);
    const e = step.endedAt ? Date.parse(step.endedAt) : input.endedAt ? Date.parse(input.endedAt) : now;
    const title = `${step.id}: ${step.state}, ${formatDuration(e - s)}`;
    parts.push(`<text x="4" y="${y + 15}" font-size="12" fill="#1d2330">${escapeHtml(step.id)}</text>`);
    // A wait for a person: the current one from when it was asked until now; a past one (a step that
    // ended with an accepted answer) from the step's start until that answer.
    const answered = input.answers.filter((a) => a.step === step.id && a.outcome === 'accepted').map((a) => Date.parse(a.at));
    const current = input.waiting?.step === step.id && step.state === 'waiting-for-input';
    const wait = current
      ? { from: Math.max(s, Date.parse(input.waiting!.since)), to: e, text: `waiting for a person since ${input.waiting!.since}` }
      : answered.length > 0
        ? { from: s, to: Math.min(e, Math.max(...answered)), text: `waited for a person until ${new Date(Math.max(...answered)).toISOString()}` }
        : undefined;
    const fill = FILL[step.state === 'waiting-for-input' ? 'running' : step.state];
    const bar = (from: number, to: number, extra: string) =>
      `<rect x="${x(from)}" y="${y + 4}" width="${Math.max(2, x(to) - x(from))}" height="${ROW - 8}" rx="2" ${extra}</rect>`;
    if (!wait) parts.push(bar(s, e, `fill="${fill}"><title>${escapeHtml(title)}</title>`));
    else {
      if (wait.from > s) parts.push(bar(s, wait.from, `fill="${fill}"><title>${escapeHtml(title)}</title>`));
      parts.push(bar(wait.from, wait.to, `fill="url(#wait-hatch)" stroke="#a15c00" data-wait="${escapeHtml(step.id)}"><title>${escapeHtml(wait.text)}</title>`));
      if (wait.to < e) parts.push(bar(wait.to, e, `fill="${fill}"><title>${escapeHtml(title)}</title>`));
    }
    for (const answer of input.answers.filter((a) => a.step === step.id)) {
      const ax = x(Date.parse(answer.at));
      const colour = answer.outcome === 'accepted' ? '#14213d' : '#b3261e';
      parts.push(
        `<path d="M${ax} ${y + 2} l5 9 l-5 9 l-5 -9 z" fill="${colour}"><title>${escapeHtml(`${answer.action} by ${answer.by ?? 'unknown'} at ${answer.at} (${answer.outcome})`)}</title></path>`,
      );
    }
  });
  parts.push('</svg>');
  return parts.join('');
}
