import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec';
import { loadPayloadKeys } from './payload-keys';

/** The module bundled into workflows and loaded by workers and clients as their failure converter. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The data converter of the worker, the CLI and the console. With EKM_PAYLOAD_KEYS_FILE: payloads
 * encrypted with its current key (EncryptionCodec), failures' messages and stack traces moved into
 * encrypted attributes. Without it: nothing encrypted, and an encrypted payload met anyway is
 * refused naming the key id it needs. Throws ConfigError for a keys file with a mistake.
 */
export function ekmDataConverter(settings: { EKM_PAYLOAD_KEYS_FILE?: string }): DataConverter {
  if (!settings.EKM_PAYLOAD_KEYS_FILE) return { payloadCodecs: [new EncryptionCodec(undefined)] };
  return {
    payloadCodecs: [new EncryptionCodec(loadPayloadKeys(settings.EKM_PAYLOAD_KEYS_FILE))],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}
