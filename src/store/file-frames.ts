// The frame scan of record-frame.ts over a file read block by block, so that recovering a store of
// many gigabytes holds one block in memory at a time, not whole files. A frame larger than a block is
// read into a buffer of its own.
import { open } from 'node:fs/promises';
import {
  FRAME_HEADER_SIZE,
  type FrameScan,
  FrameTally,
  frameChecksumHolds,
  frameLength,
} from './record-frame.js';

const BLOCK_SIZE = 1024 * 1024;

/**
 * Visits a payload whose CRC holds: `buffer[payloadStart, payloadEnd)`, the frame starting at file
 * offset `frameOffset`. Returns false if the payload does not decode (the record counts as corrupt).
 * The buffer is reused: nothing may keep a view of it.
 */
export type FileFrameVisitor = (
  buffer: Buffer,
  payloadStart: number,
  payloadEnd: number,
  frameOffset: number,
) => boolean;

/**
 * Walks the frames of the file at `path` from offset `start`, as scanFrames does those of a buffer,
 * reading `blockSize` bytes at a time. Rejects if the file cannot be opened or read.
 */
export async function scanFileFrames(
  path: string,
  start: number,
  visit: FileFrameVisitor,
  skipped: (offset: number, length: number) => void,
  blockSize = BLOCK_SIZE,
): Promise<FrameScan> {
  const handle = await open(path, 'r');
  try {
    let end = (await handle.stat()).size;
    const tally = new FrameTally(start, skipped);
    let buffer = Buffer.allocUnsafe(Math.min(blockSize, Math.max(end - start, FRAME_HEADER_SIZE)));
    /** File offsets of buffer[0] and of the end of what it holds. */
    let bufferStart = start;
    let bufferEnd = start;
    /** Reads from `from` at least `bytes` bytes (if the file has them) into the buffer. */
    const fill = async (from: number, bytes: number): Promise<void> => {
      if (bytes > buffer.length) buffer = Buffer.allocUnsafe(bytes);
      const wanted = Math.min(buffer.length, end - from);
      let got = 0;
      while (got < wanted) {
        const { bytesRead } = await handle.read(buffer, got, wanted - got, from + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      // A file that shrank while being read ends where the reading stopped.
      if (got < wanted) end = from + got;
      bufferStart = from;
      bufferEnd = from + got;
    };
    let offset = start;
    while (end - offset >= FRAME_HEADER_SIZE) {
      if (offset + FRAME_HEADER_SIZE > bufferEnd) {
        await fill(offset, FRAME_HEADER_SIZE);
        if (end - offset < FRAME_HEADER_SIZE) break;
      }
      const length = frameLength(buffer, offset - bufferStart);
      const payloadStart = offset + FRAME_HEADER_SIZE;
      if (length < 0 || length > end - payloadStart) break;
      const payloadEnd = payloadStart + length;
      if (payloadEnd > bufferEnd) {
        await fill(offset, payloadEnd - offset);
        if (payloadEnd > end) break;
      }
      const at = offset - bufferStart;
      const valid =
        frameChecksumHolds(buffer, at, payloadEnd - bufferStart) &&
        visit(buffer, payloadStart - bufferStart, payloadEnd - bufferStart, offset);
      tally.record(offset, payloadEnd - offset, valid);
      offset = payloadEnd;
    }
    return tally.finish(offset, end);
  } finally {
    await handle.close();
  }
}
