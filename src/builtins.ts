// Built-in modules loaded when first needed rather than when warren starts: node:crypto and node:zlib
// take about 4 ms each to load here, and an in-memory broker may never need them (scenario j in
// bench/README.md times the start). Both are loaded the first time a function below runs.
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

let crypto: typeof import('node:crypto') | undefined;

/** crypto.randomBytes, node:crypto loaded on first use. */
export function randomBytes(size: number): Buffer {
  crypto ??= requireBuiltin('node:crypto') as typeof import('node:crypto');
  return crypto.randomBytes(size);
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
