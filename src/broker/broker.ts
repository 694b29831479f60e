// The broker core: vhosts, users, the store, the memory budget, and the durable definitions. It knows no
// connection: the session side (src/session) listens, speaks AMQP and calls into it.

import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { heapSizeLimit } from '../builtins.js';
import { brokerLog, type Log } from '../log.js';
import { FileStore } from '../store/file-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/store.js';
import {
  applyDefinitionChanges,
  bindingDefinition,
  type DefinitionChange,
  type Definitions,
  definitionCount,
  exchangeDefinition,
  exportDefinitions,
  importDefinitions,
  isDurableBinding,
  queueDefinition,
} from './definitions.js';
import { continueMessageIdsAfter } from './message.js';
import { type Queue, storeKey } from './queue/queue.js';
import { type DurableChange, VirtualHost, type VirtualHostEvents } from './vhost.js';

export interface User {
  username: string;
  password: string;
}

export interface BrokerOptions {
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 picks a free one; default 5672. */
  port?: number;
  /** Users; default guest/guest. */
  users?: User[];
  /** Users allowed to connect from loopback addresses only, as RabbitMQ does for guest; default ['guest']. */
  loopbackUsers?: string[];
  /** Virtual hosts; default ['/']. */
  vhosts?: string[];
  /** Heartbeat interval proposed in connection.tune, in seconds; 0 disables; default 60. */
  heartbeat?: number;
  /** frame_max proposed in connection.tune, in bytes; default 131072, at least 4096. */
  frameMax?: number;
  /** channel_max proposed in connection.tune; default 2047. */
  channelMax?: number;
  /**
   * A pino logger, or a level for the broker's own ('silent', 'info', ...); default 'silent', which
   * does not load pino.
   */
  logger?: Log | string;
  /**
   * Bytes of queued message bodies above which publishers are paused (TCP backpressure, and
   * connection.blocked to clients that support it) until consumers bring it below 80% of this; default 40%
   * of the machine's memory, as RabbitMQ's vm_memory_high_watermark. Past half of it, persistent messages
   * in durable queues wait on disk rather than in memory.
   */
  memoryHighWatermark?: number;
  /**
   * Messages held in memory by queues (ready and unacked) above which publishers are paused, as over the
   * watermark: each costs some 400 bytes of the JavaScript heap whatever its body, and the heap has a
   * limit of its own (Node's --max-old-space-size). Default: as many as fill 40% of that limit.
   */
  maxQueuedMessages?: number;
  /**
   * Directory for durable definitions and persistent messages. Without it the broker keeps everything in
   * memory (the default of startBroker()).
   */
  dataDir?: string;
  /** With dataDir: fsync each batch before confirming it (default true); false only writes (fast CI). */
  fsync?: boolean;
  /** With dataDir: the largest message segment file, in bytes, below 4 GiB (default 64 MiB). */
  segmentSize?: number;
  /** A store to use instead of the one dataDir would open (tests). */
  store?: Store;
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
export const VERSION: string = pkg.version;

/**
 * Changes appended to the stored definitions before the next save writes them whole: at least this
 * many, and at least twice as many as the definitions held at the last whole save, so that appending
 * stays O(1) per change and a restart replays at most about three times what it loads.
 */
const MIN_CHANGES_BETWEEN_SAVES = 1000;
/**
 * Queued bodies or messages past this share of their limits: durable queues keep new persistent messages
 * that must wait on disk (RabbitMQ's vm_memory_high_watermark_paging_ratio, 0.5 by default), so that a
 * backlog of them pages out before it can block publishers.
 */
const PAGING_RATIO = 0.5;
/** Blocked publishers resume once queued bodies and messages are both below this share of their limits. */
const RESUME_RATIO = 0.8;
/**
 * What a message in memory costs of the JavaScript heap, bodies aside (measured: about 314 bytes for a
 * 16-byte transient message in a queue). Small messages fill the heap long before their bodies reach the
 * watermark: 13 million of them take 4 GiB of heap and count 200 MiB of bodies.
 */
const MESSAGE_HEAP_COST = 400;
/** Below this many queued messages the heap's limit is not looked up (node:v8 is loaded to do it). */
const PROVISIONAL_MESSAGE_LIMIT = 100_000;

/** A publisher paused by the memory budget, told when the broker is back under it. */
export interface MemoryWaiter {
  memoryAvailable(): void;
}

export class Broker implements VirtualHostEvents {
  readonly log: Log;
  private readonly users: Map<string, string>;
  private readonly loopbackUsers: Set<string>;
  private readonly vhosts = new Map<string, VirtualHost>();
  private closing: Promise<void> | undefined;
  /** Bytes of message bodies held by queues (ready and unacked). */
  queuedBytes = 0;
  /** Messages held in memory by queues (ready and unacked; not those waiting on disk). */
  queuedMessages = 0;
  private readonly highWatermark: number;
  /** See maxQueuedMessages; provisional until worked out (messagesOver). */
  private messageLimit: number;
  private messageLimitProvisional: boolean;
  readonly store: Store;
  private definitionsSave: Promise<void> | undefined;
  /** Durable definition changes not yet handed to the store. */
  private definitionChanges: DefinitionChange[] = [];
  /** Changes appended since the last whole save; the first save after start is a whole one. */
  private changesSinceSave = Number.POSITIVE_INFINITY;
  private changesBeforeSave = MIN_CHANGES_BETWEEN_SAVES;
  private definitionsWaiting: { generation: number; callback: () => void }[] = [];
  private readonly memoryWaiters = new Set<MemoryWaiter>();

  constructor(readonly options: BrokerOptions = {}) {
    this.log = typeof options.logger === 'object' ? options.logger : brokerLog(options.logger ?? 'silent');
    this.users = new Map(
      (options.users ?? [{ username: 'guest', password: 'guest' }]).map((u) => [u.username, u.password]),
    );
    this.loopbackUsers = new Set(options.loopbackUsers ?? ['guest']);
    for (const name of options.vhosts ?? ['/']) this.vhosts.set(name, new VirtualHost(name, this));
    this.highWatermark = options.memoryHighWatermark ?? Math.floor(totalmem() * 0.4);
    this.messageLimit = options.maxQueuedMessages ?? PROVISIONAL_MESSAGE_LIMIT;
    this.messageLimitProvisional = options.maxQueuedMessages === undefined;
    this.store =
      options.store ??
      (options.dataDir
        ? new FileStore({
            dir: options.dataDir,
            fsync: options.fsync ?? true,
            segmentSize: options.segmentSize,
            logger: this.log,
          })
        : new MemoryStore());
  }

  /** Opens the store and rebuilds the durable definitions and messages it holds. */
  async open(): Promise<void> {
    const started = performance.now();
    const recovered = await this.store.open();
    const changes = (recovered.definitionChanges ?? []) as DefinitionChange[];
    if (recovered.definitions !== undefined || changes.length > 0) {
      const definitions = applyDefinitionChanges(recovered.definitions as Definitions | undefined, changes);
      // Restoring them changes nothing the store does not hold already.
      this.restoringDefinitions = true;
      try {
        const problems = importDefinitions(definitions, (name) => this.vhosts.get(name));
        for (const p of problems) this.log.warn(p);
      } finally {
        this.restoringDefinitions = false;
      }
    }
    const byKey = new Map<string, Queue>();
    for (const v of this.vhosts.values())
      for (const q of v.queues.values()) byKey.set(storeKey(v.name, q.name), q);
    let messages = 0;
    for (const [key, { messageIds, delivered: deliveredMarks }] of recovered.queues) {
      const queue = byKey.get(key);
      if (!queue) {
        // Messages of a queue whose definition is gone: nothing can reach them.
        this.log.warn(
          { queue: key.replace('\u0000', ' '), messages: messageIds.length },
          'dropping messages of an unknown queue',
        );
        this.store.dropQueue(key);
        continue;
      }
      // Every recovered message waits on disk until its turn comes, as messages past a queue's in-memory
      // window do (recovery has checked each record): a restart reads none of them, however long the
      // backlog. After a crash, delivery marks of the last moments may be lost: every message may have
      // been delivered, so all are flagged redelivered (the flag means "may have been delivered before").
      for (let i = 0; i < messageIds.length; i++) {
        queue.restorePaged(messageIds[i], deliveredMarks[i] === 1 || recovered.uncleanShutdown);
      }
      messages += messageIds.length;
    }
    continueMessageIdsAfter(recovered.maxMessageId);
    if (recovered.dropped.records > 0) {
      this.log.warn(recovered.dropped, 'recovery dropped unreadable records');
    }
    if (this.options.dataDir) {
      this.log.info(
        { messages, queues: byKey.size, ms: Math.round(performance.now() - started) },
        'recovered from the data directory',
      );
    }
  }

  /** undefined when the user may connect from there, else the reason (for the log and the 403 text). */
  authenticate(username: string, password: string, remoteAddress: string | undefined): string | undefined {
    const expected = this.users.get(username);
    if (expected === undefined || expected !== password) {
      return `user '${username}' - invalid credentials`;
    }
    if (this.loopbackUsers.has(username) && !isLoopback(remoteAddress)) {
      return `user '${username}' can only connect via localhost`;
    }
    return undefined;
  }

  vhost(name: string): VirtualHost | undefined {
    return this.vhosts.get(name);
  }

  get overMemoryBudget(): boolean {
    return this.queuedBytes > this.highWatermark || this.messagesOver(1);
  }

  get memoryPaging(): boolean {
    return this.queuedBytes > this.highWatermark * PAGING_RATIO || this.messagesOver(PAGING_RATIO);
  }

  /** Whether queued messages pass `fraction` of their limit, worked out from the heap when first needed. */
  private messagesOver(fraction: number): boolean {
    if (this.queuedMessages <= this.messageLimit * fraction) return false;
    if (this.messageLimitProvisional) {
      this.messageLimitProvisional = false;
      this.messageLimit = Math.floor((heapSizeLimit() * 0.4) / MESSAGE_HEAP_COST);
      return this.queuedMessages > this.messageLimit * fraction;
    }
    return true;
  }

  memoryChange(bytes: number, messages: number): void {
    this.queuedBytes += bytes;
    this.queuedMessages += messages;
    if (
      messages < 0 &&
      this.memoryWaiters.size > 0 &&
      this.queuedBytes < this.highWatermark * RESUME_RATIO &&
      !this.messagesOver(RESUME_RATIO)
    ) {
      const waiting = [...this.memoryWaiters];
      this.memoryWaiters.clear();
      this.log.info(
        { queuedBytes: this.queuedBytes, queuedMessages: this.queuedMessages },
        'memory below the watermark, publishers resumed',
      );
      for (const w of waiting) w.memoryAvailable();
    }
  }

  /** A publisher has paused over the memory budget: it is told once the broker is back under it. */
  waitForMemory(waiter: MemoryWaiter): void {
    if (this.memoryWaiters.size === 0) {
      this.log.warn(
        {
          queuedBytes: this.queuedBytes,
          watermark: this.highWatermark,
          queuedMessages: this.queuedMessages,
          messageLimit: this.messageLimit,
        },
        'memory watermark reached, publishers paused',
      );
    }
    this.memoryWaiters.add(waiter);
  }

  /** A waiter that went away (its connection closed). */
  stopWaitingForMemory(waiter: MemoryWaiter): void {
    this.memoryWaiters.delete(waiter);
  }

  private restoringDefinitions = false;
  /** Counts durable definition changes; connections wait for the one their output may report. */
  definitionsGeneration = 0;
  /** The generation the store holds (or failed to: the failure is logged, as before). */
  definitionsSavedGeneration = 0;

  definitionsChanged(change: DurableChange): void {
    if (this.restoringDefinitions) return;
    const name = vhostOf(change);
    let c: DefinitionChange;
    switch (change.op) {
      case 'exchange':
        c = { op: change.op, vhost: name, ...exchangeDefinition(change.exchange) };
        break;
      case 'queue':
        c = { op: change.op, vhost: name, ...queueDefinition(change.queue) };
        break;
      case 'delete-exchange':
        c = { op: change.op, vhost: name, name: change.exchange.name };
        break;
      case 'delete-queue':
        c = { op: change.op, vhost: name, name: change.queue.name };
        break;
      default:
        if (!isDurableBinding(change.binding)) return;
        c = { op: change.op, vhost: name, ...bindingDefinition(change.binding) };
    }
    this.definitionChanges.push(c);
    this.definitionsGeneration++;
    this.definitionsSave ??= this.saveDefinitions();
  }

  /**
   * Calls back once the store holds the definitions of `generation` (at once if it does). A connection
   * whose output may report unsaved definitions holds it until then (Connection.dependOnDefinitions): no
   * declare-ok, nor a confirm of a message routed to a new queue, leaves before they are on disk.
   */
  whenDefinitionsSaved(generation: number, callback: () => void): void {
    if (generation <= this.definitionsSavedGeneration) callback();
    else this.definitionsWaiting.push({ generation, callback });
  }

  /**
   * Hands the changes to the store, those of one turn together: appended, or the whole definitions
   * saved when enough changes have been appended since the last whole save (or the store cannot append).
   */
  private async saveDefinitions(): Promise<void> {
    // Changes made in the same turn of the event loop share one write.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.definitionChanges.length > 0) {
      const generation = this.definitionsGeneration;
      const changes = this.definitionChanges;
      this.definitionChanges = [];
      const store = this.store;
      try {
        if (!store.appendDefinitions || this.changesSinceSave + changes.length > this.changesBeforeSave) {
          const definitions = exportDefinitions(this.vhosts.values());
          await store.saveDefinitions(definitions);
          this.changesSinceSave = 0;
          this.changesBeforeSave = Math.max(MIN_CHANGES_BETWEEN_SAVES, 2 * definitionCount(definitions));
        } else {
          this.changesSinceSave += changes.length;
          await store.appendDefinitions(changes);
        }
      } catch (err) {
        this.log.error({ err }, 'could not save the durable definitions');
        // What the store holds is unknown now: the next save writes them whole.
        this.changesSinceSave = Number.POSITIVE_INFINITY;
      }
      this.definitionsSavedGeneration = generation;
      const waiting = this.definitionsWaiting;
      if (waiting.length > 0) {
        this.definitionsWaiting = [];
        for (const w of waiting) {
          if (w.generation <= generation) w.callback();
          else this.definitionsWaiting.push(w);
        }
      }
    }
    this.definitionsSave = undefined;
  }

  queueDeleted(queue: Queue): void {
    for (const consumer of [...queue.consumers]) consumer.channel.cancelledByBroker(consumer);
    queue.consumers.length = 0;
  }

  /** Saves what is pending and closes the store; call once no connection uses the broker any more. */
  close(): Promise<void> {
    this.closing ??= Promise.resolve(this.definitionsSave)
      .then(() => this.store.close())
      .catch((err: unknown) => this.log.error({ err }, 'error while closing the store'))
      .then(() => {
        this.log.info('stopped');
      });
    return this.closing;
  }
}

function vhostOf(change: DurableChange): string {
  if ('queue' in change) return change.queue.vhost;
  if ('binding' in change) return change.binding.source.vhost;
  return change.exchange.vhost;
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}
