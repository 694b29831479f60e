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
