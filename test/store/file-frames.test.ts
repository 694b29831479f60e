import fs from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanFileFrames } from '../../src/store/file-frames.js';
import { FRAME_HEADER_SIZE, scanFrames, sealFrame } from '../../src/store/record-frame.js';
import { tempDir } from './store-helpers.js';

const START = 16;

/** A file: a 16-byte header, then frames, some corrupt, then an optional tail of garbage. */
const fileArbitrary = fc
  .record({
    frames: fc.array(
      fc.record({
        payload: fc.uint8Array({ maxLength: 120 }),
        damage: fc.constantFrom('none', 'none', 'none', 'payload', 'crc'),
      }),
      { maxLength: 30 },
    ),
    tail: fc.uint8Array({ maxLength: 40 }),
  })
  .map(({ frames, tail }) => {
    const parts: Buffer[] = [Buffer.alloc(START, 0xaa)];
    for (const { payload, damage } of frames) {
      const frame = Buffer.alloc(FRAME_HEADER_SIZE + payload.length);
      frame.set(payload, FRAME_HEADER_SIZE);
      sealFrame(frame, 0, payload.length);
      if (damage === 'crc' || (damage === 'payload' && payload.length === 0)) frame[8] ^= 0x40;
      else if (damage === 'payload') frame[FRAME_HEADER_SIZE + (payload.length >> 1)] ^= 0x01;
      parts.push(frame);
    }
    parts.push(Buffer.from(tail));
    return Buffer.concat(parts);
  });

describe('scanFileFrames', () => {
  it('finds what scanFrames finds in the whole buffer, whatever the block size', async () => {
    const dir = tempDir();
    const path = join(dir, 'frames');
    await fc.assert(
      fc.asyncProperty(fileArbitrary, fc.constantFrom(12, 13, 40, 97, 1 << 20), async (file, blockSize) => {
        fs.writeFileSync(path, file);
        const expectedVisits: [number, string][] = [];
        const expectedSkips: [number, number][] = [];
        const expected = scanFrames(
          file,
          START,
          (start, end) => {
            expectedVisits.push([start - FRAME_HEADER_SIZE, file.toString('hex', start, end)]);
            return true;
          },
          (offset, length) => expectedSkips.push([offset, length]),
        );
        const visits: [number, string][] = [];
        const skips: [number, number][] = [];
        const scan = await scanFileFrames(
          path,
          START,
          (buffer, start, end, frameOffset) => {
            expect(end - start + FRAME_HEADER_SIZE).toBeLessThanOrEqual(file.length - frameOffset);
            visits.push([frameOffset, buffer.toString('hex', start, end)]);
            return true;
          },
          (offset, length) => skips.push([offset, length]),
          blockSize,
        );
        expect(scan).toEqual(expected);
        expect(visits).toEqual(expectedVisits);
        expect(skips).toEqual(expectedSkips);
      }),
      { numRuns: 200 },
    );
  });

  it('counts a payload the visitor refuses as corrupt, like a bad checksum', async () => {
    const dir = tempDir();
    const path = join(dir, 'frames');
    const frames = [3, 5, 7].map((length) => {
      const frame = Buffer.alloc(FRAME_HEADER_SIZE + length, length);
      sealFrame(frame, 0, length);
      return frame;
    });
    fs.writeFileSync(path, Buffer.concat([Buffer.alloc(START), ...frames]));
    const skipped: number[] = [];
    const scan = await scanFileFrames(
      path,
      START,
      (_buffer, start, end) => end - start !== 5,
      (offset) => skipped.push(offset),
      16,
    );
    expect(skipped).toEqual([START + frames[0].length]);
    expect(scan).toMatchObject({ records: 2, skippedRecords: 1, skippedBytes: 17, tailBytes: 0 });
  });
});
