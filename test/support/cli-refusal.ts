import { CliError } from '../../src/cli/exit-codes';

/** The CliError `fn` throws (a refusal of bad input); fails the test when it throws nothing or something else. */
export function cliRefusal(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return err as CliError;
  }
  throw new Error('expected a refusal');
}
