// A consumer: a subscription of one channel to one queue (basic.consume).
import type { FieldTable } from '../../protocol/index.js';
import type { Channel } from '../../session/channel.js';
import type { Queue } from './queue.js';

export class Consumer {
  /** Unacked deliveries to this consumer (for its per-consumer prefetch). */
  unacked = 0;

  constructor(
    readonly tag: string,
    readonly channel: Channel,
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
