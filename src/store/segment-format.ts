// Message segment files: the append-only log of persistent messages. Each message is written once,
// however many queues it reaches; the queue index (queue-index-format.ts) says which queues hold it.
//
// File name: the segment number, ten decimal digits, ".seg" (0000000001.seg); numbers only grow.
// A segment holds records up to the configured size; a record larger than that gets a segment alone.
//
// Segment header, format version 2 (16 bytes, big-endian):
//
//    0        4        6        8           12          16
//    +--------+--------+--------+-----------+-----------+
//    | "WSEG" |version | header |  segment  | reserved  |
//    |        |  = 2   | = 16   |  number   |   = 0     |
//    +--------+--------+--------+-----------+-----------+
//
// Then records, each in a frame (record-frame.ts: length, ~length, CRC-32, payload). Message record
// payload, type 2 (what version 2 writes):
//
//    0      1           9           17    18         18+E  19+E       19+E+R    23+E+R        23+E+R+P
//    +------+-----------+-----------+-----+----------+-----+----------+---------+-------------+----------+
//    | type | message   | published |  E  | exchange |  R  | routing  |    P    | properties  |  body    |
//    | = 2  | id (u64)  | at (u64)  | u8  | (UTF-8)  | u8  | key      |   u32   | (raw bytes) | (rest)   |
//    +------+-----------+-----------+-----+----------+-----+----------+---------+-------------+----------+
//
// "published at" is when the broker routed the message, in milliseconds since the Unix epoch: its TTLs
// (the queue's x-message-ttl, its own expiration) count from it across restarts. It is kept per record,
// not per queue, since one record serves every queue the publish reached, each with its own TTL.
//
// Version 1 (still read, no longer written): the same header with version = 1, and message records of
// type 1, which are type 2 without "published at":
//
//    0      1           9     10         10+E  11+E       11+E+R    15+E+R        15+E+R+P
//    +------+-----------+-----+----------+-----+----------+---------+-------------+----------+
//    | type | message   |  E  | exchange |  R  | routing  |    P    | properties  |  body    |
//    | = 1  | id (u64)  | u8  | (UTF-8)  | u8  | key      |   u32   | (raw bytes) | (rest)   |
//    +------+-----------+-----+----------+-----+----------+---------+-------------+----------+
//
// A type 1 record reads back with publishedAt 0 (unknown): the broker counts its TTLs from the restart.
// Recovery accepts either type in a segment of either version; a recovered segment is never appended
// to, so a version 1 file holds type 1 records only.
//
// The properties are the content header's raw property bytes, opaque here; the body runs to the end of
// the payload. Message ids and publish times are below 2^53.
import { lazyLayout } from './binary-layout.js';
import { getUint32, getUint64, putUint32, putUint64 } from './byte-order.js';
import { crc32 } from './checksum.js';
import {
  FRAME_HEADER_SIZE,
  frameChecksumHolds,
  frameLength,
  MAX_PAYLOAD,
  writeFrameHeader,
} from './record-frame.js';
import type { StoredMessage } from './store.js';
import { writeUtf8 } from './utf8.js';
import type { WriteBuffer } from './write-buffer.js';

export const SEGMENT_VERSION = 2;
/** Segment format versions recovery reads. */
export const SEGMENT_VERSIONS_READ: readonly number[] = [1, 2];
export const SEGMENT_HEADER_SIZE = 16;
const MAGIC = Buffer.from('WSEG', 'latin1');

/** The message record version 2 writes: with its publish time. */
export const MESSAGE_RECORD = 2;
/** The message record of version 1: without a publish time. */
export const MESSAGE_RECORD_V1 = 1;
/** Payload bytes besides exchange, routing key, properties and body. */
const MESSAGE_FIXED = 1 + 8 + 8 + 1 + 1 + 4;
/** The same for a type 1 record. */
const MESSAGE_FIXED_V1 = 1 + 8 + 1 + 1 + 4;
/** Payloads up to this size are copied into the write buffer; larger ones keep their body by reference. */
const INLINE_LIMIT = 16 * 1024;

interface SegmentHeader {
  magic: Uint8Array;
  version: number;
  headerSize: number;
  segment: number;
  reserved: number;
}

const headerLayout = lazyLayout<SegmentHeader>((layout) =>
  layout.struct([
    layout.blob(4, 'magic'),
    layout.u16be('version'),
    layout.u16be('headerSize'),
    layout.u32be('segment'),
    layout.u32be('reserved'),
  ]),
);

export function segmentFileName(segment: number): string {
  return `${segment.toString().padStart(10, '0')}.seg`;
}

/** The segment number a file name stands for, or undefined if it is not a segment file's name. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = /^(\d{10})\.seg$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

export function encodeSegmentHeader(segment: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_SIZE);
  headerLayout().encode(
    { magic: MAGIC, version: SEGMENT_VERSION, headerSize: SEGMENT_HEADER_SIZE, segment, reserved: 0 },
    header,
  );
  return header;
}

export type SegmentHeaderCheck =
  | { ok: true; headerSize: number; segment: number }
  | { ok: false; reason: 'short' | 'magic' }
  | { ok: false; reason: 'version'; version: number };

export function checkSegmentHeader(file: Buffer): SegmentHeaderCheck {
  if (file.length < SEGMENT_HEADER_SIZE) return { ok: false, reason: 'short' };
  const header = headerLayout().decode(file);
  if (!MAGIC.equals(header.magic)) return { ok: false, reason: 'magic' };
  if (!SEGMENT_VERSIONS_READ.includes(header.version) || header.headerSize < SEGMENT_HEADER_SIZE) {
    return { ok: false, reason: 'version', version: header.version };
  }
  return { ok: true, headerSize: header.headerSize, segment: header.segment };
}

/**
 * Bytes the framed record of `message` takes in a segment, given the UTF-8 lengths of its names (see
 * utf8Length), or a reason it cannot be recorded.
 */
export function messageRecordLength(
  message: StoredMessage,
  exchangeLength: number,
  routingKeyLength: number,
): number | string {
  if (exchangeLength > 255) return `exchange name of ${exchangeLength} bytes (at most 255)`;
  if (routingKeyLength > 255) return `routing key of ${routingKeyLength} bytes (at most 255)`;
  const payload =
    MESSAGE_FIXED + exchangeLength + routingKeyLength + message.properties.length + message.body.length;
  // The store keeps a record's length in 32 bits, frame header included.
  if (payload > MAX_PAYLOAD - FRAME_HEADER_SIZE) return `message record of ${payload} bytes`;
  return FRAME_HEADER_SIZE + payload;
}

/** Appends the framed message record to `out`. */
export function encodeMessageRecord(
  out: WriteBuffer,
  message: StoredMessage,
  exchangeLength: number,
  routingKeyLength: number,
  recordLength: number,
): void {
  const { properties, body } = message;
  const payloadLength = recordLength - FRAME_HEADER_SIZE;
  const inline = payloadLength <= INLINE_LIMIT;
  out.reserve(inline ? recordLength : FRAME_HEADER_SIZE + MESSAGE_FIXED + exchangeLength + routingKeyLength);
  const b = out.buf;
  const frame = out.pos;
  const start = frame + FRAME_HEADER_SIZE;
  let p = start;
  b[p++] = MESSAGE_RECORD;
  putUint64(b, p, message.id);
  p += 8;
  putUint64(b, p, message.publishedAt);
  p += 8;
  b[p++] = exchangeLength;
  p = writeUtf8(b, p, message.exchange, exchangeLength);
  b[p++] = routingKeyLength;
  p = writeUtf8(b, p, message.routingKey, routingKeyLength);
  putUint32(b, p, properties.length);
  p += 4;
  if (inline) {
    b.set(properties, p);
    p += properties.length;
    b.set(body, p);
    p += body.length;
    writeFrameHeader(b, frame, payloadLength, crc32(b, start, p));
    out.pos = p;
  } else {
    let crc = crc32(b, start, p);
    crc = crc32(properties, 0, properties.length, crc);
    crc = crc32(body, 0, body.length, crc);
    writeFrameHeader(b, frame, payloadLength, crc);
    out.pos = p;
    out.appendReference(properties);
    out.appendReference(body);
  }
}

/**
 * Where the exchange name's length byte of the message record whose payload is `file[start, end)` is
 * (after the fixed fields of its type), or -1 if it is not a message record.
 */
function namesAt(file: Buffer, start: number, end: number): number {
  const type = file[start];
  if (type === MESSAGE_RECORD) return end - start < MESSAGE_FIXED ? -1 : start + 17;
  if (type === MESSAGE_RECORD_V1) return end - start < MESSAGE_FIXED_V1 ? -1 : start + 9;
  return -1;
}

/** The id of the message record whose payload starts at `start`, or -1 if it is not a message record. */
export function messageRecordId(file: Buffer, start: number, end: number): number {
  return namesAt(file, start, end) < 0 ? -1 : getUint64(file, start + 1);
}

/**
 * The id of the message record whose payload is `file[start, end)` if its fields fit the payload (what
 * decodeMessageRecord needs), or -1: a check that decodes nothing, for recovery.
 */
export function checkMessageRecord(file: Buffer, start: number, end: number): number {
  const names = namesAt(file, start, end);
  if (names < 0) return -1;
  const routingKey = names + 1 + file[names];
  if (routingKey + 1 > end) return -1;
  const properties = routingKey + 1 + file[routingKey];
  if (properties + 4 > end) return -1;
  return properties + 4 + getUint32(file, properties) > end ? -1 : getUint64(file, start + 1);
}

/**
 * Decodes a message record. Properties and body are views of `file`, not copies: the caller hands over
 * a buffer it will not reuse. Undefined if the payload is malformed.
 */
export function decodeMessageRecord(file: Buffer, start: number, end: number): StoredMessage | undefined {
  let p = namesAt(file, start, end);
  if (p < 0) return undefined;
  const id = getUint64(file, start + 1);
  // A type 1 record did not keep its publish time.
  const publishedAt = file[start] === MESSAGE_RECORD ? getUint64(file, start + 9) : 0;
  const exchangeEnd = p + 1 + file[p];
  if (exchangeEnd + 1 > end) return undefined;
  const exchange = file.toString('utf8', p + 1, exchangeEnd);
  p = exchangeEnd;
  const routingKeyEnd = p + 1 + file[p];
  if (routingKeyEnd + 4 > end) return undefined;
  const routingKey = file.toString('utf8', p + 1, routingKeyEnd);
  p = routingKeyEnd;
  const propertiesEnd = p + 4 + file.readUInt32BE(p);
  if (propertiesEnd > end) return undefined;
  return {
    id,
    exchange,
    routingKey,
    properties: file.subarray(p + 4, propertiesEnd),
    body: file.subarray(propertiesEnd, end),
    publishedAt,
  };
}

/**
 * Checks and decodes one whole framed message record (as read back from a segment at its known
 * position): its length fields, its CRC, its payload. A message whose properties and body are views of
 * `record`, or the reason it is unusable.
 */
export function decodeMessageFrame(record: Buffer): StoredMessage | string {
  if (record.length < FRAME_HEADER_SIZE) return 'short record';
  const length = frameLength(record, 0);
  if (length !== record.length - FRAME_HEADER_SIZE) return 'bad length';
  if (!frameChecksumHolds(record, 0, record.length)) return 'bad checksum';
  return decodeMessageRecord(record, FRAME_HEADER_SIZE, record.length) ?? 'malformed message record';
}
