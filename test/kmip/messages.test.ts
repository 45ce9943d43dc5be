import { KmipMessageError, KmipOperationError } from '../../src/kmip/errors';
import {
  createSymmetricKeyRequest,
  discoverVersionsRequest,
  getRequest,
  locateByCustomAttributeRequest,
  locateByNameRequest,
  parseGetResponse,
  parseLocateResponse,
  parseQueryResponse,
  parseResponseMessage,
  revokeRequest,
} from '../../src/kmip/messages';
import {
  CryptographicAlgorithm,
  ItemType,
  KeyFormatType,
  ObjectType,
  Operation,
  operationName,
  ResultReason,
  resultReasonName,
  ResultStatus,
  Tag,
  tagName,
} from '../../src/kmip/tags';
import {
  byteString,
  dateTime,
  decodeTtlv,
  encodeTtlv,
  enumeration,
  findChild,
  findChildren,
  integer,
  structure,
  textString,
  type TtlvItem,
  type TtlvStructure,
} from '../../src/kmip/ttlv';

const hex = (text: string) => Buffer.from(text.replace(/[\s|]/g, ''), 'hex').toString('hex');

function child(parent: TtlvItem | undefined, tag: number): TtlvItem {
  if (parent?.type !== ItemType.Structure) throw new Error(`not a structure: ${parent ? tagName(parent.tag) : 'undefined'}`);
  const found = findChild(parent, tag);
  if (!found) throw new Error(`${tagName(parent.tag)} has no ${tagName(tag)}`);
  return found;
}

function asStructure(item: TtlvItem): TtlvStructure {
  if (item.type !== ItemType.Structure) throw new Error(`${tagName(item.tag)} is not a structure`);
  return item;
}

/** Attribute name -> AttributeValue item, from a TemplateAttribute or a Locate payload. */
function attributes(parent: TtlvStructure): Map<string, TtlvItem> {
  return new Map(
    findChildren(parent, Tag.Attribute).map((a) => [child(a, Tag.AttributeName).value as string, child(a, Tag.AttributeValue)]),
  );
}

const payloadOf = (request: TtlvStructure) => asStructure(child(child(request, Tag.BatchItem), Tag.RequestPayload));

describe('request messages', () => {
  test('DiscoverVersions: KMIP 1.2 header, batch count 1, empty payload (exact bytes)', () => {
    expect(encodeTtlv(discoverVersionsRequest()).toString('hex')).toBe(
      hex(`42 00 78 | 01 | 00 00 00 60 |
             42 00 77 | 01 | 00 00 00 38 |
               42 00 69 | 01 | 00 00 00 20 |
                 42 00 6A | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 |
                 42 00 6B | 02 | 00 00 00 04 | 00 00 00 02 00 00 00 00 |
               42 00 0D | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 |
             42 00 0F | 01 | 00 00 00 18 |
               42 00 5C | 05 | 00 00 00 04 | 00 00 00 1E 00 00 00 00 |
               42 00 79 | 01 | 00 00 00 00`),
    );
  });

  test('Revoke: unique identifier and RevocationReason Unspecified (exact bytes)', () => {
    expect(encodeTtlv(revokeRequest('1')).toString('hex')).toBe(
      hex(`42 00 78 | 01 | 00 00 00 88 |
             42 00 77 | 01 | 00 00 00 38 |
               42 00 69 | 01 | 00 00 00 20 |
                 42 00 6A | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 |
                 42 00 6B | 02 | 00 00 00 04 | 00 00 00 02 00 00 00 00 |
               42 00 0D | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 |
             42 00 0F | 01 | 00 00 00 40 |
               42 00 5C | 05 | 00 00 00 04 | 00 00 00 13 00 00 00 00 |
               42 00 79 | 01 | 00 00 00 28 |
                 42 00 94 | 07 | 00 00 00 01 | 31 00 00 00 00 00 00 00 |
                 42 00 81 | 01 | 00 00 00 10 |
                   42 00 82 | 05 | 00 00 00 04 | 00 00 00 01 00 00 00 00`),
    );
  });

  test('Create: AES symmetric key, 256 bits by default, Encrypt|Decrypt, named', () => {
    const request = createSymmetricKeyRequest({ name: 'cluster-7 master key' });
    const payload = payloadOf(request);
    expect(child(payload, Tag.ObjectType)).toEqual(enumeration(Tag.ObjectType, ObjectType.SymmetricKey));
    const attrs = attributes(asStructure(child(payload, Tag.TemplateAttribute)));
    expect([...attrs.keys()]).toEqual(['Cryptographic Algorithm', 'Cryptographic Length', 'Cryptographic Usage Mask', 'Name']);
    expect(attrs.get('Cryptographic Algorithm')).toEqual(enumeration(Tag.AttributeValue, CryptographicAlgorithm.Aes));
    expect(attrs.get('Cryptographic Length')).toEqual(integer(Tag.AttributeValue, 256));
    expect(attrs.get('Cryptographic Usage Mask')).toEqual(integer(Tag.AttributeValue, 0x0c));
    expect(attrs.get('Name')).toEqual(
      structure(Tag.AttributeValue, [textString(Tag.NameValue, 'cluster-7 master key'), enumeration(Tag.NameType, 1)]),
    );
    expect(child(child(request, Tag.BatchItem), Tag.Operation)).toEqual(enumeration(Tag.Operation, Operation.Create));
  });

  test('Create honours the key length and an explicit protocol version', () => {
    const request = createSymmetricKeyRequest({ name: 'k', lengthBits: 128 }, { major: 1, minor: 4 });
    const attrs = attributes(asStructure(child(payloadOf(request), Tag.TemplateAttribute)));
    expect(attrs.get('Cryptographic Length')).toEqual(integer(Tag.AttributeValue, 128));
    const version = child(child(request, Tag.RequestHeader), Tag.ProtocolVersion);
    expect(child(version, Tag.ProtocolVersionMinor)).toEqual(integer(Tag.ProtocolVersionMinor, 4));
  });

  test('Get asks for Raw key material', () => {
    const payload = payloadOf(getRequest('42'));
    expect(payload.value).toEqual([textString(Tag.UniqueIdentifier, '42'), enumeration(Tag.KeyFormatType, KeyFormatType.Raw)]);
  });

  test('Locate filters on the Name attribute only', () => {
    const payload = payloadOf(locateByNameRequest('k1'));
    expect(payload.value).toHaveLength(1);
    expect(attributes(payload).get('Name')).toEqual(
      structure(Tag.AttributeValue, [textString(Tag.NameValue, 'k1'), enumeration(Tag.NameType, 1)]),
    );
  });

  test("Create carries Element's custom attribute as an x- name with a text value, and no Name unless asked", () => {
    const keyID = '0d4c7a52-8f1e-4b6a-9c3d-2e5f6a7b8c9d';
    const request = createSymmetricKeyRequest({ customAttributes: { [`x-SolidFire-KeyID-${keyID}`]: keyID } });
    const attrs = attributes(asStructure(child(payloadOf(request), Tag.TemplateAttribute)));
    expect(attrs.get(`x-SolidFire-KeyID-${keyID}`)).toEqual(textString(Tag.AttributeValue, keyID));
    expect(attrs.has('Name')).toBe(false);
    expect([...attrs.keys()]).toEqual([
      'Cryptographic Algorithm',
      'Cryptographic Length',
      'Cryptographic Usage Mask',
      `x-SolidFire-KeyID-${keyID}`,
    ]);
  });

  test('Locate by a custom attribute filters on that attribute and value only', () => {
    const payload = payloadOf(locateByCustomAttributeRequest('x-SolidFire-KeyID-k1', 'k1'));
    expect(payload.value).toHaveLength(1);
    expect(attributes(payload).get('x-SolidFire-KeyID-k1')).toEqual(textString(Tag.AttributeValue, 'k1'));
  });

  test('a custom attribute name without the x- prefix is refused, naming the field', () => {
    expect(() => locateByCustomAttributeRequest('SolidFire-KeyID-k1', 'k1')).toThrow(
      new KmipMessageError(
        'Locate attribute: "SolidFire-KeyID-k1" is not a client custom attribute name (it must start with "x-")',
      ),
    );
    expect(() => createSymmetricKeyRequest({ customAttributes: { 'x-': 'v' } })).toThrow(/^customAttributes: "x-" is not/);
  });

  test('every request survives an encode/decode round trip', () => {
    for (const request of [
      discoverVersionsRequest(),
      createSymmetricKeyRequest({ name: 'n' }),
      createSymmetricKeyRequest({ customAttributes: { 'x-a': 'b' } }),
      locateByCustomAttributeRequest('x-a', 'b'),
      revokeRequest('9'),
    ]) {
      expect(decodeTtlv(encodeTtlv(request))).toEqual(request);
    }
  });
});

const header = (batchCount = 1) =>
  structure(Tag.ResponseHeader, [
    structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 2)]),
    dateTime(Tag.TimeStamp, new Date('2026-01-01T00:00:00Z')),
    integer(Tag.BatchCount, batchCount),
  ]);

describe('response messages', () => {
  test('an error answer without Operation (as PyKMIP sends for authentication failures)', () => {
    const response = parseResponseMessage(
      structure(Tag.ResponseMessage, [
        header(),
        structure(Tag.BatchItem, [
          enumeration(Tag.ResultStatus, ResultStatus.OperationFailed),
          enumeration(Tag.ResultReason, ResultReason.AuthenticationNotSuccessful),
          textString(Tag.ResultMessage, 'Error verifying the client certificate.'),
        ]),
      ]),
    );
    expect(response).toEqual({
      protocolVersion: { major: 1, minor: 2 },
      timeStamp: new Date('2026-01-01T00:00:00Z'),
      batchItems: [
        {
          operation: undefined,
          resultStatus: 1,
          resultReason: 3,
          resultMessage: 'Error verifying the client certificate.',
          payload: undefined,
        },
      ],
    });
  });

  test('shape errors name the field', () => {
    const bad = (items: TtlvItem[]) => () => parseResponseMessage(structure(Tag.ResponseMessage, items));
    expect(bad([])).toThrow(new KmipMessageError('ResponseMessage has no ResponseHeader'));
    expect(bad([header(2), structure(Tag.BatchItem, [enumeration(Tag.ResultStatus, 0)])])).toThrow(
      'ResponseHeader says 2 batch items, the message has 1',
    );
    expect(bad([header(), structure(Tag.BatchItem, [textString(Tag.ResultStatus, 'ok')])])).toThrow(
      'ResultStatus in BatchItem is a Text String, expected Enumeration',
    );
    expect(() => parseResponseMessage(integer(Tag.ResponseMessage, 1))).toThrow(/expected a ResponseMessage structure/);
  });

  const getPayload = (format: number, keyMaterial: TtlvItem, extra: TtlvItem[] = []) =>
    structure(Tag.ResponsePayload, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      textString(Tag.UniqueIdentifier, '7'),
      structure(Tag.SymmetricKey, [
        structure(Tag.KeyBlock, [
          enumeration(Tag.KeyFormatType, format),
          structure(Tag.KeyValue, [keyMaterial]),
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.Aes),
          integer(Tag.CryptographicLength, 128),
          ...extra,
        ]),
      ]),
    ]);
  const material = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

  test('Get: Raw key material', () => {
    expect(parseGetResponse(getPayload(KeyFormatType.Raw, byteString(Tag.KeyMaterial, material)))).toEqual({
      uniqueIdentifier: '7',
      cryptographicAlgorithm: CryptographicAlgorithm.Aes,
      cryptographicLength: 128,
      keyMaterial: material,
    });
  });

  test('Get: Transparent Symmetric Key material', () => {
    const key = parseGetResponse(
      getPayload(KeyFormatType.TransparentSymmetricKey, structure(Tag.KeyMaterial, [byteString(Tag.Key, material)])),
    );
    expect(key.keyMaterial.equals(material)).toBe(true);
  });

  test('Get: wrapped keys, other formats and other object types are refused', () => {
    const raw = byteString(Tag.KeyMaterial, material);
    expect(() => parseGetResponse(getPayload(KeyFormatType.Raw, raw, [structure(Tag.KeyWrappingData, [])]))).toThrow(
      /came back wrapped/,
    );
    expect(() => parseGetResponse(getPayload(KeyFormatType.Opaque, raw))).toThrow(/Key Format Type 2, expected Raw/);
    const certificate = structure(Tag.ResponsePayload, [
      enumeration(Tag.ObjectType, ObjectType.Certificate),
      textString(Tag.UniqueIdentifier, '8'),
    ]);
    expect(() => parseGetResponse(certificate)).toThrow(/object 8 is of object type 1, not a Symmetric Key/);
  });

  test('Query and Locate read repeated fields; absent payloads mean empty lists', () => {
    const query = parseQueryResponse(
      structure(Tag.ResponsePayload, [
        enumeration(Tag.Operation, Operation.Create),
        enumeration(Tag.Operation, Operation.Get),
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        textString(Tag.VendorIdentification, 'Acme KMS 1.0'),
      ]),
    );
    expect(query).toEqual({
      operations: [1, 10],
      objectTypes: [2],
      vendorIdentification: 'Acme KMS 1.0',
      serverInformation: undefined,
    });
    expect(parseQueryResponse(undefined)).toEqual({
      operations: [],
      objectTypes: [],
      vendorIdentification: undefined,
      serverInformation: undefined,
    });
    const located = structure(Tag.ResponsePayload, [
      textString(Tag.UniqueIdentifier, '3'),
      textString(Tag.UniqueIdentifier, '1'),
    ]);
    expect(parseLocateResponse(located)).toEqual(['3', '1']);
    expect(parseLocateResponse(undefined)).toEqual([]);
  });
});

describe('operator-facing names', () => {
  test('KmipOperationError says which server refused what, and why', () => {
    const err = new KmipOperationError(
      '127.0.0.1:5696',
      Operation.Get,
      ResultStatus.OperationFailed,
      0x01,
      'Could not locate object: 9',
    );
    expect(err.message).toBe(
      'KMIP server 127.0.0.1:5696 rejected the Get request: Item Not Found (0x01): Could not locate object: 9',
    );
    expect(err).toMatchObject({
      name: 'KmipOperationError',
      operationName: 'Get',
      reasonName: 'Item Not Found',
      resultReason: 1,
    });

    const auth = new KmipOperationError(
      'kmip.example:5696',
      Operation.DiscoverVersions,
      1,
      ResultReason.AuthenticationNotSuccessful,
      undefined,
    );
    expect(auth.message).toBe(
      'KMIP server kmip.example:5696 rejected the DiscoverVersions request: Authentication Not Successful (0x03)',
    );

    const general = new KmipOperationError('h:1', Operation.Create, 1, ResultReason.GeneralFailure, 'boom');
    expect(general.message).toBe('KMIP server h:1 rejected the Create request: General Failure (0x100): boom');

    const noReason = new KmipOperationError('h:1', Operation.Activate, ResultStatus.OperationPending, undefined, undefined);
    expect(noReason.message).toBe('KMIP server h:1 rejected the Activate request: Operation Pending');
  });

  test('unknown codes still print', () => {
    expect(resultReasonName(0x42)).toBe('Result Reason 0x42');
    expect(operationName(0x7f)).toBe('Operation 0x7F');
    expect(tagName(0x540001)).toBe('0x540001');
    expect(resultReasonName(ResultReason.PermissionDenied)).toBe('Permission Denied');
  });
});
