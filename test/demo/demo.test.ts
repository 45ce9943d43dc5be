import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const CLI = path.resolve(__dirname, '../../dist/src/cli/main.js');

const summarySchema = z.strictObject({
  runbooks: z.array(
    z.strictObject({
      phase: z.string(),
      runbook: z.string(),
      workflowId: z.string(),
      status: z.enum(['pending', 'running', 'completed', 'failed']),
      durationMs: z.number(),
      elementCalls: z.number(),
      topCalls: z.record(z.string(), z.number()),
      outcome: z.string(),
      uiLink: z.string().url(),
    }),
  ),
});

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs `ekm demo --fast` (and `extraArgs`); interruptWhen, if given, sends SIGINT once the output
 * matches it, after `beforeInterrupt(output)` (what a person would try meanwhile) has run.
 */
function runDemo(
  dataDir: string,
  summaryFile: string,
  interruptWhen?: RegExp,
  extraArgs: string[] = [],
  beforeInterrupt: (output: string) => Promise<void> = async () => undefined,
): Promise<DemoRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'demo', '--fast', '--data-dir', dataDir, '--summary-json', summaryFile, ...extraArgs], {
      env: { ...process.env, CI: '1' },
    });
    let output = '';
    let interrupted = false;
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (interruptWhen && !interrupted && interruptWhen.test(output)) {
        interrupted = true;
        void beforeInterrupt(output).finally(() => child.kill('SIGINT'));
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('exit', (code, signal) => resolve({ code, signal, output }));
  });
}

describe('the demo (ekm demo --fast, its own servers and simulated cluster)', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-demo-'));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('stops on Ctrl-C in the middle, then resumes and reports every runbook completed', async () => {
    const summaryFile = path.join(dataDir, 'summary.json');
    const first = await runDemo(dataDir, summaryFile, /Rekey: a brand-new external master key\n/);
    expect(first.output).toContain('Stopping (the runbooks keep their place');
    expect(first.code).toBe(130);
    expect(fs.existsSync(summaryFile)).toBe(false);

    const second = await runDemo(dataDir, summaryFile);
    expect(second.output).toContain(`Resuming the demo kept in ${dataDir}`);
    // The console's URL and the demo user's token, printed while it runs; a resumed demo keeps the token.
    const consoleLine = /Console: +http:\/\/127\.0\.0\.1:\d+ +\(sign in as demo with token (\S{20,})\)/;
    const token = consoleLine.exec(first.output)?.[1];
    expect(token).toBeDefined();
    expect(consoleLine.exec(second.output)?.[1]).toBe(token);
    expect(second.output).toContain('completed in an earlier run');
    expect(second.code).toBe(0);
    const summary = summarySchema.parse(JSON.parse(fs.readFileSync(summaryFile, 'utf8')));
    expect(summary.runbooks.map((r) => [r.runbook, r.status])).toEqual([
      ['setup', 'completed'],
      ['rekey', 'completed'],
      ['recover-kmip-server-fault', 'completed'],
      ['recover-slice-service', 'completed'],
    ]);
    for (const runbook of summary.runbooks) expect([runbook.runbook, runbook.elementCalls > 0]).toEqual([runbook.runbook, true]);
    expect(second.output).toMatch(/4 of 4 runbooks completed/);
    // The interrupted rekey was resumed, not started twice: the software setup's rekey plus this one.
    const calls = fs
      .readFileSync(path.join(dataDir, 'simulator', 'state.json.calls.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"method":"RekeySoftwareEncryptionAtRestMasterKey"') && line.includes('"executed":true'));
    expect(calls).toHaveLength(2);

    // --keep: after the summary everything stays up (the console answers) until Ctrl-C, then stops.
    let consoleUrl = '';
    let health: number | undefined;
    const kept = await runDemo(dataDir, summaryFile, /Keeping everything running \(--keep\) until Ctrl-C:[\s\S]*ekm: +TEMPORAL_ADDRESS=/, ['--keep'], async (output) => {
      consoleUrl = /Console: +(http:\/\/127\.0\.0\.1:\d+)/.exec(output.slice(output.indexOf('Keeping everything running')))![1]!;
      health = (await fetch(`${consoleUrl}/healthz`)).status;
    });
    expect(kept.output).toMatch(/4 of 4 runbooks completed[\s\S]*Keeping everything running/);
    expect(health).toBe(200);
    expect(kept.code).toBe(0);
    await expect(fetch(`${consoleUrl}/healthz`)).rejects.toThrow();
  });
});
