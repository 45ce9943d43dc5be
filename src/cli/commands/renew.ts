import type { Command } from 'commander';
import type { RenewInput } from '../../../workflows/inputs-renew';
import { certificateField, readCertificateFile } from '../certificate-files';
import { CliError, ExitCode } from '../exit-codes';
import { renewResultJson } from '../json-output';
import { PLAN_OPTION, printPlan, refuseWithPlan } from '../plan-command';
import { run } from '../run';
import { addSignerFlags, signerFromFlags, type SignerFlags } from '../signer-flags';
import { reportStarted, startRunbook } from '../start';
import { inputNames, manualSigningHints, parseInputFile } from './setup';

export interface RenewFlags extends SignerFlags {
  input?: string;
  provider?: string;
  kmipCa?: string;
  newKeyPair?: boolean;
  acceptKeyPairWindow?: boolean;
  signingDeadline?: string;
  reminderEvery?: string;
  testAttempts?: string;
  testInterval?: string;
  ifBusy?: string;
  by?: string;
  wait?: boolean;
  json?: boolean;
}

/** The flag of each input field, so a refusal names what the operator typed. */
export const RENEW_FLAGS: Record<string, string> = {
  provider: '--provider',
  'provider.id': '--provider',
  'provider.name': '--provider',
  kmipCaCertificate: '--kmip-ca',
  signer: '--signer',
  'signer.type': '--signer',
  'signer.url': '--cfssl-url',
  'signer.profile': '--cfssl-profile',
  'signer.name': '--signer-name',
  newKeyPair: '--new-key-pair',
  acceptKeyPairWindow: '--accept-key-pair-window',
  signingDeadline: '--signing-deadline',
  reminderEvery: '--reminder-every',
  testAttempts: '--test-attempts',
  testRetryInterval: '--test-interval',
  ifBusy: '--if-busy',
  requestedBy: '--by',
};

const definedOnly = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** `--provider 7` or `--provider kp1` (or the same scalar in an --input file) -> the input's selector. */
function providerSelector(value: string): NonNullable<RenewInput['provider']> {
  // A number is an id (refused unless positive, by the input's schema); anything else a name.
  return /^[-+]?\d+$/.test(value.trim()) ? { id: Number(value) } : { name: value };
}

/** Flags (and an optional --input file, flags winning) -> the runbook's input. */
export function renewInputFromFlags(cluster: string, f: RenewFlags): RenewInput {
  const base = (f.input ? parseInputFile(f.input) : {}) as Partial<RenewInput>;
  if (f.input && base?.cluster !== undefined && base.cluster !== cluster)
    throw new CliError(
      `${f.input}: cluster: "${String(base.cluster)}" is not the cluster on the command line ("${cluster}"); leave it out of the file or make them the same`,
      ExitCode.usage,
    );
  if (f.input && typeof base?.kmipCaCertificate === 'string')
    base.kmipCaCertificate = certificateField(base.kmipCaCertificate, f.input, 'kmipCaCertificate').pem;
  // `provider: kp1` in the file means what --provider kp1 means (it was refused as "Invalid input").
  const fileProvider: unknown = base?.provider;
  if (typeof fileProvider === 'string' || typeof fileProvider === 'number')
    base.provider = providerSelector(String(fileProvider));
  let testAttempts: number | undefined;
  if (f.testAttempts !== undefined) {
    if (!/^\d+$/.test(f.testAttempts))
      throw new CliError(`--test-attempts: "${f.testAttempts}" is not a whole number`, ExitCode.usage);
    testAttempts = Number(f.testAttempts);
  }
  return {
    ...base,
    ...definedOnly({
      cluster,
      provider: f.provider === undefined ? undefined : providerSelector(f.provider),
      kmipCaCertificate: f.kmipCa ? readCertificateFile(f.kmipCa, '--kmip-ca').pem : undefined,
      signer: signerFromFlags(f),
      newKeyPair: f.newKeyPair,
      acceptKeyPairWindow: f.acceptKeyPairWindow,
      signingDeadline: f.signingDeadline,
      reminderEvery: f.reminderEvery,
      testAttempts,
      testRetryInterval: f.testInterval,
      ifBusy: f.ifBusy as RenewInput['ifBusy'],
      requestedBy: f.by,
    }),
  } as RenewInput;
}

/** Renew's input flags (also `ekm fleet renew`'s). */
export function addRenewOptions(command: Command): Command {
  addSignerFlags(
    command
      .option('--input <file>', 'YAML/JSON file with the input (flags override it)')
      .option('--provider <id|name>', 'the key provider whose key server is renewed (default: the active provider)')
      .option('--kmip-ca <file>', "the key server's renewed CA certificate(s), when its CA rotated (PEM, DER or PKCS#7)"),
  )
    .option(
      '--new-key-pair',
      "also replace the cluster's key pair: opens a window until the new certificate is installed (see --accept-key-pair-window)",
    )
    .option(
      '--accept-key-pair-window',
      'with --new-key-pair: accept that window now (otherwise the runbook asks: ekm answer <run> confirm)',
    )
    .option('--signing-deadline <duration>', 'how long to wait for the certificate (default 14d)')
    .option('--reminder-every <duration>', 'remind while waiting (default 1d)')
    .option('--test-attempts <n>', 'tries of a failing modify or test before asking (default 5)')
    .option('--test-interval <duration>', 'first pause between tries (default 10s)')
    .option('--if-busy <fail|wait>', 'when another runbook is changing the cluster (default fail)')
    .option('--by <name>', 'who asked (recorded)');
  return command;
}

export function registerRenew(program: Command): void {
  addRenewOptions(
    program
      .command('renew')
      .description(
        "renew the key server's certificates: a new CA signature for the cluster's CSR, installed with ModifyKeyServerKmip and tested (procedure 5; kmipCertificateFault)",
      )
      .argument('<cluster>', 'cluster name from the clusters file'),
  )
    .option('--wait', 'follow progress until the renewal ends')
    .option('--json', 'machine-readable output')
    .option(...PLAN_OPTION)
    .addHelpText(
      'after',
      '\nThe key pair is kept: the CA signs the CSR the current certificate was issued for. A certificate that fails the\n' +
        "key server's tests is taken back (the previous one still works until it expires) before the runbook asks\n" +
        'retry, change or abort. With --new-key-pair the cluster could not fetch its keys after a restart until the new\n' +
        'certificate is in: use an automatic signer (--cfssl-url, --signer-name) to keep that window to minutes.',
    )
    .action((cluster: string, flags: RenewFlags & { plan?: boolean }) =>
      run(async (ctx, out) => {
        const input = renewInputFromFlags(cluster, flags);
        if (flags.plan) refuseWithPlan(flags);
        const names = inputNames(RENEW_FLAGS, input, flags.input);
        if (flags.plan) return printPlan(ctx, out, { runbook: 'renew', input, flags: names, json: flags.json });
        const handle = await startRunbook(ctx, { runbook: 'renew', input, flags: names });
        // The hints after the "started" line, as setup prints them.
        const code = await reportStarted(ctx, handle, flags, out, renewResultJson);
        if (!flags.wait && !flags.json) manualSigningHints(handle.workflowId, cluster, input.signer).forEach((l) => out(l));
        return code;
      }),
    );
}
