/**
 * KMIP 1.x request messages and response parsing for the operations this project uses
 * (KMIP 1.4 §4 operations, §7 message contents). One batch item per message.
 */
import type { ProtocolVersion, QueryResult, SymmetricKey } from './api';
import { KmipMessageError } from './errors';
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  ItemType,
  KeyFormatType,
  NameType,
  ObjectType,
  Operation,
  QueryFunction,
  RevocationReasonCode,
  Tag,
  tagName,
} from './tags';
import {
  enumeration,
  findChild,
  findChildren,
  integer,
  itemTypeName,
  structure,
  textString,
  type TtlvItem,
  type TtlvStructure,
} from './ttlv';

export const DEFAULT_PROTOCOL_VERSION: ProtocolVersion = { major: 1, minor: 2 };
export const DEFAULT_KEY_LENGTH_BITS = 256;

// ---------------------------------------------------------------------------------------------
// Requests

export function protocolVersionItem(version: ProtocolVersion): TtlvStructure {
  return structure(Tag.ProtocolVersion, [
    integer(Tag.ProtocolVersionMajor, version.major),
    integer(Tag.ProtocolVersionMinor, version.minor),
  ]);
}

/** A RequestMessage with one batch item. */
export function requestMessage(
  operation: Operation,
  payload: TtlvItem[],
  protocolVersion = DEFAULT_PROTOCOL_VERSION,
): TtlvStructure {
  return structure(Tag.RequestMessage, [
    structure(Tag.RequestHeader, [protocolVersionItem(protocolVersion), integer(Tag.BatchCount, 1)]),
    structure(Tag.BatchItem, [enumeration(Tag.Operation, operation), structure(Tag.RequestPayload, payload)]),
  ]);
}

function attribute(name: string, value: TtlvItem): TtlvStructure {
  return structure(Tag.Attribute, [textString(Tag.AttributeName, name), value]);
}

function nameAttribute(name: string): TtlvStructure {
  return attribute(
    'Name',
    structure(Tag.AttributeValue, [textString(Tag.NameValue, name), enumeration(Tag.NameType, NameType.UninterpretedTextString)]),
  );
}

/**
 * A client-defined custom attribute (KMIP 1.2 §3.41): a name starting with "x-" and, here, a
 * text value. Element tags the keys it creates with one (x-SolidFire-KeyID-<keyID>).
 */
function customAttribute(name: string, value: string): TtlvStructure {
  return attribute(name, textString(Tag.AttributeValue, value));
}

export const CUSTOM_ATTRIBUTE_PREFIX = 'x-';

/** The custom attributes, in the given order; each name must start with "x-". */
function customAttributes(attributes: Readonly<Record<string, string>> | undefined, field: string): TtlvStructure[] {
  return Object.entries(attributes ?? {}).map(([name, value]) => {
    if (!name.startsWith(CUSTOM_ATTRIBUTE_PREFIX) || name.length === CUSTOM_ATTRIBUTE_PREFIX.length) {
      throw new KmipMessageError(
        `${field}: "${name}" is not a client custom attribute name (it must start with "${CUSTOM_ATTRIBUTE_PREFIX}")`,
      );
    }
    return customAttribute(name, value);
  });
}

const uniqueIdentifier = (uid: string) => textString(Tag.UniqueIdentifier, uid);

/** Empty payload: the server lists every version it supports, preferred first. */
export function discoverVersionsRequest(protocolVersion?: ProtocolVersion): TtlvStructure {
  return requestMessage(Operation.DiscoverVersions, [], protocolVersion);
}

export function queryRequest(protocolVersion?: ProtocolVersion): TtlvStructure {
  const functions = [QueryFunction.QueryOperations, QueryFunction.QueryObjects, QueryFunction.QueryServerInformation];
  return requestMessage(
    Operation.Query,
    functions.map((f) => enumeration(Tag.QueryFunction, f)),
    protocolVersion,
  );
}

export interface CreateSymmetricKeyOptions {
  /** A Name attribute (UninterpretedTextString); none when absent. */
  name?: string;
  lengthBits?: number;
  /** Client custom attributes ("x-" names) with text values, in this order after the Name. */
  customAttributes?: Readonly<Record<string, string>>;
}

/** AES key for Encrypt|Decrypt, with a Name and custom attributes when given. */
export function createSymmetricKeyRequest(options: CreateSymmetricKeyOptions, protocolVersion?: ProtocolVersion): TtlvStructure {
  return requestMessage(
    Operation.Create,
    [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [
        attribute('Cryptographic Algorithm', enumeration(Tag.AttributeValue, CryptographicAlgorithm.Aes)),
        attribute('Cryptographic Length', integer(Tag.AttributeValue, options.lengthBits ?? DEFAULT_KEY_LENGTH_BITS)),
        attribute(
          'Cryptographic Usage Mask',
          integer(Tag.AttributeValue, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
        ),
        ...(options.name === undefined ? [] : [nameAttribute(options.name)]),
        ...customAttributes(options.customAttributes, 'customAttributes'),
      ]),
    ],
    protocolVersion,
  );
}

export function activateRequest(uid: string, protocolVersion?: ProtocolVersion): TtlvStructure {
  return requestMessage(Operation.Activate, [uniqueIdentifier(uid)], protocolVersion);
}

/** Asks for Raw key material explicitly: some servers default to Transparent Symmetric Key. */
export function getRequest(uid: string, protocolVersion?: ProtocolVersion): TtlvStructure {
  return requestMessage(
    Operation.Get,
    [uniqueIdentifier(uid), enumeration(Tag.KeyFormatType, KeyFormatType.Raw)],
    protocolVersion,
  );
}

export function locateByNameRequest(name: string, protocolVersion?: ProtocolVersion): TtlvStructure {
  return requestMessage(Operation.Locate, [nameAttribute(name)], protocolVersion);
}

/** Locate the objects that carry this custom attribute ("x-" name) with this text value. */
export function locateByCustomAttributeRequest(name: string, value: string, protocolVersion?: ProtocolVersion): TtlvStructure {
  return requestMessage(Operation.Locate, customAttributes({ [name]: value }, 'Locate attribute'), protocolVersion);
}

export function revokeRequest(
  uid: string,
  reason: RevocationReasonCode = RevocationReasonCode.Unspecified,
  protocolVersion?: ProtocolVersion,
): TtlvStructure {
  return requestMessage(
    Operation.Revoke,
    [uniqueIdentifier(uid), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, reason)])],
    protocolVersion,
  );
}

export function destroyRequest(uid: string, protocolVersion?: ProtocolVersion): TtlvStructure {
  return requestMessage(Operation.Destroy, [uniqueIdentifier(uid)], protocolVersion);
}

// ---------------------------------------------------------------------------------------------
// Reading fields

function isOfType<T extends ItemType>(item: TtlvItem, type: T): item is Extract<TtlvItem, { type: T }> {
  return item.type === type;
}

function checked<T extends ItemType>(parent: TtlvStructure, child: TtlvItem, type: T): Extract<TtlvItem, { type: T }> {
  if (!isOfType(child, type)) {
    throw new KmipMessageError(
      `${tagName(child.tag)} in ${tagName(parent.tag)} is a ${itemTypeName(child.type)}, expected ${itemTypeName(type)}`,
    );
  }
  return child;
}

function optional<T extends ItemType>(parent: TtlvStructure, tag: number, type: T): Extract<TtlvItem, { type: T }> | undefined {
  const child = findChild(parent, tag);
  return child === undefined ? undefined : checked(parent, child, type);
}

function required<T extends ItemType>(parent: TtlvStructure, tag: number, type: T): Extract<TtlvItem, { type: T }> {
  const child = optional(parent, tag, type);
  if (child === undefined) throw new KmipMessageError(`${tagName(parent.tag)} has no ${tagName(tag)}`);
  return child;
}

function every<T extends ItemType>(parent: TtlvStructure, tag: number, type: T): Extract<TtlvItem, { type: T }>[] {
  return findChildren(parent, tag).map((child) => checked(parent, child, type));
}

// ---------------------------------------------------------------------------------------------
// Responses

export interface ResponseBatchItem {
  /** Servers may leave it out, notably on errors raised before the request was understood. */
  operation?: number;
  resultStatus: number;
  resultReason?: number;
  resultMessage?: string;
  /** Absent on failures and for operations without response fields. */
  payload?: TtlvStructure;
}

export interface ResponseMessage {
  protocolVersion: ProtocolVersion;
  timeStamp?: Date;
  batchItems: ResponseBatchItem[];
}

function parseProtocolVersion(item: TtlvStructure): ProtocolVersion {
  return {
    major: required(item, Tag.ProtocolVersionMajor, ItemType.Integer).value,
    minor: required(item, Tag.ProtocolVersionMinor, ItemType.Integer).value,
  };
}

export function parseResponseMessage(message: TtlvItem): ResponseMessage {
  if (message.tag !== Tag.ResponseMessage || !isOfType(message, ItemType.Structure)) {
    throw new KmipMessageError(
      `expected a ResponseMessage structure, got ${tagName(message.tag)} (${itemTypeName(message.type)})`,
    );
  }
  const header = required(message, Tag.ResponseHeader, ItemType.Structure);
  const batchItems = every(message, Tag.BatchItem, ItemType.Structure).map((item): ResponseBatchItem => ({
    operation: optional(item, Tag.Operation, ItemType.Enumeration)?.value,
    resultStatus: required(item, Tag.ResultStatus, ItemType.Enumeration).value,
    resultReason: optional(item, Tag.ResultReason, ItemType.Enumeration)?.value,
    resultMessage: optional(item, Tag.ResultMessage, ItemType.TextString)?.value,
    payload: optional(item, Tag.ResponsePayload, ItemType.Structure),
  }));
  const batchCount = required(header, Tag.BatchCount, ItemType.Integer).value;
  if (batchCount !== batchItems.length) {
    throw new KmipMessageError(`ResponseHeader says ${batchCount} batch items, the message has ${batchItems.length}`);
  }
  return {
    protocolVersion: parseProtocolVersion(required(header, Tag.ProtocolVersion, ItemType.Structure)),
    timeStamp: optional(header, Tag.TimeStamp, ItemType.DateTime)?.value,
    batchItems,
  };
}

const EMPTY_PAYLOAD = structure(Tag.ResponsePayload, []);

export function parseDiscoverVersionsResponse(payload: TtlvStructure = EMPTY_PAYLOAD): ProtocolVersion[] {
  return every(payload, Tag.ProtocolVersion, ItemType.Structure).map(parseProtocolVersion);
}

export interface QueryResponse extends QueryResult {
  /** Present when the server answered Query Server Information; its content is vendor-defined. */
  serverInformation?: TtlvStructure;
}

export function parseQueryResponse(payload: TtlvStructure = EMPTY_PAYLOAD): QueryResponse {
  return {
    operations: every(payload, Tag.Operation, ItemType.Enumeration).map((i) => i.value),
    objectTypes: every(payload, Tag.ObjectType, ItemType.Enumeration).map((i) => i.value),
    vendorIdentification: optional(payload, Tag.VendorIdentification, ItemType.TextString)?.value,
    serverInformation: optional(payload, Tag.ServerInformation, ItemType.Structure),
  };
}

export function parseCreateResponse(payload: TtlvStructure = EMPTY_PAYLOAD): { objectType: number; uniqueIdentifier: string } {
  return {
    objectType: required(payload, Tag.ObjectType, ItemType.Enumeration).value,
    uniqueIdentifier: required(payload, Tag.UniqueIdentifier, ItemType.TextString).value,
  };
}

/** Activate, Revoke and Destroy answer with the identifier they acted on. */
export function parseUniqueIdentifierResponse(payload: TtlvStructure = EMPTY_PAYLOAD): string {
  return required(payload, Tag.UniqueIdentifier, ItemType.TextString).value;
}

export function parseLocateResponse(payload: TtlvStructure = EMPTY_PAYLOAD): string[] {
  return every(payload, Tag.UniqueIdentifier, ItemType.TextString).map((i) => i.value);
}

/** Key material from a Raw or Transparent Symmetric Key block; wrapped keys are refused. */
export function parseGetResponse(payload: TtlvStructure = EMPTY_PAYLOAD): SymmetricKey {
  const objectType = required(payload, Tag.ObjectType, ItemType.Enumeration).value;
  const uid = required(payload, Tag.UniqueIdentifier, ItemType.TextString).value;
  if (objectType !== ObjectType.SymmetricKey) {
    throw new KmipMessageError(`object ${uid} is of object type ${objectType}, not a Symmetric Key`);
  }
  const keyBlock = required(required(payload, Tag.SymmetricKey, ItemType.Structure), Tag.KeyBlock, ItemType.Structure);
  if (findChild(keyBlock, Tag.KeyWrappingData))
    throw new KmipMessageError(`key ${uid} came back wrapped; this client reads plain keys only`);
  const format = required(keyBlock, Tag.KeyFormatType, ItemType.Enumeration).value;
  const keyValue = required(keyBlock, Tag.KeyValue, ItemType.Structure);
  let keyMaterial: Buffer;
  if (format === KeyFormatType.Raw) {
    keyMaterial = required(keyValue, Tag.KeyMaterial, ItemType.ByteString).value;
  } else if (format === KeyFormatType.TransparentSymmetricKey) {
    keyMaterial = required(required(keyValue, Tag.KeyMaterial, ItemType.Structure), Tag.Key, ItemType.ByteString).value;
  } else {
    throw new KmipMessageError(`key ${uid} came back in Key Format Type ${format}, expected Raw (1)`);
  }
  return {
    uniqueIdentifier: uid,
    cryptographicAlgorithm: required(keyBlock, Tag.CryptographicAlgorithm, ItemType.Enumeration).value,
    cryptographicLength: required(keyBlock, Tag.CryptographicLength, ItemType.Integer).value,
    keyMaterial,
  };
}
