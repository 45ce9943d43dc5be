/**
 * `ekm watch start --certificate-horizon`: a bad duration is refused naming the flag and saying
 * what is wrong (exit 2, nothing started), not as the input union's `certificateExpiry: Invalid
 * input`; a good one and --no-certificate-warnings become the watcher's certificateExpiry input.
 */
import { certificateExpiryFromFlags } from '../../src/cli/commands/watch';
import { ExitCode } from '../../src/cli/exit-codes';
import { faultWatcherInput } from '../../workflows/inputs-recovery';
import { cliRefusal } from '../support/cli-refusal';


describe('watch start certificate flags', () => {
  it.each([
    ['0d', '--certificate-horizon: "0d" is no time: give a duration longer than 0, like 90s, 4m or 14d'],
    ['0', '--certificate-horizon: "0" is no time: give a duration longer than 0, like 90s, 4m or 14d'],
    ['400d', '--certificate-horizon: "400d" is longer than 366d'],
    ['soon', '--certificate-horizon: "soon" is not a duration like 90s, 4m or 14d'],
  ])('%s is refused naming the flag', (horizon, message) => {
    const err = cliRefusal(() => certificateExpiryFromFlags({ certificateHorizon: horizon, certificateWarnings: true }));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toBe(`invalid input: ${message}`);
  });

  it('a good horizon, the default and --no-certificate-warnings become an input the watcher accepts', () => {
    const horizon = certificateExpiryFromFlags({ certificateHorizon: '90d', certificateWarnings: true });
    expect(faultWatcherInput.parse({ cluster: 'prod-a', certificateExpiry: horizon }).certificateExpiry).toMatchObject({
      horizonMs: 90 * 86_400_000,
    });
    expect(certificateExpiryFromFlags({ certificateWarnings: true })).toBeUndefined();
    expect(certificateExpiryFromFlags({ certificateWarnings: false })).toBe(false);
    expect(
      cliRefusal(() => certificateExpiryFromFlags({ certificateHorizon: '30d', certificateWarnings: false })).message,
    ).toContain('exclude each other');
  });
});
