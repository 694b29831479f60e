// One channel of a connection (spec 2.2.5): publish assembly (method, header, body frames) into a
// Message handed to the core's router, consumers, the unacked deliveries of its consumers and gets
// (ordered by delivery tag), qos, publisher confirms and transactions.

import { amqpError, notImplemented, truncateShortstr } from '../broker/errors.js';
import type { Exchange } from '../broker/exchange/exchange.js';
import { parseExpiration } from '../broker/expiration.js';
import { Message } from '../broker/message.js';
import { Consumer, consumerPriorityOf, type DeliveryChannel } from '../broker/queue/consumer.js';
import type { Queue, QueueOwner } from '../broker/queue/queue.js';
import { Removal } from '../broker/queue/removal.js';
import { type PublishOutcome, publish } from '../broker/router.js';
import type { VirtualHost } from '../broker/vhost.js';
import { randomBytes } from '../builtins.js';
import {
  EXPIRATION_FLAG,
  type FieldTable,
  type Method,
  MethodId,
  ProtocolError,
  propertyFlags,
  ReplyCode,
  TypedValue,
  USER_ID_FLAG,
  writeBasicAck,
  writeBasicCancel,
  writeBasicCancelOk,
  writeBasicConsumeOk,
  writeBasicDeliver,
  writeBasicGetEmpty,
  writeBasicGetOk,
  writeBasicNack,
  writeBasicQosOk,
  writeBasicRecoverOk,
  writeBasicReturn,
  writeChannelClose,
  writeChannelCloseOk,
  writeChannelFlowOk,
  writeConfirmSelectOk,
  writeExchangeBindOk,
  writeExchangeDeclareOk,
  writeExchangeDeleteOk,
  writeExchangeUnbindOk,
  writeQueueBindOk,
  writeQueueDeclareOk,
  writeQueueDeleteOk,
  writeQueuePurgeOk,
  writeQueueUnbindOk,
  writeTxCommitOk,
  writeTxRollbackOk,
  writeTxSelectOk,
} from '../protocol/index.js';
import type { Connection } from './connection.js';
import {
  REPLY_TO,
  REPLY_TO_FLAG,
  REPLY_TO_PREFIX,
  type ReplyConsumer,
  withReplyTo,
} from './direct-reply-to.js';

type ChannelState = 'open' | 'closing' | 'closed';

/** A message delivered (basic.deliver or basic.get-ok) and not yet acked. */
interface Delivery {
  readonly tag: number;
  readonly message: Message;
  readonly queue: Queue;
  readonly consumer: Consumer | undefined;
  /** Acked, nacked or rejected inside a transaction that is not committed yet. */
  txPending: boolean;
  /** When it was delivered: deliveryTime(). */
  readonly deliveredAt: number;
  /** Its consumer timeout in milliseconds; 0: none. */
  readonly timeout: number;
}

interface TxPublish {
  readonly exchange: Exchange;
  readonly message: Message;
  readonly mandatory: boolean;
}

interface TxSettle {
  readonly deliveries: Delivery[];
  readonly requeue: boolean;
  readonly ack: boolean;
}

// Content assembly states.
const EXPECT_METHOD = 0;
const EXPECT_HEADER = 1;
const EXPECT_BODY = 2;
// Bodies from this size up are kept in the pieces they arrive in rather than copied into one buffer.
const KEEP_PIECES_FROM = 32 * 1024;

export const MAX_MESSAGE_SIZE = 128 * 1024 * 1024;

export class Channel implements DeliveryChannel, ReplyConsumer {
  private state: ChannelState = 'open';
  private readonly vhost: VirtualHost;

  // The publish being assembled.
  private expecting = EXPECT_METHOD;
  private publishExchange = '';
  private publishRoutingKey = '';
  private publishMandatory = false;
  private bodySize = 0;
  private bodyReceived = 0;
  private contentBuffer: Buffer | undefined;
  private propertiesLength = 0;
  // A large body's pieces, kept as the parser hands them out (views of the socket's reads), not copied;
  // contentBuffer then holds only the properties.
  private bodyParts: Buffer[] | undefined;

  readonly consumers = new Map<string, Consumer>();
  private prefetchCount = 0;
  private globalPrefetch = 0;
  /** Unacked deliveries to consumers (not gets), for the global prefetch. */
  private consumerUnacked = 0;
  private deliveryTag = 0;
  /** In delivery-tag order (Map keeps insertion order), so `multiple` acks walk from the front. */
  private readonly unacked = new Map<number, Delivery>();
  private mostRecentQueue = '';
  /** The direct reply-to consumer (basic.consume on amq.rabbitmq.reply-to): its tag and reply name. */
  private replyConsumerTag: string | undefined;
  private replyName: string | undefined;
  /** The periodic check of unacked deliveries' ages, while there are any with a consumer timeout. */
  private timeoutCheck: NodeJS.Timeout | undefined;
  private shortestTimeout = Number.POSITIVE_INFINITY;

  private confirmMode = false;
  private storeConfirmsPending = 0;
  private storeWatched = false;
  private publishSeq = 0;
  private confirmedUpTo = 0;
  private ackedUpTo = 0;

  private txMode = false;
  private txPublishes: TxPublish[] = [];
  private txSettles: TxSettle[] = [];

  constructor(
    private readonly connection: Connection,
    readonly number: number,
  ) {
    this.vhost = connection.vhost as VirtualHost;
  }

  private get writer() {
    return this.connection.writer;
  }

  get owner(): QueueOwner {
    return this.connection;
  }

  /** Handles a method for this channel; an error comes back as a value for the connection to act on. */
  onMethod(method: Method): ProtocolError | undefined {
    if (this.state === 'closing') {
      // After sending channel.close only close and close-ok matter (spec 2.2.5).
      if (method.id === MethodId.ChannelCloseOk) this.finishClose();
      else if (method.id === MethodId.ChannelClose) {
        writeChannelCloseOk(this.writer, this.number);
        this.connection.scheduleFlush();
      }
      return undefined;
    }
    if (this.expecting !== EXPECT_METHOD) {
      const what =
        this.expecting === EXPECT_HEADER
          ? 'expected content header for class 60, got non content header frame instead'
          : 'expected content body, got non content body frame instead';
      return amqpError(ReplyCode.UNEXPECTED_FRAME, what, 60, 40);
    }
    const err = this.dispatch(method);
    // A reply may report definitions not saved yet: a declare-ok, or the reply to a passive declare of a
    // queue another connection has just declared. It waits for them. Publishes and acks get no reply.
    const id = method.id;
    if (
      id !== MethodId.BasicPublish &&
      id !== MethodId.BasicAck &&
      id !== MethodId.BasicNack &&
      id !== MethodId.BasicReject
    ) {
      this.connection.dependOnDefinitions();
    }
    if (err && err.classId === 0 && err.methodId === 0) {
      return new ProtocolError(
        err.replyCode,
        err.replyText,
        Math.floor(method.id / 65536),
        method.id % 65536,
      );
    }
    return err;
  }

  private dispatch(m: Method): ProtocolError | undefined {
    const w = this.writer;
    const ch = this.number;
    let err: ProtocolError | undefined;
    switch (m.id) {
      case MethodId.BasicPublish:
        if (m.immediate) return notImplemented(m.id, 'immediate=true');
        this.publishExchange = m.exchange;
        this.publishRoutingKey = m.routingKey;
        this.publishMandatory = m.mandatory;
        this.expecting = EXPECT_HEADER;
        if (this.confirmMode) this.publishSeq++;
        return undefined;
      case MethodId.BasicAck:
        return this.settle(m.deliveryTag, m.multiple, true, false);
      case MethodId.BasicNack:
        return this.settle(m.deliveryTag, m.multiple, false, m.requeue);
      case MethodId.BasicReject:
        return this.settle(m.deliveryTag, false, false, m.requeue);
      case MethodId.BasicConsume:
        if (m.queue === REPLY_TO) return this.consumeReplyTo(m.consumerTag, m.noAck, m.noWait);
        return this.consume(m.queue, m.consumerTag, m.noAck, m.exclusive, m.noWait, m.arguments);
      case MethodId.BasicCancel:
        if (m.consumerTag === this.replyConsumerTag) this.cancelReplyTo();
        else this.cancel(m.consumerTag);
        if (!m.noWait) writeBasicCancelOk(w, ch, m.consumerTag);
        break;
      case MethodId.BasicGet:
        return this.get(m.queue, m.noAck);
      case MethodId.BasicQos:
        if (m.prefetchSize !== 0) return notImplemented(m.id, `prefetch_size!=0 (${m.prefetchSize})`);
        if (m.global) this.globalPrefetch = m.prefetchCount;
        else this.prefetchCount = m.prefetchCount;
        writeBasicQosOk(w, ch);
        if (m.global) this.resumeDeliveries();
        break;
      case MethodId.BasicRecover:
      case MethodId.BasicRecoverAsync:
        if (!m.requeue) return notImplemented(m.id, 'requeue=false');
        this.requeueAll();
        if (m.id === MethodId.BasicRecover) writeBasicRecoverOk(w, ch);
        break;

      case MethodId.ExchangeDeclare: {
        const x = this.vhost.declareExchange(
          m.exchange,
          m.type,
          m.passive,
          m.durable,
          m.autoDelete,
          m.internal,
          m.arguments,
        );
        if (x instanceof ProtocolError) return x;
        if (!m.noWait) writeExchangeDeclareOk(w, ch);
        break;
      }
      case MethodId.ExchangeDelete:
        err = this.vhost.deleteExchange(m.exchange, m.ifUnused);
        if (err) return err;
        if (!m.noWait) writeExchangeDeleteOk(w, ch);
        break;
      case MethodId.ExchangeBind:
        err = this.vhost.bindExchange(m.destination, m.source, m.routingKey, m.arguments);
        if (err) return err;
        if (!m.noWait) writeExchangeBindOk(w, ch);
        break;
      case MethodId.ExchangeUnbind:
        err = this.vhost.unbindExchange(m.destination, m.source, m.routingKey, m.arguments);
        if (err) return err;
        if (!m.noWait) writeExchangeUnbindOk(w, ch);
        break;

      case MethodId.QueueDeclare: {
        if (m.queue === REPLY_TO || m.queue.startsWith(REPLY_TO_PREFIX)) {
          const err = this.declareReplyTo(m.queue, m.noWait);
          if (err) return err;
          break;
        }
        const q = this.vhost.declareQueue(
          m.queue,
          m.passive,
          m.durable,
          m.exclusive,
          m.autoDelete,
          m.arguments,
          this.connection,
        );
        if (q instanceof ProtocolError) return q;
        this.mostRecentQueue = q.name;
        if (!m.noWait) {
          // As RabbitMQ: a declare that asks the queue for its counts (passive or not) renews its
          // x-expires period; one with no-wait does not.
          q.used();
          writeQueueDeclareOk(w, ch, q.name, q.messageCount, q.consumerCount);
        }
        break;
      }
      case MethodId.QueueBind: {
        const name = this.queueName(m.queue);
        if (name instanceof ProtocolError) return name;
        // An empty routing key with the queue-name shortcut binds with the queue's name (RabbitMQ).
        const key = m.queue === '' && m.routingKey === '' ? name : m.routingKey;
        err = this.vhost.bindQueue(name, m.exchange, key, m.arguments, this.connection);
        if (err) return err;
        if (!m.noWait) writeQueueBindOk(w, ch);
        break;
      }
      case MethodId.QueueUnbind: {
        const name = this.queueName(m.queue);
        if (name instanceof ProtocolError) return name;
        err = this.vhost.unbindQueue(name, m.exchange, m.routingKey, m.arguments, this.connection);
        if (err) return err;
        writeQueueUnbindOk(w, ch);
        break;
      }
      case MethodId.QueuePurge: {
        const name = this.queueName(m.queue);
        if (name instanceof ProtocolError) return name;
        const count = this.vhost.purgeQueue(name, this.connection);
        if (count instanceof ProtocolError) return count;
        if (!m.noWait) writeQueuePurgeOk(w, ch, count);
        break;
      }
      case MethodId.QueueDelete: {
        const name = this.queueName(m.queue);
        if (name instanceof ProtocolError) return name;
        const count = this.vhost.deleteQueue(name, m.ifUnused, m.ifEmpty, this.connection);
        if (count instanceof ProtocolError) return count;
        if (!m.noWait) writeQueueDeleteOk(w, ch, count);
        break;
      }

      case MethodId.ConfirmSelect:
        if (this.txMode) {
          return amqpError(ReplyCode.PRECONDITION_FAILED, 'cannot switch from tx to confirm mode');
        }
        this.confirmMode = true;
        if (!m.nowait) writeConfirmSelectOk(w, ch);
        break;
      case MethodId.TxSelect:
        if (this.confirmMode) {
          return amqpError(ReplyCode.PRECONDITION_FAILED, 'cannot switch from confirm to tx mode');
        }
        this.txMode = true;
        writeTxSelectOk(w, ch);
        break;
      case MethodId.TxCommit:
        if (!this.txMode) return amqpError(ReplyCode.PRECONDITION_FAILED, 'channel is not transactional');
        this.commit();
        break;
      case MethodId.TxRollback:
        if (!this.txMode) return amqpError(ReplyCode.PRECONDITION_FAILED, 'channel is not transactional');
        this.rollback();
        writeTxRollbackOk(w, ch);
        break;

      case MethodId.ChannelClose:
        writeChannelCloseOk(w, ch);
        this.connection.scheduleFlush();
        this.finishClose();
        return undefined;
      case MethodId.ChannelCloseOk:
        // close-ok without a close from us: RabbitMQ ignores it too.
        return undefined;
      case MethodId.ChannelFlow:
        // Like RabbitMQ, the broker does not stop deliveries on a client's request (flow active=false).
        if (!m.active) return notImplemented(m.id, 'active=false');
        writeChannelFlowOk(w, ch, true);
        break;
      case MethodId.ChannelFlowOk:
        return undefined;
      default:
        return notImplemented(m.id);
    }
    this.connection.scheduleFlush();
    return undefined;
  }

  /** An empty queue name means the queue most recently declared on this channel (RabbitMQ). */
  private queueName(name: string): string | ProtocolError {
    if (name !== '') return name;
    if (this.mostRecentQueue === '') return amqpError(ReplyCode.NOT_FOUND, 'no previously declared queue');
    return this.mostRecentQueue;
  }

  // Publishing

  onHeader(classId: number, bodySize: number, properties: Buffer): ProtocolError | undefined {
    if (this.state !== 'open') return undefined;
    if (this.expecting !== EXPECT_HEADER) {
      return amqpError(ReplyCode.UNEXPECTED_FRAME, 'expected method frame, got non method frame instead');
    }
    if (classId !== 60) {
      return amqpError(
        ReplyCode.UNEXPECTED_FRAME,
        `expected content header for class 60, got one for class ${classId} instead`,
        60,
        40,
      );
    }
    if (bodySize > MAX_MESSAGE_SIZE) {
      this.expecting = EXPECT_METHOD;
      return amqpError(
        ReplyCode.PRECONDITION_FAILED,
        `message size ${bodySize} is larger than configured max size ${MAX_MESSAGE_SIZE}`,
        60,
        40,
      );
    }
    this.bodySize = bodySize;
    this.bodyReceived = 0;
    this.propertiesLength = properties.length;
    if (bodySize >= KEEP_PIECES_FROM) {
      // A large body is kept in the pieces it arrives in, views of the socket's reads (socket-reads.ts):
      // they keep those reads in memory while the message is in flight. A message that is going to wait
      // is compacted by its queue. Copying 64 KiB bodies on the way through cost a fifth of the broker's
      // CPU.
      this.contentBuffer = Buffer.from(properties);
      this.bodyParts = [];
      this.expecting = EXPECT_BODY;
      return undefined;
    }
    // One allocation holds the properties and the body: the only copy of the content on its way in.
    const content = Buffer.allocUnsafe(properties.length + bodySize);
    properties.copy(content, 0);
    this.contentBuffer = content;
    if (bodySize === 0) return this.completePublish();
    this.expecting = EXPECT_BODY;
    return undefined;
  }

  onBody(payload: Buffer): ProtocolError | undefined {
    if (this.state !== 'open') return undefined;
    if (this.expecting !== EXPECT_BODY) {
      return this.expecting === EXPECT_HEADER
        ? amqpError(
            ReplyCode.UNEXPECTED_FRAME,
            'expected content header for class 60, got non content header frame instead',
            60,
            40,
          )
        : amqpError(ReplyCode.UNEXPECTED_FRAME, 'expected method frame, got non method frame instead');
    }
    if (this.bodyReceived + payload.length > this.bodySize) {
      return amqpError(
        ReplyCode.FRAME_ERROR,
        `content body is larger than the ${this.bodySize} bytes its header gave`,
      );
    }
    if (this.bodyParts !== undefined) this.bodyParts.push(payload);
    else payload.copy(this.contentBuffer as Buffer, this.propertiesLength + this.bodyReceived);
    this.bodyReceived += payload.length;
    if (this.bodyReceived === this.bodySize) return this.completePublish();
    return undefined;
  }

  private completePublish(): ProtocolError | undefined {
    this.expecting = EXPECT_METHOD;
    const content = this.contentBuffer as Buffer;
    const parts = this.bodyParts;
    this.contentBuffer = undefined;
    this.bodyParts = undefined;
    const exchangeName = this.publishExchange;
    const exchange = this.vhost.exchanges.get(exchangeName);
    if (!exchange) return withPublish(this.vhost.noExchange(exchangeName));
    if (exchange.internal) {
      return withPublish(
        amqpError(
          ReplyCode.ACCESS_REFUSED,
          `cannot publish to internal exchange '${exchangeName}' in vhost '${this.vhost.name}'`,
        ),
      );
    }
    let message = new Message(
      exchangeName,
      this.publishRoutingKey,
      content.subarray(0, this.propertiesLength),
      parts === undefined ? content.subarray(this.propertiesLength) : parts.length === 1 ? parts[0] : parts,
    );
    // As RabbitMQ: a user-id property must name the user the connection authenticated as.
    const flags = propertyFlags(message.properties);
    if ((flags & REPLY_TO_FLAG) !== 0 && message.props.replyTo === REPLY_TO) {
      // A request of a direct reply-to client: its reply_to names this channel's reply consumer.
      if (this.replyName === undefined) {
        return withPublish(amqpError(ReplyCode.PRECONDITION_FAILED, 'fast reply consumer does not exist'));
      }
      message = new Message(
        message.exchange,
        message.routingKey,
        withReplyTo(message.properties, this.replyName),
        message.bodyParts,
      );
    }
    if ((flags & USER_ID_FLAG) !== 0 && message.props.userId !== this.connection.user) {
      return withPublish(
        amqpError(
          ReplyCode.PRECONDITION_FAILED,
          `user_id property set to '${message.props.userId}' but authenticated user was '${this.connection.user}'`,
        ),
      );
    }
    if ((flags & EXPIRATION_FLAG) !== 0) {
      const ttl = parseExpiration(message.props.expiration ?? '');
      if (typeof ttl === 'string') return withPublish(amqpError(ReplyCode.PRECONDITION_FAILED, ttl));
      message.ttl = ttl;
    }
    if (this.txMode) {
      this.txPublishes.push({ exchange, message, mandatory: this.publishMandatory });
      return undefined;
    }
    const outcome = this.route(exchange, message, this.publishMandatory);
    if (this.confirmMode) {
      // Its confirm waits for the definitions of the queues it reached, if they are not saved yet.
      this.connection.dependOnDefinitions();
      if (outcome === 'refused') this.refuse(this.publishSeq);
      else this.confirm(this.publishSeq, outcome === 'stored');
    } else if (outcome === 'stored') this.watchStore();
    this.connection.afterPublish();
    return undefined;
  }

  /**
   * Confirms a publish: at once when it touched no disk, after the store's sync when it did. Confirms
   * keep publish order, so once one waits for the store, those after it wait behind it.
   */
  private confirm(seq: number, stored: boolean): void {
    if (!stored && this.storeConfirmsPending === 0) {
      this.confirmedUpTo = seq;
      this.connection.confirmsPending(this);
      return;
    }
    this.storeConfirmsPending++;
    this.connection.store.afterSync((err) => {
      this.storeConfirmsPending--;
      if (this.state !== 'open') return;
      if (err) {
        // The message may not be on disk: the publisher must not count on it (spec: basic.nack).
        this.nackNow(seq);
        this.connection.log.error({ err, channel: this.number }, 'store write failed: publish nacked');
        return;
      }
      this.confirmedUpTo = seq;
      this.connection.confirmsPending(this);
    });
  }

  /**
   * A publish a queue refused (x-overflow reject-publish): basic.nack, in its turn after the confirms
   * before it (those that wait for the store first).
   */
  private refuse(seq: number): void {
    if (this.storeConfirmsPending === 0) {
      this.nackNow(seq);
      return;
    }
    this.storeConfirmsPending++;
    this.connection.store.afterSync(() => {
      this.storeConfirmsPending--;
      if (this.state === 'open') this.nackNow(seq);
    });
  }

  private nackNow(seq: number): void {
    this.writeConfirms();
    writeBasicNack(this.writer, this.number, seq, false, false);
    this.confirmedUpTo = seq;
    this.ackedUpTo = seq;
    this.connection.scheduleFlush();
  }

  /** Without confirms, a failed store write closes the channel: the publisher must learn of it. */
  private watchStore(): void {
    if (this.storeWatched) return;
    this.storeWatched = true;
    this.connection.store.afterSync((err) => {
      this.storeWatched = false;
      if (err && this.state === 'open') {
        this.closeWithError(
          amqpError(ReplyCode.INTERNAL_ERROR, `could not store a persistent message: ${err.message}`),
        );
      }
    });
  }

  /** Publishes through the core's router; a mandatory publish no queue took is returned. */
  private route(exchange: Exchange, message: Message, mandatory: boolean): PublishOutcome {
    const outcome =
      message.exchange === '' && message.routingKey.startsWith(REPLY_TO_PREFIX)
        ? this.connection.replyTo.route(message)
        : publish(this.vhost, exchange, message, this.connection);
    // Refused by its queues is not unroutable: no basic.return (the publisher's nack says it).
    if (outcome === 'unroutable' && mandatory) {
      writeBasicReturn(
        this.writer,
        this.number,
        ReplyCode.NO_ROUTE,
        'NO_ROUTE',
        message.exchange,
        message.routingKey,
      );
      this.writeContent(message);
      this.connection.scheduleFlush();
    }
    return outcome;
  }

  /** Writes the basic.ack for publishes confirmed since the last call (called just before a flush). */
  writeConfirms(): void {
    const upTo = this.confirmedUpTo;
    if (upTo <= this.ackedUpTo || this.state !== 'open') return;
    writeBasicAck(this.writer, this.number, upTo, upTo - this.ackedUpTo > 1);
    this.ackedUpTo = upTo;
  }

  private writeContent(message: Message): void {
    const w = this.writer;
    w.writeContentHeader(this.number, 60, message.bodySize, message.properties);
    if (message.bodySize > 0) w.writeBody(this.number, message.bodyParts);
  }

  // Consuming

  private consume(
    queueName: string,
    requestedTag: string,
    noAck: boolean,
    exclusive: boolean,
    noWait: boolean,
    args: FieldTable,
  ): ProtocolError | undefined {
    const name = this.queueName(queueName);
    if (name instanceof ProtocolError) return name;
    const queue = this.vhost.queueFor(name, this.connection);
    if (queue instanceof ProtocolError) return queue;
    const priority = consumerPriorityOf(args);
    if (typeof priority !== 'number') {
      return amqpError(
        ReplyCode.PRECONDITION_FAILED,
        `invalid arg 'x-priority' for queue '${queue.name}' in vhost '${this.vhost.name}': ${priority.reason}`,
      );
    }
    const tag = requestedTag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : requestedTag;
    if (this.consumers.has(tag)) {
      return amqpError(ReplyCode.NOT_ALLOWED, `attempt to reuse consumer tag '${tag}'`);
    }
    // An exclusive consumer is refused on a single-active-consumer queue, as in RabbitMQ.
    if (
      queue.hasExclusiveConsumer ||
      (exclusive && (queue.consumerCount > 0 || queue.singleActiveConsumer))
    ) {
      return amqpError(
        ReplyCode.ACCESS_REFUSED,
        `queue '${queue.name}' in vhost '${this.vhost.name}' in exclusive use`,
      );
    }
    const consumer = new Consumer(tag, this, queue, noAck, exclusive, this.prefetchCount, args);
    if (!noAck) consumer.ackTimeout = this.consumerTimeoutOf(queue, args);
    this.consumers.set(tag, consumer);
    if (!noWait) writeBasicConsumeOk(this.writer, this.number, tag);
    this.connection.scheduleFlush();
    queue.addConsumer(consumer);
    return undefined;
  }

  private cancel(tag: string): void {
    const consumer = this.consumers.get(tag);
    if (!consumer) return;
    this.consumers.delete(tag);
    consumer.queue.removeConsumer(consumer);
  }

  // Direct reply-to

  /** basic.consume on amq.rabbitmq.reply-to: one no-ack consumer per channel (RabbitMQ's texts). */
  private consumeReplyTo(requestedTag: string, noAck: boolean, noWait: boolean): ProtocolError | undefined {
    if (requestedTag !== '' && this.consumers.has(requestedTag)) {
      return amqpError(ReplyCode.NOT_ALLOWED, `attempt to reuse consumer tag '${requestedTag}'`);
    }
    if (!noAck) return amqpError(ReplyCode.PRECONDITION_FAILED, 'reply consumer cannot acknowledge');
    if (this.replyConsumerTag !== undefined) {
      return amqpError(ReplyCode.PRECONDITION_FAILED, 'reply consumer already set');
    }
    const tag = requestedTag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : requestedTag;
    this.replyConsumerTag = tag;
    this.replyName = this.connection.replyTo.register(this);
    if (!noWait) writeBasicConsumeOk(this.writer, this.number, tag);
    this.connection.scheduleFlush();
    return undefined;
  }

  private cancelReplyTo(): void {
    if (this.replyName !== undefined) this.connection.replyTo.unregister(this.replyName);
    this.replyConsumerTag = undefined;
    this.replyName = undefined;
  }

  /**
   * queue.declare of amq.rabbitmq.reply-to or of a reply name: passive or not, it creates nothing. The
   * pseudo-queue and a reply name whose consumer is there answer 0 messages, 1 consumer (RabbitMQ);
   * any other reply name is not found.
   */
  private declareReplyTo(name: string, noWait: boolean): ProtocolError | undefined {
    if (name !== REPLY_TO && !this.connection.replyTo.exists(name)) return this.vhost.noQueue(name);
    this.mostRecentQueue = name;
    if (!noWait) writeQueueDeclareOk(this.writer, this.number, name, 0, 1);
    return undefined;
  }

  /** A reply to this channel's reply consumer: delivered at once, nothing to ack. */
  deliverReply(message: Message): void {
    if (this.state !== 'open' || this.replyConsumerTag === undefined) return;
    writeBasicDeliver(
      this.writer,
      this.number,
      this.replyConsumerTag,
      ++this.deliveryTag,
      false,
      message.exchange,
      message.routingKey,
    );
    this.writeContent(message);
    this.connection.scheduleFlush();
  }

  /** The queue of this consumer was deleted: tell the client if it asked to be told (consumer_cancel_notify). */
  cancelledByBroker(consumer: Consumer): void {
    if (this.consumers.get(consumer.tag) !== consumer) return;
    this.consumers.delete(consumer.tag);
    if (this.state === 'open' && this.connection.clientCapabilities.consumer_cancel_notify === true) {
      writeBasicCancel(this.writer, this.number, consumer.tag, true);
      this.connection.scheduleFlush();
    }
  }

  /** Whether a delivery to this consumer may go out now: channel open, room in the global prefetch and socket. */
  canDeliver(consumer: Consumer): boolean {
    if (this.state !== 'open' || this.connection.congested) return false;
    return consumer.noAck || this.globalPrefetch === 0 || this.consumerUnacked < this.globalPrefetch;
  }

  deliver(consumer: Consumer, message: Message, redelivered: boolean): void {
    const tag = ++this.deliveryTag;
    if (!consumer.noAck) {
      const timeout = consumer.ackTimeout;
      this.unacked.set(tag, {
        tag,
        message,
        queue: consumer.queue,
        consumer,
        txPending: false,
        deliveredAt: deliveryTime(),
        timeout,
      });
      if (timeout > 0) this.watchTimeouts(timeout);
      consumer.unacked++;
      this.consumerUnacked++;
    }
    writeBasicDeliver(
      this.writer,
      this.number,
      consumer.tag,
      tag,
      redelivered,
      message.exchange,
      message.routingKey,
    );
    this.writeContent(message);
    this.connection.scheduleFlush();
  }

  private get(queueName: string, noAck: boolean): ProtocolError | undefined {
    const name = this.queueName(queueName);
    if (name instanceof ProtocolError) return name;
    const queue = this.vhost.queueFor(name, this.connection);
    if (queue instanceof ProtocolError) return queue;
    const got = queue.take(noAck);
    if (!got) {
      writeBasicGetEmpty(this.writer, this.number);
    } else {
      const tag = ++this.deliveryTag;
      if (!noAck) {
        const timeout = this.consumerTimeoutOf(queue, undefined);
        this.unacked.set(tag, {
          tag,
          message: got.message,
          queue,
          consumer: undefined,
          txPending: false,
          deliveredAt: deliveryTime(),
          timeout,
        });
        if (timeout > 0) this.watchTimeouts(timeout);
      }
      const m = got.message;
      writeBasicGetOk(
        this.writer,
        this.number,
        tag,
        got.redelivered,
        m.exchange,
        m.routingKey,
        queue.messageCount,
      );
      this.writeContent(m);
    }
    this.connection.scheduleFlush();
    return undefined;
  }

  /** Re-runs dispatch for this channel's consumers (room was made: an ack, qos, or the socket drained). */
  resumeDeliveries(): void {
    for (const c of this.consumers.values()) c.queue.dispatch();
  }

  // Consumer timeout

  /**
   * The consumer timeout of a delivery: the consumer's x-consumer-timeout argument, else its queue's,
   * else the broker's (RabbitMQ 4.x's precedence). A get has no consumer arguments.
   */
  private consumerTimeoutOf(queue: Queue, consumerArgs: FieldTable | undefined): number {
    const own = consumerArgs === undefined ? undefined : timeoutArgument(consumerArgs);
    return own ?? timeoutArgument(queue.arguments_) ?? this.connection.consumerTimeout;
  }

  /**
   * Checks the age of unacked deliveries periodically while there are any: one timer per channel,
   * not one per delivery, at a quarter of the shortest timeout seen (at most a minute).
   */
  private watchTimeouts(timeout: number): void {
    if (timeout >= this.shortestTimeout && this.timeoutCheck !== undefined) return;
    if (timeout < this.shortestTimeout) this.shortestTimeout = timeout;
    clearInterval(this.timeoutCheck);
    this.timeoutCheck = setInterval(
      this.checkTimeouts,
      Math.min(60_000, Math.max(10, this.shortestTimeout / 4)),
    );
    this.timeoutCheck.unref();
  }

  private readonly checkTimeouts = (): void => {
    if (this.unacked.size === 0 || this.state !== 'open') {
      clearInterval(this.timeoutCheck);
      this.timeoutCheck = undefined;
      return;
    }
    const now = performance.now();
    // In delivery order, so oldest first: past the shortest timeout's age, none can have timed out.
    for (const d of this.unacked.values()) {
      const age = now - d.deliveredAt;
      if (age < this.shortestTimeout) return;
      if (d.timeout > 0 && age >= d.timeout) {
        // As RabbitMQ: the channel is closed and its unacked messages go back to their queues.
        this.closeWithError(
          amqpError(
            ReplyCode.PRECONDITION_FAILED,
            `delivery acknowledgement on channel ${this.number} timed out. Timeout value used: ${d.timeout} ms. This timeout value can be configured, see consumers doc guide to learn more`,
          ),
        );
        return;
      }
    }
  };

  // Acks

  private settle(tag: number, multiple: boolean, ack: boolean, requeue: boolean): ProtocolError | undefined {
    const deliveries = this.collect(tag, multiple);
    if (deliveries instanceof ProtocolError) return deliveries;
    if (this.txMode) {
      for (const d of deliveries) d.txPending = true;
      this.txSettles.push({ deliveries, ack, requeue });
      return undefined;
    }
    this.apply(deliveries, ack, requeue);
    return undefined;
  }

  private collect(tag: number, multiple: boolean): Delivery[] | ProtocolError {
    const unknown = () => amqpError(ReplyCode.PRECONDITION_FAILED, `unknown delivery tag ${tag}`);
    if (!multiple) {
      const d = this.unacked.get(tag);
      if (!d || d.txPending) return unknown();
      return [d];
    }
    const out: Delivery[] = [];
    for (const d of this.unacked.values()) {
      if (tag !== 0 && d.tag > tag) break;
      if (!d.txPending) out.push(d);
    }
    if (out.length === 0 && tag !== 0) return unknown();
    return out;
  }

  private apply(deliveries: Delivery[], ack: boolean, requeue: boolean): void {
    let lastQueue: Queue | undefined;
    let queues: Set<Queue> | undefined;
    const back: Delivery[] | undefined = ack || !requeue ? undefined : [];
    for (const d of deliveries) {
      if (!this.unacked.delete(d.tag)) continue;
      if (d.consumer) {
        d.consumer.unacked--;
        this.consumerUnacked--;
      }
      if (back === undefined) d.queue.settled(d.message, ack ? Removal.acked : Removal.rejected);
      else back.push(d);
      if (lastQueue === undefined) lastQueue = d.queue;
      else if (d.queue !== lastQueue) {
        queues ??= new Set([lastQueue]);
        queues.add(d.queue);
      }
    }
    if (back !== undefined) requeueDeliveries(back);
    // Room was made (or messages came back): deliver more.
    if (queues) for (const q of queues) q.dispatch();
    else lastQueue?.dispatch();
    if (this.globalPrefetch > 0) this.resumeDeliveries();
  }

  private requeueAll(): void {
    const all = [...this.unacked.values()];
    this.apply(all, false, true);
  }

  // Transactions

  private commit(): void {
    const publishes = this.txPublishes;
    const settles = this.txSettles;
    this.txPublishes = [];
    this.txSettles = [];
    let stored = false;
    for (const p of publishes) {
      this.route(p.exchange, p.message, p.mandatory);
      // Written to the store, even if a queue refused it: commit-ok waits for the sync.
      if (p.message.stored) stored = true;
    }
    for (const s of settles) this.apply(s.deliveries, s.ack, s.requeue);
    if (publishes.length > 0) this.connection.afterPublish();
    // commit-ok means the persistent messages of the transaction are on disk.
    if (!stored) {
      writeTxCommitOk(this.writer, this.number);
      return;
    }
    this.connection.store.afterSync((err) => {
      if (this.state !== 'open') return;
      if (err) {
        this.closeWithError(
          amqpError(ReplyCode.INTERNAL_ERROR, `could not store the transaction: ${err.message}`),
        );
        return;
      }
      writeTxCommitOk(this.writer, this.number);
      this.connection.scheduleFlush();
    });
  }

  private rollback(): void {
    for (const s of this.txSettles) for (const d of s.deliveries) d.txPending = false;
    this.txPublishes = [];
    this.txSettles = [];
  }

  // Closing

  /** A channel exception (spec 1.4.2.1 soft error): channel.close, then wait for close-ok. */
  closeWithError(err: ProtocolError): void {
    if (this.state !== 'open') return;
    this.connection.log.info(
      { channel: this.number, replyCode: err.replyCode, replyText: err.replyText },
      'closing channel on error',
    );
    this.release();
    this.state = 'closing';
    writeChannelClose(
      this.writer,
      this.number,
      err.replyCode,
      truncateShortstr(err.replyText),
      err.classId,
      err.methodId,
    );
    this.connection.scheduleFlush();
  }

  private finishClose(): void {
    this.release();
    this.state = 'closed';
    this.connection.channelClosed(this);
  }

  /**
   * Gives back what the channel holds when it or its connection closes: consumers are cancelled and
   * unacked deliveries go back to their queues in their original order, marked redelivered.
   */
  release(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.expecting = EXPECT_METHOD;
    this.contentBuffer = undefined;
    this.bodyParts = undefined;
    this.txPublishes = [];
    this.txSettles = [];
    const queues = requeueDeliveries(this.unacked.values());
    this.unacked.clear();
    for (const c of this.consumers.values()) c.queue.removeConsumer(c);
    this.consumers.clear();
    this.cancelReplyTo();
    clearInterval(this.timeoutCheck);
    this.timeoutCheck = undefined;
    for (const q of queues) q.dispatch();
  }
}

/** Gives unacked deliveries back to their queues, all of a queue's in one call; returns the queues. */
function requeueDeliveries(deliveries: Iterable<Delivery>): Iterable<Queue> {
  const byQueue = new Map<Queue, Message[]>();
  // Deliveries of one queue usually come in runs (a channel with one consumer: all of them).
  let lastQueue: Queue | undefined;
  let last: Message[] = [];
  for (const d of deliveries) {
    if (d.queue !== lastQueue) {
      lastQueue = d.queue;
      const messages = byQueue.get(d.queue);
      if (messages === undefined) {
        last = [];
        byQueue.set(d.queue, last);
      } else last = messages;
    }
    last.push(d.message);
  }
  for (const [queue, messages] of byQueue) queue.requeue(messages);
  return byQueue.keys();
}

/** An x-consumer-timeout argument in milliseconds, when it is a positive integer. */
// The time of the deliveries made in one synchronous run (a socket read's batch, a timer): read once for
// all of them, not once per delivery, and dropped when the run ends. Whole milliseconds, so that the
// deliveries keep a small integer rather than a number box each.
let deliveryStamp = 0;
let deliveryStampValid = false;
const expireDeliveryStamp = (): void => {
  deliveryStampValid = false;
};

/** Milliseconds (performance.now(), floored) at the current synchronous run, for consumer timeouts. */
function deliveryTime(): number {
  if (!deliveryStampValid) {
    deliveryStamp = Math.floor(performance.now());
    deliveryStampValid = true;
    queueMicrotask(expireDeliveryStamp);
  }
  return deliveryStamp;
}

function timeoutArgument(args: FieldTable): number | undefined {
  const v = args['x-consumer-timeout'];
  if (v === undefined) return undefined;
  const n = v instanceof TypedValue ? Number(v.value) : typeof v === 'bigint' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
}

function withPublish(err: ProtocolError): ProtocolError {
  return new ProtocolError(err.replyCode, err.replyText, 60, 40);
}
