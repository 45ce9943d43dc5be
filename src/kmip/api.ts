/**
 * The contract of our KMIP client (src/kmip/client.ts implements it). The simulator uses it to
 * test key servers and to create, fetch and destroy keys on a real KMIP server.
 */

/** Where and how to reach a KMIP server over mutual TLS. */
export interface KmipEndpoint {
  host: string;
  port: number;
  /** TLS server name to verify; defaults to host. */
  servername?: string;
  /** PEM CA bundle that issued the server certificate. */
  caPem: string;
  /** PEM client certificate (EKU clientAuth) and its private key. */
  certificatePem: string;
  privateKeyPem: string;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
}

export interface ProtocolVersion {
  major: number;
  minor: number;
}

export interface QueryResult {
  operations: number[];
  objectTypes: number[];
  vendorIdentification?: string;
}

export interface SymmetricKey {
  uniqueIdentifier: string;
  cryptographicAlgorithm: number;
  cryptographicLength: number;
  keyMaterial: Buffer;
}

/** Why a connection failed, in the words an operator needs. */
export type KmipConnectionFailure = 'unreachable' | 'tls' | 'timeout' | 'protocol';

export interface KmipSession {
  discoverVersions(): Promise<ProtocolVersion[]>;
  query(): Promise<QueryResult>;
  /**
   * Creates an AES key (default 256 bits) with Encrypt|Decrypt usage, and the Name and client
   * custom attributes ("x-" names, text values) given; returns its unique identifier.
   */
  createSymmetricKey(options: {
    name?: string;
    lengthBits?: number;
    customAttributes?: Readonly<Record<string, string>>;
  }): Promise<string>;
  activate(uniqueIdentifier: string): Promise<void>;
  get(uniqueIdentifier: string): Promise<SymmetricKey>;
  /** Unique identifiers of objects with this Name (empty when none). */
  locateByName(name: string): Promise<string[]>;
  /** Unique identifiers of objects carrying this custom attribute with this value (empty when none). */
  locateByCustomAttribute(name: string, value: string): Promise<string[]>;
  revoke(uniqueIdentifier: string): Promise<void>;
  destroy(uniqueIdentifier: string): Promise<void>;
  close(): Promise<void>;
}
