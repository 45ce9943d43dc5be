import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { PayloadKeys } from './payload-keys';

/** Metadata of an encrypted payload: its encoding, and the id of the key that encrypted it. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/** A payload that cannot be decrypted; `keyId` names the key it was encrypted with. */
export class PayloadDecryptionError extends Error {
  constructor(
    readonly keyId: string,
    detail: string,
  ) {
    super(`cannot decrypt a payload encrypted with key id "${keyId}": ${detail}`);
    this.name = 'PayloadDecryptionError';
  }
}

/** The key id an encrypted payload names, or undefined for a payload that is not encrypted. */
export function encryptedWith(payload: Payload): string | undefined {
  if (text(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return undefined;
  return text(payload.metadata?.[KEY_ID_METADATA]) ?? '(none)';
}

/**
 * Temporal payload codec: AES-256-GCM (Node's crypto) over the whole serialised Payload (its
 * metadata too, so the encoding of the value is hidden as well). Encrypted payload: metadata
 * `encoding: binary/encrypted`, `encryption-key-id: <id>`, `encryption-cipher: AES-256-GCM`;
 * data = 12-byte random IV ‖ ciphertext ‖ 16-byte tag; the key id is bound as additional
 * authenticated data. Encodes with the current key; decodes with whichever key the payload names;
 * passes through payloads that are not encrypted (histories from before the codec was on).
 * Without keys (`keys` undefined) it encrypts nothing and refuses an encrypted payload by saying
 * which key id it needs. Decode errors are PayloadDecryptionError naming the key id.
 */
export class EncryptionCodec implements PayloadCodec {
  /** `keys`: fixed, or read each time (livePayloadKeys: a rotated keys file without a restart). */
  constructor(private readonly keys: PayloadKeys | (() => PayloadKeys) | undefined) {}

  private keySet(): PayloadKeys | undefined {
    return typeof this.keys === 'function' ? this.keys() : this.keys;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keys = this.keySet();
    if (!keys) return payloads;
    const key = keys.keys.get(keys.currentKeyId)!;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(utf8(keys.currentKeyId));
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          encoding: utf8(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: utf8(keys.currentKeyId),
          [CIPHER_METADATA]: utf8('AES-256-GCM'),
        },
        data: new Uint8Array(sealed),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    const keys = this.keySet();
    return payloads.map((payload) => {
      const keyId = encryptedWith(payload);
      if (keyId === undefined) return payload;
      if (!keys) {
        throw new PayloadDecryptionError(
          keyId,
          'payload encryption is off here (set EKM_PAYLOAD_KEYS_FILE to a keys file holding that key)',
        );
      }
      const key = keys.keys.get(keyId);
      if (!key) throw new PayloadDecryptionError(keyId, `${keys.source} has no key with that id`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES)
        throw new PayloadDecryptionError(keyId, 'the payload is too short to be one this codec made');
      try {
        const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAAD(utf8(keyId));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
        return temporal.api.common.v1.Payload.decode(plain);
      } catch {
        throw new PayloadDecryptionError(
          keyId,
          `the key with that id in ${keys.source} does not decrypt it (a different key file under the same id, or an altered payload)`,
        );
      }
    });
  }
}
