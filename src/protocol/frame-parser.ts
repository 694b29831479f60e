// The incremental frame parser (spec 4.2.3): frames split across reads and many frames in one read.
// Every length is checked against frame_max and the bytes at hand before it is used. Frames are views
// into the socket's buffers; bytes are copied only when a frame spans two reads.
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
  onMethod(channel: number, method: Method): void;
  /** properties: the raw property flags and values (a view; copy it to keep it past this call). */
  onHeader(channel: number, classId: number, bodySize: number, properties: Buffer): void;
  /** payload: a view into the read buffer; copy it to keep it past this call. */
  onBody(channel: number, payload: Buffer): void;
  onHeartbeat(channel: number): void;
  /** A connection error: the parser has stopped and ignores all further input. */
  onFrameError(error: ProtocolError): void;
}

const FRAME_HEADER_SIZE = 7;

export class FrameParser {
  /** The largest frame accepted, header and frame-end included; 0 means no limit (spec 4.2.3). */
  frameMax: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private stopped = false;

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
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let b = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      const first = this.pending[0];
      // Wait until the frame that spans the reads is complete, then copy it (and what follows) once.
      const size = this.pendingFrameSize();
      if (size < 0 || this.pendingBytes < size) return;
      b = this.pending.length === 1 ? first : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    const consumed = this.parse(b);
    if (!this.stopped && consumed < b.length) {
      this.pending = [b.subarray(consumed)];
      this.pendingBytes = b.length - consumed;
    }
  }

  /** Size of the frame at the head of the pending bytes, or -1 while its header is incomplete. */
  private pendingFrameSize(): number {
    if (this.pendingBytes < FRAME_HEADER_SIZE) return -1;
    const head = this.pending[0].length >= FRAME_HEADER_SIZE ? this.pending[0] : Buffer.concat(this.pending);
    return head.readUInt32BE(3) + FRAME_HEADER_SIZE + 1;
  }

  private fail(text: string): void {
    this.stop();
    this.handler.onFrameError(new ProtocolError(ReplyCode.FRAME_ERROR, text));
  }

  /** Parses whole frames from b; returns how many bytes were consumed. */
  private parse(b: Buffer): number {
    const h = this.handler;
    let o = 0;
    const len = b.length;
    while (!this.stopped && len - o >= FRAME_HEADER_SIZE) {
      const type = b[o];
      const channel = b.readUInt16BE(o + 1);
      const size = b.readUInt32BE(o + 3);
      if (this.frameMax > 0 && size + FRAME_HEADER_SIZE + 1 > this.frameMax) {
        this.fail(
          `FRAME_ERROR - type ${type}, frame size ${size + FRAME_HEADER_SIZE + 1} exceeds frame_max ${this.frameMax}`,
        );
        return len;
      }
      const end = o + FRAME_HEADER_SIZE + size;
      if (end + 1 > len) break;
      if (b[end] !== FRAME_END) {
        this.fail(`FRAME_ERROR - type ${type}, frame end octet ${b[end]} is not ${FRAME_END}`);
        return len;
      }
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
        case FRAME_HEARTBEAT:
          h.onHeartbeat(channel);
          break;
        default:
          this.fail(`FRAME_ERROR - unknown frame type ${type}`);
          return len;
      }
    }
    return o;
  }
}
