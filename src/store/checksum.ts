// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: the CRC of zlib, gzip and PNG) over byte ranges.
//
// Records are small, so the per-call cost matters more than the throughput: measured on the team's
// 2-core machine, a table-driven loop (slicing by 8) takes ~20 ns for 16 bytes and ~150 ns for 128,
// while node's zlib.crc32 costs ~90-200 ns a call below 256 bytes but runs at ~3 GB/s on large
// buffers against ~0.9 GB/s for the loop. So short ranges use the table and long ones zlib; both
// compute the same function, so a record's checksum does not depend on which one ran.
import { nativeCrc32 } from '../builtins.js';

/** Below this many bytes the table-driven loop beats zlib's call overhead. */
const NATIVE_FROM = 256;

/** Eight 256-entry tables: table k maps a byte to its CRC contribution k bytes further on. */
const TABLE = buildTable();

function buildTable(): Int32Array {
  const table = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n];
    for (let k = 1; k < 8; k++) {
      c = table[c & 0xff] ^ (c >>> 8);
      table[k * 256 + n] = c;
    }
  }
  return table;
}

/**
 * The CRC-32 of `bytes[start..end)`, continuing from `previous` (the CRC of the bytes before them),
 * so crc32(b, m, n, crc32(b, 0, m)) === crc32(b, 0, n). Same results as zlib.crc32(data, previous).
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  if (end - start >= NATIVE_FROM) {
    // zlib.crc32 arrived in Node 20.15; older Node 20 releases fall back to the table for every size.
    const native = nativeCrc32();
    if (native !== undefined) return native(bytes.subarray(start, end), previous);
  }
  const t = TABLE;
  let c = ~previous;
  let i = start;
  const end8 = end - ((end - start) & 7);
  for (; i < end8; i += 8) {
    const a = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      t[1792 + (a & 0xff)] ^
      t[1536 + ((a >>> 8) & 0xff)] ^
      t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^
      t[768 + bytes[i + 4]] ^
      t[512 + bytes[i + 5]] ^
      t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]];
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
