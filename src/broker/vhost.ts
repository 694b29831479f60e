// A virtual host: the namespace of exchanges, queues and bindings, with their declare, bind, delete and
// lookup rules and RabbitMQ's reply codes and texts for each refusal.

import { randomBytes } from '../builtins.js';
import { type FieldTable, type FieldValue, ProtocolError, ReplyCode, TypedValue } from '../protocol/index.js';
import type { Store } from '../store/store.js';
import {
  exchangeArgumentsEquivalent,
  parseQueueArguments,
  plainValue,
  queueArgumentsEquivalent,
  restoredQueueArguments,
  typeNameOf,
} from './arguments.js';
import { deadLettered, deathReasonOf, isAutomaticCycle } from './dead-letter.js';
import { amqpError } from './errors.js';
import { DirectExchange } from './exchange/direct.js';
import { type Binding, type Destination, Exchange, RouteCollector } from './exchange/exchange.js';
import { FanoutExchange } from './exchange/fanout.js';
import { HeadersExchange } from './exchange/headers.js';
import { TopicExchange } from './exchange/topic.js';
import { Message } from './message.js';
import { Queue, type QueueEvents, type QueueOwner } from './queue/queue.js';
import type { RemovalReason } from './queue/removal.js';
import { republish } from './router.js';

/** A message a queue let go, waiting to be dead-lettered (see VirtualHost.deadLetter). */
interface PendingDeadLetter {
  readonly queue: Queue;
  readonly entry: Message | number;
  readonly reason: RemovalReason;
  readonly inStore: boolean;
}

export interface VirtualHostEvents {
  memoryChange(bytes: number, messages: number): void;
  /** See QueueEvents.memoryPaging. */
  readonly memoryPaging: boolean;
  /** A durable exchange, queue or binding came or went: the definitions on disk must follow. */
  definitionsChanged(change: DurableChange): void;
  readonly store: Store;
  /** The queue is gone: its consumers must be cancelled (basic.cancel to clients that asked for it). */
  queueDeleted(queue: Queue): void;
}

/** What came or went, for the stored definitions (a binding's ends decide whether it is durable). */
export type DurableChange =
  | { op: 'exchange' | 'delete-exchange'; exchange: Exchange }
  | { op: 'queue' | 'delete-queue'; queue: Queue }
  | { op: 'bind' | 'unbind'; binding: Binding };

const EXCHANGE_TYPES: Record<
  string,
  new (
    name: string,
    vhost: string,
    durable: boolean,
    autoDelete: boolean,
    internal: boolean,
    args: FieldTable,
  ) => Exchange
> = {
  direct: DirectExchange,
  fanout: FanoutExchange,
  topic: TopicExchange,
  headers: HeadersExchange,
};

export class VirtualHost implements QueueEvents {
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  private readonly collector = new RouteCollector();

  constructor(
    readonly name: string,
    private readonly events: VirtualHostEvents,
  ) {
    this.exchanges.set('', new DirectExchange('', name, true, false, false, {}));
    for (const [n, type] of [
      ['amq.direct', 'direct'],
      ['amq.fanout', 'fanout'],
      ['amq.topic', 'topic'],
      ['amq.headers', 'headers'],
      ['amq.match', 'headers'],
    ] as const) {
      this.exchanges.set(n, new EXCHANGE_TYPES[type](n, name, true, false, false, {}));
    }
    // RabbitMQ's firehose tracing exchange: present and internal (nothing publishes to it here).
    this.exchanges.set(
      'amq.rabbitmq.trace',
      new TopicExchange('amq.rabbitmq.trace', name, true, false, true, {}),
    );
  }

  // QueueEvents

  queueUnused(queue: Queue): void {
    this.removeQueue(queue);
  }

  queueExpired(queue: Queue): void {
    this.removeQueue(queue);
  }

  private pendingDeadLetters: PendingDeadLetter[] = [];

  /**
   * Dead-letters are republished once the operation that let them go is over (a reject of many, a
   * drop of many heads), in order, before anything else happens: never in the middle of a queue's or a
   * channel's work. A message that was in the store leaves it after its copy was written there.
   */
  deadLetter(queue: Queue, entry: Message | number, reason: RemovalReason, inStore: boolean): void {
    this.pendingDeadLetters.push({ queue, entry, reason, inStore });
    if (this.pendingDeadLetters.length === 1) queueMicrotask(this.flushDeadLetters);
  }

  private readonly flushDeadLetters = (): void => {
    const pending = this.pendingDeadLetters;
    this.pendingDeadLetters = [];
    const now = Date.now();
    for (const p of pending) {
      this.republishDead(p, now);
      if (p.inStore && !p.queue.deleted) {
        const id = typeof p.entry === 'number' ? p.entry : p.entry.seq;
        this.events.store.remove(p.queue.storeKey, id);
      }
    }
  };

  private republishDead(p: PendingDeadLetter, now: number): void {
    const { queue } = p;
    const reason = deathReasonOf(p.reason);
    // A dead-letter exchange that does not exist drops the message, as in RabbitMQ.
    const exchange = this.exchanges.get(queue.deadLetterExchange ?? '');
    if (reason === undefined || queue.deadLetterExchange === undefined || exchange === undefined) return;
    let message: Message;
    if (typeof p.entry === 'number') {
      const stored = this.events.store.read(p.entry);
      if (stored === undefined) return;
      message = Message.fromStored(stored, p.entry);
    } else message = p.entry;
    const dead = deadLettered(message, queue.name, reason, exchange.name, queue.deadLetterRoutingKey, now);
    republish(
      this,
      exchange,
      dead.message,
      dead.routingKeys,
      (target) => !isAutomaticCycle(target.name, dead.deaths),
    );
  }

  memoryChange(bytes: number, messages: number): void {
    this.events.memoryChange(bytes, messages);
  }

  get memoryPaging(): boolean {
    return this.events.memoryPaging;
  }

  get store(): Store {
    return this.events.store;
  }

  // Texts

  private q(name: string): string {
    return `queue '${name}' in vhost '${this.name}'`;
  }

  private x(name: string): string {
    return `exchange '${name}' in vhost '${this.name}'`;
  }

  noExchange(name: string): ProtocolError {
    return amqpError(ReplyCode.NOT_FOUND, `no ${this.x(name)}`);
  }

  noQueue(name: string): ProtocolError {
    return amqpError(ReplyCode.NOT_FOUND, `no ${this.q(name)}`);
  }

  private locked(name: string): ProtocolError {
    return amqpError(
      ReplyCode.RESOURCE_LOCKED,
      `cannot obtain exclusive access to locked ${this.q(name)}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
    );
  }

  // Exchanges

  declareExchange(
    name: string,
    type: string,
    passive: boolean,
    durable: boolean,
    autoDelete: boolean,
    internal: boolean,
    args: FieldTable,
  ): Exchange | ProtocolError {
    if (name === '') {
      return defaultExchangeRefused();
    }
    if (passive) {
      return this.exchanges.get(name) ?? this.noExchange(name);
    }
    const existing = this.exchanges.get(name);
    // RabbitMQ checks an existing exchange for equivalence first; the reserved prefix only stops new ones.
    if (!existing && name.startsWith('amq.')) {
      return amqpError(ReplyCode.ACCESS_REFUSED, `exchange name '${name}' contains reserved prefix 'amq.*'`);
    }
    const Type = EXCHANGE_TYPES[type];
    if (!Type) return amqpError(ReplyCode.COMMAND_INVALID, `unknown exchange type '${type}'`);
    if (existing) {
      const mismatch = (arg: string, received: string, current: string) =>
        amqpError(
          ReplyCode.PRECONDITION_FAILED,
          `inequivalent arg '${arg}' for ${this.x(name)}: received '${received}' but current is '${current}'`,
        );
      if (existing.type !== type) return mismatch('type', type, existing.type);
      if (existing.durable !== durable) return mismatch('durable', `${durable}`, `${existing.durable}`);
      if (existing.autoDelete !== autoDelete)
        return mismatch('auto_delete', `${autoDelete}`, `${existing.autoDelete}`);
      if (existing.internal !== internal) return mismatch('internal', `${internal}`, `${existing.internal}`);
      const argError = exchangeArgumentsEquivalent(args, existing.arguments_, this.x(name));
      if (argError) return argError;
      return existing;
    }
    const exchange = new Type(name, this.name, durable, autoDelete, internal, args);
    this.exchanges.set(name, exchange);
    if (durable) this.events.definitionsChanged({ op: 'exchange', exchange });
    return exchange;
  }

  /** Recreates a durable exchange from the stored definitions. */
  restoreExchange(
    name: string,
    type: string,
    autoDelete: boolean,
    internal: boolean,
    args: FieldTable,
  ): void {
    const Type = EXCHANGE_TYPES[type];
    if (!Type || this.exchanges.has(name)) return;
    this.exchanges.set(name, new Type(name, this.name, true, autoDelete, internal, args));
  }

  /** Recreates a durable queue from the stored definitions; its messages are added by the caller. */
  restoreQueue(name: string, autoDelete: boolean, args: FieldTable): Queue {
    const existing = this.queues.get(name);
    if (existing) return existing;
    const queue = new Queue(
      {
        name,
        vhost: this.name,
        durable: true,
        exclusiveOwner: undefined,
        autoDelete,
        arguments: args,
        settings: restoredQueueArguments(args),
      },
      this,
    );
    this.queues.set(name, queue);
    return queue;
  }

  /** Recreates a durable binding; returns a problem to log when one end is missing. */
  restoreBinding(
    sourceName: string,
    destinationKind: 'queue' | 'exchange',
    destinationName: string,
    routingKey: string,
    args: FieldTable,
  ): string | undefined {
    const source = this.exchanges.get(sourceName);
    const destination =
      destinationKind === 'queue' ? this.queues.get(destinationName) : this.exchanges.get(destinationName);
    if (!source || !destination) {
      return `binding ${sourceName} -> ${destinationKind} ${destinationName} in vhost '${this.name}' skipped: an end is missing`;
    }
    this.bind(source, destination, routingKey, args);
    return undefined;
  }

  deleteExchange(name: string, ifUnused: boolean): ProtocolError | undefined {
    if (name === '') return defaultExchangeRefused();
    if (name.startsWith('amq.')) {
      return amqpError(
        ReplyCode.ACCESS_REFUSED,
        `deletion of system exchange '${name}' in vhost '${this.name}' not allowed`,
      );
    }
    const exchange = this.exchanges.get(name);
    if (!exchange) return undefined; // idempotent, as in RabbitMQ 3.x
    if (ifUnused && exchange.bindings.size > 0) {
      return amqpError(ReplyCode.PRECONDITION_FAILED, `${this.x(name)} in use`);
    }
    this.removeExchange(exchange);
    return undefined;
  }

  private removeExchange(exchange: Exchange): void {
    this.exchanges.delete(exchange.name);
    if (exchange.durable) this.events.definitionsChanged({ op: 'delete-exchange', exchange });
    for (const b of [...exchange.bindings.values()]) this.removeBinding(b);
    // Bindings where it is the destination (exchange-to-exchange).
    for (const source of this.exchanges.values()) {
      for (const b of [...source.bindings.values()]) if (b.destination === exchange) this.removeBinding(b);
    }
  }

  // Bindings

  private checkBindable(exchangeName: string): Exchange | ProtocolError {
    if (exchangeName === '') {
      return defaultExchangeRefused();
    }
    return this.exchanges.get(exchangeName) ?? this.noExchange(exchangeName);
  }

  /** RabbitMQ refuses a headers binding whose x-match it cannot read. */
  private checkHeadersBinding(source: Exchange, args: FieldTable): ProtocolError | undefined {
    if (source.type !== 'headers' || args['x-match'] === undefined) return undefined;
    const m = args['x-match'];
    if (typeof m !== 'string') {
      return amqpError(
        ReplyCode.PRECONDITION_FAILED,
        `Invalid x-match field type ${typeNameOf(m)} (value ${plainValue(m)}); expected longstr`,
      );
    }
    if (m !== 'all' && m !== 'any' && m !== 'all-with-x' && m !== 'any-with-x') {
      return amqpError(
        ReplyCode.PRECONDITION_FAILED,
        `Invalid x-match field value <<"${m}">>; expected all, any, all-with-x, or any-with-x`,
      );
    }
    return undefined;
  }

  bind(source: Exchange, destination: Destination, routingKey: string, args: FieldTable): void {
    const argumentsKey = canonical(args);
    const id = Exchange.bindingId({ destination, routingKey, argumentsKey });
    if (source.bindings.has(id)) return;
    const binding: Binding = { source, destination, routingKey, arguments: args, argumentsKey };
    source.bindings.set(id, binding);
    if (destination.kind === 'queue') destination.bindings.add(binding);
    else destination.inboundBindings++;
    source.addRoute(binding);
    if (source.durable && destination.durable) this.events.definitionsChanged({ op: 'bind', binding });
  }

  private removeBinding(binding: Binding): void {
    const { source, destination } = binding;
    const id = Exchange.bindingId(binding);
    if (source.bindings.get(id) !== binding) return;
    source.removeRoute(binding);
    source.bindings.delete(id);
    if (source.durable && destination.durable) this.events.definitionsChanged({ op: 'unbind', binding });
    if (destination.kind === 'queue') destination.bindings.delete(binding);
    else destination.inboundBindings--;
    // Only bindings where it is the source count for an auto-delete exchange (RabbitMQ).
    this.maybeAutoDelete(source);
  }

  private maybeAutoDelete(exchange: Exchange): void {
    // An auto-delete exchange goes when its last binding (as source) is removed (RabbitMQ semantics).
    if (
      exchange.autoDelete &&
      exchange.bindings.size === 0 &&
      this.exchanges.get(exchange.name) === exchange
    ) {
      this.removeExchange(exchange);
    }
  }

  bindQueue(
    queueName: string,
    exchangeName: string,
    routingKey: string,
    args: FieldTable,
    owner: QueueOwner,
  ): ProtocolError | undefined {
    const exchange = this.checkBindable(exchangeName);
    if (exchange instanceof ProtocolError) return exchange;
    const queue = this.queueFor(queueName, owner);
    if (queue instanceof ProtocolError) return queue;
    const invalid = this.checkHeadersBinding(exchange, args);
    if (invalid) return invalid;
    this.bind(exchange, queue, routingKey, args);
    return undefined;
  }

  unbindQueue(
    queueName: string,
    exchangeName: string,
    routingKey: string,
    args: FieldTable,
    owner: QueueOwner,
  ): ProtocolError | undefined {
    if (exchangeName === '') {
      return defaultExchangeRefused();
    }
    // Like RabbitMQ 3.x, unbinding what is not there (binding, queue or exchange) is fine.
    const exchange = this.exchanges.get(exchangeName);
    const queue = this.queues.get(queueName);
    if (!exchange || !queue) return undefined;
    const id = Exchange.bindingId({ destination: queue, routingKey, argumentsKey: canonical(args) });
    const binding = exchange.bindings.get(id);
    if (!binding) return undefined;
    if (queue.exclusiveOwner && queue.exclusiveOwner !== owner) return this.locked(queueName);
    this.removeBinding(binding);
    return undefined;
  }

  bindExchange(
    destinationName: string,
    sourceName: string,
    routingKey: string,
    args: FieldTable,
  ): ProtocolError | undefined {
    const source = this.checkBindable(sourceName);
    if (source instanceof ProtocolError) return source;
    const destination = this.checkBindable(destinationName);
    if (destination instanceof ProtocolError) return destination;
    const invalid = this.checkHeadersBinding(source, args);
    if (invalid) return invalid;
    this.bind(source, destination, routingKey, args);
    return undefined;
  }

  unbindExchange(
    destinationName: string,
    sourceName: string,
    routingKey: string,
    args: FieldTable,
  ): ProtocolError | undefined {
    if (sourceName === '' || destinationName === '') {
      return defaultExchangeRefused();
    }
    const source = this.exchanges.get(sourceName);
    const destination = this.exchanges.get(destinationName);
    if (!source || !destination) return undefined;
    const id = Exchange.bindingId({ destination, routingKey, argumentsKey: canonical(args) });
    const binding = source.bindings.get(id);
    if (binding) this.removeBinding(binding);
    return undefined;
  }

  // Queues

  /** The queue by name, if this connection may use it (exclusive queues belong to one connection). */
  queueFor(name: string, owner: QueueOwner): Queue | ProtocolError {
    const queue = this.queues.get(name);
    if (!queue) return this.noQueue(name);
    if (queue.exclusiveOwner && queue.exclusiveOwner !== owner) return this.locked(name);
    return queue;
  }

  declareQueue(
    requestedName: string,
    passive: boolean,
    durable: boolean,
    exclusive: boolean,
    autoDelete: boolean,
    args: FieldTable,
    owner: QueueOwner,
  ): Queue | ProtocolError {
    if (passive) {
      if (requestedName === '') return this.noQueue(requestedName);
      return this.queueFor(requestedName, owner);
    }
    if (requestedName.startsWith('amq.')) {
      return amqpError(
        ReplyCode.ACCESS_REFUSED,
        `queue name '${requestedName}' contains reserved prefix 'amq.*'`,
      );
    }
    const name = requestedName === '' ? `amq.gen-${randomBytes(16).toString('base64url')}` : requestedName;
    const existing = this.queues.get(name);
    if (existing) {
      // Another connection's exclusive queue, or exclusivity that differs from the declaration: 405.
      if (existing.exclusiveOwner !== (exclusive ? owner : undefined)) return this.locked(name);
      const mismatch = (arg: string, received: boolean, current: boolean) =>
        amqpError(
          ReplyCode.PRECONDITION_FAILED,
          `inequivalent arg '${arg}' for ${this.q(name)}: received '${received}' but current is '${current}'`,
        );
      if (existing.durable !== durable) return mismatch('durable', durable, existing.durable);
      if (existing.autoDelete !== autoDelete) return mismatch('auto_delete', autoDelete, existing.autoDelete);
      const argError = queueArgumentsEquivalent(args, existing.arguments_, this.q(name));
      if (argError) return argError;
      return existing;
    }
    const settings = parseQueueArguments(args, this.q(name), { durable, exclusive, autoDelete });
    if (settings instanceof ProtocolError) return settings;
    const queue = new Queue(
      {
        name,
        vhost: this.name,
        durable,
        exclusiveOwner: exclusive ? owner : undefined,
        autoDelete,
        arguments: args,
        settings,
      },
      this,
    );
    this.queues.set(name, queue);
    if (durable && !exclusive) this.events.definitionsChanged({ op: 'queue', queue });
    // Every queue is bound to the default exchange by its name (spec 3.1.3.1); routing handles it directly.
    return queue;
  }

  purgeQueue(name: string, owner: QueueOwner): number | ProtocolError {
    const queue = this.queueFor(name, owner);
    if (queue instanceof ProtocolError) return queue;
    return queue.purge();
  }

  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, owner: QueueOwner): number | ProtocolError {
    const queue = this.queues.get(name);
    if (!queue) return 0; // idempotent, as in RabbitMQ 3.x
    if (queue.exclusiveOwner && queue.exclusiveOwner !== owner) return this.locked(name);
    // RabbitMQ checks emptiness first.
    if (ifEmpty && queue.messageCount > 0) {
      return amqpError(ReplyCode.PRECONDITION_FAILED, `${this.q(name)} not empty`);
    }
    if (ifUnused && queue.consumerCount > 0) {
      return amqpError(ReplyCode.PRECONDITION_FAILED, `${this.q(name)} in use`);
    }
    return this.removeQueue(queue);
  }

  private removeQueue(queue: Queue): number {
    if (this.queues.get(queue.name) !== queue) return 0;
    this.queues.delete(queue.name);
    if (queue.durable && !queue.exclusiveOwner) this.events.definitionsChanged({ op: 'delete-queue', queue });
    for (const b of [...queue.bindings]) this.removeBinding(b);
    const count = queue.markDeleted();
    this.events.queueDeleted(queue);
    return count;
  }

  /** Deletes the exclusive queues of a connection that has closed. */
  deleteExclusiveQueues(owner: QueueOwner): void {
    for (const queue of [...this.queues.values()])
      if (queue.exclusiveOwner === owner) this.removeQueue(queue);
  }

  // Routing

  /**
   * The queues a message reaches with any of several routing keys (its CC and BCC headers, a
   * dead-letter's keys), each once, in a new array.
   */
  routeAll(exchange: Exchange, routingKeys: readonly string[], message: Message): Queue[] {
    const all: Queue[] = [];
    const seen = new Set<Queue>();
    for (const key of routingKeys) {
      for (const q of this.route(exchange, key, message)) {
        if (seen.has(q)) continue;
        seen.add(q);
        all.push(q);
      }
    }
    return all;
  }

  /**
   * The queues a message published to the exchange reaches, each once. The array is reused by the next
   * call: use it before routing again.
   */
  route(exchange: Exchange, routingKey: string, message: Message): Queue[] {
    const out = this.collector;
    out.begin();
    if (exchange.name === '') {
      // The default exchange: every queue is bound by its own name.
      const queue = this.queues.get(routingKey);
      if (queue) out.queues.push(queue);
    } else {
      exchange.routeEpoch = out.epoch;
      exchange.route(message, routingKey, out);
      if (out.queues.length === 0) this.routeAlternate(exchange, routingKey, message, out, 0);
    }
    return out.queues;
  }

  private routeAlternate(
    exchange: Exchange,
    routingKey: string,
    message: Message,
    out: RouteCollector,
    depth: number,
  ) {
    const alternateName = exchange.arguments_['alternate-exchange'];
    if (typeof alternateName !== 'string' || depth > 8) return;
    const alternate = this.exchanges.get(alternateName);
    if (!alternate || alternate.routeEpoch === out.epoch) return;
    alternate.routeEpoch = out.epoch;
    alternate.route(message, routingKey, out);
    if (out.queues.length === 0) this.routeAlternate(alternate, routingKey, message, out, depth + 1);
  }
}

function defaultExchangeRefused(): ProtocolError {
  return amqpError(ReplyCode.ACCESS_REFUSED, 'operation not permitted on the default exchange');
}

/** A canonical text of a table (sorted keys, typed values) for binding identity. */
export function canonical(t: FieldTable): string {
  const keys = Object.keys(t).sort();
  if (keys.length === 0) return '';
  return keys.map((k) => `${k}=${canonicalValue(t[k])}`).join(',');
}

function canonicalValue(v: FieldValue): string {
  if (v === null) return 'V';
  if (v instanceof TypedValue)
    return `${v.type}:${typeof v.value === 'object' ? JSON.stringify(v.value) : v.value}`;
  if (Buffer.isBuffer(v)) return `x:${v.toString('hex')}`;
  if (Array.isArray(v)) return `A[${v.map(canonicalValue).join(',')}]`;
  if (typeof v === 'object') return `F{${canonical(v)}}`;
  return `${typeof v}:${String(v)}`;
}
