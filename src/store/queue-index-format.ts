// The queue index: a log of small records saying which messages each durable queue holds, so that a
// restart rebuilds every queue without the broker's help. It is rewritten whole (compacted) at an open
// that found something to cut or drop, and whenever it has grown well past its live content; a rewrite
// goes to a temporary file that is synced and renamed over the old one. A clean open appends to it.
//
// File name: queues.idx (queues.idx.tmp while a rewrite is in progress; a leftover one is deleted).
//
// Index header, format version 1 (16 bytes, big-endian):
//
//    0        4        6        8                       16
//    +--------+--------+--------+-----------------------+
//    | "WQIX" |version | header |  highest message id   |
//    |        |  = 1   | = 16   |  when written (u64)   |
//    +--------+--------+--------+-----------------------+
//
// Then records, each in a frame (record-frame.ts: length, ~length, CRC-32, payload). Payloads, by type
// (first byte); queues are named once per file by number, and every other record uses the number:
//
//   1 QUEUE      | 1 | queue u32 | name length u16 | name (UTF-8)          |
//   2 ENQUEUE    | 2 | message id u64 | segment u32 | count u16 | count x queue u32 |
//   3 REMOVE     | 3 | queue u32 | message id u64 |
//   4 DELIVERED  | 4 | queue u32 | message id u64 |
//   5 DROP       | 5 | queue u32 |                 (the queue releases every message it holds)
//
// Replaying the records in order gives each queue's messages and delivered flags; ENQUEUE names the
// segment the message record was appended to.
import { lazyLayout } from './binary-layout.js';
import { getUint32, getUint64, putUint16, putUint32, putUint64 } from './byte-order.js';
import { FRAME_HEADER_SIZE, sealFrame } from './record-frame.js';
import { writeUtf8 } from './utf8.js';
import type { WriteBuffer } from './write-buffer.js';

export const INDEX_VERSION = 1;
export const INDEX_HEADER_SIZE = 16;
export const INDEX_FILE = 'queues.idx';
export const INDEX_TEMP_FILE = 'queues.idx.tmp';
const MAGIC = Buffer.from('WQIX', 'latin1');

const QUEUE = 1;
const ENQUEUE = 2;
const REMOVE = 3;
const DELIVERED = 4;
const DROP = 5;

/** Most queue numbers one ENQUEUE record carries; a message reaching more queues takes several. */
export const MAX_ENQUEUE_QUEUES = 0xffff;
/** Longest queue name, in UTF-8 bytes. */
export const MAX_QUEUE_NAME = 0xffff;

interface IndexHeader {
  magic: Uint8Array;
  version: number;
  headerSize: number;
  maxMessageId: number;
}

const headerLayout = lazyLayout<IndexHeader>((layout) =>
  layout.struct([
    layout.blob(4, 'magic'),
    layout.u16be('version'),
    layout.u16be('headerSize'),
    layout.nu64be('maxMessageId'),
  ]),
);

export function encodeIndexHeader(out: WriteBuffer, maxMessageId: number): void {
  out.reserve(INDEX_HEADER_SIZE);
  headerLayout().encode(
    { magic: MAGIC, version: INDEX_VERSION, headerSize: INDEX_HEADER_SIZE, maxMessageId },
    out.buf,
    out.pos,
  );
  out.pos += INDEX_HEADER_SIZE;
}

export type IndexHeaderCheck =
  | { ok: true; headerSize: number; maxMessageId: number }
  | { ok: false; reason: 'short' | 'magic' }
  | { ok: false; reason: 'version'; version: number };

export function checkIndexHeader(file: Buffer): IndexHeaderCheck {
  if (file.length < INDEX_HEADER_SIZE) return { ok: false, reason: 'short' };
  const header = headerLayout().decode(file);
  if (!MAGIC.equals(header.magic)) return { ok: false, reason: 'magic' };
  if (header.version !== INDEX_VERSION || header.headerSize < INDEX_HEADER_SIZE) {
    return { ok: false, reason: 'version', version: header.version };
  }
  return { ok: true, headerSize: header.headerSize, maxMessageId: header.maxMessageId };
}

/** Appends QUEUE; the name must be at most MAX_QUEUE_NAME bytes (see utf8Length). */
export function encodeQueueRecord(out: WriteBuffer, queue: number, name: string, nameLength: number): void {
  const length = 1 + 4 + 2 + nameLength;
  out.reserve(FRAME_HEADER_SIZE + length);
  const b = out.buf;
  const frame = out.pos;
  let p = frame + FRAME_HEADER_SIZE;
  b[p++] = QUEUE;
  putUint32(b, p, queue);
  putUint16(b, p + 4, nameLength);
  writeUtf8(b, p + 6, name, nameLength);
  sealFrame(b, frame, length);
  out.pos = frame + FRAME_HEADER_SIZE + length;
}

/** Appends ENQUEUE for `count` (at most MAX_ENQUEUE_QUEUES) queue numbers from `queues[from]` on. */
export function encodeEnqueueRecord(
  out: WriteBuffer,
  messageId: number,
  segment: number,
  queues: readonly number[],
  from: number,
  count: number,
): void {
  const length = 1 + 8 + 4 + 2 + 4 * count;
  out.reserve(FRAME_HEADER_SIZE + length);
  const b = out.buf;
  const frame = out.pos;
  let p = frame + FRAME_HEADER_SIZE;
  b[p++] = ENQUEUE;
  putUint64(b, p, messageId);
  putUint32(b, p + 8, segment);
  putUint16(b, p + 12, count);
  p += 14;
  for (let i = from; i < from + count; i++, p += 4) putUint32(b, p, queues[i]);
  sealFrame(b, frame, length);
  out.pos = p;
}

function encodeQueueMessageRecord(out: WriteBuffer, type: number, queue: number, messageId: number): void {
  const length = 1 + 4 + 8;
  out.reserve(FRAME_HEADER_SIZE + length);
  const b = out.buf;
  const frame = out.pos;
  const p = frame + FRAME_HEADER_SIZE;
  b[p] = type;
  putUint32(b, p + 1, queue);
  putUint64(b, p + 5, messageId);
  sealFrame(b, frame, length);
  out.pos = p + length;
}

export function encodeRemoveRecord(out: WriteBuffer, queue: number, messageId: number): void {
  encodeQueueMessageRecord(out, REMOVE, queue, messageId);
}

export function encodeDeliveredRecord(out: WriteBuffer, queue: number, messageId: number): void {
  encodeQueueMessageRecord(out, DELIVERED, queue, messageId);
}

export function encodeDropRecord(out: WriteBuffer, queue: number): void {
  const length = 1 + 4;
  out.reserve(FRAME_HEADER_SIZE + length);
  const b = out.buf;
  const frame = out.pos;
  b[frame + FRAME_HEADER_SIZE] = DROP;
  putUint32(b, frame + FRAME_HEADER_SIZE + 1, queue);
  sealFrame(b, frame, length);
  out.pos = frame + FRAME_HEADER_SIZE + length;
}

/** What replaying the index does with each record. */
export interface IndexVisitor {
  queue(queue: number, name: string): void;
  /** `queues[0, count)` name the queues; the array is reused by the next record. */
  enqueue(messageId: number, segment: number, queues: readonly number[], count: number): void;
  remove(queue: number, messageId: number): void;
  delivered(queue: number, messageId: number): void;
  drop(queue: number): void;
}

const enqueueQueues: number[] = [];

/** Replays one record's payload into `visitor`; false if the payload is malformed (then nothing ran). */
export function decodeIndexRecord(file: Buffer, start: number, end: number, visitor: IndexVisitor): boolean {
  const length = end - start;
  if (length < 1) return false;
  switch (file[start]) {
    case QUEUE: {
      if (length < 7 || length !== 7 + file.readUInt16BE(start + 5)) return false;
      visitor.queue(file.readUInt32BE(start + 1), file.toString('utf8', start + 7, end));
      return true;
    }
    case ENQUEUE: {
      if (length < 15) return false;
      const count = file.readUInt16BE(start + 13);
      if (length !== 15 + 4 * count) return false;
      // One scratch array for every record: replaying millions of them allocates nothing per record.
      const queues = enqueueQueues;
      for (let i = 0; i < count; i++) queues[i] = getUint32(file, start + 15 + 4 * i);
      visitor.enqueue(getUint64(file, start + 1), getUint32(file, start + 9), queues, count);
      return true;
    }
    case REMOVE:
    case DELIVERED: {
      if (length !== 13) return false;
      const queue = getUint32(file, start + 1);
      const messageId = getUint64(file, start + 5);
      if (file[start] === REMOVE) visitor.remove(queue, messageId);
      else visitor.delivered(queue, messageId);
      return true;
    }
    case DROP: {
      if (length !== 5) return false;
      visitor.drop(file.readUInt32BE(start + 1));
      return true;
    }
    default:
      return false;
  }
}
