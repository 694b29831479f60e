// A queue: ready messages in their ready list (a FIFO, or one per priority level with x-max-priority),
// consumers served round-robin within their prefetch (the highest x-priority first; one at a time with
// x-single-active-consumer), the count of messages delivered and not yet acked, TTL, length limits,
// paging, and the publishers it holds back while its consumers fall behind (credit flow). Every message
// leaves it with a reason.
import {
  decodeBasicProperties,
  type FieldTable,
  hasExpiration,
  ProtocolError,
} from '../../protocol/index.js';
import type { Store } from '../../store/store.js';
import type { QueueArguments } from '../arguments.js';
import { deathReasonOf } from '../dead-letter.js';
import type { Binding } from '../exchange/exchange.js';
import { parseExpiration } from '../expiration.js';
import { Message } from '../message.js';
import type { Publisher } from '../router.js';
import type { Consumer } from './consumer.js';
import { FifoReadyList } from './fifo-ready-list.js';
import { levelOf, PriorityReadyList, priorityLevel } from './priority-ready-list.js';
import { QuorumReadyList } from './quorum-ready-list.js';
import type { ReadyEntry, ReadyList } from './ready-list.js';
import { REMOVAL_NAMES, Removal, type RemovalCounts, type RemovalReason } from './removal.js';

/** The connection an exclusive queue belongs to; also the one a consumer or a publisher belongs to. */
export interface QueueOwner {
  readonly id: number;
}

/** A new queue: its name and flags, its arguments as declared, and what they make it do. */
export interface QueueOptions {
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  /** The connection an exclusive queue belongs to; undefined for any other. */
  readonly exclusiveOwner: QueueOwner | undefined;
  readonly autoDelete: boolean;
  /** The arguments as declared (kept for the stored definitions and the equivalence of a redeclare). */
  readonly arguments: FieldTable;
  readonly settings: QueueArguments;
}

export interface QueueEvents {
  /** The last consumer of an auto-delete queue went away. */
  queueUnused(queue: Queue): void;
  /**
   * Messages in memory entering (positive) or leaving (negative) queues, with the bytes of their bodies,
   * for the memory budget.
   */
  memoryChange(bytes: number, messages: number): void;
  /**
   * Queued bodies or messages in memory have passed the paging threshold (half their limits, as
   * RabbitMQ's vm_memory_high_watermark_paging_ratio): persistent messages arriving behind others wait on
   * disk.
   */
  readonly memoryPaging: boolean;
  /** Where durable queues record their persistent messages. */
  readonly store: Store;
  /**
   * A message leaves a queue that has a dead-letter exchange, for a reason that dead-letters it (an
   * entry paged out to disk comes as its id). The queue has counted it out; whoever republishes it
   * removes it from the store afterwards when `inStore`, so that a crash in between loses nothing.
   */
  deadLetter(queue: Queue, entry: Message | number, reason: RemovalReason, inStore: boolean): void;
  /** A queue with x-expires has been unused for that long: it is deleted. */
  queueExpired(queue: Queue): void;
}

/** The name a durable queue has in the store: vhost and queue name, which may each contain anything but NUL. */
export function storeKey(vhost: string, name: string): string {
  return `${vhost}\u0000${name}`;
}

/**
 * Ready messages kept in memory per durable queue; beyond this, persistent messages wait on disk as bare
 * ids and are read back from the store when their turn comes, so a long backlog costs a few bytes per
 * message rather than its body and objects. A broker without a data directory keeps them all in memory.
 */
export const PAGE_OUT_AFTER = 32_768;
/**
 * Bytes of ready bodies kept in memory per durable queue, whatever their number: past them, persistent
 * messages wait on disk too (a backlog of 64 KiB bodies keeps 1,024 in memory, not 32,768, 2 GiB). All
 * queues page as well once the broker's queued bodies or messages pass half their limits.
 */
export const PAGE_OUT_BYTES = 64 * 1024 * 1024;

/**
 * A large body kept in the pieces it arrived in holds on to the socket reads they are views of, which
 * can be much larger than the body (its socket read). A message that is going to wait gives them up:
 * one that reaches a queue with no consumer, or with this many messages ready ahead of it, or that is
 * requeued, is compacted into a buffer of its own. Messages on their way straight through are not
 * copied.
 */
const COMPACT_BEHIND = 1000;

/**
 * The memory budget's change for bytes that leave it: -bytes, but +0 rather than -0 for none (an empty
 * body, an empty queue). V8 keeps a -0 as a heap number: one reaching code that has only seen small
 * integers deoptimises it, and turns the broker's byte count into a double field for good.
 */
const freed = (bytes: number): number => 0 - bytes;

/**
 * Credit flow: a queue whose consumers are taking messages fast but not as fast as they arrive holds
 * back the publishers that reach it while more than this many messages, or bytes of their bodies, are
 * ready in it, so that a publisher meets its consumers' pace instead of growing the queue; it lets them
 * go once it is down to half of both.
 */
export const FLOW_READY_MESSAGES = 1000;
export const FLOW_READY_BYTES = 4 * 1024 * 1024;
/**
 * Consumers count as fast once they took at least this many messages, or bytes of bodies, in the last one
 * to two seconds (FLOW_RATE_WINDOW_MS). Slower ones, like workers that spend a while on each task, hold nobody back:
 * their queue fills as in RabbitMQ, until paging and the memory budget take over, so a publisher is
 * never kept waiting on a consumer's work, only on the broker's pace (consumers that have just come are
 * taken to be fast for their first window). Consumers that stop taking messages let the publishers they
 * held go within two windows.
 */
export const FLOW_MIN_DELIVERIES = 1000;
export const FLOW_MIN_DELIVERED_BYTES = 2 * 1024 * 1024;
export const FLOW_RATE_WINDOW_MS = 1000;

/** The longest delay setTimeout takes (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Restored messages read per turn of the event loop to find those that expired while the broker was
 * down (each read is a pread of its record).
 */
const RESTORED_EXPIRY_SLICE = 1024;
/**
 * A restored head read ahead is kept for its delivery, with no consumer yet, up to this size (as
 * RabbitMQ keeps messages below 4 KiB in its queue index).
 */
const RESTORED_HEAD_KEPT_BYTES = 4096;

export class Queue {
  readonly kind = 'queue' as const;
  routeEpoch = 0;
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly exclusiveOwner: QueueOwner | undefined;
  readonly autoDelete: boolean;
  /** The arguments as declared. */
  readonly arguments_: FieldTable;
  /** A FIFO, or with x-max-priority a FIFO per priority level. */
  readonly ready: ReadyList;
  /** x-max-priority (0: none): the level a message is added at is its priority, at most this. */
  private readonly maxPriority: number;
  /** Body bytes of the ready messages held in memory (not those paged out): their share of the budget. */
  private readyBytes = 0;
  /** Ready messages in memory (not the ids of paged ones): what they count in the memory budget. */
  private readyInMemory = 0;
  /** Set while a message with a TTL is at the head: it drops the head once it has expired. */
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryTimerAt = 0;
  /**
   * When the queue's messages were restored after a restart (0: none were): the TTLs of those whose
   * record did not keep its publish time (written by an older warren) count from then.
   */
  private restoredAt = 0;
  /** The highest id restored: paged entries above it were paged since, and have no TTL. */
  private restoredUpTo = 0;
  /**
   * The restored entry at the head last looked into (read from the store ahead of its turn, to learn
   * when it expires so that it expires there on time, as a message in memory does), and its expiry.
   */
  private restoredHeadId = 0;
  private restoredHeadAt = 0;
  /**
   * That entry as read, kept if it is small or the queue has consumers (it goes out soon): next() takes
   * it rather than reading it again. Not counted in the memory budget until then; of a large one with no
   * consumer only the expiry is kept, not a large body per idle queue.
   */
  private restoredHead: Message | undefined;
  /** Set while a restored entry at the head waits for its expiry, or more expired ones wait to be dropped. */
  private restoredTimer: NodeJS.Timeout | undefined;
  private restoredTimerAt = 0;
  /** The message being enqueued while it is dispatched: a consumer that can take it gets it, TTL or not. */
  private arriving: Message | undefined;
  readonly consumers: Consumer[] = [];
  /** Bindings where this queue is the destination. */
  readonly bindings = new Set<Binding>();
  unacked = 0;
  deleted = false;
  private hadConsumers = false;
  private nextConsumer = 0;
  private dispatching = false;
  /** Set by next(): whether the message it returned had been delivered before. */
  private nextRedelivered = false;
  private exclusiveConsumer: Consumer | undefined;
  /**
   * Consumers are kept by x-priority, highest first, and by registration within one priority. With
   * consumers of different priorities, or a single active consumer, dispatch picks through
   * pickOrdered(); else it goes round-robin over them all, as before there were priorities.
   */
  private ordered = false;
  /** x-single-active-consumer: the one consumer that gets the messages (undefined without consumers). */
  readonly singleActiveConsumer: boolean;
  private activeConsumer: Consumer | undefined;
  /**
   * With consumers of different priorities: where each run of one priority starts in consumers (and the
   * end of the last), and the round-robin position within each.
   */
  private groupStarts: number[] = [];
  private groupNext: number[] = [];
  private groupPriorities: number[] = [];
  /** Publishers held back while this queue's consumers are behind (credit flow). */
  private held: Set<Publisher> | undefined;
  /** Deliveries since windowStart, and in the window before it: how fast the consumers take messages. */
  private deliveredInWindow = 0;
  private deliveredLastWindow = 0;
  private deliveredBytesInWindow = 0;
  private deliveredBytesLastWindow = 0;
  private windowStart = Date.now();
  /** Messages that left the queue, by reason (indexed by Removal). */
  private readonly removedBy = new Float64Array(REMOVAL_NAMES.length);
  /** Survives a restart: durable and not exclusive. Its persistent messages are in the store. */
  readonly persistent: boolean;
  /** Persistent, and the store can give its messages back: ready ones past PAGE_OUT_AFTER wait there. */
  private readonly pagesOut: boolean;
  /** x-max-length and x-max-length-bytes: ready messages and their body bytes (Infinity: no limit). */
  private readonly maxLength: number;
  private readonly maxLengthBytes: number;
  /** x-overflow reject-publish: a publish that would take the queue over a limit is refused. */
  readonly rejectsPublish: boolean;
  /** x-message-ttl in milliseconds, or -1: the router gives each message its expiry in this queue. */
  readonly messageTtl: number;
  /** x-dead-letter-exchange and x-dead-letter-routing-key (undefined: none). */
  readonly deadLetterExchange: string | undefined;
  readonly deadLetterRoutingKey: string | undefined;
  /** x-overflow reject-publish-dlx: a refused publish is dead-lettered too. */
  readonly deadLettersRefused: boolean;
  /** x-queue-type quorum: deliveries are counted (x-delivery-count) up to deliveryLimit. */
  readonly quorum: boolean;
  readonly deliveryLimit: number;
  /** x-expires in milliseconds (0: none), the timer that deletes the queue once unused that long. */
  readonly expires: number;
  private unusedTimer: NodeJS.Timeout | undefined;
  private lastUsed = Date.now();
  readonly storeKey: string;
  private readonly store: Store;

  constructor(
    options: QueueOptions,
    private readonly events: QueueEvents,
  ) {
    this.name = options.name;
    this.vhost = options.vhost;
    this.durable = options.durable;
    this.exclusiveOwner = options.exclusiveOwner;
    this.autoDelete = options.autoDelete;
    this.arguments_ = options.arguments;
    this.persistent = this.durable && this.exclusiveOwner === undefined;
    this.storeKey = storeKey(this.vhost, this.name);
    this.store = events.store;
    const { maxLength, maxLengthBytes, overflow, messageTtl, maxPriority, singleActiveConsumer } =
      options.settings;
    this.quorum = options.settings.queueType === 'quorum';
    // A quorum queue has its two levels without x-max-priority (which it refuses): it reads each
    // message's priority as it is, up to 255.
    this.maxPriority = this.quorum ? 255 : maxPriority;
    this.ready = this.quorum
      ? new QuorumReadyList()
      : maxPriority > 0
        ? new PriorityReadyList(maxPriority)
        : new FifoReadyList();
    this.singleActiveConsumer = singleActiveConsumer;
    this.ordered = singleActiveConsumer;
    this.messageTtl = messageTtl;
    this.deadLetterExchange = options.settings.deadLetterExchange;
    this.deadLetterRoutingKey = options.settings.deadLetterRoutingKey;
    this.deadLettersRefused = overflow === 'reject-publish-dlx' && this.deadLetterExchange !== undefined;
    this.deliveryLimit = options.settings.deliveryLimit;
    this.expires = options.settings.expires;
    this.armUnused();
    this.maxLength = maxLength;
    this.maxLengthBytes = maxLengthBytes;
    // Without a dead-letter exchange, reject-publish-dlx is reject-publish.
    this.rejectsPublish = overflow !== 'drop-head' && (maxLength !== Infinity || maxLengthBytes !== Infinity);
    // A byte limit counts every ready body: none waits on disk, where its size is not kept.
    this.pagesOut = this.persistent && this.store.keepsMessages && maxLengthBytes === Infinity;
  }

  /** With reject-publish: whether taking the message would put the queue over a limit (RabbitMQ's test). */
  wouldOverflow(message: Message): boolean {
    return this.ready.length + 1 > this.maxLength || this.readyBytes + message.bodySize > this.maxLengthBytes;
  }

  get messageCount(): number {
    return this.ready.length;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  get hasExclusiveConsumer(): boolean {
    return this.exclusiveConsumer !== undefined;
  }

  /** How many messages have left the queue, by reason. */
  get removals(): RemovalCounts {
    const counts = {} as RemovalCounts;
    for (let i = 0; i < REMOVAL_NAMES.length; i++) counts[REMOVAL_NAMES[i]] = this.removedBy[i];
    return counts;
  }

  /** A routed message arrives. */
  enqueue(message: Message): void {
    const priority = this.maxPriority === 0 ? 0 : priorityLevel(message, this.maxPriority);
    // A message with a TTL stays in memory, where its expiry is kept.
    if (
      message.stored &&
      this.pagesOut &&
      message.expiresAt === 0 &&
      (message.persistent || this.quorum) &&
      this.waitsOnDisk()
    ) {
      this.ready.add(message.seq, priority);
    } else {
      if (message.inPieces && (this.consumers.length === 0 || this.ready.length >= COMPACT_BEHIND)) {
        message.compact();
      }
      this.ready.add(message, priority);
      this.readyBytes += message.bodySize;
      this.readyInMemory++;
      this.events.memoryChange(message.bodySize, 1);
    }
    if (this.consumers.length > 0) {
      this.arriving = message;
      this.dispatch();
      this.arriving = undefined;
    } else if (message.expiresAt !== 0 && this.ready.length === 1) this.armExpiry();
    if (this.ready.length > this.maxLength || this.readyBytes > this.maxLengthBytes) this.dropOverLimit();
  }

  /**
   * Whether fast consumers are behind: publishers reaching the queue are held back until they catch up.
   * Cheap while the queue is under its bound, which is checked first.
   */
  get backlogged(): boolean {
    return (
      (this.ready.length > FLOW_READY_MESSAGES || this.readyBytes > FLOW_READY_BYTES) &&
      this.consumers.length > 0 &&
      this.consumersFast()
    );
  }

  /**
   * Whether the consumers take at least FLOW_MIN_DELIVERIES messages (or FLOW_MIN_DELIVERED_BYTES) a
   * window: they did in the last whole window, or are on their way to in this one (judged from its
   * first 10 ms on, so that consumers that have just started are known to be fast at once).
   */
  private consumersFast(): boolean {
    const now = Date.now();
    let elapsed = now - this.windowStart;
    if (elapsed >= FLOW_RATE_WINDOW_MS) {
      const recent = elapsed < 2 * FLOW_RATE_WINDOW_MS;
      this.deliveredLastWindow = recent ? this.deliveredInWindow : 0;
      this.deliveredBytesLastWindow = recent ? this.deliveredBytesInWindow : 0;
      this.deliveredInWindow = 0;
      this.deliveredBytesInWindow = 0;
      this.windowStart = now;
      elapsed = 0;
    }
    if (this.deliveredLastWindow >= FLOW_MIN_DELIVERIES) return true;
    if (this.deliveredBytesLastWindow >= FLOW_MIN_DELIVERED_BYTES) return true;
    const share = Math.max(elapsed, 10) / FLOW_RATE_WINDOW_MS;
    return (
      this.deliveredInWindow >= FLOW_MIN_DELIVERIES * share ||
      this.deliveredBytesInWindow >= FLOW_MIN_DELIVERED_BYTES * share
    );
  }

  /**
   * A held publisher asks again (every so often while it is held): it is let go if the consumers have
   * stopped taking messages fast, though the backlog is still there.
   */
  recheckHold(publisher: Publisher): void {
    if (this.held === undefined || !this.held.has(publisher) || this.backlogged) return;
    this.held.delete(publisher);
    if (this.held.size === 0) this.held = undefined;
    publisher.releasedBy(this);
  }

  /**
   * Holds a publisher back until the queue is down to half its backlog bound (credit flow). Not one that
   * consumes from the queue itself: it may be the one whose acks would drain it.
   */
  hold(publisher: Publisher): void {
    if (this.held?.has(publisher)) return;
    for (let i = 0; i < this.consumers.length; i++) if (this.consumers[i].channel.owner === publisher) return;
    this.held ??= new Set();
    this.held.add(publisher);
    publisher.holdFor(this);
  }

  /** Lets the held publishers go once the backlog is down to half its bound, or nobody consumes. */
  private releaseIfDrained(): void {
    const held = this.held as Set<Publisher>;
    if (
      this.consumers.length > 0 &&
      !this.deleted &&
      (this.ready.length > FLOW_READY_MESSAGES / 2 || this.readyBytes > FLOW_READY_BYTES / 2)
    ) {
      return;
    }
    this.held = undefined;
    for (const publisher of held) publisher.releasedBy(this);
  }

  /** Whether a stored message arriving now waits on disk: the queue's window is full, or memory is tight. */
  private waitsOnDisk(): boolean {
    const ready = this.ready.length;
    return (
      ready >= PAGE_OUT_AFTER ||
      this.readyBytes >= PAGE_OUT_BYTES ||
      // Behind other ready messages only: one arriving at an empty queue may go to a consumer at once.
      (ready > 0 && this.events.memoryPaging)
    );
  }

  /** x-overflow drop-head: the oldest ready messages go until the queue is within its limits. */
  private dropOverLimit(): void {
    if (this.rejectsPublish) return;
    while (this.ready.length > this.maxLength || this.readyBytes > this.maxLengthBytes) {
      const entry = this.ready.shift();
      if (entry === undefined) break;
      this.discard(entry, Removal.maxlen);
    }
    this.armExpiry();
  }

  /** A ready entry taken off the queue leaves it for good: its share of the budget, its store record. */
  private discard(entry: ReadyEntry, reason: RemovalReason): void {
    if (typeof entry === 'number') this.dropStored(entry < 0 ? -entry : entry, reason);
    else {
      this.readyBytes -= entry.bodySize;
      this.readyInMemory--;
      this.gone(entry, reason);
    }
  }

  /**
   * Takes the next ready entry as a message in memory (reading a paged-out one back from the store).
   * undefined when the queue is empty; a stored message that cannot be read back (its record failed its
   * checksum) is dropped, as recovery drops it, and the next one is taken. Whether the message taken goes
   * out redelivered is left in nextRedelivered (no object per delivery).
   */
  private next(): Message | undefined {
    for (;;) {
      const entry = this.ready.shift();
      if (entry === undefined) return undefined;
      if (typeof entry !== 'number') {
        const message = entry;
        const redelivered = this.ready.shiftedMarked;
        this.readyBytes -= message.bodySize;
        this.readyInMemory--;
        // Expired at the head of the queue: dropped, as RabbitMQ drops it (there is no dead-lettering).
        // Not on its way in: RabbitMQ hands a message a consumer can take at once over, even at TTL 0.
        if (message.expiresAt !== 0 && message !== this.arriving && message.expiresAt < Date.now()) {
          this.gone(message, Removal.expired);
          continue;
        }
        this.nextRedelivered = redelivered;
        return message;
      }
      const message = this.readPaged(entry);
      if (message === undefined) {
        this.discard(entry, Removal.unreadable);
        continue;
      }
      if (message.expiresAt !== 0 && message.expiresAt < Date.now()) {
        this.discard(entry, Removal.expired);
        continue;
      }
      this.events.memoryChange(message.bodySize, 1);
      this.nextRedelivered = entry < 0;
      return message;
    }
  }

  /** Delivers ready messages to consumers that have room, round-robin. */
  dispatch(): void {
    if (this.dispatching || this.deleted) return;
    this.dispatching = true;
    try {
      const consumers = this.consumers;
      while (this.ready.length > 0 && consumers.length > 0) {
        let consumer: Consumer | undefined;
        if (this.ordered) consumer = this.pickOrdered();
        else {
          const n = consumers.length;
          for (let k = 0; k < n; k++) {
            const c = consumers[(this.nextConsumer + k) % n];
            if (c.canTake()) {
              consumer = c;
              this.nextConsumer = (this.nextConsumer + k + 1) % n;
              break;
            }
          }
        }
        if (!consumer) break;
        const message = this.next();
        if (message === undefined) break;
        const redelivered = this.nextRedelivered;
        if (!consumer.noAck) {
          this.unacked++;
          if (message.stored && this.persistent) this.store.delivered(this.storeKey, message.seq);
        } else this.gone(message, Removal.acked);
        this.deliveredInWindow++;
        this.deliveredBytesInWindow += message.bodySize;
        consumer.channel.deliver(consumer, message, redelivered);
      }
    } finally {
      this.dispatching = false;
    }
    if (this.ready.length > 0) this.armExpiry();
    if (this.held !== undefined) this.releaseIfDrained();
  }

  /**
   * The consumer the next message goes to, or undefined when none can take it now. A single active
   * consumer gets every message, and while it has no room they wait for it (the others are not asked).
   * Else: the consumers of the highest priority that have room, round-robin among them; those of a lower
   * priority only when every higher one is blocked (prefetch full, socket congested, channel closing).
   */
  private pickOrdered(): Consumer | undefined {
    if (this.singleActiveConsumer) {
      const active = this.activeConsumer;
      return active?.canTake() ? active : undefined;
    }
    const consumers = this.consumers;
    const starts = this.groupStarts;
    const next = this.groupNext;
    for (let g = 0; g < next.length; g++) {
      const start = starts[g];
      const n = starts[g + 1] - start;
      const from = next[g];
      for (let k = 0; k < n; k++) {
        const i = (from + k) % n;
        const c = consumers[start + i];
        if (c.canTake()) {
          next[g] = (i + 1) % n;
          return c;
        }
      }
    }
    return undefined;
  }

  /**
   * After consumers came or went: whether dispatch needs pickOrdered() (a single active consumer, or
   * consumers of more than one priority) and, for priorities, the runs of each (a run keeps its
   * round-robin position).
   */
  private regroup(): void {
    const consumers = this.consumers;
    const n = consumers.length;
    const prioritised = n > 1 && consumers[0].priority !== consumers[n - 1].priority;
    this.ordered = this.singleActiveConsumer || prioritised;
    if (!prioritised) {
      if (this.groupNext.length > 0) {
        this.groupStarts = [];
        this.groupNext = [];
        this.groupPriorities = [];
      }
      return;
    }
    const kept = new Map<number, number>();
    for (let g = 0; g < this.groupNext.length; g++) kept.set(this.groupPriorities[g], this.groupNext[g]);
    const starts: number[] = [];
    const priorities: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i === 0 || consumers[i].priority !== consumers[i - 1].priority) {
        starts.push(i);
        priorities.push(consumers[i].priority);
      }
    }
    starts.push(n);
    const next: number[] = [];
    for (let g = 0; g < priorities.length; g++) {
      next.push((kept.get(priorities[g]) ?? 0) % (starts[g + 1] - starts[g]));
    }
    this.groupStarts = starts;
    this.groupNext = next;
    this.groupPriorities = priorities;
  }

  /** basic.get: the next ready message, or undefined. */
  take(noAck: boolean): { message: Message; redelivered: boolean } | undefined {
    this.used();
    const message = this.next();
    if (message === undefined) return undefined;
    const got = { message, redelivered: this.nextRedelivered };
    if (this.ready.length > 0) this.armExpiry();
    if (noAck) this.gone(message, Removal.acked);
    else {
      this.unacked++;
      if (message.stored && this.persistent) this.store.delivered(this.storeKey, message.seq);
    }
    if (this.held !== undefined) this.releaseIfDrained();
    return got;
  }

  /**
   * An unacked delivery was acked (Removal.acked), or rejected without requeue (Removal.rejected): it
   * leaves the queue for good.
   */
  settled(message: Message, reason: RemovalReason): void {
    if (this.deleted) {
      this.events.memoryChange(freed(message.bodySize), -1);
      return;
    }
    this.unacked--;
    this.gone(message, reason);
  }

  /**
   * A message leaves this queue for good: memory budget, store, and the count of its reason; with a
   * dead-letter exchange, a rejected, expired or dropped one is handed on to be republished first.
   */
  private gone(message: Message, reason: RemovalReason): void {
    this.events.memoryChange(freed(message.bodySize), -1);
    this.removedBy[reason]++;
    const inStore = message.stored && this.persistent;
    if (this.deadLetters(reason)) {
      this.events.deadLetter(this, message, reason, inStore);
    } else if (inStore) this.store.remove(this.storeKey, message.seq);
  }

  /** Whether a message leaving for this reason is dead-lettered (the queue has an exchange for it). */
  private deadLetters(reason: RemovalReason): boolean {
    return this.deadLetterExchange !== undefined && deathReasonOf(reason) !== undefined;
  }

  /** The same for a message paged out to disk, known by its id. */
  private dropStored(id: number, reason: RemovalReason): void {
    this.removedBy[reason]++;
    if (this.deadLetters(reason)) {
      this.events.deadLetter(this, id, reason, true);
    } else this.store.remove(this.storeKey, id);
  }

  /** x-overflow reject-publish-dlx: the publish this queue refused is dead-lettered (reason maxlen). */
  deadLetterRefused(message: Message): void {
    this.events.deadLetter(this, message, Removal.maxlen, false);
  }

  /** A message recovered after a restart, in publish order: left on disk until its turn comes. */
  restorePaged(messageId: number, delivered: boolean): void {
    if (this.restoredAt === 0) {
      this.restoredAt = Date.now();
      // Once every message is restored: those whose TTL ran out while the broker was down go.
      this.armRestoredTimer(this.restoredAt - 1);
    }
    if (messageId > this.restoredUpTo) this.restoredUpTo = messageId;
    const priority = this.maxPriority === 0 ? 0 : this.storedPriority(messageId);
    this.ready.add(delivered ? -messageId : messageId, priority);
  }

  /**
   * The priority level of a stored message, read back from its record (a priority queue's recovery reads
   * each of its messages once for it). One that cannot be read goes at level 0: its turn drops it.
   */
  private storedPriority(messageId: number): number {
    const stored = this.store.read(messageId);
    if (stored === undefined) return 0;
    const props = decodeBasicProperties(stored.properties);
    return props instanceof ProtocolError ? 0 : levelOf(props.priority, this.maxPriority);
  }

  /**
   * A paged entry as a message, read back from the store (or taken from restoredHead); undefined if it
   * cannot be read. A restored one gets its expiry: its TTL, the queue's or its own, whichever ends
   * first, counts from its publish time as RabbitMQ's does, or from the restart if its record did not
   * keep it.
   */
  private readPaged(entry: number): Message | undefined {
    const id = entry < 0 ? -entry : entry;
    const head = this.restoredHead;
    if (head !== undefined) {
      this.restoredHead = undefined;
      if (head.seq === id) return head;
    }
    const stored = this.store.read(id);
    if (!stored) return undefined;
    const message = Message.fromStored(stored, id);
    message.stored = true;
    if (this.restoredAt === 0 || id > this.restoredUpTo) return message;
    let ttl = this.messageTtl;
    if (hasExpiration(stored.properties)) {
      const own = parseExpiration(message.props.expiration ?? '');
      if (typeof own === 'number') {
        message.ttl = own;
        if (ttl < 0 || own < ttl) ttl = own;
      }
    }
    if (ttl >= 0) message.expiresAt = (stored.publishedAt === 0 ? this.restoredAt : stored.publishedAt) + ttl;
    return message;
  }

  /**
   * With a restored entry at the head: drops it if it has expired (and the expired ones after it, a
   * slice at a time), else reads it ahead and arms a timer for its expiry, if it has one (as for a
   * message in memory, the entries behind it wait for it). Hands a message in memory at the head over to
   * armExpiry.
   */
  private expireRestored(): void {
    if (this.deleted) return;
    const now = Date.now();
    for (let reads = 0; ; ) {
      const head = this.ready.peek();
      if (head === undefined) return;
      if (typeof head !== 'number') {
        this.armExpiry();
        return;
      }
      const id = head < 0 ? -head : head;
      if (id > this.restoredUpTo) return;
      if (id !== this.restoredHeadId) {
        if (reads++ === RESTORED_EXPIRY_SLICE) {
          // The rest in a later turn: a backlog that expired while the broker was down does not hold
          // the event loop.
          this.armRestoredTimer(now);
          return;
        }
        const message = this.readPaged(head);
        if (message === undefined) {
          this.discard(this.ready.shift() as number, Removal.unreadable);
          continue;
        }
        this.restoredHeadId = id;
        this.restoredHeadAt = message.expiresAt;
        this.restoredHead =
          this.consumers.length > 0 || message.bodySize <= RESTORED_HEAD_KEPT_BYTES ? message : undefined;
      }
      const at = this.restoredHeadAt;
      if (at !== 0 && at < now) {
        this.restoredHead = undefined;
        this.discard(this.ready.shift() as number, Removal.expired);
        continue;
      }
      if (at !== 0) this.armRestoredTimer(at);
      return;
    }
  }

  /**
   * armExpiry's part for a restored entry at the head: looks into it (read ahead once), so that its
   * timer is set or it goes.
   */
  private armRestoredExpiry(head: number): void {
    if ((head < 0 ? -head : head) <= this.restoredUpTo) this.expireRestored();
  }

  /** Runs expireRestored a millisecond after `at`, unless its timer is set to run before then. */
  private armRestoredTimer(at: number): void {
    if (this.restoredTimer !== undefined) {
      if (this.restoredTimerAt <= at) return;
      clearTimeout(this.restoredTimer);
    }
    this.restoredTimerAt = at;
    this.restoredTimer = setTimeout(
      this.onRestoredExpiry,
      Math.min(MAX_TIMER_MS, Math.max(0, at + 1 - Date.now())),
    );
    this.restoredTimer.unref();
  }

  private readonly onRestoredExpiry = (): void => {
    this.restoredTimer = undefined;
    this.expireRestored();
    if (this.held !== undefined) this.releaseIfDrained();
  };

  /** Drops the messages at the head whose TTL has run out. */
  private dropExpired(now: number): void {
    for (;;) {
      const head = this.ready.peek();
      if (head === undefined || typeof head === 'number') return;
      const { expiresAt } = head;
      if (expiresAt === 0 || expiresAt >= now) return;
      this.discard(this.ready.shift() as ReadyEntry, Removal.expired);
    }
  }

  /**
   * With a message with a TTL at the head, a timer drops it once it has expired (RabbitMQ expires
   * messages at the head only: one behind a longer-lived one waits for it).
   */
  private armExpiry(): void {
    const head = this.ready.peek();
    if (head === undefined) return;
    if (typeof head === 'number') {
      if (this.restoredAt !== 0) this.armRestoredExpiry(head);
      return;
    }
    const at = head.expiresAt;
    if (at === 0 || (this.expiryTimer !== undefined && this.expiryTimerAt <= at)) return;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimerAt = at;
    // A millisecond past the expiry; a TTL beyond the longest timer is waited out in steps.
    this.expiryTimer = setTimeout(this.onExpiry, Math.min(MAX_TIMER_MS, Math.max(0, at + 1 - Date.now())));
    this.expiryTimer.unref();
  }

  private readonly onExpiry = (): void => {
    this.expiryTimer = undefined;
    if (this.deleted) return;
    this.dropExpired(Date.now());
    this.armExpiry();
    if (this.held !== undefined) this.releaseIfDrained();
  };

  /**
   * Unacked deliveries come back: each takes its original place (by publish order) among the ready
   * messages, marked redelivered.
   */
  requeue(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    if (this.deleted) {
      let bytes = 0;
      for (const m of messages) bytes += m.bodySize;
      this.events.memoryChange(freed(bytes), freed(messages.length));
      return;
    }
    this.unacked -= messages.length;
    if (this.quorum) messages = this.countDeliveries(messages);
    if (messages.length === 0) return;
    let inOrder = true;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      m.compact();
      this.readyBytes += m.bodySize;
      if (i > 0 && m.seq < messages[i - 1].seq) inOrder = false;
    }
    this.readyInMemory += messages.length;
    this.ready.putBack(inOrder ? messages : [...messages].sort((a, b) => a.seq - b.seq));
    // One that expired while it was out is dropped now that it is back at the head.
    this.dropExpired(Date.now());
    this.armExpiry();
    // Back over a limit: the oldest go, as in RabbitMQ (they are the ones just given back).
    if (this.ready.length > this.maxLength || this.readyBytes > this.maxLengthBytes) this.dropOverLimit();
  }

  /**
   * A quorum queue counts the deliveries of each message given back: it goes out again with the count in
   * its x-delivery-count header, or, past x-delivery-limit, leaves the queue (dead-lettered with reason
   * delivery_limit when the queue has a dead-letter exchange). Returns the messages that stay.
   */
  private countDeliveries(messages: readonly Message[]): Message[] {
    const staying: Message[] = [];
    for (const m of messages) {
      const count = m.deliveryCount + 1;
      if (count > this.deliveryLimit) this.gone(m, Removal.deliveryLimit);
      else staying.push(m.withDeliveryCount(count));
    }
    return staying;
  }

  /** Removes all ready messages; returns how many there were. */
  purge(): number {
    const count = this.ready.length;
    if (this.persistent) {
      // With nothing unacked the store holds exactly the ready messages of the queue, which one record
      // drops; else they leave it one by one. A transient queue's messages are not in it.
      if (this.unacked === 0) this.store.dropQueue(this.storeKey);
      else {
        for (const e of this.ready.drain()) {
          if (typeof e === 'number') this.store.remove(this.storeKey, e < 0 ? -e : e);
          else if (e.stored) this.store.remove(this.storeKey, e.seq);
        }
      }
    }
    this.dropReady(Removal.purged);
    if (this.held !== undefined) this.releaseIfDrained();
    return count;
  }

  addConsumer(consumer: Consumer): void {
    if (this.consumers.length === 0) {
      // Consumers that have just come are taken to be fast until their first window shows their pace.
      this.windowStart = Date.now();
      this.deliveredInWindow = 0;
      this.deliveredBytesInWindow = 0;
      this.deliveredLastWindow = FLOW_MIN_DELIVERIES;
      this.deliveredBytesLastWindow = 0;
    }
    // By priority, highest first, then in registration order: with no priorities, at the end.
    const consumers = this.consumers;
    let at = consumers.length;
    while (at > 0 && consumers[at - 1].priority < consumer.priority) at--;
    if (at === consumers.length) consumers.push(consumer);
    else {
      consumers.splice(at, 0, consumer);
      if (this.nextConsumer >= at && consumers.length > 1) this.nextConsumer++;
    }
    if (this.singleActiveConsumer && this.activeConsumer === undefined) this.activeConsumer = consumer;
    if (this.ordered || consumers.length > 1) this.regroup();
    this.hadConsumers = true;
    this.used();
    if (consumer.exclusive) this.exclusiveConsumer = consumer;
    this.dispatch();
  }

  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (this.nextConsumer > i) this.nextConsumer--;
    if (this.nextConsumer >= this.consumers.length) this.nextConsumer = 0;
    if (this.exclusiveConsumer === consumer) this.exclusiveConsumer = undefined;
    if (this.ordered) this.regroup();
    if (this.activeConsumer === consumer) {
      // The next in line takes over: the highest priority, then the first registered. Unacked
      // deliveries of a channel that closed were given back before its consumers went, so the new one
      // gets them first, in their places.
      this.activeConsumer = this.consumers[0];
      this.dispatch();
    }
    if (this.held !== undefined) this.releaseIfDrained();
    if (this.consumers.length === 0) {
      this.used();
      if (this.autoDelete && this.hadConsumers) this.events.queueUnused(this);
    }
  }

  /**
   * x-expires: the queue was used (declared again, a consumer came or went, a basic.get): its period
   * starts again, and runs while it has no consumers.
   */
  used(): void {
    if (this.expires === 0) return;
    this.lastUsed = Date.now();
    this.armUnused();
  }

  private armUnused(): void {
    if (this.expires === 0 || this.deleted) return;
    if (this.unusedTimer !== undefined) clearTimeout(this.unusedTimer);
    this.unusedTimer = undefined;
    if (this.consumers.length > 0) return;
    const left = this.lastUsed + this.expires - Date.now();
    this.unusedTimer = setTimeout(this.onUnused, Math.min(MAX_TIMER_MS, Math.max(0, left)));
    this.unusedTimer.unref();
  }

  private readonly onUnused = (): void => {
    this.unusedTimer = undefined;
    if (this.deleted || this.consumers.length > 0) return;
    // A period beyond the longest timer is waited out in steps.
    if (Date.now() < this.lastUsed + this.expires) this.armUnused();
    else this.events.queueExpired(this);
  };

  /**
   * Drops every ready entry at once, however many: their bodies leave the memory budget in one step (paged
   * ones never counted), and the expiry timer goes. Returns how many there were.
   */
  private dropReady(reason: RemovalReason): number {
    if (this.expiryTimer !== undefined) {
      clearTimeout(this.expiryTimer);
      this.expiryTimer = undefined;
    }
    const count = this.ready.length;
    this.ready.clear();
    this.events.memoryChange(freed(this.readyBytes), freed(this.readyInMemory));
    this.readyBytes = 0;
    this.readyInMemory = 0;
    this.removedBy[reason] += count;
    return count;
  }

  /** Marks the queue deleted and drops its messages; returns the number of ready messages it had. */
  markDeleted(): number {
    // Its unacked messages are released too: acks for them later change nothing.
    if (this.persistent) this.store.dropQueue(this.storeKey);
    this.deleted = true;
    if (this.unusedTimer !== undefined) clearTimeout(this.unusedTimer);
    this.unusedTimer = undefined;
    const count = this.dropReady(Removal.deleted);
    this.removedBy[Removal.deleted] += this.unacked;
    if (this.held !== undefined) this.releaseIfDrained();
    return count;
  }
}
