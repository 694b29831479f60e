// A consumer: a subscription of one channel to one queue (basic.consume). The core sees the channel only
// through DeliveryChannel, which the session's channel implements.
import type { FieldTable } from '../../protocol/index.js';
import { integerOf, typeNameOf } from '../arguments.js';
import type { Message } from '../message.js';
import type { Queue, QueueOwner } from './queue.js';

/** What the core needs of the channel a consumer belongs to. */
export interface DeliveryChannel {
  /** The connection of the channel: a publisher is never held back by a queue it consumes from itself. */
  readonly owner: QueueOwner;
  /** Whether a delivery to this consumer may go out now (channel open, room in its prefetch and socket). */
  canDeliver(consumer: Consumer): boolean;
  deliver(consumer: Consumer, message: Message, redelivered: boolean): void;
  /** The consumer's queue is gone: the client is told if it asked to be (consumer_cancel_notify). */
  cancelledByBroker(consumer: Consumer): void;
}

/**
 * The x-priority consumer argument: an integer of any type (0 without one), or, for another value, the
 * reason RabbitMQ gives for refusing it ("invalid arg 'x-priority' for queue ...: REASON").
 */
export function consumerPriorityOf(args: FieldTable): number | { reason: string } {
  const v = args['x-priority'];
  if (v === undefined) return 0;
  const n = integerOf(v);
  if (n === undefined) return { reason: `"expected integer, got ${typeNameOf(v)}"` };
  return Number(n);
}

export class Consumer {
  /** Unacked deliveries to this consumer (for its per-consumer prefetch). */
  unacked = 0;
  /**
   * x-priority: consumers of a higher priority with room take the messages first, round-robin among
   * equals (the channel has checked the argument before the consumer is made).
   */
  readonly priority: number;
  /**
   * How long a delivery to it may stay unacked, in milliseconds (0: for ever): set by its channel when
   * it consumes, from the x-consumer-timeout arguments and the broker's setting.
   */
  ackTimeout = 0;

  constructor(
    readonly tag: string,
    readonly channel: DeliveryChannel,
    readonly queue: Queue,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    /** basic.qos prefetch-count with global=false at the time of basic.consume; 0 is no limit. */
    readonly prefetchCount: number,
    readonly arguments_: FieldTable,
  ) {
    const priority = consumerPriorityOf(arguments_);
    this.priority = typeof priority === 'number' ? priority : 0;
  }

  /** Whether the consumer may be given a message now (prefetch room, channel and socket able to take it). */
  canTake(): boolean {
    if (!this.noAck && this.prefetchCount > 0 && this.unacked >= this.prefetchCount) return false;
    return this.channel.canDeliver(this);
  }
}
