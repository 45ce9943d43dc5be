/**
 * What the test environment (test/support/environment.ts) gives each test file: its own scratch
 * folder, and a log for what servers and workers running inside the test say. The log goes to a
 * file in that folder; a test that fails gets the lines logged while it ran appended to its
 * failure, and the folder is kept (it is removed when every test of the file passed, unless
 * EKM_KEEP_TEST_DIR is set).
 */
export const TEST_LOG_GLOBAL = '__EKM_TEST_LOG__';

export interface TestLog {
  /** The test file's scratch folder. */
  dir: string;
  /** The log file in it. */
  file: string;
  /**
   * Records one entry: `full` goes to the file; `brief` (one line) is kept for the running test
   * and shown if it fails. Entries at ERROR are printed to stderr at once as well.
   */
  write(entry: { level: string; brief: string; full: string }): void;
  /** Runs `fn` once the test file is done, before its folder is removed. */
  atEnd(fn: () => Promise<void> | void): void;
}

/** The running test file's log, or undefined outside the project's test environment. */
export function testLog(): TestLog | undefined {
  return (globalThis as Record<string, unknown>)[TEST_LOG_GLOBAL] as TestLog | undefined;
}

/** The running test file's scratch folder (removed after the file, kept if a test failed). */
export function testFileDir(): string {
  const log = testLog();
  if (!log) throw new Error('no test folder: run the tests through jest (jest.config.js sets the test environment)');
  return log.dir;
}
