import fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { Command } from 'commander';
import type { SetupInput } from '../../../workflows/inputs';
import { certificateField, readCertificateFile } from '../certificate-files';
import { CliError, ExitCode } from '../exit-codes';
import { PLAN_OPTION, printPlan, refuseWithPlan } from '../plan-command';
import { run } from '../run';
import { reportStarted, startRunbook } from '../start';
import { fileProblem } from '../../config/file-problem';
import { InputTextProblem, parseYamlOrJson } from '../../config/yaml-input';
import { signerFromFlags } from '../signer-flags';

export interface SetupFlags {
  input?: string;
  cn?: string;
  org?: string;
  ou?: string;
  locality?: string;
  state?: string;
  country?: string;
  email?: string;
  providerName?: string;
  serverName?: string;
  hostname: string[];
  port?: string;
  kmipCa?: string;
  mode?: string;
  signer?: string;
  cfsslUrl?: string;
  cfsslProfile?: string;
  signerName?: string;
  newKeyPair?: boolean;
  replaceInternalKey?: boolean;
  signingDeadline?: string;
  reminderEvery?: string;
  testAttempts?: string;
  testInterval?: string;
  ifBusy?: string;
  by?: string;
  wait?: boolean;
  json?: boolean;
}

function readText(file: string, option: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`${option}: ${fileProblem(file, err)}`, ExitCode.usage);
  }
}

const definedOnly = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** An --input file, YAML or JSON; a syntax error is refused naming the file, line and column. */
export function parseInputFile(file: string): unknown {
  return parseInputText(readText(file, '--input'), `--input ${file}`);
}

/**
 * Input text, YAML or JSON (an --input file's, or a file uploaded to the console) -> its value; a
 * problem (syntax with line and column, aliases, several documents, unknown tags) exits 2 as
 * "`label`: …" in an operator's words (src/config/yaml-input.ts). A `label` ending in .json is JSON.
 */
export function parseInputText(text: string, label: string): unknown {
  try {
    return parseYamlOrJson(text, label);
  } catch (err) {
    if (err instanceof InputTextProblem) throw new CliError(err.message, ExitCode.usage);
    throw err;
  }
}

/**
 * How a refusal names each input field: by the flag when its value came from the command line, by
 * `FILE: field` when it came from the --input file (the operator typed the field there, not the
 * flag). A field counts as the file's when the input holds exactly the file's value at that path.
 */
export function inputNames(
  flags: Readonly<Record<string, string>>,
  input: unknown,
  file: string | undefined,
): Readonly<Record<string, string>> {
  if (file === undefined) return flags;
  return inputNamesOf(flags, input, parseInputFile(file), file);
}

/** inputNames for a file already read: `fromFile` is its value, `file` how refusals name it. */
export function inputNamesOf(
  flags: Readonly<Record<string, string>>,
  input: unknown,
  fromFile: unknown,
  file: string,
): Readonly<Record<string, string>> {
  // The top level is the file's: fields it has that the runbook does not know ("setup.yaml: foo is not a field here").
  const names: Record<string, string> = { ...flags, '': file };
  for (const path of leafPaths(fromFile)) {
    if (isDeepStrictEqual(valueAt(fromFile, path), valueAt(input, path))) names[path] = `${file}: ${path}`;
  }
  return names;
}

/** 'a', 'b.c' … for every value that is not a plain object (an array is one value). */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return prefix ? [prefix] : [];
  return Object.entries(value).flatMap(([key, inner]) => leafPaths(inner, prefix ? `${prefix}.${key}` : key));
}

function valueAt(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((v, key) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), value);
}

/** The flag of each input field, for refusals in the operator's words. */
export const SETUP_FLAGS: Record<string, string> = {
  'subject.commonName': '--cn',
  'subject.organization': '--org',
  'subject.organizationalUnit': '--ou',
  'subject.locality': '--locality',
  'subject.state': '--state',
  'subject.country': '--country',
  'subject.emailAddress': '--email',
  keyProviderName: '--provider-name',
  keyServerName: '--server-name',
  hostnames: '--hostname',
  port: '--port',
  kmipCaCertificate: '--kmip-ca',
  mode: '--mode',
  replaceInternalKey: '--replace-internal-key',
  signer: '--signer',
  'signer.type': '--signer',
  'signer.url': '--cfssl-url',
  'signer.profile': '--cfssl-profile',
  'signer.name': '--signer-name',
  newKeyPair: '--new-key-pair',
  signingDeadline: '--signing-deadline',
  reminderEvery: '--reminder-every',
  testAttempts: '--test-attempts',
  testRetryInterval: '--test-interval',
  ifBusy: '--if-busy',
  requestedBy: '--by',
};

/** Flags (and an optional --input file, flags winning) -> the runbook's input. */
/**
 * After "started …": how to get the CSR signed by hand, for a run whose signer is manual (the
 * default). A cfssl or command signer signs by itself, so the hints are left out there.
 */
export function manualSigningHints(workflowId: string, cluster: string, signer: { type: string } | undefined): string[] {
  if (signer !== undefined && signer.type !== 'manual') return [];
  return [
    `when it waits for the CA:  ekm csr ${workflowId} --out ${cluster}.csr`,
    `then:                      ekm submit-cert ${workflowId} --cert signed.pem --ca ca-chain.pem`,
  ];
}

/**
 * An input file's value -> the setup's fields from it: an object whose `cluster`, if given, is
 * `cluster` (`where` says where that came from: "on the command line"). Exit 2 otherwise, naming
 * `file` (`label` when the whole file is meant: "--input FILE").
 */
function setupInputBase(value: unknown, file: string, cluster: string, where: string, label = file): Partial<SetupInput> {
  const base = value as Partial<SetupInput>;
  if (typeof base !== 'object' || base === null || Array.isArray(base))
    throw new CliError(`${label}: must hold the setup's fields as a YAML or JSON object`, ExitCode.usage);
  if (base.cluster !== undefined && base.cluster !== cluster)
    throw new CliError(
      `${file}: cluster: "${String(base.cluster)}" is not the cluster ${where} ("${cluster}"); leave it out of the file or make them the same`,
      ExitCode.usage,
    );
  return base;
}

/**
 * A setup input file uploaded to the console (`text`, named `fileName` as the browser sent it) -> the
 * runbook's input for `cluster`, and how refusals name its fields (`fileName: field`, as the CLI
 * names an --input file's). The same fields and checks as `ekm setup --input`, except that a
 * `kmipCaCertificate` must be the PEM text itself: an uploaded file has no folder a path could be
 * relative to. Errors: CliError (exit 2) naming the file and field.
 */
export function setupInputFromUpload(
  cluster: string,
  text: string,
  fileName: string,
  requestedBy: string,
): { input: SetupInput; names: Readonly<Record<string, string>> } {
  const fromFile = parseInputText(text, fileName);
  const base = setupInputBase(fromFile, fileName, cluster, 'chosen on the page');
  const input = { ...base, cluster, requestedBy } as SetupInput;
  if (typeof base.kmipCaCertificate === 'string') {
    if (!base.kmipCaCertificate.includes('-----BEGIN'))
      throw new CliError(
        `${fileName}: kmipCaCertificate: "${base.kmipCaCertificate.slice(0, 80)}" is not a PEM certificate; an uploaded file cannot name a certificate file: put the CA certificate's PEM text in the file (kmipCaCertificate: |, then the -----BEGIN CERTIFICATE----- lines, indented)`,
        ExitCode.usage,
      );
    input.kmipCaCertificate = certificateField(base.kmipCaCertificate, fileName, 'kmipCaCertificate').pem;
  }
  // Every field but the cluster (chosen on the page) and requestedBy (the signed-in user) is the file's,
  // even one it leaves out: "setup.yaml: kmipCaCertificate: is required".
  const fromPage: Readonly<Record<string, string>> = { cluster: 'Cluster', requestedBy: 'User' };
  const names = new Proxy(fromPage, {
    get: (named, path) =>
      typeof path !== 'string' ? undefined : path === '' ? fileName : (named[path] ?? named[path.split('.')[0]!] ?? `${fileName}: ${path}`),
  });
  return { input, names };
}

export function setupInputFromFlags(cluster: string, f: SetupFlags): SetupInput {
  const base = f.input ? setupInputBase(parseInputFile(f.input), f.input, cluster, 'on the command line', `--input ${f.input}`) : {};
  // The input file's KMIP CA, read like --kmip-ca (any shape a CA hands out), named by the file and field.
  if (f.input && typeof base?.kmipCaCertificate === 'string')
    base.kmipCaCertificate = certificateField(base.kmipCaCertificate, f.input, 'kmipCaCertificate').pem;
  const number = (value: string | undefined, option: string) => {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) throw new CliError(`${option}: "${value}" is not a whole number`, ExitCode.usage);
    return Number(value);
  };
  const signer = signerFromFlags(f);
  const subject = definedOnly({
    commonName: f.cn,
    organization: f.org,
    organizationalUnit: f.ou,
    locality: f.locality,
    state: f.state,
    country: f.country,
    emailAddress: f.email,
  });
  return {
    ...base,
    ...definedOnly({
      cluster,
      subject: Object.keys(subject).length ? ({ ...base.subject, ...subject } as SetupInput['subject']) : base.subject,
      keyProviderName: f.providerName,
      keyServerName: f.serverName,
      hostnames: f.hostname.length ? f.hostname : base.hostnames,
      port: number(f.port, '--port'),
      kmipCaCertificate: f.kmipCa ? readCertificateFile(f.kmipCa, '--kmip-ca').pem : undefined,
      mode: f.mode as SetupInput['mode'] | undefined,
      signer,
      newKeyPair: f.newKeyPair,
      replaceInternalKey: f.replaceInternalKey,
      signingDeadline: f.signingDeadline,
      reminderEvery: f.reminderEvery,
      testAttempts: number(f.testAttempts, '--test-attempts'),
      testRetryInterval: f.testInterval,
      ifBusy: f.ifBusy as SetupInput['ifBusy'],
      requestedBy: f.by,
    }),
  } as SetupInput;
}

/** Setup's input flags (also `ekm fleet setup`'s). */
export function addSetupOptions(command: Command): Command {
  return command
    .option('--input <file>', 'YAML/JSON file with the input (flags override it)')
    .option('--cn <name>', 'certificate subject common name')
    .option('--org <name>', 'subject organization')
    .option('--ou <name>', 'subject organizational unit')
    .option('--locality <name>', 'subject locality')
    .option('--state <name>', 'subject state')
    .option('--country <XX>', 'subject country (two letters)')
    .option('--email <address>', 'subject email address')
    .option('--provider-name <name>', 'key provider name (reused if it exists)')
    .option('--server-name <name>', 'key server name (updated if it exists)')
    .option(
      '--hostname <host>',
      'key server host name; repeat for failover, primary first',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--port <n>', 'KMIP port (default 5696)')
    .option('--kmip-ca <file>', "the key server's CA certificate(s) (PEM, DER or PKCS#7)")
    .option('--mode <mode>', 'hardware | software | none')
    .option('--signer <type>', 'manual (default) | cfssl | command')
    .option('--cfssl-url <url>', 'cfssl CA base URL (signer cfssl)')
    .option('--cfssl-profile <name>', 'cfssl profile (default kmip-client)')
    .option('--signer-name <name>', 'a signer from the clusters file (signer command)')
    .option('--new-key-pair', 'replace the key pair even though key servers in use depend on it')
    .option(
      '--replace-internal-key',
      'mode hardware on a cluster whose hardware encryption is on with its internal keys: disable it, then enable it with the provider (the drives are not locked in between)',
    )
    .option('--signing-deadline <duration>', 'how long to wait for the certificate (default 14d)')
    .option('--reminder-every <duration>', 'remind while waiting (default 1d)')
    .option('--test-attempts <n>', 'tries of a failing test before asking (default 5)')
    .option('--test-interval <duration>', 'first pause between tries (default 10s)')
    .option('--if-busy <fail|wait>', 'when another runbook is changing the cluster (default fail)')
    .option('--by <name>', 'who asked (recorded)');
}

export function registerSetup(program: Command): void {
  addSetupOptions(
    program
      .command('setup')
      .description('set up external key management on a cluster (procedure 1)')
      .argument('<cluster>', 'cluster name from the clusters file'),
  )
    .option('--wait', 'follow progress until the setup ends')
    .option('--json', 'machine-readable output')
    .option(...PLAN_OPTION)
    .action((cluster: string, flags: SetupFlags & { plan?: boolean }) =>
      run(async (ctx, out) => {
        const input = setupInputFromFlags(cluster, flags);
        if (flags.plan) refuseWithPlan(flags);
        const names = inputNames(SETUP_FLAGS, input, flags.input);
        if (flags.plan) return printPlan(ctx, out, { runbook: 'setup', input, flags: names, json: flags.json });
        const handle = await startRunbook(ctx, { runbook: 'setup', input, flags: names });
        const code = await reportStarted(ctx, handle, flags, out);
        if (!flags.wait && !flags.json) manualSigningHints(handle.workflowId, cluster, input.signer).forEach((l) => out(l));
        return code;
      }),
    );
}
