import type { Command } from 'commander';
import type { RenewInput } from '../../workflows/inputs-renew';
import { CliError, ExitCode } from './exit-codes';

/** The signing flags `ekm renew` and `ekm watch start --renew` share with `ekm setup`. */
export interface SignerFlags {
  signer?: string;
  cfsslUrl?: string;
  cfsslProfile?: string;
  signerName?: string;
}

/** The signing flags, with setup's words. */
export function addSignerFlags(command: Command): Command {
  return command
    .option('--signer <type>', 'manual (default) | cfssl | command')
    .option('--cfssl-url <url>', 'cfssl CA base URL (signer cfssl)')
    .option('--cfssl-profile <name>', 'cfssl profile (default kmip-client)')
    .option('--signer-name <name>', 'a signer from the clusters file (signer command)');
}

/** --signer (or the flag that implies it: --cfssl-url, --signer-name) -> the input's signer; undefined when none is given. */
export function signerFromFlags(f: SignerFlags): RenewInput['signer'] | undefined {
  const type = f.signer ?? (f.cfsslUrl ? 'cfssl' : f.signerName ? 'command' : undefined);
  // A flag of another signer would be ignored: the operator meant something else, so say so.
  const belongs: [string | undefined, string, string][] = [
    [f.cfsslUrl, '--cfssl-url', 'cfssl'],
    [f.cfsslProfile, '--cfssl-profile', 'cfssl'],
    [f.signerName, '--signer-name', 'command'],
  ];
  for (const [value, flag, owner] of belongs) {
    if (value !== undefined && type !== owner)
      throw new CliError(`${flag} goes with --signer ${owner}, not ${type ?? 'the manual signer'}`, ExitCode.usage);
  }
  switch (type) {
    case undefined:
      return undefined;
    case 'manual':
      return { type: 'manual' };
    case 'cfssl':
      return { type: 'cfssl', url: f.cfsslUrl ?? '', ...(f.cfsslProfile ? { profile: f.cfsslProfile } : {}) };
    case 'command':
      return { type: 'command', name: f.signerName ?? '' };
    default:
      throw new CliError(`--signer: "${type}" is not manual, cfssl or command`, ExitCode.usage);
  }
}
