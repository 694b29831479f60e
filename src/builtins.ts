// Built-in modules loaded when first needed rather than when warren starts: node:crypto and node:zlib
// take about 4 ms each to load here, node:v8 about 1 ms, and an in-memory broker may never need them
// (scenario j in bench/README.md times the start). Each is loaded the first time a function below runs.
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

let crypto: typeof import('node:crypto') | undefined;

/** crypto.randomBytes, node:crypto loaded on first use. */
export function randomBytes(size: number): Buffer {
  crypto ??= requireBuiltin('node:crypto') as typeof import('node:crypto');
  return crypto.randomBytes(size);
}

let v8: typeof import('node:v8') | undefined;

/** The JavaScript heap's size limit in bytes (v8.getHeapStatistics), node:v8 loaded on first use. */
export function heapSizeLimit(): number {
  v8 ??= requireBuiltin('node:v8') as typeof import('node:v8');
  return v8.getHeapStatistics().heap_size_limit;
}

type Crc32 = (data: Uint8Array, value?: number) => number;
let zlibCrc32: Crc32 | undefined | null = null;

/** zlib.crc32, or undefined on a Node without it (before 20.15); node:zlib loaded on first use. */
export function nativeCrc32(): Crc32 | undefined {
  if (zlibCrc32 === null) {
    const zlib = requireBuiltin('node:zlib') as typeof import('node:zlib');
    zlibCrc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : undefined;
  }
  return zlibCrc32;
}
