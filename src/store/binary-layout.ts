// Typed access to the buffer-layout library, which describes the fixed layouts of file headers. It is
// ~8x slower than reading fields by hand, so it is for headers only, never for per-record fields.
// The package is CommonJS without type declarations: it is loaded through require so that every
// tsconfig (src, tests, tools) sees these types without an ambient declaration file.
import { createRequire } from 'node:module';

export interface Layout<T> {
  readonly span: number;
  encode(source: T, buffer: Uint8Array, offset?: number): number;
  decode(buffer: Uint8Array, offset?: number): T;
}

export interface BufferLayout {
  struct<T>(fields: readonly Layout<unknown>[]): Layout<T>;
  blob(length: number, property: string): Layout<Uint8Array>;
  u16be(property: string): Layout<number>;
  u32be(property: string): Layout<number>;
  /** A u64 read as a Number: exact below 2^53. */
  nu64be(property: string): Layout<number>;
}

const requireCommonJs = createRequire(import.meta.url);
let library: BufferLayout | undefined;

/**
 * A layout described with the library, made at its first use. The library is loaded then, not when the
 * store's modules are: a broker without a data directory never reads a file header, and loading it took
 * about 2 ms of every start.
 */
export function lazyLayout<T>(describe: (layout: BufferLayout) => Layout<T>): () => Layout<T> {
  let made: Layout<T> | undefined;
  return () => {
    if (made === undefined) {
      library ??= requireCommonJs('buffer-layout') as BufferLayout;
      made = describe(library);
    }
    return made;
  };
}
