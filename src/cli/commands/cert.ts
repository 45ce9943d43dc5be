/**
 * `ekm cert check`: the checks a signed certificate gets when it is submitted, run here, offline,
 * so operators and CA teams can check a certificate before they submit it. The CSR comes from a
 * file or from a setup run's progress (the `progress` query); the verdict is printed (`--json`:
 * checked against its schema), exit 0 when it would be accepted and 4 when it would be refused.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { progressQuery } from '../../../workflows/contract';
import {
  checkSignedCertificate,
  SUBMISSION_NAMES,
  summarizeCsr,
  type InputNames,
  type MustOutlive,
} from '../../pki/certificate-checks';
import { CertificateInputError, normalizeCsrPem } from '../../pki/certificate-input';
import { readCertificateText } from '../certificate-files';
import { CliError, ExitCode } from '../exit-codes';
import { certificateVerdictJson, formatJson, type CertificateVerdictJson } from '../json-output';
import { run } from '../run';
import { reachRun } from '../temporal';
import { progressOf, resolveWaitingRun } from './runs';
import { fileProblem } from '../../config/file-problem';

interface CheckFlags {
  csr?: string;
  run?: string;
  cert: string;
  ca?: string;
  json?: boolean;
}

function readBytes(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new CliError(`${flag}: ${fileProblem(file, err)}`);
  }
}

/** The CSR from a file (any shape: PEM as pasted, DER); what is not a CSR is refused naming --csr. */
function csrFromFile(file: string): string {
  try {
    return normalizeCsrPem(readBytes(file, '--csr'), '--csr');
  } catch (err) {
    if (err instanceof CertificateInputError) throw new CliError(err.message, ExitCode.usage);
    throw err;
  }
}

/**
 * The verdict a submission of these inputs would get: the CLI's reading of the files (what
 * `submit-cert` does before it sends: format and size), then the runbook's own check (what its
 * activity runs). Problems name the inputs as the caller's user knows them (`names`: the CLI's
 * flags --cert/--ca by default, the console's "Signed certificate"/"CA chain").
 */
export async function certificateVerdict(
  csrPem: string,
  csrFrom: string,
  inputs: { cert: Uint8Array; ca?: Uint8Array; mustOutlive?: MustOutlive },
  now = new Date(),
  names: InputNames = SUBMISSION_NAMES,
): Promise<CertificateVerdictJson> {
  let csr;
  try {
    csr = await summarizeCsr(csrPem);
  } catch (err) {
    if (err instanceof CertificateInputError) throw new CliError(`${csrFrom}: ${err.problem}`, ExitCode.usage);
    throw err;
  }
  const problems: string[] = [];
  const notes: string[] = [];
  const asSent = (data: Uint8Array, name: string): string | undefined => {
    try {
      const input = readCertificateText(data, name);
      notes.push(...input.notes);
      return input.pem;
    } catch (err) {
      if (!(err instanceof CertificateInputError)) throw err;
      problems.push(err.message);
      return undefined;
    }
  };
  const certificatePem = asSent(inputs.cert, names.certificate);
  const caChainPem = inputs.ca ? asSent(inputs.ca, names.ca) : '';
  const base = { csr: { from: csrFrom, ...csr }, chain: [] };
  if (certificatePem === undefined || caChainPem === undefined) return { accepted: false, problems, notes, ...base };
  const check = await checkSignedCertificate(
    { csrPem, certificatePem, caChainPem, mustOutlive: inputs.mustOutlive, names },
    { now },
  );
  problems.push(...check.problems);
  notes.push(...check.notes);
  return {
    accepted: problems.length === 0,
    problems,
    notes,
    ...base,
    certificate: check.summary,
    chain: check.chain ?? [],
    waitUntil: problems.length === 0 ? check.waitUntil : undefined,
  };
}

export function renderVerdict(v: CertificateVerdictJson): string {
  const lines: string[] = [];
  const c = v.certificate;
  if (v.accepted && c) lines.push(`accepted: ${c.subject}, issued by ${c.issuer}, valid ${c.notBefore} to ${c.notAfter}`);
  else {
    lines.push(`refused: ${v.problems.length} problem${v.problems.length === 1 ? '' : 's'}`);
    for (const p of v.problems) lines.push(`  ${p}`);
    if (c) lines.push(`certificate: ${c.subject}, issued by ${c.issuer}, valid ${c.notBefore} to ${c.notAfter}`);
  }
  if (c) lines.push(`  SHA-256 ${c.fingerprint}`);
  lines.push(`CSR (${v.csr.from}): ${v.csr.subject}`);
  if (v.chain.length > 0) {
    lines.push('chain:');
    for (const link of v.chain)
      lines.push(`  ${link.from}: ${link.subject}${link.selfSigned ? ' (self-signed root)' : ''}, valid until ${link.notAfter}`);
  }
  if (v.notes.length > 0) lines.push('notes:', ...v.notes.map((n) => `  ${n}`));
  return lines.join('\n');
}

async function checkAndPrint(
  csrPem: string,
  csrFrom: string,
  flags: CheckFlags,
  out: (line: string) => void,
  mustOutlive?: MustOutlive,
): Promise<number> {
  const verdict = await certificateVerdict(csrPem, csrFrom, {
    cert: readBytes(flags.cert, '--cert'),
    ca: flags.ca ? readBytes(flags.ca, '--ca') : undefined,
    mustOutlive,
  });
  out(flags.json ? formatJson(certificateVerdictJson, verdict) : renderVerdict(verdict));
  return verdict.accepted ? ExitCode.ok : ExitCode.refused;
}

/** For the offline form: errors to a message and an exit code, as `run` does for commands that talk to Temporal. */
async function offline(body: (out: (line: string) => void) => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body((line) => process.stdout.write(`${line}\n`));
  } catch (err) {
    process.stderr.write(`ekm: ${(err as Error).message}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : ExitCode.runbookFailed;
  }
}

export function registerCert(program: Command): void {
  const cert = program.command('cert').description('certificates: check one before it is submitted');
  cert
    .command('check')
    .description(
      'run the checks a submitted certificate gets (ekm submit-cert), offline: exit 0 when it would be accepted, 4 when refused',
    )
    .option('--csr <file>', "the cluster's CSR (as ekm csr writes it)")
    .option(
      '--run <run>',
      "a setup or renewal run's workflow id (or its cluster's name): its CSR (and a renewal's longer-validity rule) is read from its progress",
    )
    .requiredOption('--cert <file>', 'the signed certificate (PEM, DER or PKCS#7; may hold its chain too)')
    .option('--ca <file>', 'the CA certificate(s) that issued it (PEM, DER or PKCS#7)')
    .option('--json', 'machine-readable verdict')
    .action((flags: CheckFlags) => {
      if ((flags.csr === undefined) === (flags.run === undefined))
        return offline(() => {
          throw new CliError(
            flags.csr === undefined
              ? 'give the CSR: --csr FILE, or --run RUN for a setup run waiting for its certificate'
              : 'give the CSR once: --csr FILE or --run RUN, not both',
          );
        });
      if (flags.csr !== undefined) {
        const file = flags.csr;
        return offline((out) => checkAndPrint(csrFromFile(file), `--csr ${file}`, flags, out));
      }
      return run(async (ctx, out) => {
        const workflowId = await resolveWaitingRun(ctx, flags.run!);
        const handle = ctx.client.workflow.getHandle(workflowId);
        const description = await reachRun(ctx, handle, 'the CSR is read through the progress query, which needs one');
        ctx.doing = `reading the CSR of ${workflowId}`;
        const progress = await progressOf(handle, description.taskQueue);
        const csrPem = progress.waiting?.csrPem ?? progress.csrPem;
        if (!csrPem)
          throw new CliError(`${workflowId} has no CSR yet (step: ${progress.currentStep ?? 'none'})`, ExitCode.notFound);
        return checkAndPrint(csrPem, `--run ${workflowId}`, flags, out, progress.waiting?.mustOutlive);
      });
    });
}
