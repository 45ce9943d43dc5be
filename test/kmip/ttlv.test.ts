import { ItemType, Operation, ResultStatus, ObjectType, Tag } from '../../src/kmip/tags';
import {
  bigInteger,
  boolean,
  byteString,
  dateTime,
  decodeTtlv,
  describeTtlv,
  encodeTtlv,
  enumeration,
  integer,
  interval,
  longInteger,
  messageLength,
  structure,
  textString,
  TtlvError,
  TtlvMessageReader,
  type TtlvItem,
} from '../../src/kmip/ttlv';

/** "42 00 20 | 02 | ..." -> bytes; spaces and bars are for the reader. */
const hex = (text: string) => Buffer.from(text.replace(/[\s|]/g, ''), 'hex');

const expectBytes = (item: TtlvItem, expected: string) => {
  expect(encodeTtlv(item).toString('hex')).toBe(hex(expected).toString('hex'));
  expect(decodeTtlv(hex(expected))).toEqual(item);
};

describe('TTLV item encodings from the KMIP 1.4 specification (§9.1.2)', () => {
  test('Integer 8', () => {
    expectBytes(integer(0x420020, 8), '42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00');
  });

  test('Long Integer 123456789000000000', () => {
    expectBytes(longInteger(0x420020, 123456789000000000n), '42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00');
  });

  test('Big Integer 1234567890000000000000000000 (sign-extended to 16 bytes)', () => {
    expectBytes(
      bigInteger(0x420020, 1234567890000000000000000000n),
      '42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00',
    );
  });

  test('Enumeration 255', () => {
    expectBytes(enumeration(0x420020, 255), '42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00');
  });

  test('Boolean True', () => {
    expectBytes(boolean(0x420020, true), '42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01');
  });

  test('Text String "Hello World" (length 11, 5 pad bytes)', () => {
    expectBytes(
      textString(0x420020, 'Hello World'),
      '42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00',
    );
  });

  test('Byte String 01 02 03 (length 3, 5 pad bytes)', () => {
    expectBytes(byteString(0x420020, Buffer.from([1, 2, 3])), '42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00');
  });

  test('Date-Time Friday, March 14, 2008, 11:56:40 GMT', () => {
    expectBytes(dateTime(0x420020, new Date('2008-03-14T11:56:40Z')), '42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8');
  });

  test('Interval 10 days', () => {
    expectBytes(interval(0x420020, 10 * 24 * 3600), '42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00');
  });

  test('Structure holding Enumeration 254 and Integer 255', () => {
    expectBytes(
      structure(0x420020, [enumeration(0x420004, 254), integer(0x420005, 255)]),
      `42 00 20 | 01 | 00 00 00 20 |
         42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 |
         42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00`,
    );
  });
});

describe('TTLV edge cases', () => {
  test('negative Integer is two’s complement, still padded', () => {
    expectBytes(integer(0x420020, -2), '42 00 20 | 02 | 00 00 00 04 | FF FF FF FE 00 00 00 00');
  });

  test('Integer limits', () => {
    expectBytes(integer(0x420020, 2147483647), '42 00 20 | 02 | 00 00 00 04 | 7F FF FF FF 00 00 00 00');
    expectBytes(integer(0x420020, -2147483648), '42 00 20 | 02 | 00 00 00 04 | 80 00 00 00 00 00 00 00');
  });

  test('negative Long Integer', () => {
    expectBytes(longInteger(0x420020, -1n), '42 00 20 | 03 | 00 00 00 08 | FF FF FF FF FF FF FF FF');
  });

  test('Big Integer zero, -1 and the first value that needs a second 8-byte word', () => {
    expectBytes(bigInteger(0x420020, 0n), '42 00 20 | 04 | 00 00 00 08 | 00 00 00 00 00 00 00 00');
    expectBytes(bigInteger(0x420020, -1n), '42 00 20 | 04 | 00 00 00 08 | FF FF FF FF FF FF FF FF');
    expectBytes(bigInteger(0x420020, 1n << 63n), '42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 00 00 00 00 80 00 00 00 00 00 00 00');
    expectBytes(bigInteger(0x420020, -(1n << 63n)), '42 00 20 | 04 | 00 00 00 08 | 80 00 00 00 00 00 00 00');
    expectBytes(
      bigInteger(0x420020, -(1n << 63n) - 1n),
      '42 00 20 | 04 | 00 00 00 10 | FF FF FF FF FF FF FF FF 7F FF FF FF FF FF FF FF',
    );
  });

  test('Boolean False', () => {
    expectBytes(boolean(0x420020, false), '42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 00');
  });

  test('an 8-byte Text String takes no padding; an empty one has no value bytes', () => {
    expectBytes(textString(0x420020, 'ABCDEFGH'), '42 00 20 | 07 | 00 00 00 08 | 41 42 43 44 45 46 47 48');
    expectBytes(textString(0x420020, ''), '42 00 20 | 07 | 00 00 00 00');
  });

  test('Text String length counts UTF-8 bytes, not characters', () => {
    expectBytes(textString(0x420020, 'é€'), '42 00 20 | 07 | 00 00 00 05 | C3 A9 E2 82 AC 00 00 00');
  });

  test('an empty Structure', () => {
    expectBytes(structure(0x42007c, []), '42 00 7C | 01 | 00 00 00 00');
  });

  test('Date-Time drops milliseconds', () => {
    const encoded = encodeTtlv(dateTime(0x420092, new Date('2024-01-02T03:04:05.999Z')));
    expect((decodeTtlv(encoded).value as Date).toISOString()).toBe('2024-01-02T03:04:05.000Z');
  });

  test('nested structures: each length counts the padded children, not the parent’s padding', () => {
    const item = structure(0x420078, [
      structure(0x420077, [structure(0x420069, [integer(0x42006a, 1), integer(0x42006b, 2)])]),
      textString(0x420094, 'abc'),
    ]);
    expectBytes(
      item,
      `42 00 78 | 01 | 00 00 00 40 |
         42 00 77 | 01 | 00 00 00 28 |
           42 00 69 | 01 | 00 00 00 20 |
             42 00 6A | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 |
             42 00 6B | 02 | 00 00 00 04 | 00 00 00 02 00 00 00 00 |
         42 00 94 | 07 | 00 00 00 03 | 61 62 63 00 00 00 00 00`,
    );
  });
});

describe('decoding a response from the KMIP use cases', () => {
  // The Create response of the KMIP 1.0 use case "Create / Destroy" (symmetric key
  // fc8833de-70d2-4ece-b063-fede3a3c59fe), byte for byte.
  const createResponse = hex(`
    42 00 7B 01 00 00 00 C0
      42 00 7A 01 00 00 00 48
        42 00 69 01 00 00 00 20
          42 00 6A 02 00 00 00 04 00 00 00 01 00 00 00 00
          42 00 6B 02 00 00 00 04 00 00 00 00 00 00 00 00
        42 00 92 09 00 00 00 08 00 00 00 00 4A FB E7 C2
        42 00 0D 02 00 00 00 04 00 00 00 01 00 00 00 00
      42 00 0F 01 00 00 00 68
        42 00 5C 05 00 00 00 04 00 00 00 01 00 00 00 00
        42 00 7F 05 00 00 00 04 00 00 00 00 00 00 00 00
        42 00 7C 01 00 00 00 40
          42 00 57 05 00 00 00 04 00 00 00 02 00 00 00 00
          42 00 94 07 00 00 00 24
            66 63 38 38 33 33 64 65 2D 37 30 64 32 2D 34 65 63 65 2D 62 30 36 33 2D 66 65 64 65 33 61 33 63 35 39 66 65 00 00 00 00`);

  test('decodes into the expected tree', () => {
    const decoded = decodeTtlv(createResponse);
    expect(decoded).toEqual(
      structure(Tag.ResponseMessage, [
        structure(Tag.ResponseHeader, [
          structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 0)]),
          dateTime(Tag.TimeStamp, new Date('2009-11-12T10:47:30Z')),
          integer(Tag.BatchCount, 1),
        ]),
        structure(Tag.BatchItem, [
          enumeration(Tag.Operation, Operation.Create),
          enumeration(Tag.ResultStatus, ResultStatus.Success),
          structure(Tag.ResponsePayload, [
            enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
            textString(Tag.UniqueIdentifier, 'fc8833de-70d2-4ece-b063-fede3a3c59fe'),
          ]),
        ]),
      ]),
    );
  });

  test('re-encodes to the same bytes', () => {
    expect(encodeTtlv(decodeTtlv(createResponse)).equals(createResponse)).toBe(true);
  });

  test('frames as exactly one message, whole or byte by byte', () => {
    expect(messageLength(createResponse)).toBe(createResponse.length);
    const reader = new TtlvMessageReader();
    const seen: Buffer[] = [];
    for (const byte of createResponse) seen.push(...reader.push(Buffer.from([byte])));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.equals(createResponse)).toBe(true);
    expect(reader.pendingBytes).toBe(0);
  });

  test('describeTtlv names the tags', () => {
    const text = describeTtlv(decodeTtlv(createResponse));
    expect(text).toContain('ResponseMessage (Structure)');
    expect(text).toContain('UniqueIdentifier (Text String): "fc8833de-70d2-4ece-b063-fede3a3c59fe"');
  });
});

describe('round trips', () => {
  test('one structure holding every item type', () => {
    const item = structure(0x540001, [
      integer(0x540002, -123456),
      longInteger(0x540003, -(1n << 62n)),
      bigInteger(0x540004, -(1n << 200n) + 12345n),
      enumeration(0x540005, 0xffffffff),
      boolean(0x540006, true),
      textString(0x540007, 'naïve — ключ'),
      byteString(0x540008, Buffer.from('000102030405060708090a', 'hex')),
      dateTime(0x540009, new Date('1999-12-31T23:59:59Z')),
      interval(0x54000a, 0),
      structure(0x54000b, [structure(0x54000c, [byteString(0x54000d, Buffer.alloc(0))])]),
    ]);
    const encoded = encodeTtlv(item);
    expect(encoded.length % 8).toBe(0);
    expect(decodeTtlv(encoded)).toEqual(item);
  });

  test('Byte Strings of every length up to 17 keep their bytes and pad to 8', () => {
    for (let length = 0; length <= 17; length++) {
      const value = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + 11) & 0xff));
      const encoded = encodeTtlv(byteString(0x420043, value));
      expect(encoded.readUInt32BE(4)).toBe(length);
      expect(encoded.length).toBe(8 + Math.ceil(length / 8) * 8);
      expect(encoded.subarray(8 + length).every((b) => b === 0)).toBe(true);
      expect(decodeTtlv(encoded)).toEqual(byteString(0x420043, value));
    }
  });
});

describe('decoding errors', () => {
  const integer8 = '42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00';

  test.each([
    ['empty input', '', /truncated: an item header needs 8 bytes, 0 left/],
    ['a partial header', '42 00 20 02 00', /truncated/],
    [
      'a value shorter than its length',
      '42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C',
      /truncated: 0x420020 needs 16 bytes of value, 4 left/,
    ],
    ['missing padding', '42 00 20 | 02 | 00 00 00 04 | 00 00 00 08', /truncated/],
    ['bytes after the item', `${integer8} 00`, /1 unexpected bytes after the item/],
    ['an unknown item type', '42 00 20 | 0B | 00 00 00 04 | 00 00 00 08 00 00 00 00', /unknown type 0x0b/],
    [
      'an Integer with length 8',
      '42 00 20 | 02 | 00 00 00 08 | 00 00 00 00 00 00 00 08',
      /Integer 0x420020 has length 8, expected 4/,
    ],
    ['an Enumeration with length 2', '42 00 20 | 05 | 00 00 00 02 | 00 01 00 00 00 00 00 00', /has length 2, expected 4/],
    ['a Boolean that is neither 0 nor 1', '42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 02', /neither 0 nor 1/],
    ['a Big Integer of 5 bytes', '42 00 20 | 04 | 00 00 00 05 | 01 02 03 04 05 00 00 00', /not a positive multiple of 8/],
    ['invalid UTF-8 in a Text String', '42 00 20 | 07 | 00 00 00 02 | C3 28 00 00 00 00 00 00', /not valid UTF-8/],
    [
      'a child that overruns its structure',
      `42 00 20 | 01 | 00 00 00 10 | 42 00 04 | 07 | 00 00 00 10 | 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41`,
      /truncated/,
    ],
    ['an HTTP answer', Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n').toString('hex'), /unknown type 0x50|truncated/],
  ])('%s', (_name, input, message) => {
    expect(() => decodeTtlv(hex(input))).toThrow(TtlvError);
    expect(() => decodeTtlv(hex(input))).toThrow(message);
  });

  test('structures nested absurdly deep are refused instead of overflowing the stack', () => {
    let bytes = Buffer.alloc(0);
    for (let i = 0; i < 100; i++) {
      const header = Buffer.alloc(8);
      header.writeUIntBE(0x420020, 0, 3);
      header[3] = ItemType.Structure;
      header.writeUInt32BE(bytes.length, 4);
      bytes = Buffer.concat([header, bytes]);
    }
    expect(() => decodeTtlv(bytes)).toThrow(/nested deeper than 64 levels/);
  });
});

describe('encoding errors', () => {
  test.each([
    ['Integer above int32', integer(0x420020, 2 ** 31), /not a signed 32-bit integer/],
    ['fractional Integer', integer(0x420020, 1.5), /not a signed 32-bit integer/],
    ['negative Enumeration', enumeration(0x420020, -1), /not an unsigned 32-bit integer/],
    ['Interval above uint32', interval(0x420020, 2 ** 32), /not an unsigned 32-bit integer/],
    ['Long Integer above int64', longInteger(0x420020, 1n << 63n), /does not fit in 64 bits/],
    ['invalid Date', dateTime(0x420020, new Date(Number.NaN)), /invalid Date/],
    ['tag wider than 3 bytes', integer(0x1000000, 1), /does not fit in 3 bytes/],
  ])('%s', (_name, item, message) => {
    expect(() => encodeTtlv(item)).toThrow(TtlvError);
    expect(() => encodeTtlv(item)).toThrow(message);
  });
});

describe('framing messages from a byte stream', () => {
  const first = encodeTtlv(structure(Tag.ResponseMessage, [integer(Tag.BatchCount, 1)]));
  const second = encodeTtlv(structure(Tag.ResponseMessage, [textString(Tag.ResultMessage, 'second message')]));

  test('two messages in one chunk, then a third split across chunks', () => {
    const reader = new TtlvMessageReader();
    const out = reader.push(Buffer.concat([first, second, second.subarray(0, 5)]));
    expect(out.map((m) => m.toString('hex'))).toEqual([first.toString('hex'), second.toString('hex')]);
    expect(reader.pendingBytes).toBe(5);
    expect(reader.push(second.subarray(5, 20))).toEqual([]);
    const last = reader.push(second.subarray(20));
    expect(last).toHaveLength(1);
    expect(last[0]!.equals(second)).toBe(true);
  });

  test('a stream that does not start with a Structure is refused at its first 8 bytes', () => {
    const reader = new TtlvMessageReader();
    expect(() => reader.push(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toThrow(
      /a message must be a Structure, got unknown type 0x50/,
    );
    expect(() => messageLength(hex('42 00 20 | 02 | 00 00 00 04'))).toThrow(/must be a Structure, got Integer/);
  });

  test('a declared length that is not a multiple of 8, or too large, is refused', () => {
    expect(() => messageLength(hex('42 00 7B | 01 | 00 00 00 0C'))).toThrow(/not a multiple of 8/);
    expect(() => new TtlvMessageReader(1024).push(hex('42 00 7B | 01 | 00 10 00 00'))).toThrow(/exceeds the 1024-byte limit/);
  });
});
