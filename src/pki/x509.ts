/**
 * @peculiar/x509, with the Reflect polyfill and the WebCrypto provider it needs; import it through
 * here only. Loaded on first use: it takes about 0.2 s to load, which a CLI command that reads no
 * certificate (`ekm status`, `ekm list`) should not pay. `x509` is the library's namespace as a
 * value; `X509` its types (`X509.X509Certificate`).
 */
import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

export type { X509 };

let library: typeof X509 | undefined;

function load(): typeof X509 {
  if (!library) {
    // Loaded on first use, on purpose (see above): require, not a static import.
    require('reflect-metadata');
    const loaded = require('@peculiar/x509') as typeof X509;
    loaded.cryptoProvider.set(webcrypto as never);
    library = loaded;
  }
  return library;
}

export const x509: typeof X509 = new Proxy({} as typeof X509, {
  get: (_target, property) => Reflect.get(load(), property) as unknown,
});
export const subtle = webcrypto.subtle;
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
