import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec';
import { livePayloadKeys } from './payload-keys';

/** The module bundled into workflows and loaded by workers and clients as their failure converter. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The data converter of the worker, the CLI and the console. With EKM_PAYLOAD_KEYS_FILE: payloads
 * encrypted with its current key (EncryptionCodec), failures' messages and stack traces moved into
 * encrypted attributes. Without it: nothing encrypted, and an encrypted payload met anyway is
 * refused naming the key id it needs. Throws ConfigError for a keys file with a mistake. The file
 * is read again when it changes (a rotation needs no restart); a change with a mistake keeps the
 * keys read before and is said through `onKeysProblem` (default: standard error).
 */
export function ekmDataConverter(
  settings: { EKM_PAYLOAD_KEYS_FILE?: string },
  onKeysProblem: (message: string) => void = (message) => process.stderr.write(`ekm: ${message}\n`),
): DataConverter {
  if (!settings.EKM_PAYLOAD_KEYS_FILE) return { payloadCodecs: [new EncryptionCodec(undefined)] };
  return {
    payloadCodecs: [new EncryptionCodec(livePayloadKeys(settings.EKM_PAYLOAD_KEYS_FILE, onKeysProblem))],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}
