// Direct reply-to (RabbitMQ's amq.rabbitmq.reply-to pseudo-queue), on the session side only: the core
// never sees it. A channel consumes from `amq.rabbitmq.reply-to` (no-ack) and is given a name,
// `amq.rabbitmq.reply-to.<id>.<key>`; its publishes with reply_to `amq.rabbitmq.reply-to` carry that name
// instead, and a publish to the default exchange with the name as routing key is written straight to the
// channel's consumer, from any connection. Nothing is buffered: a reply to a name whose channel is gone
// is dropped (at most once, as in RabbitMQ).
import type { Broker } from '../broker/broker.js';
import type { Message } from '../broker/message.js';
import { randomBytes } from '../builtins.js';

export const REPLY_TO = 'amq.rabbitmq.reply-to';
export const REPLY_TO_PREFIX = 'amq.rabbitmq.reply-to.';
/** A name this broker hands out: two base64url parts of 16 random bytes each. */
const NAME_SUFFIX = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/;

/** The channel side of a reply consumer. */
export interface ReplyConsumer {
  /** Writes the reply to the consumer (basic.deliver, no ack expected). */
  deliverReply(message: Message): void;
}

/** The reply consumers of one broker, by the name their requests carry in reply_to. */
export class DirectReplyTo {
  private readonly consumers = new Map<string, ReplyConsumer>();

  /** Registers a channel's reply consumer; returns the name its requests' reply_to become. */
  register(consumer: ReplyConsumer): string {
    for (;;) {
      const name = `${REPLY_TO_PREFIX}${randomBytes(16).toString('base64url')}.${randomBytes(16).toString('base64url')}`;
      if (this.consumers.has(name)) continue;
      this.consumers.set(name, consumer);
      return name;
    }
  }

  unregister(name: string): void {
    this.consumers.delete(name);
  }

  /** Whether `name` is the reply name of a consumer that is still there. */
  exists(name: string): boolean {
    return this.consumers.has(name);
  }

  /**
   * Routes a publish to the default exchange whose routing key starts with the reply-to prefix. As in
   * RabbitMQ 4.2, a name of the form the broker hands out counts as routed whether or not its consumer
   * is still there (a reply to one that is gone is dropped); any other name is unroutable.
   */
  route(message: Message): 'routed' | 'unroutable' {
    const name = message.routingKey;
    const consumer = this.consumers.get(name);
    if (consumer !== undefined) {
      consumer.deliverReply(message);
      return 'routed';
    }
    return NAME_SUFFIX.test(name.slice(REPLY_TO_PREFIX.length)) ? 'routed' : 'unroutable';
  }
}

const registries = new WeakMap<Broker, DirectReplyTo>();

/** The reply consumers of a broker, shared by all its listeners' connections. */
export function directReplyTo(broker: Broker): DirectReplyTo {
  let registry = registries.get(broker);
  if (registry === undefined) {
    registry = new DirectReplyTo();
    registries.set(broker, registry);
  }
  return registry;
}

// Property flag of reply-to and of the fields before it (spec 4.2.6.1, basic class).
const CONTENT_TYPE = 0x8000;
const CONTENT_ENCODING = 0x4000;
const HEADERS = 0x2000;
const DELIVERY_MODE = 0x1000;
const PRIORITY = 0x0800;
const CORRELATION_ID = 0x0400;
export const REPLY_TO_FLAG = 0x0200;

/**
 * The raw property bytes with the reply-to property (present in `raw`) replaced by `replyTo`; the other
 * properties are kept byte for byte.
 */
export function withReplyTo(raw: Buffer, replyTo: string): Buffer {
  const flags = raw.readUInt16BE(0);
  let o = 2;
  if (flags & 1) {
    // Continuation flag words (never sent by RabbitMQ clients for basic).
    while (raw.readUInt16BE(o) & 1) o += 2;
    o += 2;
  }
  if (flags & CONTENT_TYPE) o += 1 + raw[o];
  if (flags & CONTENT_ENCODING) o += 1 + raw[o];
  if (flags & HEADERS) o += 4 + raw.readUInt32BE(o);
  if (flags & DELIVERY_MODE) o += 1;
  if (flags & PRIORITY) o += 1;
  if (flags & CORRELATION_ID) o += 1 + raw[o];
  const end = o + 1 + raw[o];
  const value = Buffer.from(replyTo, 'utf8');
  const out = Buffer.allocUnsafe(raw.length - (end - o) + 1 + value.length);
  raw.copy(out, 0, 0, o);
  out[o] = value.length;
  value.copy(out, o + 1);
  raw.copy(out, o + 1 + value.length, end);
  return out;
}
