// The frame writer: frames are encoded into one growing output buffer per connection and handed to the
// socket as a list of chunks once per event-loop turn (the connection decides when). Large bodies are
// not copied: their frames reference the message's own bytes.
import { type FieldTable, tableSize, writeTable } from './field-table.js';
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD } from './spec.js';

const CHUNK_SIZE = 64 * 1024;
// Bodies from this size up are referenced rather than copied into the output buffer.
const BODY_COPY_LIMIT = 2048;
const FRAME_OVERHEAD = 8;

export class FrameWriter {
  /** The negotiated frame_max: the largest frame, header and frame-end included. */
  frameMax: number;
  private buf: Buffer;
  private pos = 0;
  private start = 0;
  private frameStart = -1;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;

  constructor(frameMax: number) {
    this.frameMax = frameMax;
    this.buf = Buffer.allocUnsafe(CHUNK_SIZE);
  }

  /** Bytes written and not yet taken. */
  get pendingBytes(): number {
    return this.chunkBytes + this.pos - this.start;
  }

  /** The bytes written since the last take, in order; the writer never writes into them again. */
  take(): Buffer[] {
    if (this.frameStart >= 0) this.abandonFrame();
    if (this.pos > this.start) {
      this.chunks.push(this.buf.subarray(this.start, this.pos));
      this.start = this.pos;
    }
    const out = this.chunks;
    this.chunks = [];
    this.chunkBytes = 0;
    return out;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const old = this.buf;
    const from = this.frameStart >= 0 ? this.frameStart : this.pos;
    if (from > this.start) this.pushChunk(old.subarray(this.start, from));
    const carried = this.pos - from;
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK_SIZE, carried + n));
    old.copy(this.buf, 0, from, this.pos);
    if (this.frameStart >= 0) this.frameStart = 0;
    this.start = 0;
    this.pos = carried;
  }

  private pushChunk(b: Buffer): void {
    this.chunks.push(b);
    this.chunkBytes += b.length;
  }

  /**
   * Drops a frame left unfinished because a field writer threw (a bug in the caller, such as a shortstr
   * over 255 bytes), so that the bytes handed to the socket stay whole frames.
   */
  private abandonFrame(): void {
    this.pos = this.frameStart;
    this.frameStart = -1;
  }

  private beginFrame(type: number, channel: number): void {
    if (this.frameStart >= 0) this.abandonFrame();
    this.ensure(7);
    const b = this.buf;
    const p = this.pos;
    this.frameStart = p;
    b[p] = type;
    b[p + 1] = channel >>> 8;
    b[p + 2] = channel;
    this.pos = p + 7;
  }

  /** Starts a method frame; the generated write<Method> functions call this, then the field writers. */
  beginMethod(channel: number, classId: number, methodId: number): void {
    this.beginFrame(FRAME_METHOD, channel);
    this.ensure(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = classId >>> 8;
    b[p + 1] = classId;
    b[p + 2] = methodId >>> 8;
    b[p + 3] = methodId;
    this.pos = p + 4;
  }

  endFrame(): void {
    this.ensure(1);
    const b = this.buf;
    const start = this.frameStart;
    const size = this.pos - start - 7;
    b[start + 3] = size >>> 24;
    b[start + 4] = size >>> 16;
    b[start + 5] = size >>> 8;
    b[start + 6] = size;
    b[this.pos++] = FRAME_END;
    this.frameStart = -1;
  }

  // The integer writers store bytes directly: Buffer's writeUInt*BE range checks cost more than the store.
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  u32(v: number): void {
    this.ensure(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.pos = p + 4;
  }

  u64(v: number): void {
    this.ensure(8);
    const b = this.buf;
    const p = this.pos;
    const high = Math.floor(v / 0x100000000);
    b[p] = high >>> 24;
    b[p + 1] = high >>> 16;
    b[p + 2] = high >>> 8;
    b[p + 3] = high;
    b[p + 4] = v >>> 24;
    b[p + 5] = v >>> 16;
    b[p + 6] = v >>> 8;
    b[p + 7] = v;
    this.pos = p + 8;
  }

  shortstr(s: string): void {
    const length = s.length;
    this.ensure(1 + length * 3);
    const b = this.buf;
    const p = this.pos + 1;
    // ASCII, the usual case (names, tags, routing keys), is copied here: cheaper than a call into utf8Write.
    if (length <= 255) {
      let i = 0;
      for (; i < length; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[p + i] = c;
      }
      if (i === length) {
        b[p - 1] = length;
        this.pos = p + length;
        return;
      }
    }
    const n = b.write(s, p, 'utf8');
    if (n > 255) throw new RangeError(`shortstr longer than 255 bytes: ${s.slice(0, 40)}...`);
    b[p - 1] = n;
    this.pos = p + n;
  }

  longstr(v: Buffer | string): void {
    if (typeof v === 'string') {
      this.ensure(4 + v.length * 3);
      const n = this.buf.write(v, this.pos + 4, 'utf8');
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4 + n;
    } else {
      this.ensure(4 + v.length);
      this.buf.writeUInt32BE(v.length, this.pos);
      v.copy(this.buf, this.pos + 4);
      this.pos += 4 + v.length;
    }
  }

  table(t: FieldTable): void {
    this.ensure(4 + tableSize(t));
    this.pos = writeTable(this.buf, this.pos, t);
  }

  /** Raw bytes inside the current frame (e.g. content-header property bytes kept from a publish). */
  bytes(v: Buffer): void {
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Opens a content header frame; write the property flags and values next (raw or via writeBasicProperties). */
  beginContentHeader(channel: number, classId: number, bodySize: number): void {
    this.beginFrame(FRAME_HEADER, channel);
    this.ensure(12);
    const b = this.buf;
    const p = this.pos;
    b[p] = classId >>> 8;
    b[p + 1] = classId;
    b[p + 2] = 0;
    b[p + 3] = 0;
    this.pos = p + 4;
    this.u64(bodySize);
  }

  /** A content header frame with the raw property bytes (flags and values) as a client published them. */
  writeContentHeader(channel: number, classId: number, bodySize: number, properties: Buffer): void {
    this.beginContentHeader(channel, classId, bodySize);
    this.bytes(properties);
    this.endFrame();
  }

  /**
   * The body frames of a content, split so that no frame exceeds frame_max. The body is one Buffer, or
   * the pieces of a large body as they arrived (see Message.bodyParts), which are never joined here.
   */
  writeBody(channel: number, body: Buffer | readonly Buffer[]): void {
    if (Array.isArray(body)) {
      this.writeBodyParts(channel, body);
      return;
    }
    const b0 = body as Buffer;
    const maxPayload = (this.frameMax > 0 ? this.frameMax : 0x100000000) - FRAME_OVERHEAD;
    for (let offset = 0; offset < b0.length; offset += maxPayload) {
      const end = Math.min(b0.length, offset + maxPayload);
      const size = end - offset;
      this.beginBodyFrame(channel, size);
      this.bodyBytes(offset === 0 && end === b0.length ? b0 : b0.subarray(offset, end));
      this.ensure(1);
      this.buf[this.pos++] = FRAME_END;
    }
  }

  private writeBodyParts(channel: number, parts: readonly Buffer[]): void {
    let total = 0;
    for (const p of parts) total += p.length;
    const maxPayload = (this.frameMax > 0 ? this.frameMax : 0x100000000) - FRAME_OVERHEAD;
    let part = 0;
    let partOffset = 0;
    for (let offset = 0; offset < total; offset += maxPayload) {
      const size = Math.min(total - offset, maxPayload);
      this.beginBodyFrame(channel, size);
      let remaining = size;
      while (remaining > 0) {
        const p = parts[part];
        const n = Math.min(p.length - partOffset, remaining);
        this.bodyBytes(partOffset === 0 && n === p.length ? p : p.subarray(partOffset, partOffset + n));
        remaining -= n;
        partOffset += n;
        if (partOffset === p.length) {
          part++;
          partOffset = 0;
        }
      }
      this.ensure(1);
      this.buf[this.pos++] = FRAME_END;
    }
  }

  /** A body frame's header, its payload size known: the frame is closed, its payload bytes follow. */
  private beginBodyFrame(channel: number, size: number): void {
    this.beginFrame(FRAME_BODY, channel);
    const b = this.buf;
    const start = this.frameStart;
    b[start + 3] = size >>> 24;
    b[start + 4] = size >>> 16;
    b[start + 5] = size >>> 8;
    b[start + 6] = size;
    this.frameStart = -1;
  }

  /** Body bytes: large ones referenced (the bytes so far become a chunk), small ones copied. */
  private bodyBytes(bytes: Buffer): void {
    if (bytes.length >= BODY_COPY_LIMIT) {
      if (this.pos > this.start) this.pushChunk(this.buf.subarray(this.start, this.pos));
      this.start = this.pos;
      this.pushChunk(bytes);
    } else {
      this.ensure(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
    }
  }

  writeHeartbeat(): void {
    this.beginFrame(FRAME_HEARTBEAT, 0);
    this.endFrame();
  }
}
