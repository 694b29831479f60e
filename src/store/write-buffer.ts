// Bytes waiting for the next write to one file. Records are encoded straight into large chunks (no
// buffer per record); a big piece (a large body) is referenced rather than copied, and goes to the
// file as its own element of the same writev.

const CHUNK_SIZE = 256 * 1024;

export class WriteBuffer {
  /** The chunk being filled: encoders write at `pos` after reserve(). */
  buf: Buffer = Buffer.allocUnsafe(0);
  pos = 0;
  /** Start of the part of `buf` not yet moved to `chunks`. */
  private mark = 0;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;

  /** Bytes waiting. */
  get length(): number {
    return this.chunkBytes + this.pos - this.mark;
  }

  /** Makes room for `bytes` contiguous bytes at buf[pos]. */
  reserve(bytes: number): void {
    if (this.buf.length - this.pos >= bytes) return;
    this.cut();
    this.buf = Buffer.allocUnsafe(Math.max(bytes, CHUNK_SIZE));
    this.pos = 0;
    this.mark = 0;
  }

  /** Appends `bytes` by reference: the caller must not change them until they are written. */
  appendReference(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.cut();
    this.chunks.push(bytes);
    this.chunkBytes += bytes.length;
  }

  /** Hands over everything waiting, in order; the buffer is empty afterwards. */
  take(): Buffer[] {
    this.cut();
    const chunks = this.chunks;
    this.chunks = [];
    this.chunkBytes = 0;
    return chunks;
  }

  /**
   * Copies `count` waiting bytes, from the `skip`th on, to `target` at `at`; returns how many it copied
   * (fewer if fewer are waiting). For reads of records not yet written.
   */
  copyTo(skip: number, target: Uint8Array, at: number, count: number): number {
    const copied = copyFromChunks(this.chunks, skip, target, at, count);
    const from = skip + copied - this.chunkBytes;
    const rest = Math.min(count - copied, this.pos - this.mark - from);
    if (rest <= 0) return copied;
    target.set(this.buf.subarray(this.mark + from, this.mark + from + rest), at + copied);
    return copied + rest;
  }

  /** Drops everything waiting (it was superseded, e.g. by a rewrite of the whole file). */
  clear(): void {
    this.take();
  }

  private cut(): void {
    if (this.pos > this.mark) {
      this.chunks.push(this.buf.subarray(this.mark, this.pos));
      this.chunkBytes += this.pos - this.mark;
      this.mark = this.pos;
    }
  }
}

/**
 * Copies `count` bytes of the concatenation of `chunks`, from the `skip`th on, to `target` at `at`;
 * returns how many it copied (fewer if the chunks end first).
 */
export function copyFromChunks(
  chunks: readonly Uint8Array[],
  skip: number,
  target: Uint8Array,
  at: number,
  count: number,
): number {
  let copied = 0;
  for (let i = 0; i < chunks.length && copied < count; i++) {
    const chunk = chunks[i];
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    const n = Math.min(chunk.length - skip, count - copied);
    target.set(chunk.subarray(skip, skip + n), at + copied);
    copied += n;
    skip = 0;
  }
  return copied;
}
