/**
 * Element error names the simulator answers with, and why each was chosen. Names marked
 * UNCONFIRMED were not found in any public source (docs/element-api.md, evidence table); they follow the
 * patterns of names that were (xVolumeIDDoesNotExist, xAsyncHandleDoesNotExist, ...). The README
 * lists them too. Keep this the only place that spells an error name.
 */

/** An Element error answered as `{ code: 500, name, message }` (or inside an async result). */
export class ElementFault extends Error {
  constructor(
    readonly elementName: string,
    message: string,
    /** Extra members of the error object (e.g. keyServerID). */
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'ElementFault';
  }

  toJson(): Record<string, unknown> {
    return { ...this.extra, code: 500, name: this.elementName, message: this.message };
  }
}

export const ErrorNames = {
  // -- seen in public sources -------------------------------------------------------------------
  /** Unknown method, or a method newer than the endpoint version. Seen (Ansible docs, SolidFire libsf, a Puppet module). */
  unknownMethod: 'xUnknownAPIMethod',
  /** Seen (SDK integration test): "Async handle N does not exist." */
  asyncHandleDoesNotExist: 'xAsyncHandleDoesNotExist',
  /** Seen (docs); returned for a wrong type or value of a parameter. Message format UNCONFIRMED. */
  invalidParameter: 'xInvalidParameter',
  /** Seen in SolidFire's own fake cluster (libsf): "Missing member=[name]". UNCONFIRMED on a real cluster. */
  missingParameter: 'xMissingParameter',
  /** Seen (docs: heavy load, retry). Used by the busy injection. */
  busy: 'xDBVersionMismatch',
  /** Seen (docs). Used when software encryption at rest is not enabled on this cluster (usage UNCONFIRMED). */
  featureNotEnabled: 'xFeatureNotEnabled',
  /** Seen in libsf's fake cluster: "Drive N does not exist". UNCONFIRMED on a real cluster. */
  driveDoesNotExist: 'xDriveIDDoesNotExist',
  /** Seen (an Element 11.7 demo VM's answer to EnableEncryptionAtRest): "Encryption is not supported on demo nodes." */
  apiNotPermitted: 'xAPINotPermitted',

  // -- UNCONFIRMED: no public source names these ------------------------------------------------
  /** Body is not JSON. UNCONFIRMED. */
  invalidJson: 'xInvalidJSON',
  /** Envelope is JSON but not a request object (no method, params not an object, a batch). UNCONFIRMED. */
  invalidRequest: 'xInvalidRequest',
  /** UNCONFIRMED. "KeyServerID N does not exist." */
  keyServerDoesNotExist: 'xKeyServerIDDoesNotExist',
  /** UNCONFIRMED. "KeyProviderID N does not exist." */
  keyProviderDoesNotExist: 'xKeyProviderIDDoesNotExist',
  /** UNCONFIRMED. DeleteKeyProviderKmip on an active provider. */
  keyProviderIsActive: 'xKeyProviderIsActive',
  /** UNCONFIRMED. Removing or deleting the last key server of an active provider. */
  keyServerInUse: 'xKeyServerInUse',
  /** UNCONFIRMED. AddKeyServerToProviderKmip when the server belongs to another provider (providers hold disjoint sets). */
  keyServerAlreadyAssigned: 'xKeyServerAlreadyAssigned',
  /**
   * UNCONFIRMED name (the rule is confirmed: a provider supports one key server). AddKeyServerToProviderKmip
   * for a provider that already has another server; patterned on xMaxSnapshotsPerVolumeExceeded.
   */
  maxKeyServersPerProvider: 'xMaxKeyServersPerProviderExceeded',
  /** UNCONFIRMED. A provider with no key servers used for a test, EAR or a rekey. */
  keyProviderHasNoKeyServers: 'xKeyProviderHasNoKeyServers',
  /** UNCONFIRMED. GetClientCertificateSignRequest before any CreatePublicPrivateKeyPair. */
  keyPairDoesNotExist: 'xKeyPairDoesNotExist',
  /** UNCONFIRMED. The KMIP server could not be reached (refused, no route, timeout). */
  kmipConnectionFailure: 'xKmipConnectionFailure',
  /** UNCONFIRMED. TLS failed either way, or the server answered Authentication Not Successful / Permission Denied. */
  kmipAuthenticationFailure: 'xKmipAuthenticationFailure',
  /** UNCONFIRMED. The KMIP server answered with another failure (e.g. Item Not Found). */
  kmipServerError: 'xKmipServerError',
  /** UNCONFIRMED. A rekey while another rekey is still running. */
  rekeyInProgress: 'xRekeyInProgress',
  /** UNCONFIRMED. EnableEncryptionAtRest while it is enabled or changing. */
  encryptionAlreadyEnabled: 'xEncryptionAtRestAlreadyEnabled',
  /** UNCONFIRMED. DisableEncryptionAtRest while it is disabled or changing. */
  encryptionNotEnabled: 'xEncryptionAtRestNotEnabled',
  /** UNCONFIRMED. AddDrives of a drive whose status is not `available`; RemoveDrives of one that is not `active`. */
  driveNotAvailable: 'xDriveNotAvailable',
  driveNotActive: 'xDriveNotActive',
} as const;

export type ErrorName = (typeof ErrorNames)[keyof typeof ErrorNames];

export function missingParameter(member: string): ElementFault {
  return new ElementFault(ErrorNames.missingParameter, `Missing member=[${member}]`);
}

export function invalidParameter(member: string, why: string): ElementFault {
  return new ElementFault(ErrorNames.invalidParameter, `Invalid value for member=[${member}]: ${why}`);
}

export function keyServerDoesNotExist(id: number): ElementFault {
  return new ElementFault(ErrorNames.keyServerDoesNotExist, `KeyServerID ${id} does not exist.`);
}

export function keyProviderDoesNotExist(id: number): ElementFault {
  return new ElementFault(ErrorNames.keyProviderDoesNotExist, `KeyProviderID ${id} does not exist.`);
}

export function asyncHandleDoesNotExist(id: number): ElementFault {
  return new ElementFault(ErrorNames.asyncHandleDoesNotExist, `Async handle ${id} does not exist.`);
}
