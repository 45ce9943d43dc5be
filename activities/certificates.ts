import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Failure } from '../workflows/failures';
import { ApplicationFailure } from '@temporalio/common';
import { request } from 'undici';
import { z } from 'zod';
import { checkSignedCertificate, pemBlocks, type CertificateSummary } from '../src/pki/certificate-checks';
import type { ActivityContext } from './context';
import { refuse } from './element';

export interface SignedCertificate {
  certificatePem: string;
  caChainPem: string;
}

export interface CertificateVerdict {
  problems: string[];
  summary?: CertificateSummary;
}

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

function runCommand(command: string[], input: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(refuse(Failure.SignerFailed, `cannot run signer ${command[0]}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else {
        const why = signal
          ? `was killed (${signal}${signal === 'SIGKILL' ? `, after ${timeoutMs} ms` : ''})`
          : `exited with ${code}`;
        reject(ApplicationFailure.retryable(`signer ${command[0]} ${why}: ${stderr.trim().slice(-500)}`, Failure.SignerFailed));
      }
    });
    child.stdin.end(input);
  });
}

export function certificateActivities(ctx: ActivityContext) {
  return {
    /** Every problem with a signed client certificate (empty when it may go to the cluster). */
    async checkSignedCertificate(input: {
      csrPem: string;
      certificatePem: string;
      caChainPem: string;
    }): Promise<CertificateVerdict> {
      return checkSignedCertificate(input);
    },

    /** Signs the CSR with a cfssl CA (POST /api/v1/cfssl/sign) and fetches its CA certificate (/info). */
    async signWithCfssl(input: { csrPem: string; url: string; profile: string }): Promise<SignedCertificate> {
      const certificatePem = await cfsslCall(input.url, '/api/v1/cfssl/sign', {
        certificate_request: input.csrPem,
        profile: input.profile,
      });
      const caChainPem = await cfsslCall(input.url, '/api/v1/cfssl/info', { profile: input.profile });
      return { certificatePem, caChainPem };
    },

    /**
     * Runs a signer named in the clusters file: CSR on stdin, certificate PEM (optionally followed
     * by its CA chain) on stdout. Commands live in the worker's configuration, never in workflow
     * inputs, so starting a runbook cannot run arbitrary programs on the worker.
     */
    async signWithCommand(input: { csrPem: string; signer: string }): Promise<SignedCertificate> {
      const signer = ctx.registry.signers[input.signer];
      if (!signer) {
        const known = Object.keys(ctx.registry.signers).join(', ') || 'none';
        throw refuse(Failure.UnknownSigner, `no signer "${input.signer}" in the clusters file (signers: ${known})`);
      }
      const output = await runCommand(signer.command, input.csrPem, signer.timeoutMs);
      const blocks = pemBlocks(output).filter((b) => b.label === 'CERTIFICATE');
      if (blocks.length === 0) throw refuse(Failure.SignerFailed, `signer ${input.signer} printed no PEM certificate`);
      let caChainPem = blocks
        .slice(1)
        .map((b) => b.text)
        .join('\n');
      if (signer.caBundle) caChainPem = `${caChainPem}\n${fs.readFileSync(signer.caBundle, 'utf8')}`.trim();
      return { certificatePem: `${blocks[0]!.text}\n`, caChainPem };
    },
  };
}
