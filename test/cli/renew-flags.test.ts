/**
 * The renewal's command line, in process: `ekm renew --input renew.yaml` takes the file's
 * `provider` as the flag takes it (a name or an id; `provider: kp1` was refused as
 * `--provider: Invalid input`), a --provider flag winning; the CA hints after "started" only for
 * the manual signer; `ekm csr --out` names the flag when the file cannot be written; `ekm status`
 * puts an open key-pair window first.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RENEW_FLAGS, renewInputFromFlags } from '../../src/cli/commands/renew';
import { writeCsrFile } from '../../src/cli/commands/runs';
import { inputNames, manualSigningHints } from '../../src/cli/commands/setup';
import { validateInput } from '../../src/cli/start';
import { CliError, ExitCode } from '../../src/cli/exit-codes';
import { renderProgress } from '../../src/cli/render';
import type { RunbookProgress } from '../../workflows/contract';
import { renewInput } from '../../workflows/inputs-renew';
import { cliRefusal } from '../support/cli-refusal';

describe('renew --input: provider as the flag takes it', () => {
  let dir: string;
  const inputFile = (text: string) => {
    const file = path.join(dir, `renew-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, text);
    return file;
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-renew-flags-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['provider: kp1\n', { name: 'kp1' }],
    ['provider: 7\n', { id: 7 }],
    ['provider: "12"\n', { id: 12 }],
    ['provider: { name: kp1 }\n', { name: 'kp1' }],
  ])('%j selects %j, and the input schema accepts it', (text, selector) => {
    const input = renewInputFromFlags('prod-a', { input: inputFile(text) });
    expect(input.provider).toEqual(selector);
    const parsed = renewInput.safeParse(input);
    expect(parsed.success).toBe(true);
  });

  it('--provider wins over the file', () => {
    expect(renewInputFromFlags('prod-a', { input: inputFile('provider: kp1\n'), provider: '9' }).provider).toEqual({ id: 9 });
  });

  it("kmipCaCertificate in the file: the PEM itself, or a certificate file's path beside the input file", async () => {
    const { createCertificateAuthority } = await import('../../src/pki/authority');
    const ca = await createCertificateAuthority('Input File Test CA');
    fs.writeFileSync(path.join(dir, 'kmip-ca.pem'), ca.certificatePem);
    const byPath = renewInputFromFlags('prod-a', { input: inputFile('kmipCaCertificate: kmip-ca.pem\n') });
    expect(byPath.kmipCaCertificate?.trim()).toBe(ca.certificatePem.replace(/\r\n/g, '\n').trim());
    const refused = cliRefusal(() => renewInputFromFlags('prod-a', { input: inputFile('kmipCaCertificate: no-such.pem\n') }));
    expect(refused.message).toMatch(/: kmipCaCertificate: is not a certificate/);
  });

  it('a cluster in the file that is not the one on the command line is refused, naming both', () => {
    const file = inputFile('cluster: prod-b\n');
    expect(() => renewInputFromFlags('prod-a', { input: file })).toThrow(
      `${file}: cluster: "prod-b" is not the cluster on the command line ("prod-a"); leave it out of the file or make them the same`,
    );
    expect(renewInputFromFlags('prod-a', { input: inputFile('cluster: prod-a\n') }).cluster).toBe('prod-a');
  });

  it('a refusal names the field as the file has it, and the flag for what came from a flag', () => {
    const file = inputFile('testAttempts: 0\nresolveWindow: 5x\n');
    const input = renewInputFromFlags('prod-a', { input: file, testInterval: 'soon' });
    const refusal = cliRefusal(() => validateInput(renewInput, input, inputNames(RENEW_FLAGS, input, file))).message;
    expect(refusal).toContain(`${file}: testAttempts: must be at least 1`);
    expect(refusal).toContain(`${file}: resolveWindow: "5x" is not a duration`);
    expect(refusal).toContain('--test-interval: "soon" is not a duration');
    expect(refusal).not.toContain('--test-attempts');
  });
});

describe('the CA hints after "started" (setup and renew)', () => {
  it('only for the manual signer: a cfssl or command signer signs by itself', () => {
    expect(manualSigningHints('ekm-renew-prod-a', 'prod-a', undefined)).toEqual([
      'when it waits for the CA:  ekm csr ekm-renew-prod-a --out prod-a.csr',
      'then:                      ekm submit-cert ekm-renew-prod-a --cert signed.pem --ca ca-chain.pem',
    ]);
    expect(manualSigningHints('ekm-setup-prod-a', 'prod-a', { type: 'manual' })).toHaveLength(2);
    expect(manualSigningHints('ekm-setup-prod-a', 'prod-a', { type: 'cfssl' })).toEqual([]);
    expect(manualSigningHints('ekm-setup-prod-a', 'prod-a', { type: 'command' })).toEqual([]);
  });
});

describe('ekm csr --out', () => {
  it('a file that cannot be written is named with the flag (exit 2); one that can holds the CSR', () => {
    let refused: unknown;
    try {
      writeCsrFile('/nonexistent-ekm-dir/prod-a.csr', 'CSR');
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(CliError);
    expect((refused as CliError).message).toBe(
      '--out: cannot write /nonexistent-ekm-dir/prod-a.csr: folder /nonexistent-ekm-dir does not exist',
    );
    expect((refused as CliError).exitCode).toBe(ExitCode.usage);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-csr-out-'));
    try {
      writeCsrFile(path.join(dir, 'prod-a.csr'), '-----BEGIN CERTIFICATE REQUEST-----\n');
      expect(fs.readFileSync(path.join(dir, 'prod-a.csr'), 'utf8')).toBe('-----BEGIN CERTIFICATE REQUEST-----\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ekm status while a renewal has the key-pair window open', () => {
  const since = '2026-03-01T10:00:00.000Z';
  const progress = (extra: Partial<RunbookProgress>): RunbookProgress => ({
    runbook: 'renew',
    cluster: 'prod-a',
    state: 'waiting-for-input',
    startedAt: '2026-03-01T09:50:00.000Z',
    steps: [],
    notes: [],
    answers: [],
    ...extra,
  });

  it('says so first, after a disabled encryption at rest, and not once it closed', () => {
    const open = renderProgress(progress({ keyPairWindow: { since } }), { workflowId: 'ekm-renew-prod-a' }).split('\n');
    expect(open[0]).toMatch(/^!! KEY-PAIR WINDOW OPEN on prod-a since 2026-03-01T10:00:00.000Z — .*drives locked/);
    const both = renderProgress(progress({ keyPairWindow: { since }, encryptionAtRestDisabled: { since } }), {
      workflowId: 'x',
    }).split('\n');
    expect(both[0]).toMatch(/^!! ENCRYPTION AT REST IS DISABLED/);
    expect(both[1]).toMatch(/^!! KEY-PAIR WINDOW OPEN/);
    expect(renderProgress(progress({}), { workflowId: 'x' })).not.toContain('KEY-PAIR WINDOW');
  });
});
