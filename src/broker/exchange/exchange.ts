// What every exchange type shares: identity, flags, the bindings it is the source of, and route().
import type { FieldTable } from '../../protocol/index.js';
import type { Message } from '../message.js';
import type { Queue } from '../queue/queue.js';

export type Destination = Queue | Exchange;

export interface Binding {
  readonly source: Exchange;
  readonly destination: Destination;
  readonly routingKey: string;
  readonly arguments: FieldTable;
  /** A canonical form of the arguments, for binding identity. */
  readonly argumentsKey: string;
}

// Epochs are unique across collectors, so a stamp left by one collector never matches another's.
let lastEpoch = 0;

/**
 * Collects the queues one publish reaches, each once however many bindings and exchange hops match
 * (e2e bindings may form cycles). Reused across publishes: an epoch stamp replaces a Set per message.
 */
export class RouteCollector {
  readonly queues: Queue[] = [];
  epoch = 0;

  begin(): void {
    this.queues.length = 0;
    this.epoch = ++lastEpoch;
  }

  add(destination: Destination, message: Message, routingKey: string): void {
    if (destination.routeEpoch === this.epoch) return;
    destination.routeEpoch = this.epoch;
    if (destination.kind === 'queue') this.queues.push(destination);
    else destination.route(message, routingKey, this);
  }
}

export abstract class Exchange {
  readonly kind = 'exchange' as const;
  abstract readonly type: string;
  /** Bindings this exchange is the source of, in the order they were made. */
  readonly bindings = new Map<string, Binding>();
  /** Number of bindings where this exchange is the destination (for auto-delete and if-unused). */
  inboundBindings = 0;
  routeEpoch = 0;

  constructor(
    readonly name: string,
    readonly vhost: string,
    readonly durable: boolean,
    readonly autoDelete: boolean,
    readonly internal: boolean,
    readonly arguments_: FieldTable,
  ) {}

  static bindingId(b: { destination: Destination; routingKey: string; argumentsKey: string }): string {
    return `${b.destination.kind}\u0000${b.destination.name}\u0000${b.routingKey}\u0000${b.argumentsKey}`;
  }

  /** Adds the binding to the routing table; bindings map bookkeeping is done by the vhost. */
  abstract addRoute(binding: Binding): void;
  abstract removeRoute(binding: Binding): void;
  /** Adds every destination this message reaches through this exchange to the collector. */
  abstract route(message: Message, routingKey: string, out: RouteCollector): void;
}
