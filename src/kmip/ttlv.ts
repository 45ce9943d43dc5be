/**
 * TTLV, the binary encoding of KMIP (KMIP 1.4 §9.1): 3-byte tag, 1-byte type, 4-byte length, then
 * the value zero-padded to a multiple of 8 bytes. Everything big-endian; the length excludes padding.
 */
import { ItemType, tagName } from './tags';

interface ValueByType {
  [ItemType.Structure]: TtlvItem[];
  [ItemType.Integer]: number;
  [ItemType.LongInteger]: bigint;
  [ItemType.BigInteger]: bigint;
  [ItemType.Enumeration]: number;
  [ItemType.Boolean]: boolean;
  [ItemType.TextString]: string;
  [ItemType.ByteString]: Buffer;
  /** Whole seconds on the wire: milliseconds are dropped when encoding. */
  [ItemType.DateTime]: Date;
  /** Seconds. */
  [ItemType.Interval]: number;
}

export interface TtlvItemOf<T extends ItemType> {
  tag: number;
  type: T;
  value: ValueByType[T];
}

export type TtlvItem = { [T in ItemType]: TtlvItemOf<T> }[ItemType];
export type TtlvStructure = TtlvItemOf<typeof ItemType.Structure>;

/** A TTLV encoding or decoding failure; offset is where in the input decoding stopped. */
export class TtlvError extends Error {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.name = 'TtlvError';
  }
}

export const TTLV_HEADER_LENGTH = 8;
const MAX_DEPTH = 64;
const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UINT32_MAX = 0xffff_ffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
/** Date can hold ±8.64e15 ms. */
const MAX_DATE_SECONDS = 8_640_000_000_000n;

const FIXED_LENGTH: Partial<Record<ItemType, number>> = {
  [ItemType.Integer]: 4,
  [ItemType.LongInteger]: 8,
  [ItemType.Enumeration]: 4,
  [ItemType.Boolean]: 8,
  [ItemType.DateTime]: 8,
  [ItemType.Interval]: 4,
};

const TYPE_NAMES: Record<ItemType, string> = {
  [ItemType.Structure]: 'Structure',
  [ItemType.Integer]: 'Integer',
  [ItemType.LongInteger]: 'Long Integer',
  [ItemType.BigInteger]: 'Big Integer',
  [ItemType.Enumeration]: 'Enumeration',
  [ItemType.Boolean]: 'Boolean',
  [ItemType.TextString]: 'Text String',
  [ItemType.ByteString]: 'Byte String',
  [ItemType.DateTime]: 'Date-Time',
  [ItemType.Interval]: 'Interval',
};

export function isItemType(type: number): type is ItemType {
  return type in TYPE_NAMES;
}

export function itemTypeName(type: number): string {
  return isItemType(type) ? TYPE_NAMES[type] : `unknown type 0x${type.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Builders

export const structure = (tag: number, value: TtlvItem[]): TtlvStructure => ({ tag, type: ItemType.Structure, value });
export const integer = (tag: number, value: number): TtlvItemOf<typeof ItemType.Integer> => ({
  tag,
  type: ItemType.Integer,
  value,
});
export const longInteger = (tag: number, value: bigint): TtlvItemOf<typeof ItemType.LongInteger> => ({
  tag,
  type: ItemType.LongInteger,
  value,
});
export const bigInteger = (tag: number, value: bigint): TtlvItemOf<typeof ItemType.BigInteger> => ({
  tag,
  type: ItemType.BigInteger,
  value,
});
export const enumeration = (tag: number, value: number): TtlvItemOf<typeof ItemType.Enumeration> => ({
  tag,
  type: ItemType.Enumeration,
  value,
});
export const boolean = (tag: number, value: boolean): TtlvItemOf<typeof ItemType.Boolean> => ({
  tag,
  type: ItemType.Boolean,
  value,
});
export const textString = (tag: number, value: string): TtlvItemOf<typeof ItemType.TextString> => ({
  tag,
  type: ItemType.TextString,
  value,
});
export const byteString = (tag: number, value: Buffer): TtlvItemOf<typeof ItemType.ByteString> => ({
  tag,
  type: ItemType.ByteString,
  value,
});
export const dateTime = (tag: number, value: Date): TtlvItemOf<typeof ItemType.DateTime> => ({
  tag,
  type: ItemType.DateTime,
  value,
});
export const interval = (tag: number, value: number): TtlvItemOf<typeof ItemType.Interval> => ({
  tag,
  type: ItemType.Interval,
  value,
});

// ---------------------------------------------------------------------------------------------
// Encoding

const paddedLength = (length: number) => Math.ceil(length / 8) * 8;

function uint32(value: number, what: string): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX)
    throw new TtlvError(`${what} ${value} is not an unsigned 32-bit integer`);
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function int64(value: bigint, what: string): Buffer {
  if (value < INT64_MIN || value > INT64_MAX) throw new TtlvError(`${what} ${value} does not fit in 64 bits`);
  const out = Buffer.alloc(8);
  out.writeBigInt64BE(value);
  return out;
}

/** Two's complement, sign-extended to a multiple of 8 bytes (at least 8). */
function encodeBigInteger(value: bigint): Buffer {
  let bytes = 8;
  while (value < -(1n << BigInt(bytes * 8 - 1)) || value >= 1n << BigInt(bytes * 8 - 1)) bytes += 8;
  const unsigned = BigInt.asUintN(bytes * 8, value);
  return Buffer.from(unsigned.toString(16).padStart(bytes * 2, '0'), 'hex');
}

function encodeValue(item: TtlvItem): Buffer {
  switch (item.type) {
    case ItemType.Structure:
      return Buffer.concat(item.value.map(encodeTtlv));
    case ItemType.Integer: {
      if (!Number.isInteger(item.value) || item.value < INT32_MIN || item.value > INT32_MAX) {
        throw new TtlvError(`Integer ${item.value} for ${tagName(item.tag)} is not a signed 32-bit integer`);
      }
      const out = Buffer.alloc(4);
      out.writeInt32BE(item.value);
      return out;
    }
    case ItemType.LongInteger:
      return int64(item.value, `Long Integer for ${tagName(item.tag)}`);
    case ItemType.BigInteger:
      return encodeBigInteger(item.value);
    case ItemType.Enumeration:
      return uint32(item.value, `Enumeration for ${tagName(item.tag)}`);
    case ItemType.Boolean:
      return Buffer.from([0, 0, 0, 0, 0, 0, 0, item.value ? 1 : 0]);
    case ItemType.TextString:
      return Buffer.from(item.value, 'utf8');
    case ItemType.ByteString:
      return Buffer.from(item.value);
    case ItemType.DateTime: {
      const ms = item.value.getTime();
      if (Number.isNaN(ms)) throw new TtlvError(`Date-Time for ${tagName(item.tag)} is an invalid Date`);
      return int64(BigInt(Math.floor(ms / 1000)), `Date-Time for ${tagName(item.tag)}`);
    }
    case ItemType.Interval:
      return uint32(item.value, `Interval for ${tagName(item.tag)}`);
  }
}

export function encodeTtlv(item: TtlvItem): Buffer {
  if (!Number.isInteger(item.tag) || item.tag < 0 || item.tag > 0xffffff)
    throw new TtlvError(`tag ${item.tag} does not fit in 3 bytes`);
  const value = encodeValue(item);
  const out = Buffer.alloc(TTLV_HEADER_LENGTH + paddedLength(value.length));
  out.writeUIntBE(item.tag, 0, 3);
  out.writeUInt8(item.type, 3);
  out.writeUInt32BE(value.length, 4);
  value.copy(out, TTLV_HEADER_LENGTH);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeValue(type: ItemType, buf: Buffer, start: number, length: number, depth: number, tag: number): TtlvItem {
  const end = start + length;
  switch (type) {
    case ItemType.Structure: {
      if (depth >= MAX_DEPTH) throw new TtlvError(`structures nested deeper than ${MAX_DEPTH} levels`, start);
      const children: TtlvItem[] = [];
      let offset = start;
      while (offset < end) {
        const { item, next } = decodeItem(buf, offset, end, depth + 1);
        children.push(item);
        offset = next;
      }
      return structure(tag, children);
    }
    case ItemType.Integer:
      return integer(tag, buf.readInt32BE(start));
    case ItemType.LongInteger:
      return longInteger(tag, buf.readBigInt64BE(start));
    case ItemType.BigInteger: {
      if (length === 0 || length % 8 !== 0)
        throw new TtlvError(`Big Integer length ${length} is not a positive multiple of 8`, start - 4);
      const unsigned = BigInt(`0x${buf.subarray(start, end).toString('hex')}`);
      return bigInteger(tag, BigInt.asIntN(length * 8, unsigned));
    }
    case ItemType.Enumeration:
      return enumeration(tag, buf.readUInt32BE(start));
    case ItemType.Boolean: {
      const raw = buf.readBigUInt64BE(start);
      if (raw > 1n) throw new TtlvError(`Boolean value ${raw} is neither 0 nor 1`, start);
      return boolean(tag, raw === 1n);
    }
    case ItemType.TextString:
      try {
        return textString(tag, utf8.decode(buf.subarray(start, end)));
      } catch {
        throw new TtlvError(`Text String for ${tagName(tag)} is not valid UTF-8`, start);
      }
    case ItemType.ByteString:
      return byteString(tag, Buffer.from(buf.subarray(start, end)));
    case ItemType.DateTime: {
      const seconds = buf.readBigInt64BE(start);
      if (seconds > MAX_DATE_SECONDS || seconds < -MAX_DATE_SECONDS)
        throw new TtlvError(`Date-Time ${seconds} is out of range`, start);
      return dateTime(tag, new Date(Number(seconds) * 1000));
    }
    case ItemType.Interval:
      return interval(tag, buf.readUInt32BE(start));
  }
}

function decodeItem(buf: Buffer, offset: number, end: number, depth: number): { item: TtlvItem; next: number } {
  if (end - offset < TTLV_HEADER_LENGTH) {
    throw new TtlvError(`truncated: an item header needs 8 bytes, ${end - offset} left`, offset);
  }
  const tag = buf.readUIntBE(offset, 3);
  const type = buf.readUInt8(offset + 3);
  const length = buf.readUInt32BE(offset + 4);
  if (!isItemType(type)) throw new TtlvError(`${tagName(tag)} has ${itemTypeName(type)}`, offset + 3);
  const fixed = FIXED_LENGTH[type];
  if (fixed !== undefined && length !== fixed) {
    throw new TtlvError(`${TYPE_NAMES[type]} ${tagName(tag)} has length ${length}, expected ${fixed}`, offset + 4);
  }
  const start = offset + TTLV_HEADER_LENGTH;
  const next = start + paddedLength(length);
  if (next > end) {
    throw new TtlvError(`truncated: ${tagName(tag)} needs ${paddedLength(length)} bytes of value, ${end - start} left`, offset);
  }
  return { item: decodeValue(type, buf, start, length, depth, tag), next };
}

/** Decodes exactly one item that fills the whole input. */
export function decodeTtlv(bytes: Uint8Array): TtlvItem {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { item, next } = decodeItem(buf, 0, buf.length, 0);
  if (next !== buf.length) throw new TtlvError(`${buf.length - next} unexpected bytes after the item`, next);
  return item;
}

// ---------------------------------------------------------------------------------------------
// Framing: a KMIP message is exactly one top-level Structure.

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Total size (header included) of the message whose first 8 bytes are given. Throws when those
 * bytes cannot start a KMIP message, so a peer speaking something else fails fast.
 */
export function messageLength(header: Uint8Array, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): number {
  if (header.length < TTLV_HEADER_LENGTH) throw new TtlvError('a message header needs 8 bytes');
  const buf = Buffer.from(header.buffer, header.byteOffset, TTLV_HEADER_LENGTH);
  const type = buf.readUInt8(3);
  if (type !== ItemType.Structure) {
    throw new TtlvError(`a message must be a Structure, got ${itemTypeName(type)} (first bytes ${buf.toString('hex')})`, 0);
  }
  const length = buf.readUInt32BE(4);
  if (length % 8 !== 0) throw new TtlvError(`message length ${length} is not a multiple of 8`, 4);
  const total = TTLV_HEADER_LENGTH + length;
  if (total > maxMessageBytes) throw new TtlvError(`message of ${total} bytes exceeds the ${maxMessageBytes}-byte limit`, 4);
  return total;
}

/** Cuts a byte stream into whole messages, however the bytes arrive. */
export class TtlvMessageReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

  /** Appends bytes and returns every message now complete, in order (each still encoded). */
  push(chunk: Uint8Array): Buffer[] {
    this.buffered = this.buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffered, chunk]);
    const messages: Buffer[] = [];
    while (this.buffered.length >= TTLV_HEADER_LENGTH) {
      const total = messageLength(this.buffered, this.maxMessageBytes);
      if (this.buffered.length < total) break;
      messages.push(Buffer.from(this.buffered.subarray(0, total)));
      this.buffered = this.buffered.subarray(total);
    }
    return messages;
  }

  /** Bytes received that are not yet a whole message. */
  get pendingBytes(): number {
    return this.buffered.length;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading decoded items

export function findChild(item: TtlvStructure, tag: number): TtlvItem | undefined {
  return item.value.find((child) => child.tag === tag);
}

export function findChildren(item: TtlvStructure, tag: number): TtlvItem[] {
  return item.value.filter((child) => child.tag === tag);
}

/** One line per item, for logs and test failures. Byte Strings show only their size (they may be keys). */
export function describeTtlv(item: TtlvItem, indent = ''): string {
  const head = `${indent}${tagName(item.tag)} (${TYPE_NAMES[item.type]})`;
  switch (item.type) {
    case ItemType.Structure:
      return [head, ...item.value.map((child) => describeTtlv(child, `${indent}  `))].join('\n');
    case ItemType.ByteString:
      return `${head}: <${item.value.length} bytes>`;
    case ItemType.DateTime:
      return `${head}: ${item.value.toISOString()}`;
    case ItemType.TextString:
      return `${head}: ${JSON.stringify(item.value)}`;
    default:
      return `${head}: ${String(item.value)}`;
  }
}
