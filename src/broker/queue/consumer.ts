// A consumer: a subscription of one channel to one queue (basic.consume). The core sees the channel only
// through DeliveryChannel, which the session's channel implements.
import type { FieldTable } from '../../protocol/index.js';
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

export class Consumer {
  /** Unacked deliveries to this consumer (for its per-consumer prefetch). */
  unacked = 0;

  constructor(
    readonly tag: string,
    readonly channel: DeliveryChannel,
    readonly queue: Queue,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    /** basic.qos prefetch-count with global=false at the time of basic.consume; 0 is no limit. */
    readonly prefetchCount: number,
    readonly arguments_: FieldTable,
  ) {}

  /** Whether the consumer may be given a message now (prefetch room, channel and socket able to take it). */
  canTake(): boolean {
    if (!this.noAck && this.prefetchCount > 0 && this.unacked >= this.prefetchCount) return false;
    return this.channel.canDeliver(this);
  }
}
