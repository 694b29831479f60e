// A lean AMQP 0-9-1 client for the load generator, on warren's own codec: just enough to open a
// connection and one channel, declare and delete a queue, publish pre-encoded frames and consume. It is
// not a general client (one channel, one setup call in flight at a time, no heartbeats): what it does per
// message must cost far less than what the broker does, or the bench measures the client. Hence its own
// frame loop on the way in: basic.deliver is read in place for its delivery tag alone (decoding its three
// strings into an object per message cost the consumer thread more than all the rest), and every other
// method goes through the codec's decodeMethod. In confirm mode it counts the broker's basic.ack and
// basic.nack (a few per fsync batch, so decoding them is cheap enough).
import { connect, type Socket } from 'node:net';
import {
  decodeMethod,
  type FieldTable,
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  FrameWriter,
  type Method,
  MethodId,
  methodName,
  ProtocolError,
  writeBasicAck,
  writeBasicConsume,
  writeBasicNack,
  writeBasicProperties,
  writeBasicPublish,
  writeBasicQos,
  writeChannelCloseOk,
  writeChannelOpen,
  writeConfirmSelect,
  writeConnectionClose,
  writeConnectionCloseOk,
  writeConnectionOpen,
  writeConnectionStartOk,
  writeConnectionTuneOk,
  writeExchangeDeclare,
  writeExchangeDelete,
  writeQueueBind,
  writeQueueDeclare,
  writeQueueDelete,
} from '../src/protocol/index.js';
import { ConfirmTracker } from './confirm-tracker.js';

export interface AmqpEndpoint {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly vhost: string;
}

/** amqp://user:pass@host:port/vhost; an empty path or '/' is the default vhost '/', as amqplib reads it. */
export function parseAmqpUrl(url: string): AmqpEndpoint {
  const u = new URL(url);
  if (u.protocol !== 'amqp:') throw new Error(`not an amqp:// URL: ${url}`);
  const path = u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '/';
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port === '' ? 5672 : Number(u.port),
    username: u.username === '' ? 'guest' : decodeURIComponent(u.username),
    password: u.password === '' ? 'guest' : decodeURIComponent(u.password),
    vhost: path,
  };
}

/** What a consumer sees of each delivery; called from the socket's data handler. */
export interface DeliverySink {
  /** A whole message (method, header and body) has arrived. */
  onMessage(deliveryTag: number): void;
  /**
   * Optional: each body frame's payload, b[start, end), before onMessage for the frame that completes
   * the message (for a latency probe that reads a timestamp from the body); `offset` is where in the
   * message's body the payload starts. A body frame over 4 KiB that spans reads is skipped rather than
   * gathered: for it, b[start, end) is only the part of its payload in the read where it starts (possibly
   * empty), and the rest is not seen.
   */
  onBody?(b: Buffer, start: number, end: number, offset: number): void;
  /** The end of one socket read: a good moment to publish counters and send acks. */
  afterRead(): void;
}

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
const CLIENT_FRAME_MAX = 131_072;
const CHANNEL = 1;
const CALL_TIMEOUT_MS = 10_000;
const FRAME_HEADER_SIZE = 7;
// Class 60 (basic), method 60 (deliver): the first four bytes of its method frame payload.
const BASIC_DELIVER = 0x003c003c;
const CLOSE_TIMEOUT_MS = 3_000;
// Body frames larger than this that span reads are skipped rather than gathered (see readFrames).
const SKIP_BODY_OVER = 4096;
const READ_BUFFER_BYTES = 1024 * 1024;

interface PendingCall {
  readonly id: number;
  readonly resolve: (method: Method) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class LoadConnection {
  readonly writer = new FrameWriter(CLIENT_FRAME_MAX);
  /** connection.blocked notifications received (the broker paused our publishing). */
  blockedCount = 0;
  /** Set when the connection failed (broker close, socket error); later calls reject with it. */
  failure: Error | undefined;
  /** Publisher confirms received, once confirmSelect() has put the channel in confirm mode. */
  readonly confirms = new ConfirmTracker();
  /** Called after each basic.ack or basic.nack from the broker. */
  onConfirm: (() => void) | undefined;
  /** The start of a frame that the last read did not complete. */
  private rest: Buffer | undefined;
  private stopped = false;
  private pending: PendingCall | undefined;
  private sink: DeliverySink | undefined;
  private closing = false;
  // The delivery whose content is arriving.
  private deliveryTag = 0;
  private bodySize = 0;
  private bodyRemaining = 0;
  // A large body frame that spans reads is skipped, not gathered: the bytes of it still to come (its
  // frame-end octet included), and whether it is the message's last body frame.
  private skipBytes = 0;
  private skipCompletes = false;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('socket closed')));
  }

  /** Connects, authenticates (PLAIN), opens the vhost and channel 1. */
  static async open(endpoint: AmqpEndpoint, product: string): Promise<LoadConnection> {
    // Reads land in one buffer of this connection's, reused for every read (Node's `onread`), rather than
    // in a new 64 KiB Buffer per read: fewer read calls, and no garbage per read, on the consumer side.
    // Nothing may keep a view of a read past its callback: a partial frame is copied (see onData).
    let c: LoadConnection | undefined;
    const socket = connect({
      host: endpoint.host,
      port: endpoint.port,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        callback: (bytes: number, buffer: Uint8Array) => {
          c?.onData(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
          return true;
        },
      },
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${endpoint.host}:${endpoint.port} timed out`));
      }, CALL_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    c = new LoadConnection(socket);
    await c.call(MethodId.ConnectionStart, () => socket.write(PROTOCOL_HEADER));
    const response = `\u0000${endpoint.username}\u0000${endpoint.password}`;
    const clientProperties = {
      product,
      capabilities: {
        'connection.blocked': true,
        consumer_cancel_notify: true,
        authentication_failure_close: true,
      },
    };
    const tune = await c.call(MethodId.ConnectionTune, (w) =>
      writeConnectionStartOk(w, 0, clientProperties, 'PLAIN', response, 'en_US'),
    );
    if (tune.id !== MethodId.ConnectionTune) throw new Error('unreachable');
    const frameMax = tune.frameMax === 0 ? CLIENT_FRAME_MAX : Math.min(tune.frameMax, CLIENT_FRAME_MAX);
    // Heartbeats off: a bench connection lives seconds and is never idle.
    writeConnectionTuneOk(c.writer, 0, tune.channelMax, frameMax, 0);
    c.writer.frameMax = frameMax;
    await c.call(MethodId.ConnectionOpenOk, (w) => writeConnectionOpen(w, 0, endpoint.vhost));
    await c.call(MethodId.ChannelOpenOk, (w) => writeChannelOpen(w, CHANNEL));
    return c;
  }

  get frameMax(): number {
    return this.writer.frameMax;
  }

  /**
   * Declares a queue (or checks it with passive) and returns its ready-message count; a broker busy with
   * a large backlog may take a while to answer (timeoutMs).
   */
  async declareQueue(
    queue: string,
    options: {
      passive?: boolean;
      durable?: boolean;
      exclusive?: boolean;
      arguments?: FieldTable;
      timeoutMs?: number;
    } = {},
  ): Promise<{ messageCount: number; consumerCount: number }> {
    const ok = await this.call(
      MethodId.QueueDeclareOk,
      (w) =>
        writeQueueDeclare(
          w,
          CHANNEL,
          queue,
          options.passive ?? false,
          options.durable ?? false,
          options.exclusive ?? false,
          false,
          false,
          options.arguments ?? {},
        ),
      options.timeoutMs,
    );
    if (ok.id !== MethodId.QueueDeclareOk) throw new Error('unreachable');
    return { messageCount: ok.messageCount, consumerCount: ok.consumerCount };
  }

  /** Deletes a queue; one holding a large backlog may take the broker a while (timeoutMs). */
  async deleteQueue(queue: string, timeoutMs = CALL_TIMEOUT_MS): Promise<void> {
    await this.call(
      MethodId.QueueDeleteOk,
      (w) => writeQueueDelete(w, CHANNEL, queue, false, false, false),
      timeoutMs,
    );
  }

  /** Declares a non-durable exchange of the given type. */
  async declareExchange(exchange: string, type: string): Promise<void> {
    await this.call(MethodId.ExchangeDeclareOk, (w) =>
      writeExchangeDeclare(w, CHANNEL, exchange, type, false, false, false, false, false, {}),
    );
  }

  async deleteExchange(exchange: string): Promise<void> {
    await this.call(MethodId.ExchangeDeleteOk, (w) =>
      writeExchangeDelete(w, CHANNEL, exchange, false, false),
    );
  }

  async bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    await this.call(MethodId.QueueBindOk, (w) =>
      writeQueueBind(w, CHANNEL, queue, exchange, routingKey, false, {}),
    );
  }

  async qos(prefetchCount: number): Promise<void> {
    await this.call(MethodId.BasicQosOk, (w) => writeBasicQos(w, CHANNEL, 0, prefetchCount, false));
  }

  /** Starts a consumer; every delivery from then on goes to the sink. */
  async consume(queue: string, noAck: boolean, sink: DeliverySink): Promise<void> {
    this.sink = sink;
    await this.call(MethodId.BasicConsumeOk, (w) =>
      writeBasicConsume(w, CHANNEL, queue, '', false, noAck, false, false, {}),
    );
  }

  /** Puts the channel in confirm mode: the broker acks (or nacks) every publish from then on. */
  async confirmSelect(): Promise<void> {
    await this.call(MethodId.ConfirmSelectOk, (w) => writeConfirmSelect(w, CHANNEL, false));
  }

  /** Acks every delivery up to and including deliveryTag (written now, sent at the next flush). */
  ack(deliveryTag: number): void {
    writeBasicAck(this.writer, CHANNEL, deliveryTag, true);
  }

  /**
   * Rejects every delivery up to and including deliveryTag without requeueing it (basic.nack, multiple,
   * requeue false): the broker dead-letters or drops them. Written now, sent at the next flush.
   */
  rejectUpTo(deliveryTag: number): void {
    writeBasicNack(this.writer, CHANNEL, deliveryTag, true, false);
  }

  /**
   * Closes the connection politely (close, close-ok); destroys the socket if the broker does not answer
   * within timeoutMs. True when close-ok came: the broker had then read everything written before it.
   */
  async close(timeoutMs = CLOSE_TIMEOUT_MS): Promise<boolean> {
    if (this.failure || this.socket.destroyed) {
      this.socket.destroy();
      return false;
    }
    this.closing = true;
    try {
      await this.call(
        MethodId.ConnectionCloseOk,
        (w) => writeConnectionClose(w, 0, 200, 'bench done', 0, 0),
        timeoutMs,
      );
      this.socket.end();
      return true;
    } catch {
      // The broker did not answer in time or dropped us: either way the connection is gone.
      return false;
    } finally {
      this.socket.destroy();
    }
  }

  /** Writes what the writer holds to the socket, in one go. */
  flush(): void {
    const chunks = this.writer.take();
    if (chunks.length === 1) this.socket.write(chunks[0]);
    else if (chunks.length > 1) {
      this.socket.cork();
      for (const c of chunks) this.socket.write(c);
      this.socket.uncork();
    }
  }

  /** Sends what write() encodes, then waits for the method with id `reply` on this connection. */
  private call(reply: number, write: (w: FrameWriter) => void, timeoutMs = CALL_TIMEOUT_MS): Promise<Method> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('a setup call is already in flight'));
    return new Promise<Method>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(new Error(`no ${nameOf(reply)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = { id: reply, resolve, reject, timer };
      write(this.writer);
      this.flush();
    });
  }

  private fail(err: Error): void {
    if (!this.failure && !this.closing) this.failure = err;
    const p = this.pending;
    if (p) {
      this.pending = undefined;
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  /** Splits reads into frames; a frame split across reads is completed with the next one. */
  private readonly onData = (chunk: Buffer): void => {
    if (this.stopped) return;
    let b = chunk;
    if (this.skipBytes > 0) {
      const n = Math.min(this.skipBytes, chunk.length);
      this.skipBytes -= n;
      if (this.skipBytes > 0) return;
      if (chunk[n - 1] !== FRAME_END) {
        this.frameError('bad frame-end octet');
        return;
      }
      if (this.skipCompletes) this.sink?.onMessage(this.deliveryTag);
      if (n === chunk.length) {
        this.sink?.afterRead();
        return;
      }
      b = chunk.subarray(n);
    }
    if (this.rest) {
      b = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    const used = this.readFrames(b);
    if (used < 0) return;
    // A copy: the read buffer is reused for the next read.
    if (used < b.length) this.rest = Buffer.from(b.subarray(used));
    this.sink?.afterRead();
  };

  /** Handles the whole frames at the start of b; returns how many bytes they took, or -1 after an error. */
  private readFrames(b: Buffer): number {
    const len = b.length;
    const frameMax = this.writer.frameMax;
    let o = 0;
    while (len - o >= FRAME_HEADER_SIZE) {
      const type = b[o];
      const size = b.readUInt32BE(o + 3);
      if (size + FRAME_HEADER_SIZE + 1 > frameMax) return this.frameError(`frame of ${size} bytes`);
      const start = o + FRAME_HEADER_SIZE;
      const end = start + size;
      if (end + 1 > len) {
        // A large body frame is counted now and its bytes skipped as they come, rather than gathered
        // (a 64 KiB body spans reads, and copying it cost the consumer thread more than reading it).
        if (type === FRAME_BODY && size > SKIP_BODY_OVER) {
          this.sink?.onBody?.(b, start, len, this.bodySize - this.bodyRemaining);
          this.bodyRemaining -= size;
          this.skipCompletes = this.bodyRemaining <= 0;
          this.skipBytes = end + 1 - len;
          return len;
        }
        break;
      }
      if (b[end] !== FRAME_END) return this.frameError('bad frame-end octet');
      const channel = b.readUInt16BE(o + 1);
      o = end + 1;
      if (type === FRAME_METHOD) {
        if (size >= 4 && b.readUInt32BE(start) === BASIC_DELIVER) {
          // consumer-tag (shortstr), then delivery-tag (longlong).
          const tagAt = start + 5 + b[start + 4];
          if (tagAt + 8 > end) return this.frameError('short basic.deliver');
          this.deliveryTag = b.readUInt32BE(tagAt) * 0x100000000 + b.readUInt32BE(tagAt + 4);
          continue;
        }
        const method = decodeMethod(b, start, end);
        if (method instanceof ProtocolError) return this.frameError(method.replyText);
        this.onMethod(channel, method);
        if (this.stopped) return -1;
      } else if (type === FRAME_HEADER) {
        if (size < 14) return this.frameError('short content header');
        this.bodyRemaining = b.readUInt32BE(start + 4) * 0x100000000 + b.readUInt32BE(start + 8);
        this.bodySize = this.bodyRemaining;
        if (this.bodyRemaining === 0) this.sink?.onMessage(this.deliveryTag);
      } else if (type === FRAME_BODY) {
        this.sink?.onBody?.(b, start, end, this.bodySize - this.bodyRemaining);
        this.bodyRemaining -= size;
        if (this.bodyRemaining <= 0) this.sink?.onMessage(this.deliveryTag);
      } else if (type !== FRAME_HEARTBEAT) {
        return this.frameError(`frame type ${type}`);
      }
    }
    return o;
  }

  private frameError(what: string): -1 {
    this.stopped = true;
    this.fail(new Error(`bad frame from the broker: ${what}`));
    this.socket.destroy();
    return -1;
  }

  private onMethod(channel: number, method: Method): void {
    const p = this.pending;
    if (p && method.id === p.id) {
      this.pending = undefined;
      clearTimeout(p.timer);
      p.resolve(method);
      return;
    }
    switch (method.id) {
      case MethodId.ConnectionBlocked:
        this.blockedCount++;
        return;
      case MethodId.ConnectionUnblocked:
        return;
      case MethodId.BasicAck:
        this.confirms.settle(method.deliveryTag, method.multiple, false);
        this.onConfirm?.();
        return;
      case MethodId.BasicNack:
        this.confirms.settle(method.deliveryTag, method.multiple, true);
        this.onConfirm?.();
        return;
      case MethodId.ConnectionClose:
        writeConnectionCloseOk(this.writer, 0);
        this.flush();
        this.fail(new Error(`broker closed the connection: ${method.replyCode} ${method.replyText}`));
        this.socket.end();
        return;
      case MethodId.ChannelClose:
        writeChannelCloseOk(this.writer, channel);
        this.flush();
        this.fail(new Error(`broker closed channel ${channel}: ${method.replyCode} ${method.replyText}`));
        return;
      case MethodId.BasicCancel:
        this.fail(new Error(`broker cancelled consumer ${method.consumerTag}`));
        return;
      default:
        this.fail(new Error(`unexpected ${nameOf(method.id)} on channel ${channel}`));
    }
  }
}

function nameOf(id: number): string {
  return methodName(Math.floor(id / 65536), id % 65536) ?? String(id);
}

export interface PublishShape {
  /** The exchange to publish to; '' (the default exchange) when absent. */
  readonly exchange?: string;
  readonly routingKey: string;
  readonly bodySize: number;
  readonly persistent: boolean;
  /** Publish i of a batch gets priority i % priorityLevels; no priority property when absent. */
  readonly priorityLevels?: number;
}

/**
 * `count` complete publishes (method, content header, body frames) to the shape's exchange, encoded once
 * into one Buffer that the publisher writes again and again. Every publish of it has the same size (a
 * priority is one octet whatever its value).
 */
export function encodePublishBatch(frameMax: number, shape: PublishShape, count: number): Buffer {
  const w = new FrameWriter(frameMax);
  const body = Buffer.alloc(shape.bodySize, 0x62);
  for (let i = 0; i < count; i++) {
    writeBasicPublish(w, CHANNEL, shape.exchange ?? '', shape.routingKey, false, false);
    w.beginContentHeader(CHANNEL, 60, body.length);
    const levels = shape.priorityLevels;
    writeBasicProperties(w, {
      deliveryMode: shape.persistent ? 2 : 1,
      ...(levels === undefined ? {} : { priority: i % levels }),
    });
    w.endFrame();
    w.writeBody(CHANNEL, body);
  }
  return Buffer.concat(w.take());
}

/**
 * Where the body starts in one publish that encodePublishBatch encoded (its method, content header and
 * body frames, in that order): the payload of its first body frame. -1 for a publish with no body.
 */
export function bodyOffset(publish: Buffer): number {
  let o = 0;
  while (o + FRAME_HEADER_SIZE <= publish.length) {
    const size = publish.readUInt32BE(o + 3);
    if (publish[o] === FRAME_BODY) return o + FRAME_HEADER_SIZE;
    o += FRAME_HEADER_SIZE + size + 1;
  }
  return -1;
}
