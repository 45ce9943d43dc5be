/**
 * Live progress of one runbook for the demo: on a terminal, a redrawn step table with a spinner,
 * the elapsed time and what the runbook waits for; elsewhere (CI, logs) one line per change.
 */
import type { RunbookProgress } from '../../workflows/contract';
import { renderProgress } from '../../src/cli/render';
import { formatDuration } from '../../src/durations';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class LiveView {
  private frame = 0;
  private lastLine = '';
  private drawnLines = 0;
  private readonly interactive: boolean;

  constructor(
    private readonly title: string,
    private readonly workflowId: string,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {
    this.interactive = Boolean(out.isTTY) && !process.env.CI;
  }

  update(progress: RunbookProgress | undefined, startedAt: number): void {
    const elapsed = formatDuration(Date.now() - startedAt);
    if (!this.interactive) {
      if (!progress) return;
      const step = progress.steps.find((s) => s.id === progress.currentStep);
      const line = `${progress.state}${step ? ` · ${step.id} ${step.state}` : ''}${progress.waiting ? ` · waiting: ${progress.waiting.prompt}` : ''}`;
      if (line !== this.lastLine) this.out.write(`  [${elapsed}] ${line}\n`);
      this.lastLine = line;
      return;
    }
    const spinner = SPINNER[this.frame++ % SPINNER.length];
    const body = progress ? renderProgress(progress, { workflowId: this.workflowId }) : 'starting…';
    const text = `${spinner} ${this.title} — ${elapsed}\n${body}\n`;
    if (this.drawnLines > 0) this.out.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    this.out.write(text);
    this.drawnLines = text.split('\n').length - 1;
  }

  /** Leaves the final table on screen. */
  finish(progress: RunbookProgress | undefined): void {
    if (this.interactive && this.drawnLines > 0) this.out.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    if (progress) this.out.write(`${renderProgress(progress, { workflowId: this.workflowId })}\n`);
    this.drawnLines = 0;
  }
}
