// Publishing, as a core operation: exchange routing, the store write for a persistent message reaching
// durable queues, x-overflow reject-publish, per-queue TTL copies, and credit flow. A channel calls it for
// basic.publish; dead-lettering, the management API's publish and a follower's replay use the same door.
import type { Exchange } from './exchange/exchange.js';
import type { Message } from './message.js';
import type { Queue, QueueOwner } from './queue/queue.js';
import type { VirtualHost } from './vhost.js';

/**
 * Whoever publishes (a connection), as the core sees it: a queue whose consumers are behind holds it
 * back (credit flow) until they catch up. It is held while any queue holds it.
 */
export interface Publisher extends QueueOwner {
  /**
   * The queue's consumers are behind: read no more publishes until it lets go. While held, the
   * publisher calls queue.recheckHold(itself) every so often.
   */
  holdFor(queue: Queue): void;
  /**
   * A queue that held the publisher lets it go (it has drained, lost its consumers or their pace, or was
   * deleted).
   */
  releasedBy(queue: Queue): void;
}

/**
 * What became of a publish: `unroutable`, no queue matched (a mandatory publish is returned); `refused`,
 * a queue with x-overflow reject-publish would have gone over its limit (a confirm is a nack); `stored`,
 * written to the store for a durable queue (its confirm waits for the store's sync); else `routed`.
 */
export type PublishOutcome = 'unroutable' | 'refused' | 'stored' | 'routed';

/**
 * Routes a message to its queues and hands it to each. The store hears of the message before any queue
 * can deliver or drop it. `publisher`, when given, may be held back by the queues it reaches.
 */
export function publish(
  vhost: VirtualHost,
  exchange: Exchange,
  message: Message,
  publisher: Publisher | undefined,
): PublishOutcome {
  // A TTL counts from the message's arrival in its queues (for a transaction's, the commit).
  if (message.ttl >= 0) message.expiresAt = Date.now() + message.ttl;
  const queues = vhost.route(exchange, message.routingKey, message);
  const routed = queues.length;
  // Queues with x-overflow reject-publish that the message would take over a limit refuse it.
  let n = 0;
  let refused = false;
  for (let i = 0; i < routed; i++) {
    const q = queues[i];
    if (q.rejectsPublish && q.wouldOverflow(message)) refused = true;
    else queues[n++] = q;
  }
  let durable: string[] | undefined;
  if (message.persistent) {
    for (let i = 0; i < n; i++) {
      if (queues[i].persistent) {
        if (durable === undefined) durable = [];
        durable.push(queues[i].storeKey);
      }
    }
  }
  if (durable) {
    vhost.store.publish(
      {
        id: message.seq,
        exchange: message.exchange,
        routingKey: message.routingKey,
        properties: message.properties,
        body: message.body,
        publishedAt: Date.now(),
      },
      durable,
    );
    message.stored = true;
  }
  for (let i = 0; i < n; i++) {
    const q = queues[i];
    if (q.messageTtl < 0) q.enqueue(message);
    else {
      // x-message-ttl: the queue's TTL or the message's own, whichever ends first. A message that
      // went to other queues too gets a copy with this queue's expiry.
      const at = Date.now() + q.messageTtl;
      const expiresAt = message.expiresAt !== 0 && message.expiresAt < at ? message.expiresAt : at;
      if (n === 1) {
        message.expiresAt = expiresAt;
        q.enqueue(message);
      } else q.enqueue(message.expiringAt(expiresAt));
    }
    if (publisher !== undefined && q.backlogged) q.hold(publisher);
  }
  if (refused) return 'refused';
  if (n === 0) return 'unroutable';
  return message.stored ? 'stored' : 'routed';
}
