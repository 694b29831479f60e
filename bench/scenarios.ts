// The bench's throughput scenarios (issue 5's matrix, a to f; m, dead-lettering, and n, a priority queue):
// what is published, where it is routed and how it is consumed. The runner (run-scenario.ts) takes any
// entry. Scenario g (latency at a fixed rate) is latency-scenario.ts; h (fill, then drain) is
// fill-drain.ts; i and j (idle cost, start time) are idle-scenario.ts; k (restart with a backlog) is
// restart-scenario.ts; l (many definitions) is definitions-scenario.ts.

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Publisher connections, each in its own worker thread. */
  readonly publishers: number;
  /** Consumer connections, each in its own worker thread. */
  readonly consumers: number;
  /**
   * Queues. Without fanout, publisher i publishes to queue i % queues through the default exchange, and
   * consumer i consumes from queue i % queues.
   */
  readonly queues: number;
  /**
   * Publish to a fanout exchange bound to every queue, so that each publish is delivered once per queue;
   * consumer i consumes from queue i % queues. Rates count deliveries.
   */
  readonly fanout: boolean;
  readonly bodySize: number;
  /** delivery-mode 2 (persistent) rather than 1 (transient). */
  readonly persistent: boolean;
  readonly durableQueue: boolean;
  /** Consume with no-ack; otherwise ack (multiple) every prefetch/2 messages. */
  readonly noAck: boolean;
  /** basic.qos prefetch-count for manual-ack consumers. */
  readonly prefetch: number;
  /**
   * Publisher confirms: most publishes each publisher keeps unconfirmed (it waits for basic.ack before
   * publishing more); 0 for no confirm mode.
   */
  readonly confirmWindow: number;
  /**
   * Most messages published and not yet consumed, over all publishers, when smaller than --window: large
   * bodies would otherwise put gigabytes in flight.
   */
  readonly maxWindow?: number;
  /**
   * Dead-lettering: each queue is declared with x-dead-letter-exchange, a fanout exchange bound to a
   * dead-letter queue of its own; one more consumer per queue (prefetch as above) rejects every delivery
   * (basic.nack, multiple, requeue false, every prefetch/2), and the scenario's consumers consume from
   * the dead-letter queues instead. Rates count what reaches them; the rejecting consumers are counted
   * apart (rejected/s) and their threads' CPU is in the consumers'.
   */
  readonly deadLetter?: boolean;
  /** x-max-priority of the queues; undefined for a queue without priorities. */
  readonly maxPriority?: number;
  /**
   * Publishers give the message at position i of each batch they write priority i % priorityLevels
   * (0 to priorityLevels - 1, equally often: batches hold a multiple of it); undefined for none.
   */
  readonly priorityLevels?: number;
}

/** Deliveries each publish makes: one per queue with fanout, otherwise one. */
export function copiesPerPublish(s: Scenario): number {
  return s.fanout ? s.queues : 1;
}

const A: Scenario = {
  name: 'a',
  description: '1 publisher, 1 consumer, 16-byte bodies, transient, no-ack',
  publishers: 1,
  consumers: 1,
  queues: 1,
  fanout: false,
  bodySize: 16,
  persistent: false,
  durableQueue: false,
  noAck: true,
  prefetch: 0,
  confirmWindow: 0,
};

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  a: A,
  b: {
    ...A,
    name: 'b',
    description: 'as a, with manual acks (multiple, every 50) and prefetch 100',
    noAck: false,
    prefetch: 100,
  },
  c: {
    ...A,
    name: 'c',
    description:
      '1 publisher (confirms, up to 1000 unconfirmed), 1 consumer (manual ack, prefetch 100), ' +
      '16-byte bodies, persistent, one durable queue',
    persistent: true,
    durableQueue: true,
    noAck: false,
    prefetch: 100,
    confirmWindow: 1000,
  },
  d: {
    ...A,
    name: 'd',
    description: '4 publishers, 4 consumers, 4 queues (one publisher and one consumer each), 16 B, no-ack',
    publishers: 4,
    consumers: 4,
    queues: 4,
  },
  e: {
    ...A,
    name: 'e',
    description: '1 publisher to a fanout exchange bound to 10 queues, one consumer each, 16 B, no-ack',
    consumers: 10,
    queues: 10,
    fanout: true,
  },
  f: {
    ...A,
    name: 'f',
    description:
      '1 publisher, 1 consumer, 64 KiB bodies, transient, no-ack (under a window, at most 256 in flight)',
    bodySize: 64 * 1024,
    maxWindow: 256,
  },
  m: {
    ...A,
    name: 'm',
    description:
      '1 publisher to a queue with x-dead-letter-exchange; 1 consumer rejects every message (nack, requeue ' +
      'false, prefetch 100), 1 consumes the dead-letter queue (manual ack, prefetch 100); 16 B, transient',
    noAck: false,
    prefetch: 100,
    deadLetter: true,
  },
  n: {
    ...A,
    name: 'n',
    description:
      '1 publisher, 1 consumer (manual ack, prefetch 100), a queue with x-max-priority 10, priorities ' +
      '0-9 in turn; 16 B, transient',
    noAck: false,
    prefetch: 100,
    maxPriority: 10,
    priorityLevels: 10,
  },
};
