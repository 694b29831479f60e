// The bench's throughput scenarios: what is published and how it is consumed. Issue 5 grows this into
// the full matrix (body sizes, persistence, acks and prefetch, fan-out, many queues); the runner takes any
// entry. Scenario k (restart with a backlog) is not a throughput run: see restart-scenario.ts.

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Publisher connections, each in its own worker thread, all publishing to the one queue. */
  readonly publishers: number;
  /** Consumer connections, each in its own worker thread, all consuming from the one queue. */
  readonly consumers: number;
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
}

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  a: {
    name: 'a',
    description: '1 publisher, 1 consumer, 16-byte bodies, transient, no-ack',
    publishers: 1,
    consumers: 1,
    bodySize: 16,
    persistent: false,
    durableQueue: false,
    noAck: true,
    prefetch: 0,
    confirmWindow: 0,
  },
  c: {
    name: 'c',
    description:
      '1 publisher (confirms, up to 1000 unconfirmed), 1 consumer (manual ack, prefetch 100), ' +
      '16-byte bodies, persistent, one durable queue',
    publishers: 1,
    consumers: 1,
    bodySize: 16,
    persistent: true,
    durableQueue: true,
    noAck: false,
    prefetch: 100,
    confirmWindow: 1000,
  },
};
