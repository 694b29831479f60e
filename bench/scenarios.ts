// The bench's throughput scenarios (issue 5's matrix, a to f): what is published, where it is routed and
// how it is consumed. The runner (run-scenario.ts) takes any entry. Scenario g (latency at a fixed rate)
// is latency-scenario.ts; h (fill, then drain) is fill-drain.ts; i and j (idle cost, start time) are
// idle-scenario.ts; k (restart with a backlog) is restart-scenario.ts.

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
};
