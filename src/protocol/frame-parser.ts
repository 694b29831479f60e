// The incremental frame parser (spec 4.2.3): frames split across reads and many frames in one read.
// Every length is checked against frame_max and the bytes at hand before it is used. Frames are views
// into the socket's buffers. A method or header frame that spans reads is copied into one buffer (only
// that frame); a body frame that spans reads is handed out in pieces as they arrive, never copied here,
// since its only reader copies the payload into the message anyway (a 64 KiB body was copied twice).
// The frame type and size are checked as soon as the 7-byte header is in, before the payload is awaited.
// A handler may pause the parser (flow control): it stops after the current frame and keeps the bytes
// after it, and those that arrive meanwhile, until resume().
import { ProtocolError } from './protocol-error.js';
import {
  decodeMethod,
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  type Method,
  ReplyCode,
} from './spec.js';

export interface FrameHandler {
  /** method: its longstr arguments (Buffers) are views into the read buffer; copy one to keep it. */
  onMethod(channel: number, method: Method): void;
  /** properties: the raw property flags and values (a view; copy it to keep it past this call). */
  onHeader(channel: number, classId: number, bodySize: number, properties: Buffer): void;
  /**
   * payload: a view into the read buffer; copy it to keep it past this call. A body frame that spans
   * reads comes in several calls, one per read, each with the next piece of its payload (the frame-end
   * octet is checked after the last piece).
   */
  onBody(channel: number, payload: Buffer): void;
  onHeartbeat(channel: number): void;
  /** A connection error: the parser has stopped and ignores all further input. */
  onFrameError(error: ProtocolError): void;
}

const FRAME_HEADER_SIZE = 7;

export class FrameParser {
  /** The largest frame accepted, header and frame-end included; 0 means no limit (spec 4.2.3). */
  frameMax: number;
  // The start of a frame that spans reads: the pieces received so far, fewer bytes than the whole frame.
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  // The size of that frame, header and frame-end included, once its header has arrived; else -1.
  private pendingFrameSize = -1;
  // A body frame being handed out in pieces: its channel, the payload bytes still to come, and whether
  // its frame-end octet is still to come.
  private bodyChannel = 0;
  private bodyRemaining = 0;
  private bodyEndDue = false;
  private stopped = false;
  private paused = false;
  // Input not parsed yet because the parser is paused, in order.
  private held: Buffer[] = [];

  constructor(
    private readonly handler: FrameHandler,
    frameMax: number,
  ) {
    this.frameMax = frameMax;
  }

  /** Stops parsing: the rest of the current read and everything after it is ignored. */
  stop(): void {
    this.stopped = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingFrameSize = -1;
    this.bodyRemaining = 0;
    this.bodyEndDue = false;
    this.held = [];
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Stops handing out frames after the current one, until resume(); input meanwhile is kept. */
  pause(): void {
    this.paused = true;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Bytes kept while paused. */
  get heldBytes(): number {
    let n = 0;
    for (const b of this.held) n += b.length;
    return n;
  }

  /** Parses what was kept while paused (until a handler pauses again), then goes on with new input. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    let i = 0;
    // A handler that pauses again leaves the rest of its chunk in this.held: the chunks after it follow.
    while (i < held.length && !this.paused && !this.stopped) this.take(held[i++]);
    if (this.stopped) return;
    for (; i < held.length; i++) this.held.push(held[i]);
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    if (this.paused) this.held.push(chunk);
    else this.take(chunk);
  }

  private take(chunk: Buffer): void {
    let b = chunk;
    if (this.bodyEndDue) {
      const used = this.continueBody(chunk);
      if (used < 0 || this.stopped || used === chunk.length) return;
      b = chunk.subarray(used);
      if (this.paused) {
        this.held.push(b);
        return;
      }
    } else if (this.pendingBytes > 0) {
      const used = this.completePending(chunk);
      if (used < 0 || this.stopped) return;
      if (used === chunk.length) return;
      b = chunk.subarray(used);
      if (this.paused) {
        this.held.push(b);
        return;
      }
    }
    const consumed = this.parse(b);
    if (!this.stopped && consumed < b.length) {
      const rest = consumed === 0 ? b : b.subarray(consumed);
      if (this.paused) {
        // Parsed again from its start on resume(), whole frames and a partial one alike.
        this.held.push(rest);
        return;
      }
      this.pending.push(rest);
      this.pendingBytes = b.length - consumed;
      this.pendingFrameSize = -1;
    }
  }

  /**
   * Adds a read to the frame that spans reads. When the frame is complete, copies it (and only it) into
   * one buffer, parses it, and returns how many bytes of the read it took; -1 while it is incomplete.
   */
  private completePending(chunk: Buffer): number {
    let size = this.pendingFrameSize;
    if (size < 0) {
      if (this.pendingBytes + chunk.length < FRAME_HEADER_SIZE) {
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
        return -1;
      }
      let head = this.pending[0];
      if (head.length < FRAME_HEADER_SIZE) {
        this.pending.push(chunk);
        head = Buffer.concat(this.pending, FRAME_HEADER_SIZE);
        this.pending.pop();
      }
      size = this.checkHeader(head[0], head.readUInt32BE(3));
      if (size < 0) return -1;
      this.pendingFrameSize = size;
    }
    const missing = size - this.pendingBytes;
    this.pending.push(chunk);
    if (chunk.length < missing) {
      this.pendingBytes += chunk.length;
      return -1;
    }
    const frame = Buffer.concat(this.pending, size);
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingFrameSize = -1;
    this.parse(frame);
    return missing;
  }

  /**
   * Hands the next piece of a body frame that spans reads to the handler and checks its frame-end octet.
   * Returns how many bytes of the read the frame took, or -1 after an error.
   */
  private continueBody(chunk: Buffer): number {
    let o = 0;
    if (this.bodyRemaining > 0) {
      o = Math.min(this.bodyRemaining, chunk.length);
      this.bodyRemaining -= o;
      this.handler.onBody(this.bodyChannel, o === chunk.length ? chunk : chunk.subarray(0, o));
      if (this.stopped) return -1;
    }
    if (this.bodyRemaining > 0 || o === chunk.length) return o;
    this.bodyEndDue = false;
    if (chunk[o] !== FRAME_END) {
      this.fail(`FRAME_ERROR - type ${FRAME_BODY}, frame end octet ${chunk[o]} is not ${FRAME_END}`);
      return -1;
    }
    return o + 1;
  }

  private fail(text: string): void {
    this.stop();
    this.handler.onFrameError(new ProtocolError(ReplyCode.FRAME_ERROR, text));
  }

  /**
   * Checks a frame header before its payload is awaited: the type must be known and the frame no larger
   * than frame_max. Returns the whole frame's size, or -1 after reporting the error.
   */
  private checkHeader(type: number, payloadSize: number): number {
    const size = payloadSize + FRAME_HEADER_SIZE + 1;
    if (this.frameMax > 0 && size > this.frameMax) {
      this.fail(`FRAME_ERROR - type ${type}, frame size ${size} exceeds frame_max ${this.frameMax}`);
      return -1;
    }
    if (type !== FRAME_METHOD && type !== FRAME_HEADER && type !== FRAME_BODY && type !== FRAME_HEARTBEAT) {
      this.fail(`FRAME_ERROR - unknown frame type ${type}`);
      return -1;
    }
    return size;
  }

  /** Parses whole frames from b; returns how many bytes were consumed. */
  private parse(b: Buffer): number {
    const h = this.handler;
    let o = 0;
    const len = b.length;
    while (!this.stopped && !this.paused && len - o >= FRAME_HEADER_SIZE) {
      const type = b[o];
      const size = b[o + 3] * 0x1000000 + ((b[o + 4] << 16) | (b[o + 5] << 8) | b[o + 6]);
      const max = this.frameMax;
      // Checked inline for speed; checkHeader then says what is wrong.
      if (
        (max > 0 && size + FRAME_HEADER_SIZE + 1 > max) ||
        (type !== FRAME_METHOD && type !== FRAME_HEADER && type !== FRAME_BODY && type !== FRAME_HEARTBEAT)
      ) {
        this.checkHeader(type, size);
        return len;
      }
      const end = o + FRAME_HEADER_SIZE + size;
      if (end + 1 > len) {
        if (type !== FRAME_BODY) break;
        // The rest of this body frame comes in later reads: hand out what is here.
        const start = o + FRAME_HEADER_SIZE;
        this.bodyChannel = (b[o + 1] << 8) | b[o + 2];
        this.bodyRemaining = size - (len - start);
        this.bodyEndDue = true;
        if (len > start) h.onBody(this.bodyChannel, b.subarray(start, len));
        return len;
      }
      if (b[end] !== FRAME_END) {
        this.fail(`FRAME_ERROR - type ${type}, frame end octet ${b[end]} is not ${FRAME_END}`);
        return len;
      }
      const channel = (b[o + 1] << 8) | b[o + 2];
      const start = o + FRAME_HEADER_SIZE;
      o = end + 1;
      switch (type) {
        case FRAME_METHOD: {
          const method = decodeMethod(b, start, end);
          if (method instanceof ProtocolError) {
            this.stop();
            h.onFrameError(method);
            return len;
          }
          h.onMethod(channel, method);
          break;
        }
        case FRAME_HEADER:
          if (size < 14) {
            this.fail('FRAME_ERROR - content header frame too short');
            return len;
          }
          h.onHeader(
            channel,
            b.readUInt16BE(start),
            b.readUInt32BE(start + 4) * 0x100000000 + b.readUInt32BE(start + 8),
            b.subarray(start + 12, end),
          );
          break;
        case FRAME_BODY:
          h.onBody(channel, b.subarray(start, end));
          break;
        default:
          if (size !== 0) {
            this.fail('FRAME_ERROR - heartbeat frame with a payload');
            return len;
          }
          h.onHeartbeat(channel);
          break;
      }
    }
    return o;
  }
}
