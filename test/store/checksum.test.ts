import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/store/checksum.js';

describe('crc32', () => {
  it('computes the standard CRC-32 check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it('agrees with zlib on every length around the native threshold, with and without a previous value', () => {
    const data = Buffer.alloc(1100);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + 13) & 0xff;
    for (const length of [1, 7, 8, 9, 15, 16, 17, 63, 255, 256, 257, 1024]) {
      for (const start of [0, 3]) {
        const piece = data.subarray(start, start + length);
        expect(crc32(data, start, start + length)).toBe(zlib.crc32(piece));
        expect(crc32(data, start, start + length, 0xdeadbeef)).toBe(zlib.crc32(piece, 0xdeadbeef));
      }
    }
  });

  it('continues a checksum across pieces', () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog, again and again and again');
    for (const cut of [0, 1, 10, 33, data.length]) {
      expect(crc32(data, cut, data.length, crc32(data, 0, cut))).toBe(crc32(data));
    }
  });
});
