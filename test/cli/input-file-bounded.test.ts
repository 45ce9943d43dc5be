/**
 * A certificate flag (`--kmip-ca`, `--cert`, `--ca`, ...) that names a device or a pipe by mistake
 * is refused as too large, naming the flag (exit 2), after reading at most the limit: stat gives
 * such a file no size, and reading it whole never ended (`renew --kmip-ca /dev/zero` hung past
 * --timeout); a named pipe is refused before it is opened, a directory in words.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readInputFile } from '../../src/cli/certificate-files';
import { ExitCode } from '../../src/cli/exit-codes';
import { cliRefusal } from '../support/cli-refusal';


describe('certificate files named by a flag are read within the limit', () => {
  it('/dev/zero (endless, size 0 to stat) is refused as too large, naming the flag', () => {
    const err = cliRefusal(() => readInputFile('/dev/zero', '--kmip-ca', 4096));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toBe(
      '--kmip-ca: /dev/zero is too large (more than 4096 bytes; limit 4096): a certificate with its chain is a few kilobytes',
    );
  });

  it('a regular file within the limit is read whole; one over it is refused with its size', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-input-file-'));
    try {
      const small = path.join(dir, 'small.pem');
      fs.writeFileSync(small, 'x'.repeat(4096));
      expect(readInputFile(small, '--cert', 4096).length).toBe(4096);
      const big = path.join(dir, 'big.pem');
      fs.writeFileSync(big, 'x'.repeat(4097));
      expect(cliRefusal(() => readInputFile(big, '--cert', 4096)).message).toContain('is too large (4097 bytes; limit 4096)');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a named pipe is refused before it is opened (opening it would wait for a writer)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-input-fifo-'));
    try {
      const fifo = path.join(dir, 'ca.pem');
      execFileSync('mkfifo', [fifo]);
      const err = cliRefusal(() => readInputFile(fifo, '--kmip-ca'));
      expect(err.exitCode).toBe(ExitCode.usage);
      expect(err.message).toBe(`--kmip-ca: ${fifo} is a named pipe, not a file`);
      expect(cliRefusal(() => readInputFile(dir, '--kmip-ca')).message).toBe(`--kmip-ca: ${dir} is a directory, not a file`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
