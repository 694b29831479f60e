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
import { putUint32 } from './byte-order.js';
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
  let records = 0;
  let validEnd = start;
  let pendingRecords = 0;
  let pendingBytes = 0;
  let skippedRecords = 0;
  let skippedBytes = 0;
  let pendingOffsets: number[] = [];
  let offset = start;
  while (end - offset >= FRAME_HEADER_SIZE) {
    const length = file.readUInt32BE(offset);
    if ((length ^ file.readUInt32BE(offset + 4)) >>> 0 !== 0xffff_ffff) break;
    const payloadStart = offset + FRAME_HEADER_SIZE;
    if (length > end - payloadStart) break;
    const payloadEnd = payloadStart + length;
    if (
      crc32(file, payloadStart, payloadEnd) === file.readUInt32BE(offset + 8) &&
      visit(payloadStart, payloadEnd)
    ) {
      // The corrupt records since the last valid one are in the middle after all.
      for (const at of pendingOffsets) skipped(at, file.readUInt32BE(at) + FRAME_HEADER_SIZE);
      skippedRecords += pendingRecords;
      skippedBytes += pendingBytes;
      pendingRecords = 0;
      pendingBytes = 0;
      pendingOffsets = [];
      records++;
      validEnd = payloadEnd;
    } else {
      pendingRecords++;
      pendingBytes += payloadEnd - offset;
      pendingOffsets.push(offset);
    }
    offset = payloadEnd;
  }
  const tailBytes = end - validEnd;
  const tailRecords = pendingRecords + (offset < end ? 1 : 0);
  return { records, skippedRecords, skippedBytes, validEnd, tailRecords, tailBytes };
}
