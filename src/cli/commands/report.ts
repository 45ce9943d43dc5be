import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { buildRunReport, renderRunReportMarkdown } from '../../report/run-report';
import { CliError, ExitCode } from '../exit-codes';
import { run } from '../run';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('write the audit report of a run (Markdown and JSON): steps, times, attempts, answers, Element calls')
    .argument('<run>', 'workflow id')
    .option('--run-id <runId>', 'an older run of this workflow id (default: the latest run; the report lists the others)')
    .option('--out <dir>', 'folder for <run>.md and <run>.json (<run>-<run id>.* with --run-id)', '.')
    .option('--audit-log <file>', "the worker's Element call log (default: EKM_AUDIT_LOG)", process.env.EKM_AUDIT_LOG)
    .option('--json', 'print the JSON report instead of writing files')
    .action((workflowId: string, opts: { out: string; auditLog?: string; json?: boolean; runId?: string }) =>
      run(async ({ client }, out) => {
        let report;
        try {
          report = await buildRunReport(client, workflowId, opts.auditLog, { runId: opts.runId });
        } catch (err) {
          if (/^no run /.test((err as Error).message)) throw new CliError((err as Error).message, ExitCode.notFound);
          throw err;
        }
        if (opts.json) {
          out(JSON.stringify(report, null, 2));
          return ExitCode.ok;
        }
        fs.mkdirSync(opts.out, { recursive: true });
        // An older run (--run-id) does not overwrite the latest run's report.
        const base = path.join(opts.out, opts.runId ? `${workflowId}-${report.runId}` : workflowId);
        fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
        fs.writeFileSync(`${base}.md`, renderRunReportMarkdown(report));
        out(`report written: ${base}.md, ${base}.json`);
        for (const gap of report.gaps) out(`  note: ${gap}`);
        return ExitCode.ok;
      }),
    );
}
