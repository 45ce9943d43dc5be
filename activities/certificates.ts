import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Failure } from '../workflows/failures';
import { ApplicationFailure } from '@temporalio/common';
import { request } from 'undici';
import { z } from 'zod';
import { checkSignedCertificate, type CertificateCheck, type InputNames, type MustOutlive } from '../src/pki/certificate-checks';
import { CertificateInputError, normalizeCaBundle, readCertificateInput } from '../src/pki/certificate-input';
import type { ActivityContext } from './context';
import { refuse } from './element';

export interface SignedCertificate {
  certificatePem: string;
  caChainPem: string;
  /** What the inputs are called in the check's messages (default: --cert and --ca). */
  names?: InputNames;
}

/** The check's verdict: problems (empty: accepted), notes, and the certificate as clean PEM. */
export type CertificateVerdict = CertificateCheck;

const cfsslAnswer = z.looseObject({
  success: z.boolean(),
  result: z.looseObject({ certificate: z.string() }).nullish(),
  errors: z.array(z.looseObject({ message: z.string() })).nullish(),
});

async function cfsslCall(url: string, path: string, body: unknown): Promise<string> {
  let response;
  try {
    response = await request(`${url.replace(/\/$/, '')}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  } catch (err) {
    throw ApplicationFailure.retryable(
      `cfssl at ${url} did not answer ${path}: ${(err as Error).message}`,
      Failure.SignerUnavailable,
    );
  }
  const text = await response.body.text();
  if (response.statusCode >= 500)
    throw ApplicationFailure.retryable(`cfssl ${path}: HTTP ${response.statusCode}`, Failure.SignerUnavailable);
  let parsed: z.infer<typeof cfsslAnswer>;
  try {
    parsed = cfsslAnswer.parse(JSON.parse(text));
  } catch {
    throw refuse(Failure.SignerRefused, `cfssl ${path}: HTTP ${response.statusCode}, not a cfssl answer`);
  }
  if (!parsed.success || !parsed.result) {
    throw refuse(
      Failure.SignerRefused,
      `cfssl ${path} refused: ${parsed.errors?.map((e) => e.message).join('; ') || `HTTP ${response.statusCode}`}`,
    );
  }
  return parsed.result.certificate;
}

function runCommand(command: string[], input: string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(refuse(Failure.SignerFailed, `cannot run signer ${command[0]}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(stdout));
      else {
        const why = signal
          ? `was killed (${signal}${signal === 'SIGKILL' ? `, after ${timeoutMs} ms` : ''})`
          : `exited with ${code}`;
        reject(ApplicationFailure.retryable(`signer ${command[0]} ${why}: ${stderr.trim().slice(-500)}`, Failure.SignerFailed));
      }
    });
    // A signer may exit without reading the CSR (it failed, or it takes it elsewhere): its exit code tells, not EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export function certificateActivities(ctx: ActivityContext) {
  return {
    /**
     * Every problem with a signed client certificate (none: it may go to the cluster), with the
     * client certificate and its chain as clean PEM. Inputs in any shape an operator or a CA hands
     * out (PEM as pasted, DER, PKCS#7, a chain in any order) are read here, not in the workflow.
     */
    async checkSignedCertificate(input: {
      csrPem: string;
      certificatePem: string;
      caChainPem: string;
      names?: InputNames;
      /** A renewal: the certificate must be valid longer than the one it replaces. */
      mustOutlive?: MustOutlive;
    }): Promise<CertificateVerdict> {
      return checkSignedCertificate(input);
    },

    /** Signs the CSR with a cfssl CA (POST /api/v1/cfssl/sign) and fetches its CA certificate (/info). */
    async signWithCfssl(input: { csrPem: string; url: string; profile: string }): Promise<SignedCertificate> {
      const certificate = await cfsslCall(input.url, '/api/v1/cfssl/sign', {
        certificate_request: input.csrPem,
        profile: input.profile,
      });
      const ca = await cfsslCall(input.url, '/api/v1/cfssl/info', { profile: input.profile });
      const names = { certificate: `cfssl ${input.url} certificate`, ca: `cfssl ${input.url} CA (/info)` };
      return {
        certificatePem: signerOutput(certificate, names.certificate, 'cfssl'),
        caChainPem: signerOutput(ca, names.ca, 'cfssl'),
        names,
      };
    },

    /**
     * Runs a signer named in the clusters file: CSR on stdin, certificate (PEM or DER, optionally
     * with its CA chain, in any order) on stdout. Commands live in the worker's configuration,
     * never in workflow inputs, so starting a runbook cannot run arbitrary programs on the worker.
     */
    async signWithCommand(input: { csrPem: string; signer: string }): Promise<SignedCertificate> {
      const signer = ctx.registry.signers[input.signer];
      if (!signer) {
        const known = Object.keys(ctx.registry.signers).join(', ') || 'none';
        throw refuse(Failure.UnknownSigner, `no signer "${input.signer}" in the clusters file (signers: ${known})`);
      }
      const output = await runCommand(signer.command, input.csrPem, signer.timeoutMs);
      const names = { certificate: `signer ${input.signer} output`, ca: `signers.${input.signer}.caBundle` };
      const certificatePem = signerOutput(output, names.certificate, input.signer);
      let caChainPem = '';
      if (signer.caBundle) {
        try {
          caChainPem = normalizeCaBundle(fs.readFileSync(signer.caBundle), names.ca);
        } catch (err) {
          const why =
            err instanceof CertificateInputError ? err.message : `cannot read ${signer.caBundle}: ${(err as Error).message}`;
          throw refuse(Failure.ConfigError, why);
        }
      }
      // The check picks the block whose key is the CSR's; every other block is a CA candidate.
      return { certificatePem, caChainPem, names };
    },
  };
}

/** A signer's answer as clean PEM (every certificate it printed), or SignerFailed saying what it printed instead. */
function signerOutput(output: string | Buffer, name: string, signer: string): string {
  try {
    return readCertificateInput(output, name)
      .certificates.map((c) => c.pem)
      .join('');
  } catch (err) {
    if (!(err instanceof CertificateInputError)) throw err;
    throw refuse(Failure.SignerFailed, `signer ${signer} printed no usable certificate: ${err.message}`);
  }
}
