// A raw AMQP session for the broker-core cases: a RawConnection whose incoming frames are assembled
// into methods with their content and kept in an inbox, so replies, deliveries, returns, confirms and
// closes can be awaited in any order. Channel and connection closes from the broker are answered with
// close-ok at once and surface as an AmqpError from whatever waits on that channel. Every wait has a
// timeout.

import { broker } from './broker.js';
import type { Teardown } from './cases.js';
import {
  type BasicProperties,
  basicAckArgs,
  basicCancelArgs,
  basicConsumeArgs,
  basicGetArgsFull,
  basicNackArgs,
  basicPublishArgs,
  basicQosArgs,
  basicRejectArgs,
  bitArgs,
  type Confirm,
  type ConsumeOptions,
  carriesContent,
  type Deliver,
  decodeConfirm,
  decodeConsumerTag,
  decodeDeliver,
  decodeGetOk,
  decodeMessageCount,
  decodeProperties,
  decodeQueueDeclareOk,
  decodeReturn,
  type ExchangeDeclareOptions,
  encodeProperties,
  exchangeBindArgs,
  exchangeDeclareArgs,
  exchangeDeleteArgs,
  type GetOk,
  M,
  type QueueDeclareOk,
  type QueueDeclareOptions,
  queueBindArgs,
  queueDeclareArgsFull,
  queueDeleteArgs,
  queuePurgeArgs,
  queueUnbindArgs,
  type Return,
} from './methods.js';
import { DEFAULT_CLIENT_PROPERTIES, DEFAULT_TIMEOUT, type HandshakeOptions, RawConnection } from './raw.js';
import {
  bodyFrame,
  type CloseArgs,
  closeArgs,
  decodeCloseArgs,
  decodeMethod,
  type FieldTable,
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  headerFrame,
  isMethod,
  Method,
  type MethodFrame,
  type MethodId,
  methodFrame,
  Reader,
  Writer,
} from './wire.js';

/** A method from the broker, with its content when it carries one. */
export interface Incoming extends MethodFrame {
  properties?: BasicProperties;
  body?: Buffer;
  /** Arrival order on the connection, from 1: a method with content counts when its method frame came. */
  seq?: number;
}

/** A channel or connection closed by the broker. */
export class AmqpError extends Error {
  constructor(
    readonly scope: 'channel' | 'connection',
    readonly close: CloseArgs,
    /** The channel the close arrived on. */
    readonly channel: number,
  ) {
    super(
      `${scope} closed by the broker: ${close.replyCode} ${close.replyText} (${close.classId}/${close.methodId})`,
    );
  }
}

export interface Message {
  properties: BasicProperties;
  body: Buffer;
}
export interface Delivered extends Message, Deliver {}
export interface Got extends Message, GetOk {}
export interface Returned extends Message, Return {}

export interface SessionOptions extends HandshakeOptions {
  /** Client capabilities; authentication_failure_close only, unless given. */
  capabilities?: FieldTable;
}

/** All the capabilities RabbitMQ clients commonly announce. */
export const ALL_CAPABILITIES: FieldTable = {
  authentication_failure_close: true,
  consumer_cancel_notify: true,
  publisher_confirms: true,
  'basic.nack': true,
  exchange_exchange_bindings: true,
  'connection.blocked': true,
  per_consumer_qos: true,
};

function methodLabel(id: MethodId): string {
  const entry = Object.entries(M).find(([, m]) => m[0] === id[0] && m[1] === id[1]);
  return entry ? entry[0] : `${id[0]}/${id[1]}`;
}

interface Assembly {
  method: Incoming;
  size: number;
  chunks: Buffer[];
  received: number;
  headerSeen: boolean;
}

export class Session {
  readonly inbox: Incoming[] = [];
  private readonly assembling = new Map<number, Assembly>();
  private nextChannelId = 1;
  private arrivals = 0;
  frameMax = 131072;

  private constructor(readonly conn: RawConnection) {}

  /** A connection through connection.open-ok, heartbeats off; destroyed when the test ends. */
  static async open(t: Teardown, options: SessionOptions = {}): Promise<Session> {
    const b = await broker();
    const conn = await RawConnection.connect(b);
    t.teardown(() => conn.destroy());
    const clientProperties = options.clientProperties ?? {
      ...DEFAULT_CLIENT_PROPERTIES,
      capabilities: options.capabilities ?? { authentication_failure_close: true },
    };
    const { tuneOk } = await conn.handshake({
      ...options,
      clientProperties,
      tune: { heartbeat: 0, ...options.tune },
    });
    const session = new Session(conn);
    session.frameMax = tuneOk.frameMax;
    return session;
  }

  /** Moves every complete frame from the socket into the inbox. */
  private pump(): void {
    for (;;) {
      const frame = this.conn.parser.next();
      if (!frame) return;
      if (frame.type === FRAME_METHOD) {
        const m: Incoming = { ...decodeMethod(frame), seq: ++this.arrivals };
        if (carriesContent(m.classId, m.methodId)) {
          this.assembling.set(m.channel, { method: m, size: 0, chunks: [], received: 0, headerSeen: false });
          continue;
        }
        this.deliver(m);
      } else if (frame.type === FRAME_HEADER) {
        const a = this.assembling.get(frame.channel);
        if (!a || a.headerSeen) throw new Error(`unexpected content header on channel ${frame.channel}`);
        const r = new Reader(frame.payload);
        r.short();
        r.short();
        a.size = Number(r.longlong());
        a.method.properties = decodeProperties(r);
        a.headerSeen = true;
        if (a.size === 0) this.complete(frame.channel, a);
      } else if (frame.type === FRAME_BODY) {
        const a = this.assembling.get(frame.channel);
        if (!a?.headerSeen) throw new Error(`unexpected body frame on channel ${frame.channel}`);
        a.chunks.push(frame.payload);
        a.received += frame.payload.length;
        if (a.received >= a.size) this.complete(frame.channel, a);
      }
    }
  }

  private complete(channel: number, a: Assembly): void {
    this.assembling.delete(channel);
    a.method.body = Buffer.concat(a.chunks);
    this.deliver(a.method);
  }

  private deliver(m: Incoming): void {
    this.inbox.push(m);
    if (isMethod(m, Method.channelClose)) {
      this.conn.sendMethod(m.channel, Method.channelCloseOk).catch(() => {});
    } else if (isMethod(m, Method.connectionClose)) {
      this.conn.sendMethod(0, Method.connectionCloseOk).catch(() => {});
    }
  }

  private closeOf(channel: number): AmqpError | undefined {
    for (const m of this.inbox) {
      if (m.channel === 0 && isMethod(m, Method.connectionClose))
        return new AmqpError('connection', decodeCloseArgs(m.args), 0);
    }
    if (channel === 0) return undefined;
    for (const m of this.inbox) {
      if (m.channel === channel && isMethod(m, Method.channelClose))
        return new AmqpError('channel', decodeCloseArgs(m.args), channel);
    }
    return undefined;
  }

  /** Throws the AmqpError of the broker's close of this channel or of the connection, if any. */
  throwIfClosed(channel: number): void {
    this.pump();
    const closed = this.closeOf(channel);
    if (closed) throw closed;
  }

  /**
   * Takes the first method on `channel` that `match` accepts out of the inbox, waiting for it. Rejects
   * with an AmqpError when the channel or the connection is closed by the broker first.
   */
  take(
    channel: number,
    match: (m: Incoming) => boolean,
    what: string,
    timeoutMs = DEFAULT_TIMEOUT,
  ): Promise<Incoming> {
    return this.conn.waitFor(
      () => {
        this.pump();
        const i = this.inbox.findIndex((m) => m.channel === channel && match(m));
        if (i >= 0) return this.inbox.splice(i, 1)[0];
        const closed = this.closeOf(channel);
        if (closed) throw closed;
        if (this.conn.isEnded) throw new Error(`socket closed by the broker while waiting for ${what}`);
        return undefined;
      },
      what,
      timeoutMs,
    );
  }

  /** Methods of this kind received and not taken yet (after reading what has arrived). */
  received(channel: number, method: MethodId): Incoming[] {
    this.pump();
    return this.inbox.filter((m) => m.channel === channel && isMethod(m, method));
  }

  /** Waits for the broker's connection.close (answered with close-ok already) and returns it. */
  async expectConnectionClose(timeoutMs = DEFAULT_TIMEOUT): Promise<CloseArgs> {
    const m = await this.take(0, (m) => isMethod(m, Method.connectionClose), 'connection.close', timeoutMs);
    return decodeCloseArgs(m.args);
  }

  async channel(id = this.nextChannelId++): Promise<Channel> {
    // A reopened channel number forgets what arrived on it before.
    for (let i = this.inbox.length - 1; i >= 0; i--)
      if (this.inbox[i].channel === id) this.inbox.splice(i, 1);
    await this.conn.sendMethod(id, Method.channelOpen, new Writer().shortstr('').build());
    await this.take(id, (m) => isMethod(m, Method.channelOpenOk), 'channel.open-ok');
    return new Channel(this, id);
  }

  /** Runs `op` on a newly opened channel: the usual shape of a case that expects a channel error. */
  async withChannel<T>(op: (ch: Channel) => Promise<T>): Promise<T> {
    return op(await this.channel());
  }

  /** Client-initiated connection.close and close-ok; then the socket is closed. */
  async close(): Promise<void> {
    await this.conn.sendMethod(
      0,
      Method.connectionClose,
      closeArgs({ replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }),
    );
    await this.take(0, (m) => isMethod(m, Method.connectionCloseOk), 'connection.close-ok');
    this.conn.socket.end();
    await this.conn.waitForEnd();
  }

  /** Drops the socket without a close handshake. */
  destroy(): void {
    this.conn.destroy();
  }
}

export class Channel {
  /** Publishes since confirm.select: the delivery tag the broker gives the next one, less one. */
  published = 0n;
  /** The highest delivery tag waitForConfirms has seen confirmed. */
  private confirmedUpTo = 0n;
  private confirming = false;

  constructor(
    readonly session: Session,
    readonly id: number,
  ) {}

  /** Sends a method; fails without sending when the broker has closed the channel or the connection. */
  async send(method: MethodId, args: Buffer = Buffer.alloc(0)): Promise<void> {
    this.session.throwIfClosed(this.id);
    await this.session.conn.sendMethod(this.id, method, args);
  }

  /** Sends a method and waits for its reply on this channel. */
  async call(
    method: MethodId,
    args: Buffer,
    reply: MethodId,
    timeoutMs = DEFAULT_TIMEOUT,
  ): Promise<Incoming> {
    await this.send(method, args);
    return this.take(reply, timeoutMs);
  }

  take(method: MethodId, timeoutMs = DEFAULT_TIMEOUT): Promise<Incoming> {
    return this.session.take(
      this.id,
      (m) => isMethod(m, method),
      `${methodLabel(method)} on channel ${this.id}`,
      timeoutMs,
    );
  }

  /** Methods of this kind received on this channel and not taken yet. */
  received(method: MethodId): Incoming[] {
    return this.session.received(this.id, method);
  }

  async exchangeDeclare(exchange: string, type: string, options: ExchangeDeclareOptions = {}): Promise<void> {
    await this.call(M.exchangeDeclare, exchangeDeclareArgs(exchange, type, options), M.exchangeDeclareOk);
  }

  async exchangeDelete(exchange: string, options: { ifUnused?: boolean } = {}): Promise<void> {
    await this.call(M.exchangeDelete, exchangeDeleteArgs(exchange, options), M.exchangeDeleteOk);
  }

  async exchangeBind(
    destination: string,
    source: string,
    routingKey: string,
    args?: FieldTable,
  ): Promise<void> {
    await this.call(
      M.exchangeBind,
      exchangeBindArgs(destination, source, routingKey, args),
      M.exchangeBindOk,
    );
  }

  async exchangeUnbind(
    destination: string,
    source: string,
    routingKey: string,
    args?: FieldTable,
  ): Promise<void> {
    await this.call(
      M.exchangeUnbind,
      exchangeBindArgs(destination, source, routingKey, args),
      M.exchangeUnbindOk,
    );
  }

  async queueDeclare(queue: string, options: QueueDeclareOptions = {}): Promise<QueueDeclareOk> {
    const m = await this.call(M.queueDeclare, queueDeclareArgsFull(queue, options), M.queueDeclareOk);
    return decodeQueueDeclareOk(m.args);
  }

  async queueBind(queue: string, exchange: string, routingKey: string, args?: FieldTable): Promise<void> {
    await this.call(M.queueBind, queueBindArgs(queue, exchange, routingKey, args), M.queueBindOk);
  }

  async queueUnbind(queue: string, exchange: string, routingKey: string, args?: FieldTable): Promise<void> {
    await this.call(M.queueUnbind, queueUnbindArgs(queue, exchange, routingKey, args), M.queueUnbindOk);
  }

  async queuePurge(queue: string): Promise<number> {
    return decodeMessageCount((await this.call(M.queuePurge, queuePurgeArgs(queue), M.queuePurgeOk)).args);
  }

  async queueDelete(queue: string, options: { ifUnused?: boolean; ifEmpty?: boolean } = {}): Promise<number> {
    const m = await this.call(M.queueDelete, queueDeleteArgs(queue, options), M.queueDeleteOk);
    return decodeMessageCount(m.args);
  }

  /**
   * Ready messages of a queue, by a passive declare. RabbitMQ answers it ahead of work queued before
   * it (the queue process serves `stat` with priority), so a count right after publishes, rejects or
   * acks on the same channel can be stale: cases settle first (confirms, basic.get) or use drain().
   */
  async messageCount(queue: string): Promise<number> {
    return (await this.queueDeclare(queue, { passive: true })).messageCount;
  }

  async qos(prefetchCount: number, global = false, prefetchSize = 0): Promise<void> {
    await this.call(M.basicQos, basicQosArgs(prefetchSize, prefetchCount, global), M.basicQosOk);
  }

  async consume(queue: string, options: ConsumeOptions = {}): Promise<string> {
    return decodeConsumerTag(
      (await this.call(M.basicConsume, basicConsumeArgs(queue, options), M.basicConsumeOk)).args,
    );
  }

  async cancel(consumerTag: string): Promise<string> {
    return decodeConsumerTag(
      (await this.call(M.basicCancel, basicCancelArgs(consumerTag), M.basicCancelOk)).args,
    );
  }

  /** basic.publish, its content header and body frames split at frame_max, in one write. */
  async publish(
    exchange: string,
    routingKey: string,
    body: Buffer | string = '',
    options: { mandatory?: boolean; immediate?: boolean; properties?: BasicProperties } = {},
  ): Promise<void> {
    this.session.throwIfClosed(this.id);
    if (this.confirming) this.published++;
    await this.session.conn.send(
      publishBytes(this.id, exchange, routingKey, body, options, this.session.frameMax),
    );
  }

  async get(queue: string, noAck = false): Promise<Got | undefined> {
    await this.send(M.basicGet, basicGetArgsFull(queue, noAck));
    const m = await this.session.take(
      this.id,
      (m) => isMethod(m, M.basicGetOk) || isMethod(m, M.basicGetEmpty),
      `basic.get-ok or get-empty on channel ${this.id}`,
    );
    if (isMethod(m, M.basicGetEmpty)) return undefined;
    return { ...decodeGetOk(m.args), properties: m.properties ?? {}, body: m.body ?? Buffer.alloc(0) };
  }

  ack(deliveryTag: bigint | number, multiple = false): Promise<void> {
    return this.send(M.basicAck, basicAckArgs(deliveryTag, multiple));
  }

  nack(deliveryTag: bigint | number, multiple = false, requeue = true): Promise<void> {
    return this.send(M.basicNack, basicNackArgs(deliveryTag, multiple, requeue));
  }

  reject(deliveryTag: bigint | number, requeue = true): Promise<void> {
    return this.send(M.basicReject, basicRejectArgs(deliveryTag, requeue));
  }

  async recover(requeue: boolean): Promise<void> {
    await this.call(M.basicRecover, bitArgs(requeue), M.basicRecoverOk);
  }

  async confirmSelect(): Promise<void> {
    await this.call(M.confirmSelect, bitArgs(false), M.confirmSelectOk);
    this.confirming = true;
  }

  /** Takes confirms until every publish so far is acked; a nack fails. Returns the confirms seen. */
  async waitForConfirms(timeoutMs = DEFAULT_TIMEOUT): Promise<(Confirm & { nack: boolean })[]> {
    const seen: (Confirm & { nack: boolean })[] = [];
    while (this.confirmedUpTo < this.published) {
      const c = await this.nextConfirm(timeoutMs);
      seen.push(c);
      if (c.nack) throw new Error(`basic.nack for delivery tag ${c.deliveryTag}`);
      if (c.deliveryTag > this.confirmedUpTo) this.confirmedUpTo = c.deliveryTag;
    }
    return seen;
  }

  async txSelect(): Promise<void> {
    await this.call(M.txSelect, Buffer.alloc(0), M.txSelectOk);
  }

  async txCommit(): Promise<void> {
    await this.call(M.txCommit, Buffer.alloc(0), M.txCommitOk);
  }

  async txRollback(): Promise<void> {
    await this.call(M.txRollback, Buffer.alloc(0), M.txRollbackOk);
  }

  async nextDelivery(timeoutMs = DEFAULT_TIMEOUT): Promise<Delivered> {
    const m = await this.take(M.basicDeliver, timeoutMs);
    return { ...decodeDeliver(m.args), properties: m.properties ?? {}, body: m.body ?? Buffer.alloc(0) };
  }

  async deliveries(n: number, timeoutMs = DEFAULT_TIMEOUT): Promise<Delivered[]> {
    const out: Delivered[] = [];
    for (let i = 0; i < n; i++) out.push(await this.nextDelivery(timeoutMs));
    return out;
  }

  async nextReturn(timeoutMs = DEFAULT_TIMEOUT): Promise<Returned> {
    const m = await this.take(M.basicReturn, timeoutMs);
    return { ...decodeReturn(m.args), properties: m.properties ?? {}, body: m.body ?? Buffer.alloc(0) };
  }

  /** The next basic.ack or basic.nack from the broker (confirm mode). */
  async nextConfirm(timeoutMs = DEFAULT_TIMEOUT): Promise<Confirm & { nack: boolean }> {
    const m = await this.session.take(
      this.id,
      (m) => isMethod(m, M.basicAck) || isMethod(m, M.basicNack),
      `basic.ack or basic.nack on channel ${this.id}`,
      timeoutMs,
    );
    return { ...decodeConfirm(m.args), nack: isMethod(m, M.basicNack) };
  }

  /** The broker's channel.close for this channel (already answered with close-ok). */
  async expectClose(timeoutMs = DEFAULT_TIMEOUT): Promise<CloseArgs> {
    const m = await this.session.take(
      this.id,
      (m) => isMethod(m, Method.channelClose),
      `channel.close on channel ${this.id}`,
      timeoutMs,
    );
    return decodeCloseArgs(m.args);
  }

  async close(): Promise<void> {
    await this.call(
      Method.channelClose,
      closeArgs({ replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }),
      Method.channelCloseOk,
    );
  }
}

export function publishBytes(
  channel: number,
  exchange: string,
  routingKey: string,
  body: Buffer | string,
  options: { mandatory?: boolean; immediate?: boolean; properties?: BasicProperties },
  frameMax: number,
): Buffer {
  const content = typeof body === 'string' ? Buffer.from(body) : body;
  const { flags, bytes } = encodeProperties(options.properties ?? {});
  const frames = [
    methodFrame(
      channel,
      M.basicPublish,
      basicPublishArgs(exchange, routingKey, options.mandatory, options.immediate),
    ),
    headerFrame(channel, 60, content.length, flags, bytes),
  ];
  const chunk = frameMax - 8;
  for (let i = 0; i < content.length; i += chunk)
    frames.push(bodyFrame(channel, content.subarray(i, i + chunk)));
  return Buffer.concat(frames);
}

/** What a broker close is expected to carry; the text is exact or a pattern. */
export interface ExpectedClose {
  replyCode: number;
  replyText: string | RegExp;
  classId: number;
  methodId: number;
}

/** The part of a tap test the expectation helpers need. */
export interface Asserts {
  fail(message: string): unknown;
  same(found: unknown, wanted: unknown, message: string): unknown;
  equal(found: unknown, wanted: unknown, message: string): unknown;
  match(found: unknown, pattern: RegExp, message: string): unknown;
}

/**
 * A reply-text is a shortstr: RabbitMQ cuts a longer text to its first 252 octets and appends "...",
 * 255 octets in all.
 */
export function shortReplyText(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= 255 ? text : `${bytes.subarray(0, 252).toString('utf8')}...`;
}

/** Checks a close's code, class and method ids and text. */
export function checkClose(t: Asserts, close: CloseArgs, expected: ExpectedClose, label = 'close'): void {
  t.same(
    { replyCode: close.replyCode, classId: close.classId, methodId: close.methodId },
    { replyCode: expected.replyCode, classId: expected.classId, methodId: expected.methodId },
    `${label}: reply code ${expected.replyCode}, class ${expected.classId}, method ${expected.methodId}`,
  );
  if (typeof expected.replyText === 'string')
    t.equal(close.replyText, shortReplyText(expected.replyText), `${label}: reply text`);
  else t.match(close.replyText, expected.replyText, `${label}: reply text`);
}

/**
 * `operation` must fail with a close of the given scope (channel or connection) carrying the expected
 * code, text and ids. Returns the error, or undefined when it did not come.
 */
export async function expectError(
  t: Asserts,
  operation: Promise<unknown>,
  scope: 'channel' | 'connection',
  expected: ExpectedClose,
): Promise<AmqpError | undefined> {
  try {
    await operation;
  } catch (err) {
    if (!(err instanceof AmqpError)) {
      t.fail(`expected a ${scope} close ${expected.replyCode}, got ${String(err)}`);
      return undefined;
    }
    t.equal(err.scope, scope, `a ${scope} error (${err.message})`);
    checkClose(t, err.close, expected, `${scope}.close`);
    return err;
  }
  t.fail(`expected a ${scope} close ${expected.replyCode}, but the operation succeeded`);
  return undefined;
}

/**
 * Polls `probe` until it returns a value, for broker-side effects no frame announces (RabbitMQ
 * deletes exclusive and auto-delete queues asynchronously). Bounded by `timeoutMs`.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = DEFAULT_TIMEOUT,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves with the 404 of a passive declare once `queue` no longer exists. */
export function queueGone(session: Session, queue: string): Promise<AmqpError> {
  return eventually(
    () =>
      session.withChannel(async (ch) => {
        try {
          await ch.queueDeclare(queue, { passive: true });
          await ch.close();
          return undefined;
        } catch (err) {
          if (err instanceof AmqpError && err.scope === 'channel' && err.close.replyCode === 404) return err;
          throw err;
        }
      }),
    `queue ${queue} to be deleted`,
  );
}
