import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import type { Circus } from '@jest/types';
import NodeEnvironment from 'jest-environment-node';
import { TEST_LOG_GLOBAL, type TestLog } from './test-log';

/** At most this many log lines are appended to a failing test (the file has them all). */
const MAX_LINES = 80;

/**
 * jest-environment-node plus a scratch folder and a log per test file (test/support/test-log.ts):
 * expected noise (activities failing on purpose, retries) stays out of a green run's output, and
 * a failing test shows, after its assertion, what was logged while it ran.
 */
export default class EkmTestEnvironment extends NodeEnvironment {
  private readonly dir: string;
  private readonly file: string;
  private lines: string[] = [];
  private failures = 0;
  private readonly atEnd: Array<() => Promise<void> | void> = [];

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    const name = path.basename(context.testPath).replace(/\.test\.ts$/, '');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `ekm-${name}-`));
    this.file = path.join(this.dir, 'test.log');
    const log: TestLog = {
      dir: this.dir,
      file: this.file,
      write: ({ level, brief, full }) => {
        try {
          fs.appendFileSync(this.file, `${full}\n`);
        } catch {
          // a late entry after the folder was removed (a worker still shutting down)
        }
        this.lines.push(brief);
        if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
        if (level === 'ERROR') process.stderr.write(`[${name}] ${brief}\n`);
      },
      atEnd: (fn) => void this.atEnd.push(fn),
    };
    this.global[TEST_LOG_GLOBAL] = log;
  }

  private logLines(): string {
    return `Logged while it ran (last ${MAX_LINES} lines at most; everything in ${this.file}):\n${this.lines.join('\n')}`;
  }

  handleTestEvent(event: Circus.Event): void {
    if (event.name === 'test_done') {
      if (event.test.errors.length > 0) {
        this.failures += 1;
        if (this.lines.length > 0) {
          const logged = new Error(this.logLines());
          logged.stack = logged.message;
          event.test.errors.push(logged);
        }
      }
      this.lines = [];
    } else if (event.name === 'hook_failure' && event.hook.type === 'afterAll') {
      this.failures += 1;
      if (this.lines.length > 0) process.stderr.write(`${this.logLines()}\n`);
    }
  }

  override async teardown(): Promise<void> {
    for (const fn of this.atEnd) await fn();
    await super.teardown();
    if (this.failures === 0 && !process.env.EKM_KEEP_TEST_DIR) fs.rmSync(this.dir, { recursive: true, force: true });
    else if (fs.readdirSync(this.dir).length > 0) process.stderr.write(`[test files kept] ${this.dir}\n`);
  }
}
