// A minimal AMQP 0-9-1 wire codec for the conformance suite. It is written from the spec alone and
// shares nothing with warren's own codec, so the suite stays a black-box check of the broker.

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;

export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

/** Class and method ids used by the suite, from the 0-9-1 spec. */
export const Method = {
  connectionStart: [10, 10],
  connectionStartOk: [10, 11],
  connectionTune: [10, 30],
  connectionTuneOk: [10, 31],
  connectionOpen: [10, 40],
  connectionOpenOk: [10, 41],
  connectionClose: [10, 50],
  connectionCloseOk: [10, 51],
  channelOpen: [20, 10],
  channelOpenOk: [20, 11],
  channelFlow: [20, 20],
  channelFlowOk: [20, 21],
  channelClose: [20, 40],
  channelCloseOk: [20, 41],
  queueDeclare: [50, 10],
  queueDeclareOk: [50, 11],
  basicPublish: [60, 40],
  basicGet: [60, 70],
  basicGetOk: [60, 71],
  basicGetEmpty: [60, 72],
} as const;

export type MethodId = readonly [classId: number, methodId: number];

export type FieldValue = boolean | number | bigint | string | Buffer | null | FieldValue[] | FieldTable;
export interface FieldTable {
  [key: string]: FieldValue;
}

/** Appends AMQP data types to a growing list of chunks. */
export class Writer {
  private readonly chunks: Buffer[] = [];

  octet(value: number): this {
    this.chunks.push(Buffer.from([value & 0xff]));
    return this;
  }

  short(value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value);
    this.chunks.push(b);
    return this;
  }

  long(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.chunks.push(b);
    return this;
  }

  longlong(value: bigint | number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(value));
    this.chunks.push(b);
    return this;
  }

  /** Packs consecutive bit fields into octets, least significant bit first (spec 4.2.5.2). */
  bits(...values: boolean[]): this {
    for (let i = 0; i < values.length; i += 8) {
      let octet = 0;
      values.slice(i, i + 8).forEach((v, bit) => {
        if (v) octet |= 1 << bit;
      });
      this.octet(octet);
    }
    return this;
  }

  shortstr(value: string): this {
    const s = Buffer.from(value, 'utf8');
    if (s.length > 255) throw new Error(`shortstr too long: ${s.length}`);
    return this.octet(s.length).raw(s);
  }

  longstr(value: string | Buffer): this {
    const s = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.long(s.length).raw(s);
  }

  /** A field table with its 4-byte length prefix. */
  table(value: FieldTable): this {
    return this.longstr(encodeTableBody(value));
  }

  raw(bytes: Buffer | Uint8Array): this {
    this.chunks.push(Buffer.from(bytes));
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * Encodes the entries of a field table without the length prefix. JS values map to AMQP types:
 * boolean -> t, integer number -> I, other number -> d, bigint -> l, string -> S, Buffer -> x,
 * null -> V, array -> A, object -> F.
 */
export function encodeTableBody(table: FieldTable): Buffer {
  const w = new Writer();
  for (const [key, value] of Object.entries(table)) {
    w.shortstr(key);
    writeFieldValue(w, value);
  }
  return w.build();
}

function writeFieldValue(w: Writer, value: FieldValue): void {
  if (typeof value === 'boolean') {
    w.raw(Buffer.from('t')).octet(value ? 1 : 0);
  } else if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff) {
      const b = Buffer.alloc(4);
      b.writeInt32BE(value);
      w.raw(Buffer.from('I')).raw(b);
    } else {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(value);
      w.raw(Buffer.from('d')).raw(b);
    }
  } else if (typeof value === 'bigint') {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(value);
    w.raw(Buffer.from('l')).raw(b);
  } else if (typeof value === 'string') {
    w.raw(Buffer.from('S')).longstr(value);
  } else if (value === null) {
    w.raw(Buffer.from('V'));
  } else if (Buffer.isBuffer(value)) {
    w.raw(Buffer.from('x')).longstr(value);
  } else if (Array.isArray(value)) {
    const inner = new Writer();
    for (const item of value) writeFieldValue(inner, item);
    w.raw(Buffer.from('A')).longstr(inner.build());
  } else {
    w.raw(Buffer.from('F')).table(value);
  }
}

/** Reads AMQP data types from a buffer; every read is bounds-checked and throws when short. */
export class Reader {
  offset = 0;

  constructor(readonly buffer: Buffer) {}

  private need(n: number): void {
    if (this.offset + n > this.buffer.length) {
      throw new RangeError(`need ${n} bytes at offset ${this.offset}, have ${this.buffer.length}`);
    }
  }

  octet(): number {
    this.need(1);
    return this.buffer.readUInt8(this.offset++);
  }

  short(): number {
    this.need(2);
    const v = this.buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  long(): number {
    this.need(4);
    const v = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  longlong(): bigint {
    this.need(8);
    const v = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  shortstr(): string {
    return this.bytes(this.octet()).toString('utf8');
  }

  longstr(): Buffer {
    return this.bytes(this.long());
  }

  table(): FieldTable {
    return decodeTableBody(this.longstr());
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }
}

export function decodeTableBody(bytes: Buffer): FieldTable {
  const r = new Reader(bytes);
  const table: FieldTable = {};
  while (r.remaining > 0) {
    const key = r.shortstr();
    table[key] = readFieldValue(r);
  }
  return table;
}

function readFieldValue(r: Reader): FieldValue {
  const type = String.fromCharCode(r.octet());
  switch (type) {
    case 't':
      return r.octet() !== 0;
    case 'b':
      return r.bytes(1).readInt8(0);
    case 'B':
      return r.octet();
    case 's':
      return r.bytes(2).readInt16BE(0);
    case 'u':
      return r.short();
    case 'I':
      return r.bytes(4).readInt32BE(0);
    case 'i':
      return r.long();
    case 'l':
      return r.bytes(8).readBigInt64BE(0);
    case 'f':
      return r.bytes(4).readFloatBE(0);
    case 'd':
      return r.bytes(8).readDoubleBE(0);
    case 'D': {
      const scale = r.octet();
      return r.bytes(4).readInt32BE(0) / 10 ** scale;
    }
    case 'S':
      return r.longstr().toString('utf8');
    case 'x':
      return Buffer.from(r.longstr());
    case 'A': {
      const inner = new Reader(r.longstr());
      const items: FieldValue[] = [];
      while (inner.remaining > 0) items.push(readFieldValue(inner));
      return items;
    }
    case 'T':
      return r.longlong();
    case 'F':
      return r.table();
    case 'V':
      return null;
    default:
      throw new Error(`unknown field type ${JSON.stringify(type)}`);
  }
}

/** One complete frame: type, channel and payload (without the frame-end octet). */
export interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
}

/** A frame with an arbitrary type, channel, payload and frame-end octet. */
export function encodeFrame(type: number, channel: number, payload: Buffer, frameEnd = FRAME_END): Buffer {
  const b = Buffer.alloc(7 + payload.length + 1);
  b.writeUInt8(type, 0);
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(payload.length, 3);
  payload.copy(b, 7);
  b.writeUInt8(frameEnd, 7 + payload.length);
  return b;
}

export function methodPayload(method: MethodId, args: Buffer = Buffer.alloc(0)): Buffer {
  return new Writer().short(method[0]).short(method[1]).raw(args).build();
}

export function methodFrame(channel: number, method: MethodId, args: Buffer = Buffer.alloc(0)): Buffer {
  return encodeFrame(FRAME_METHOD, channel, methodPayload(method, args));
}

/** A content header frame with the given property flags and raw property bytes (none by default). */
export function headerFrame(
  channel: number,
  classId: number,
  bodySize: number,
  propertyFlags = 0,
  properties: Buffer = Buffer.alloc(0),
): Buffer {
  const payload = new Writer()
    .short(classId)
    .short(0)
    .longlong(bodySize)
    .short(propertyFlags)
    .raw(properties)
    .build();
  return encodeFrame(FRAME_HEADER, channel, payload);
}

export function bodyFrame(channel: number, body: Buffer): Buffer {
  return encodeFrame(FRAME_BODY, channel, body);
}

export function heartbeatFrame(channel = 0): Buffer {
  return encodeFrame(FRAME_HEARTBEAT, channel, Buffer.alloc(0));
}

/** The frames of basic.publish with its content header and a single body frame. */
export function publishFrames(channel: number, exchange: string, routingKey: string, body: Buffer): Buffer {
  const args = new Writer().short(0).shortstr(exchange).shortstr(routingKey).bits(false, false).build();
  return Buffer.concat([
    methodFrame(channel, Method.basicPublish, args),
    headerFrame(channel, 60, body.length),
    bodyFrame(channel, body),
  ]);
}

export function queueDeclareArgs(
  queue: string,
  options: { passive?: boolean; durable?: boolean; exclusive?: boolean; autoDelete?: boolean } = {},
): Buffer {
  return new Writer()
    .short(0)
    .shortstr(queue)
    .bits(
      options.passive ?? false,
      options.durable ?? false,
      options.exclusive ?? false,
      options.autoDelete ?? false,
      false,
    )
    .table({})
    .build();
}

export function basicGetArgs(queue: string, noAck: boolean): Buffer {
  return new Writer().short(0).shortstr(queue).bits(noAck).build();
}

/** The arguments of connection.close / channel.close. */
export interface CloseArgs {
  replyCode: number;
  replyText: string;
  classId: number;
  methodId: number;
}

export function closeArgs(close: CloseArgs): Buffer {
  return new Writer()
    .short(close.replyCode)
    .shortstr(close.replyText)
    .short(close.classId)
    .short(close.methodId)
    .build();
}

export function decodeCloseArgs(args: Buffer): CloseArgs {
  const r = new Reader(args);
  return { replyCode: r.short(), replyText: r.shortstr(), classId: r.short(), methodId: r.short() };
}

/** A decoded method frame: its ids and the undecoded argument bytes. */
export interface MethodFrame {
  channel: number;
  classId: number;
  methodId: number;
  args: Buffer;
}

export function decodeMethod(frame: Frame): MethodFrame {
  const r = new Reader(frame.payload);
  const classId = r.short();
  const methodId = r.short();
  return { channel: frame.channel, classId, methodId, args: frame.payload.subarray(4) };
}

export function isMethod(m: MethodFrame, method: MethodId): boolean {
  return m.classId === method[0] && m.methodId === method[1];
}

/**
 * Incremental frame parser: push bytes as they arrive, take complete frames out. A frame split over
 * many pushes and many frames in one push both work.
 */
export class FrameParser {
  private buffer: Buffer = Buffer.alloc(0);

  push(bytes: Buffer): void {
    this.buffer = this.buffer.length === 0 ? bytes : Buffer.concat([this.buffer, bytes]);
  }

  /** Consumes exactly n raw bytes (used before framing starts, e.g. a protocol header reply). */
  takeBytes(n: number): Buffer | undefined {
    if (this.buffer.length < n) return undefined;
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  /** The next complete frame, or undefined if more bytes are needed. Throws on a bad frame-end. */
  next(): Frame | undefined {
    if (this.buffer.length < 7) return undefined;
    const size = this.buffer.readUInt32BE(3);
    if (this.buffer.length < 7 + size + 1) return undefined;
    const end = this.buffer.readUInt8(7 + size);
    if (end !== FRAME_END) throw new Error(`bad frame-end octet 0x${end.toString(16)} from the server`);
    const frame: Frame = {
      type: this.buffer.readUInt8(0),
      channel: this.buffer.readUInt16BE(1),
      payload: Buffer.from(this.buffer.subarray(7, 7 + size)),
    };
    this.buffer = this.buffer.subarray(7 + size + 1);
    return frame;
  }
}
