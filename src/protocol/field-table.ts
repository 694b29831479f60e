// AMQP field tables and arrays (spec 4.2.5.5) with every type RabbitMQ clients send, using RabbitMQ's
// type letters (its errata: 's' is a signed short, 'u' unsigned short, 'l' a signed long long, 'x' bytes).
import { ProtocolError } from './protocol-error.js';

export type FieldTypeLetter = 'b' | 'B' | 's' | 'u' | 'I' | 'i' | 'l' | 'f' | 'd' | 'T' | 'D';

export interface Decimal {
  readonly places: number;
  readonly digits: number;
}

/**
 * A value whose wire type is not the one a plain JS value would be written as. Decoding keeps the type of
 * every value this way, so a table decoded and written again is byte-for-byte what came in.
 */
export class TypedValue {
  constructor(
    readonly type: FieldTypeLetter,
    readonly value: number | bigint | Decimal,
  ) {}
}

export type FieldValue =
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | null
  | TypedValue
  | FieldValue[]
  | FieldTable;

export interface FieldTable {
  [key: string]: FieldValue;
}

/** The number in a numeric field value, whatever its wire type; undefined for anything else. */
export function fieldNumber(v: FieldValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof TypedValue && typeof v.value !== 'object') return Number(v.value);
  return undefined;
}

/** The offset just past the last table or array decoded; read it right after a successful decode. */
export let tableEnd = 0;

// As RabbitMQ: an undecodable table is a frame it cannot decode (501).
const malformed = () => new ProtocolError(501, 'FRAME_ERROR - cannot decode a field table', 0, 0);

// Depth bound: a hostile client could nest tables until the stack overflows.
const MAX_DEPTH = 64;

/** Decodes a table (4-byte size, then entries) at b[o]; sets tableEnd. */
export function decodeTable(b: Buffer, o: number, end: number, depth = 0): FieldTable | ProtocolError {
  if (o + 4 > end || depth > MAX_DEPTH) return malformed();
  const size = b.readUInt32BE(o);
  const stop = o + 4 + size;
  if (stop > end) return malformed();
  o += 4;
  const table: FieldTable = {};
  while (o < stop) {
    const keyLength = b[o];
    if (o + 1 + keyLength >= stop) return malformed();
    const key = b.toString('utf8', o + 1, o + 1 + keyLength);
    o += 1 + keyLength;
    const value = decodeValue(b, o, stop, depth);
    if (value instanceof ProtocolError) return value;
    // A plain assignment to "__proto__" would set the table's prototype instead of adding the key.
    if (key === '__proto__')
      Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
    else table[key] = value;
    o = valueEnd;
  }
  tableEnd = stop;
  return table;
}

/** Decodes an array (4-byte size, then values) at b[o]; sets tableEnd. */
export function decodeArray(b: Buffer, o: number, end: number, depth = 0): FieldValue[] | ProtocolError {
  if (o + 4 > end || depth > MAX_DEPTH) return malformed();
  const size = b.readUInt32BE(o);
  const stop = o + 4 + size;
  if (stop > end) return malformed();
  o += 4;
  const array: FieldValue[] = [];
  while (o < stop) {
    const value = decodeValue(b, o, stop, depth);
    if (value instanceof ProtocolError) return value;
    array.push(value);
    o = valueEnd;
  }
  tableEnd = stop;
  return array;
}

let valueEnd = 0;

function decodeValue(b: Buffer, o: number, end: number, depth: number): FieldValue | ProtocolError {
  if (o >= end) return malformed();
  const type = b[o++];
  let need: number;
  switch (type) {
    case 0x74: // t
      if (o + 1 > end) return malformed();
      valueEnd = o + 1;
      return b[o] !== 0;
    case 0x62: // b
      if (o + 1 > end) return malformed();
      valueEnd = o + 1;
      return new TypedValue('b', b.readInt8(o));
    case 0x42: // B
      if (o + 1 > end) return malformed();
      valueEnd = o + 1;
      return new TypedValue('B', b[o]);
    case 0x73: // s
      if (o + 2 > end) return malformed();
      valueEnd = o + 2;
      return new TypedValue('s', b.readInt16BE(o));
    case 0x75: // u
      if (o + 2 > end) return malformed();
      valueEnd = o + 2;
      return new TypedValue('u', b.readUInt16BE(o));
    case 0x49: // I
      if (o + 4 > end) return malformed();
      valueEnd = o + 4;
      return b.readInt32BE(o);
    case 0x69: // i
      if (o + 4 > end) return malformed();
      valueEnd = o + 4;
      return new TypedValue('i', b.readUInt32BE(o));
    case 0x6c: {
      // l: a plain number when that is how it would be written again, else typed
      if (o + 8 > end) return malformed();
      valueEnd = o + 8;
      const big = b.readBigInt64BE(o);
      const n = Number(big);
      if (Number.isSafeInteger(n) && (n > 0x7fffffff || n < -0x80000000)) return n;
      return Number.isSafeInteger(n) ? new TypedValue('l', n) : big;
    }
    case 0x66: // f
      if (o + 4 > end) return malformed();
      valueEnd = o + 4;
      return new TypedValue('f', b.readFloatBE(o));
    case 0x64: {
      // d: a plain number unless it is integral (which would be written as an integer type)
      if (o + 8 > end) return malformed();
      valueEnd = o + 8;
      const d = b.readDoubleBE(o);
      return Number.isInteger(d) ? new TypedValue('d', d) : d;
    }
    case 0x44: // D
      if (o + 5 > end) return malformed();
      valueEnd = o + 5;
      return new TypedValue('D', { places: b[o], digits: b.readUInt32BE(o + 1) });
    case 0x54: {
      // T: a number while it is exact, else a bigint, so that writing it again gives the same bytes
      if (o + 8 > end) return malformed();
      valueEnd = o + 8;
      const high = b.readUInt32BE(o);
      if (high < 0x200000) return new TypedValue('T', high * 0x100000000 + b.readUInt32BE(o + 4));
      return new TypedValue('T', b.readBigUInt64BE(o));
    }
    case 0x53: // S
    case 0x78: // x
      if (o + 4 > end) return malformed();
      need = b.readUInt32BE(o);
      if (o + 4 + need > end) return malformed();
      valueEnd = o + 4 + need;
      return type === 0x53
        ? b.toString('utf8', o + 4, o + 4 + need)
        : Buffer.from(b.subarray(o + 4, o + 4 + need));
    case 0x46: {
      // F
      const t = decodeTable(b, o, end, depth + 1);
      valueEnd = tableEnd;
      return t;
    }
    case 0x41: {
      // A
      const a = decodeArray(b, o, end, depth + 1);
      valueEnd = tableEnd;
      return a;
    }
    case 0x56: // V
      valueEnd = o;
      return null;
    default:
      return new ProtocolError(501, `FRAME_ERROR - unknown field table type '${String.fromCharCode(type)}'`);
  }
}

/** Encoded size of a table's entries, without its 4-byte size prefix. */
export function tableSize(t: FieldTable): number {
  let n = 0;
  for (const key in t) {
    const v = t[key];
    if (v === undefined) continue;
    n += 1 + Buffer.byteLength(key) + valueSize(v);
  }
  return n;
}

function arraySize(a: FieldValue[]): number {
  let n = 0;
  for (const v of a) n += valueSize(v);
  return n;
}

function valueSize(v: FieldValue): number {
  switch (typeof v) {
    case 'boolean':
      return 2;
    case 'number':
      return Number.isInteger(v) ? (v >= -0x80000000 && v <= 0x7fffffff ? 5 : 9) : 9;
    case 'bigint':
      return 9;
    case 'string':
      return 5 + Buffer.byteLength(v);
    default:
      if (v === null) return 1;
      if (Buffer.isBuffer(v)) return 5 + v.length;
      if (Array.isArray(v)) return 5 + arraySize(v);
      if (v instanceof TypedValue) return 1 + typedSize[v.type];
      return 5 + tableSize(v);
  }
}

const typedSize: Record<FieldTypeLetter, number> = {
  b: 1,
  B: 1,
  s: 2,
  u: 2,
  I: 4,
  i: 4,
  l: 8,
  f: 4,
  d: 8,
  T: 8,
  D: 5,
};

/** Writes a table (size prefix and entries) into b at o; returns the offset after it. */
export function writeTable(b: Buffer, o: number, t: FieldTable): number {
  const start = o;
  o += 4;
  for (const key in t) {
    const v = t[key];
    if (v === undefined) continue;
    const keyLength = b.write(key, o + 1, 'utf8');
    if (keyLength > 255) throw new RangeError(`field table key longer than 255 bytes: ${key}`);
    b[o] = keyLength;
    o = writeValue(b, o + 1 + keyLength, v);
  }
  b.writeUInt32BE(o - start - 4, start);
  return o;
}

function writeArray(b: Buffer, o: number, a: FieldValue[]): number {
  const start = o;
  o += 4;
  for (const v of a) o = writeValue(b, o, v);
  b.writeUInt32BE(o - start - 4, start);
  return o;
}

function writeValue(b: Buffer, o: number, v: FieldValue): number {
  switch (typeof v) {
    case 'boolean':
      b[o] = 0x74;
      b[o + 1] = v ? 1 : 0;
      return o + 2;
    case 'number':
      if (Number.isInteger(v)) {
        if (v >= -0x80000000 && v <= 0x7fffffff) {
          b[o] = 0x49;
          b.writeInt32BE(v, o + 1);
          return o + 5;
        }
        b[o] = 0x6c;
        b.writeBigInt64BE(BigInt(v), o + 1);
        return o + 9;
      }
      b[o] = 0x64;
      b.writeDoubleBE(v, o + 1);
      return o + 9;
    case 'bigint':
      b[o] = 0x6c;
      b.writeBigInt64BE(v, o + 1);
      return o + 9;
    case 'string': {
      b[o] = 0x53;
      const n = b.write(v, o + 5, 'utf8');
      b.writeUInt32BE(n, o + 1);
      return o + 5 + n;
    }
    default:
      if (v === null) {
        b[o] = 0x56;
        return o + 1;
      }
      if (Buffer.isBuffer(v)) {
        b[o] = 0x78;
        b.writeUInt32BE(v.length, o + 1);
        v.copy(b, o + 5);
        return o + 5 + v.length;
      }
      if (Array.isArray(v)) {
        b[o] = 0x41;
        return writeArray(b, o + 1, v);
      }
      if (v instanceof TypedValue) return writeTyped(b, o, v);
      b[o] = 0x46;
      return writeTable(b, o + 1, v);
  }
}

function writeTyped(b: Buffer, o: number, v: TypedValue): number {
  b[o] = v.type.charCodeAt(0);
  o += 1;
  const x = v.value;
  if (v.type === 'D') {
    const d = x as Decimal;
    b[o] = d.places;
    b.writeUInt32BE(d.digits, o + 1);
    return o + 5;
  }
  switch (v.type) {
    case 'b':
      b.writeInt8(Number(x), o);
      return o + 1;
    case 'B':
      b.writeUInt8(Number(x), o);
      return o + 1;
    case 's':
      b.writeInt16BE(Number(x), o);
      return o + 2;
    case 'u':
      b.writeUInt16BE(Number(x), o);
      return o + 2;
    case 'I':
      b.writeInt32BE(Number(x), o);
      return o + 4;
    case 'i':
      b.writeUInt32BE(Number(x), o);
      return o + 4;
    case 'l':
      b.writeBigInt64BE(BigInt(x as number | bigint), o);
      return o + 8;
    case 'f':
      b.writeFloatBE(Number(x), o);
      return o + 4;
    case 'd':
      b.writeDoubleBE(Number(x), o);
      return o + 8;
    default:
      // 'T'
      b.writeBigUInt64BE(BigInt(x as number | bigint), o);
      return o + 8;
  }
}
