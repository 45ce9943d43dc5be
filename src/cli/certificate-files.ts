/**
 * Certificate files named by CLI flags (`--cert`, `--ca`, `--client-cert`, `--client-ca`,
 * `--kmip-ca`, an `--input` file's kmipCaCertificate): read as bytes, checked against the size
 * limit before anything is sent, and converted to clean PEM by the one certificate reader (DER and
 * PKCS#7 too), so what a runbook receives is text it can check. A file that is no certificate at
 * all is refused here, naming the flag (exit 2, nothing sent).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CERTIFICATE_INPUT_LIMIT_BYTES, CertificateInputError, readCertificateInput, utf8Bytes } from '../pki/certificate-input';
import { certificateInputTooLarge } from '../../workflows/contract';
import { CliError, ExitCode } from './exit-codes';
import { fileProblem } from '../config/file-problem';

export interface CertificateText {
  /** Every certificate of the input, as clean PEM (the runbook's check picks the client certificate). */
  pem: string;
  /** How it was read when it was not plain PEM (DER or PKCS#7 converted, escapes decoded). */
  notes: string[];
}

/**
 * A file's bytes; an unreadable file or one over the size limit is refused naming the flag. At most
 * limitBytes + 1 bytes are read, so a device or pipe named by mistake (`/dev/zero`, `/dev/urandom`),
 * whose size stat cannot tell, is refused as too large instead of being read for ever.
 */
export function readInputFile(file: string, flag: string, limitBytes = CERTIFICATE_INPUT_LIMIT_BYTES): Buffer {
  const cannotRead = (err: unknown) => new CliError(`${flag}: ${fileProblem(file, err)}`);
  // Opening a named pipe waits for a writer, maybe for ever: refused before it is opened.
  let kind: fs.Stats | undefined;
  try {
    kind = fs.statSync(file);
  } catch (err) {
    throw cannotRead(err);
  }
  if (kind.isFIFO() || kind.isSocket())
    throw new CliError(`${flag}: ${file} is a ${kind.isFIFO() ? 'named pipe' : 'socket'}, not a file`, ExitCode.usage);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw cannotRead(err);
  }
  try {
    let size: number;
    try {
      size = fs.fstatSync(fd).size;
    } catch (err) {
      throw cannotRead(err);
    }
    // Checked before reading, so the wrong (huge) file is refused at once.
    const tooLarge = certificateInputTooLarge(size, limitBytes);
    if (tooLarge) throw new CliError(`${flag}: ${file} is ${tooLarge}`, ExitCode.usage);
    const buffer = Buffer.alloc(limitBytes + 1);
    let length = 0;
    try {
      while (length < buffer.length) {
        const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
        if (n === 0) break;
        length += n;
      }
    } catch (err) {
      throw cannotRead(err);
    }
    if (length > limitBytes)
      throw new CliError(
        `${flag}: ${file} is ${certificateInputTooLarge(length, limitBytes)!.replace(`(${length} bytes;`, `(more than ${limitBytes} bytes;`)}`,
        ExitCode.usage,
      );
    return buffer.subarray(0, length);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Certificate text or bytes -> clean PEM of every certificate in it, as the CLI would send it:
 * within the size limit before and after the conversion (DER grows by a third as PEM).
 * Throws CertificateInputError naming the flag.
 */
export function readCertificateText(data: string | Uint8Array, flag: string): CertificateText {
  const input = readCertificateInput(data, flag, { limitBytes: CERTIFICATE_INPUT_LIMIT_BYTES });
  const pem = input.certificates.map((c) => c.pem).join('');
  const tooLarge = certificateInputTooLarge(utf8Bytes(pem));
  if (tooLarge) throw new CertificateInputError(flag, `as PEM it is ${tooLarge}`);
  return { pem, notes: input.notes };
}

/** Certificate text (from a file or an input file's field) -> clean PEM, or exit 2 naming the flag. */
export function certificateText(data: string | Uint8Array, flag: string): CertificateText {
  try {
    return readCertificateText(data, flag);
  } catch (err) {
    if (err instanceof CertificateInputError) throw new CliError(err.message, ExitCode.usage);
    throw err;
  }
}

/** A certificate file named by a flag -> clean PEM of every certificate in it. */
export function readCertificateFile(file: string, flag: string): CertificateText {
  return certificateText(readInputFile(file, flag), flag);
}

/**
 * An --input file's certificate field: the PEM text itself, or the path of a certificate file
 * (relative to the input file's folder), as an operator would write either.
 */
export function certificateField(value: string, inputFile: string, field: string): CertificateText {
  const label = `${inputFile}: ${field}`;
  if (value.includes('-----BEGIN')) return certificateText(value, label);
  const file = path.resolve(path.dirname(inputFile), value.trim());
  if (!value.includes('\n') && fs.existsSync(file)) return readCertificateFile(file, label);
  return certificateText(value, label);
}
