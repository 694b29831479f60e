// Scenario k: a backlog across restarts. Fill a durable queue with persistent 16-byte messages (publisher
// confirms, no consumer), note the fill rate and the broker's memory with the backlog in place, then stop
// the broker cleanly and start it again, then kill it (SIGKILL) and start it again, each time timing from
// the start of the process until a passive queue.declare reports every message.
import { cpuSeconds } from './cpu.js';
import { LoadConnection, parseAmqpUrl } from './load-client.js';
import { LoadCounters } from './load-counters.js';
import { LoadThread, sleep } from './load-thread.js';
import { type ProcessMemory, processMemory } from './proc-memory.js';
import type { Scenario } from './scenarios.js';

export const FILL_SCENARIO: Scenario = {
  name: 'k',
  description: 'fill a durable queue with persistent 16-byte messages (confirms, no consumer), restart',
  publishers: 1,
  consumers: 0,
  queues: 1,
  fanout: false,
  bodySize: 16,
  persistent: true,
  durableQueue: true,
  noAck: false,
  prefetch: 0,
  confirmWindow: 1000,
};

export interface FillResult {
  /** Messages confirmed by the broker. */
  readonly confirmed: number;
  readonly nacked: number;
  readonly seconds: number;
  /** The queue's message count after the fill. */
  readonly queueDepth: number;
  /** CPU seconds of the fill; the broker's undefined without its pid. */
  readonly brokerCpu: number | undefined;
  readonly loadCpu: number;
  /** The broker's memory with the backlog in place. */
  readonly memory: ProcessMemory | undefined;
}

export interface ReadyResult {
  /** From the start of the process to the first passive queue.declare answered, and what it reported. */
  readonly firstAnswerMs: number;
  readonly firstCount: number;
  /** From the start of the process until a passive queue.declare reported every message. */
  readonly readyMs: number | undefined;
  /** The last count reported (the messages found, if not all). */
  readonly lastCount: number;
}

const POLL_MS = 50;

/** How long filling or draining a backlog of `messages` may take: 1,000 msg/s at least, plus two minutes. */
export function backlogTimeoutMs(messages: number): number {
  return 120_000 + messages;
}

/** How long deleting a queue with a large backlog may take. */
export const BACKLOG_DELETE_TIMEOUT_MS = 120_000;
const PROGRESS_MS = 15_000;

/**
 * Publishes `messages` persistent messages to `queue` (declared durable here) from one publisher thread
 * with confirms, and waits until the broker has confirmed all of them (at most timeoutMs).
 */
export async function fillQueue(
  url: string,
  queue: string,
  messages: number,
  brokerPid: number | undefined,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<FillResult> {
  const control = await LoadConnection.open(parseAmqpUrl(url), 'warren-bench control');
  const counters = new LoadCounters(1, 0);
  let publisher: LoadThread | undefined;
  try {
    await control.declareQueue(queue, { durable: true });
    publisher = new LoadThread({
      role: 'publisher',
      index: 0,
      url,
      exchange: '',
      queue,
      scenario: FILL_SCENARIO,
      counters: counters.buffer,
      window: 0,
      limit: messages,
    });
    await publisher.waitReady();
    const cpu0 = brokerPid === undefined ? undefined : cpuSeconds(brokerPid);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    publisher.send({ type: 'run' });
    const deadline = t0 + timeoutMs;
    let nextProgress = t0 + PROGRESS_MS;
    while (counters.confirmed() < messages) {
      const now = performance.now();
      if (now > deadline) {
        throw new Error(`fill: ${counters.confirmed()} of ${messages} confirmed after ${timeoutMs} ms`);
      }
      if (now > nextProgress) {
        nextProgress += PROGRESS_MS;
        const s = (now - t0) / 1000;
        progress(`  ${counters.confirmed().toLocaleString('en-US')} confirmed after ${s.toFixed(0)} s`);
      }
      await sleep(POLL_MS / 1000, publisher.failed);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = brokerPid === undefined ? undefined : cpuSeconds(brokerPid);
    const own = process.cpuUsage(own0);
    publisher.send({ type: 'stop' });
    await publisher.waitDone();
    const { messageCount } = await control.declareQueue(queue, { passive: true });
    return {
      confirmed: counters.confirmed(),
      nacked: counters.nacked(),
      seconds,
      queueDepth: messageCount,
      brokerCpu: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0,
      loadCpu: (own.user + own.system) / 1e6,
      memory: brokerPid === undefined ? undefined : processMemory(brokerPid),
    };
  } finally {
    await publisher?.worker.terminate();
    await control.close();
  }
}

export interface DrainResult {
  /** Messages the consumer received. */
  readonly consumed: number;
  readonly seconds: number;
  /** The queue's message count once the consumer had stopped. */
  readonly remaining: number;
}

const DRAIN_SCENARIO: Scenario = { ...FILL_SCENARIO, publishers: 0, consumers: 1, noAck: true };
// After the last expected message, how long to watch for more (duplicates) before stopping.
const EXTRA_WATCH_MS = 500;

/**
 * Consumes `queue` (one consumer thread; no-ack unless `prefetch` asks for manual acks with that
 * prefetch) until `messages` have arrived or timeoutMs has passed, then watches a moment longer for any
 * beyond them: every message the broker holds, read back once.
 */
export async function drainQueue(
  url: string,
  queue: string,
  messages: number,
  timeoutMs: number,
  prefetch = 0,
): Promise<DrainResult> {
  const control = await LoadConnection.open(parseAmqpUrl(url), 'warren-bench control');
  const counters = new LoadCounters(0, 1);
  let consumer: LoadThread | undefined;
  try {
    const t0 = performance.now();
    consumer = new LoadThread({
      role: 'consumer',
      index: 0,
      url,
      exchange: '',
      queue,
      scenario: prefetch > 0 ? { ...DRAIN_SCENARIO, noAck: false, prefetch } : DRAIN_SCENARIO,
      counters: counters.buffer,
      window: 0,
      limit: 0,
    });
    await consumer.waitReady();
    let last = counters.consumed();
    let lastChange = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      const consumed = counters.consumed();
      if (consumed !== last) {
        last = consumed;
        lastChange = performance.now();
      }
      if (consumed >= messages && performance.now() - lastChange > EXTRA_WATCH_MS) break;
      await sleep(POLL_MS / 1000, consumer.failed);
    }
    const seconds = (lastChange - t0) / 1000;
    consumer.send({ type: 'stop' });
    await consumer.waitDone();
    const { messageCount } = await control.declareQueue(queue, { passive: true });
    return { consumed: counters.consumed(), seconds, remaining: messageCount };
  } finally {
    await consumer?.worker.terminate();
    await control.close();
  }
}

/**
 * Polls `url` with passive queue.declare until it reports `messages` (or more) in `queue`, or until
 * timeoutMs after `startedAt` (a performance.now() time: when the broker's process was started).
 * Connection refusals and errors (the broker still starting) are retried.
 */
export async function waitForMessages(
  url: string,
  queue: string,
  messages: number,
  startedAt: number,
  timeoutMs: number,
): Promise<ReadyResult> {
  const endpoint = parseAmqpUrl(url);
  let firstAnswerMs: number | undefined;
  let firstCount = 0;
  let lastCount = 0;
  let conn: LoadConnection | undefined;
  try {
    while (performance.now() - startedAt < timeoutMs) {
      try {
        conn ??= await LoadConnection.open(endpoint, 'warren-bench restart');
        const { messageCount } = await conn.declareQueue(queue, { passive: true });
        const at = performance.now() - startedAt;
        if (firstAnswerMs === undefined) {
          firstAnswerMs = at;
          firstCount = messageCount;
        }
        lastCount = messageCount;
        if (messageCount >= messages) return { firstAnswerMs, firstCount, readyMs: at, lastCount };
      } catch {
        // Not listening yet, or the queue not yet there (404 closes the channel): start over.
        await conn?.close();
        conn = undefined;
      }
      await sleep(POLL_MS / 1000);
    }
    return { firstAnswerMs: firstAnswerMs ?? Number.NaN, firstCount, readyMs: undefined, lastCount };
  } finally {
    await conn?.close();
  }
}

/** Deletes the queue (its backlog too), best effort: the broker may be gone. */
export async function deleteQueue(url: string, queue: string, timeoutMs: number): Promise<void> {
  let conn: LoadConnection | undefined;
  try {
    conn = await LoadConnection.open(parseAmqpUrl(url), 'warren-bench control');
    await conn.deleteQueue(queue, timeoutMs);
  } finally {
    await conn?.close();
  }
}
