// Publishing, as a core operation: exchange routing, the store write for a persistent message reaching
// durable queues, x-overflow reject-publish, per-queue TTL copies, and credit flow. A channel calls it for
// basic.publish; dead-lettering, the management API's publish and a follower's replay use the same door.
import { HEADERS_FLAG, propertyFlags } from '../protocol/index.js';
import { headerKeys } from './dead-letter.js';
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
 * can deliver or drop it. `publisher`, when given, may be held back by the queues it reaches. The CC and
 * BCC headers route it with their keys too; BCC is removed before any queue sees it.
 */
export function publish(
  vhost: VirtualHost,
  exchange: Exchange,
  message: Message,
  publisher: Publisher | undefined,
): PublishOutcome {
  // A TTL counts from the message's arrival in its queues (for a transaction's, the commit).
  if (message.ttl >= 0) message.expiresAt = Date.now() + message.ttl;
  const extra = extraRoutingKeys(message);
  if (extra === undefined)
    return deliver(vhost, message, vhost.route(exchange, message.routingKey, message), publisher);
  const queues = vhost.routeAll(exchange, [message.routingKey, ...extra.cc, ...extra.bcc], message);
  return deliver(vhost, extra.hasBcc ? withoutBcc(message) : message, queues, publisher);
}

/**
 * Publishes a message the broker made (a dead-lettered copy) to an exchange with its routing keys, to
 * the queues `accepts` lets it reach. Nobody is held back, and nobody hears of a refusal.
 */
export function republish(
  vhost: VirtualHost,
  exchange: Exchange,
  message: Message,
  routingKeys: readonly string[],
  accepts: (queue: Queue) => boolean,
): PublishOutcome {
  const routed =
    routingKeys.length === 1
      ? vhost.route(exchange, routingKeys[0], message)
      : vhost.routeAll(exchange, routingKeys, message);
  let n = 0;
  for (let i = 0; i < routed.length; i++) if (accepts(routed[i])) routed[n++] = routed[i];
  routed.length = n;
  return deliver(vhost, message, routed, undefined);
}

/** The keys of a CC and a BCC header, when the message may have one (a cheap look at its raw bytes first). */
function extraRoutingKeys(message: Message): { cc: string[]; bcc: string[]; hasBcc: boolean } | undefined {
  const raw = message.properties;
  if ((propertyFlags(raw) & HEADERS_FLAG) === 0) return undefined;
  if (raw.indexOf(CC_KEY) < 0 && raw.indexOf(BCC_KEY) < 0) return undefined;
  const headers = message.headers;
  if (headers === undefined || (headers.CC === undefined && headers.BCC === undefined)) return undefined;
  return { cc: headerKeys(headers.CC), bcc: headerKeys(headers.BCC), hasBcc: headers.BCC !== undefined };
}

// A header name in a field table: its length octet, then the name.
const CC_KEY = Buffer.from('\u0002CC', 'latin1');
const BCC_KEY = Buffer.from('\u0003BCC', 'latin1');

/** The message without its BCC header (RabbitMQ removes it before delivery), with the same id. */
function withoutBcc(message: Message): Message {
  const props = message.props;
  const headers = { ...props.headers };
  delete headers.BCC;
  return message.withProperties({ ...props, headers });
}

/** Hands a routed message to its queues (an array the caller gives up), as publish() describes. */
function deliver(
  vhost: VirtualHost,
  message: Message,
  queues: Queue[],
  publisher: Publisher | undefined,
): PublishOutcome {
  const routed = queues.length;
  // Queues with x-overflow reject-publish that the message would take over a limit refuse it.
  let n = 0;
  let refused = false;
  for (let i = 0; i < routed; i++) {
    const q = queues[i];
    if (q.rejectsPublish && q.wouldOverflow(message)) {
      refused = true;
      if (q.deadLettersRefused) q.deadLetterRefused(message);
    } else queues[n++] = q;
  }
  // Persistent messages are stored for durable queues; a quorum queue stores every message.
  let durable: string[] | undefined;
  const persistent = message.persistent;
  for (let i = 0; i < n; i++) {
    const q = queues[i];
    if (q.persistent && (persistent || q.quorum)) {
      if (durable === undefined) durable = [];
      durable.push(q.storeKey);
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
