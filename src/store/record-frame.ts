// The framing every record of the store's logs shares (message segments and the queue index).
//
// Record frame, format version 1 (all integers big-endian):
//
//    0       4       8       12                    12+L
//    +-------+-------+-------+---------------------+
//    |   L   |  ~L   |  CRC  |  payload (L bytes)  |
//    +-------+-------+-------+---------------------+
//
//   L    u32  payload length
//   ~L   u32  L XOR 0xFFFFFFFF: a length that disagrees with its complement is garbage
//   CRC  u32  CRC-32 (IEEE) of the payload
//
// The length is checked on its own so that recovery can tell two failures apart. A record whose length
// is intact but whose payload fails the CRC is skipped and the scan goes on at the next record; a
// length that is garbage (or runs past the end of the file) leaves no way to find the next record, so
// the rest of the file is treated as a torn tail. Zeroed space (a file extended but never written)
// fails the length check: 0 and ~0 disagree.
import { getUint32, putUint32 } from './byte-order.js';
import { crc32 } from './checksum.js';

export const FRAME_HEADER_SIZE = 12;

/** The largest payload a frame describes (u32 length; Node buffers stop a little earlier anyway). */
export const MAX_PAYLOAD = 0xffff_ffff;

/** Writes the frame header at `offset`, for a payload already in place at offset + 12. */
export function writeFrameHeader(buffer: Buffer, offset: number, length: number, crc: number): void {
  putUint32(buffer, offset, length);
  putUint32(buffer, offset + 4, ~length);
  putUint32(buffer, offset + 8, crc);
}

/** Writes the frame header for the payload buffer[offset + 12, offset + 12 + length), computing its CRC. */
export function sealFrame(buffer: Buffer, offset: number, length: number): void {
  const start = offset + FRAME_HEADER_SIZE;
  writeFrameHeader(buffer, offset, length, crc32(buffer, start, start + length));
}

export interface FrameScan {
  /** Valid records found. */
  records: number;
  /** Records with an intact length but a bad CRC (or an undecodable payload) before the last valid one. */
  skippedRecords: number;
  skippedBytes: number;
  /** End of the last valid record: the file is cut here. */
  validEnd: number;
  /** Records or fragments after validEnd: at least 1 when tailBytes > 0. */
  tailRecords: number;
  tailBytes: number;
}

/**
 * Counts a scan's records as they are found, telling corrupt records in the middle of a file (skipped)
 * from those at its end (part of the torn tail). Shared by the scans of whole buffers and of files.
 */
export class FrameTally {
  private records = 0;
  private validEnd: number;
  private skippedRecords = 0;
  private skippedBytes = 0;
  /** Corrupt records since the last valid one: offsets and lengths, two numbers each. */
  private pending: number[] = [];
  private pendingBytes = 0;

  constructor(
    start: number,
    private readonly skipped: (offset: number, length: number) => void,
  ) {
    this.validEnd = start;
  }

  /** A frame with an intact length at `offset`, of `length` bytes in all: valid or corrupt. */
  record(offset: number, length: number, valid: boolean): void {
    if (!valid) {
      this.pending.push(offset, length);
      this.pendingBytes += length;
      return;
    }
    // The corrupt records since the last valid one are in the middle after all.
    const pending = this.pending;
    for (let i = 0; i < pending.length; i += 2) this.skipped(pending[i], pending[i + 1]);
    this.skippedRecords += pending.length / 2;
    this.skippedBytes += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.records++;
    this.validEnd = offset + length;
  }

  /** The scan stopped at `offset` (no further intact frame) of a file of `end` bytes. */
  finish(offset: number, end: number): FrameScan {
    return {
      records: this.records,
      skippedRecords: this.skippedRecords,
      skippedBytes: this.skippedBytes,
      validEnd: this.validEnd,
      tailRecords: this.pending.length / 2 + (offset < end ? 1 : 0),
      tailBytes: end - this.validEnd,
    };
  }
}

/**
 * Walks the frames of `file` from `start`. `visit` gets each payload whose CRC holds and returns false
 * if the payload does not decode, which counts the record as corrupt; `skipped` hears of each corrupt
 * record that is followed by a valid one (a corrupt record at the end is part of the tail).
 */
export function scanFrames(
  file: Buffer,
  start: number,
  visit: (payloadStart: number, payloadEnd: number) => boolean,
  skipped: (offset: number, length: number) => void,
): FrameScan {
  const end = file.length;
  const tally = new FrameTally(start, skipped);
  let offset = start;
  while (end - offset >= FRAME_HEADER_SIZE) {
    const length = frameLength(file, offset);
    const payloadStart = offset + FRAME_HEADER_SIZE;
    if (length < 0 || length > end - payloadStart) break;
    const payloadEnd = payloadStart + length;
    tally.record(
      offset,
      payloadEnd - offset,
      frameChecksumHolds(file, offset, payloadEnd) && visit(payloadStart, payloadEnd),
    );
    offset = payloadEnd;
  }
  return tally.finish(offset, end);
}

/** The payload length of the frame at `offset`, or -1 if the length disagrees with its complement. */
export function frameLength(buffer: Buffer, offset: number): number {
  const length = getUint32(buffer, offset);
  return (length ^ getUint32(buffer, offset + 4)) >>> 0 === 0xffff_ffff ? length : -1;
}

/** Whether the payload of the frame at `offset`, ending at `payloadEnd`, matches the frame's CRC. */
export function frameChecksumHolds(buffer: Buffer, offset: number, payloadEnd: number): boolean {
  return crc32(buffer, offset + FRAME_HEADER_SIZE, payloadEnd) === getUint32(buffer, offset + 8);
}
