/**
 * KMIP 1.x tag and enumeration values (OASIS KMIP Specification v1.4, §9.1.3). Only what this
 * client sends or reads, plus neighbours that help when printing a message for debugging.
 */

type ValueOf<T> = T[keyof T];

export const ItemType = {
  Structure: 0x01,
  Integer: 0x02,
  LongInteger: 0x03,
  BigInteger: 0x04,
  Enumeration: 0x05,
  Boolean: 0x06,
  TextString: 0x07,
  ByteString: 0x08,
  DateTime: 0x09,
  Interval: 0x0a,
} as const;
export type ItemType = ValueOf<typeof ItemType>;

export const Tag = {
  ActivationDate: 0x420001,
  AsynchronousCorrelationValue: 0x420006,
  AsynchronousIndicator: 0x420007,
  Attribute: 0x420008,
  AttributeName: 0x42000a,
  AttributeValue: 0x42000b,
  Authentication: 0x42000c,
  BatchCount: 0x42000d,
  BatchErrorContinuationOption: 0x42000e,
  BatchItem: 0x42000f,
  BatchOrderOption: 0x420010,
  CompromiseOccurrenceDate: 0x420021,
  Credential: 0x420023,
  CryptographicAlgorithm: 0x420028,
  CryptographicLength: 0x42002a,
  CryptographicUsageMask: 0x42002c,
  InitialDate: 0x420039,
  Key: 0x42003f,
  KeyBlock: 0x420040,
  KeyCompressionType: 0x420041,
  KeyFormatType: 0x420042,
  KeyMaterial: 0x420043,
  KeyValue: 0x420045,
  KeyWrappingData: 0x420046,
  MaximumItems: 0x42004f,
  MaximumResponseSize: 0x420050,
  MessageExtension: 0x420051,
  Name: 0x420053,
  NameType: 0x420054,
  NameValue: 0x420055,
  ObjectGroup: 0x420056,
  ObjectType: 0x420057,
  Operation: 0x42005c,
  OperationPolicyName: 0x42005d,
  ProtocolVersion: 0x420069,
  ProtocolVersionMajor: 0x42006a,
  ProtocolVersionMinor: 0x42006b,
  QueryFunction: 0x420074,
  RequestHeader: 0x420077,
  RequestMessage: 0x420078,
  RequestPayload: 0x420079,
  ResponseHeader: 0x42007a,
  ResponseMessage: 0x42007b,
  ResponsePayload: 0x42007c,
  ResultMessage: 0x42007d,
  ResultReason: 0x42007e,
  ResultStatus: 0x42007f,
  RevocationMessage: 0x420080,
  RevocationReason: 0x420081,
  RevocationReasonCode: 0x420082,
  ServerInformation: 0x420088,
  State: 0x42008d,
  SymmetricKey: 0x42008f,
  TemplateAttribute: 0x420091,
  TimeStamp: 0x420092,
  UniqueBatchItemId: 0x420093,
  UniqueIdentifier: 0x420094,
  VendorIdentification: 0x42009d,
  OffsetItems: 0x4200d4,
} as const;
export type Tag = ValueOf<typeof Tag>;

export const Operation = {
  Create: 0x01,
  CreateKeyPair: 0x02,
  Register: 0x03,
  ReKey: 0x04,
  DeriveKey: 0x05,
  Certify: 0x06,
  ReCertify: 0x07,
  Locate: 0x08,
  Check: 0x09,
  Get: 0x0a,
  GetAttributes: 0x0b,
  GetAttributeList: 0x0c,
  AddAttribute: 0x0d,
  ModifyAttribute: 0x0e,
  DeleteAttribute: 0x0f,
  ObtainLease: 0x10,
  GetUsageAllocation: 0x11,
  Activate: 0x12,
  Revoke: 0x13,
  Destroy: 0x14,
  Archive: 0x15,
  Recover: 0x16,
  Validate: 0x17,
  Query: 0x18,
  Cancel: 0x19,
  Poll: 0x1a,
  Notify: 0x1b,
  Put: 0x1c,
  ReKeyKeyPair: 0x1d,
  DiscoverVersions: 0x1e,
  Encrypt: 0x1f,
  Decrypt: 0x20,
  Sign: 0x21,
  SignatureVerify: 0x22,
  Mac: 0x23,
  MacVerify: 0x24,
  RngRetrieve: 0x25,
  RngSeed: 0x26,
  Hash: 0x27,
  CreateSplitKey: 0x28,
  JoinSplitKey: 0x29,
  Import: 0x2a,
  Export: 0x2b,
} as const;
export type Operation = ValueOf<typeof Operation>;

export const ObjectType = {
  Certificate: 0x01,
  SymmetricKey: 0x02,
  PublicKey: 0x03,
  PrivateKey: 0x04,
  SplitKey: 0x05,
  Template: 0x06,
  SecretData: 0x07,
  OpaqueObject: 0x08,
  PgpKey: 0x09,
} as const;
export type ObjectType = ValueOf<typeof ObjectType>;

export const ResultStatus = {
  Success: 0x00,
  OperationFailed: 0x01,
  OperationPending: 0x02,
  OperationUndone: 0x03,
} as const;
export type ResultStatus = ValueOf<typeof ResultStatus>;

export const ResultReason = {
  ItemNotFound: 0x01,
  ResponseTooLarge: 0x02,
  AuthenticationNotSuccessful: 0x03,
  InvalidMessage: 0x04,
  OperationNotSupported: 0x05,
  MissingData: 0x06,
  InvalidField: 0x07,
  FeatureNotSupported: 0x08,
  OperationCanceledByRequester: 0x09,
  CryptographicFailure: 0x0a,
  IllegalOperation: 0x0b,
  PermissionDenied: 0x0c,
  ObjectArchived: 0x0d,
  IndexOutOfBounds: 0x0e,
  ApplicationNamespaceNotSupported: 0x0f,
  KeyFormatTypeNotSupported: 0x10,
  KeyCompressionTypeNotSupported: 0x11,
  EncodingOptionError: 0x12,
  KeyValueNotPresent: 0x13,
  AttestationRequired: 0x14,
  AttestationFailed: 0x15,
  Sensitive: 0x16,
  NotExtractable: 0x17,
  ObjectAlreadyExists: 0x18,
  GeneralFailure: 0x100,
} as const;
export type ResultReason = ValueOf<typeof ResultReason>;

export const CryptographicAlgorithm = {
  Des: 0x01,
  TripleDes: 0x02,
  Aes: 0x03,
  Rsa: 0x04,
  Dsa: 0x05,
  Ecdsa: 0x06,
  HmacSha1: 0x07,
  HmacSha224: 0x08,
  HmacSha256: 0x09,
  HmacSha384: 0x0a,
  HmacSha512: 0x0b,
} as const;
export type CryptographicAlgorithm = ValueOf<typeof CryptographicAlgorithm>;

/** Bit mask values (the attribute is an Integer, not an Enumeration). */
export const CryptographicUsageMask = {
  Sign: 0x01,
  Verify: 0x02,
  Encrypt: 0x04,
  Decrypt: 0x08,
  WrapKey: 0x10,
  UnwrapKey: 0x20,
  Export: 0x40,
} as const;
export type CryptographicUsageMask = ValueOf<typeof CryptographicUsageMask>;

export const KeyFormatType = {
  Raw: 0x01,
  Opaque: 0x02,
  Pkcs1: 0x03,
  Pkcs8: 0x04,
  X509: 0x05,
  EcPrivateKey: 0x06,
  TransparentSymmetricKey: 0x07,
} as const;
export type KeyFormatType = ValueOf<typeof KeyFormatType>;

export const NameType = {
  UninterpretedTextString: 0x01,
  Uri: 0x02,
} as const;
export type NameType = ValueOf<typeof NameType>;

export const QueryFunction = {
  QueryOperations: 0x01,
  QueryObjects: 0x02,
  QueryServerInformation: 0x03,
  QueryApplicationNamespaces: 0x04,
  QueryExtensionList: 0x05,
  QueryExtensionMap: 0x06,
} as const;
export type QueryFunction = ValueOf<typeof QueryFunction>;

export const RevocationReasonCode = {
  Unspecified: 0x01,
  KeyCompromise: 0x02,
  CaCompromise: 0x03,
  AffiliationChanged: 0x04,
  Superseded: 0x05,
  CessationOfOperation: 0x06,
  PrivilegeWithdrawn: 0x07,
} as const;
export type RevocationReasonCode = ValueOf<typeof RevocationReasonCode>;

export const State = {
  PreActive: 0x01,
  Active: 0x02,
  Deactivated: 0x03,
  Compromised: 0x04,
  Destroyed: 0x05,
  DestroyedCompromised: 0x06,
} as const;
export type State = ValueOf<typeof State>;

/** The spec's own wording for each result reason, for messages an operator reads. */
export const RESULT_REASON_NAMES: Readonly<Record<number, string>> = {
  [ResultReason.ItemNotFound]: 'Item Not Found',
  [ResultReason.ResponseTooLarge]: 'Response Too Large',
  [ResultReason.AuthenticationNotSuccessful]: 'Authentication Not Successful',
  [ResultReason.InvalidMessage]: 'Invalid Message',
  [ResultReason.OperationNotSupported]: 'Operation Not Supported',
  [ResultReason.MissingData]: 'Missing Data',
  [ResultReason.InvalidField]: 'Invalid Field',
  [ResultReason.FeatureNotSupported]: 'Feature Not Supported',
  [ResultReason.OperationCanceledByRequester]: 'Operation Canceled By Requester',
  [ResultReason.CryptographicFailure]: 'Cryptographic Failure',
  [ResultReason.IllegalOperation]: 'Illegal Operation',
  [ResultReason.PermissionDenied]: 'Permission Denied',
  [ResultReason.ObjectArchived]: 'Object Archived',
  [ResultReason.IndexOutOfBounds]: 'Index Out Of Bounds',
  [ResultReason.ApplicationNamespaceNotSupported]: 'Application Namespace Not Supported',
  [ResultReason.KeyFormatTypeNotSupported]: 'Key Format Type Not Supported',
  [ResultReason.KeyCompressionTypeNotSupported]: 'Key Compression Type Not Supported',
  [ResultReason.EncodingOptionError]: 'Encoding Option Error',
  [ResultReason.KeyValueNotPresent]: 'Key Value Not Present',
  [ResultReason.AttestationRequired]: 'Attestation Required',
  [ResultReason.AttestationFailed]: 'Attestation Failed',
  [ResultReason.Sensitive]: 'Sensitive',
  [ResultReason.NotExtractable]: 'Not Extractable',
  [ResultReason.ObjectAlreadyExists]: 'Object Already Exists',
  [ResultReason.GeneralFailure]: 'General Failure',
};

export const RESULT_STATUS_NAMES: Readonly<Record<number, string>> = {
  [ResultStatus.Success]: 'Success',
  [ResultStatus.OperationFailed]: 'Operation Failed',
  [ResultStatus.OperationPending]: 'Operation Pending',
  [ResultStatus.OperationUndone]: 'Operation Undone',
};

function reverse(table: Readonly<Record<string, number>>): ReadonlyMap<number, string> {
  return new Map(Object.entries(table).map(([name, value]) => [value, name]));
}

const TAG_NAMES = reverse(Tag);
const OPERATION_NAMES = reverse(Operation);

const hex = (value: number, digits: number) => `0x${value.toString(16).toUpperCase().padStart(digits, '0')}`;

/** "ResultReason" for 0x42007E; the hex value for tags this module does not know. */
export function tagName(tag: number): string {
  return TAG_NAMES.get(tag) ?? hex(tag, 6);
}

/** "DiscoverVersions" for 0x1E; "Operation 0x2C" for codes this module does not know. */
export function operationName(operation: number): string {
  return OPERATION_NAMES.get(operation) ?? `Operation ${hex(operation, 2)}`;
}

/** "Item Not Found" for 0x01; "Result Reason 0x42" for codes this module does not know. */
export function resultReasonName(reason: number): string {
  return RESULT_REASON_NAMES[reason] ?? `Result Reason ${hex(reason, 2)}`;
}

export function resultStatusName(status: number): string {
  return RESULT_STATUS_NAMES[status] ?? `Result Status ${hex(status, 2)}`;
}
