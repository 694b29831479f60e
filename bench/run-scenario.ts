// One measured run of a scenario against one broker: declare its queues (and fanout exchange), start the
// consumers and then the publishers in worker threads, warm up, measure, read the queue depths, stop,
// clean up.
//
// Open loop (window 0, the default): the publishers publish as fast as the broker and TCP let them, as
// applications do; whatever the consumers do not keep up with stays in the broker. A run ends in bounded
// time however large that backlog: the publishers' close waits at most PUBLISHER_CLOSE_MS for the broker
// to read what their sockets still hold, the consumers get DRAIN_MS to take what is queued, and the
// queues are deleted with the rest. With a window N, the publishers keep at most N messages published
// and not yet consumed (the load generator then does the broker's flow control for it).
//
// Dead-lettering (m): the queues the publishers publish to are declared with x-dead-letter-exchange, a
// fanout exchange bound to a dead-letter queue per queue; rejecting consumers on the first reject every
// delivery, and the scenario's consumers consume from the dead-letter queues: what they receive is what
// counts, and the queue depth and the drain cover both queues.

import type { FieldTable } from '../src/protocol/index.js';
import { cpuSeconds, machineBusySeconds } from './cpu.js';
import { LatencyHistogram } from './histogram.js';
import { LoadConnection, parseAmqpUrl } from './load-client.js';
import { LoadCounters, PHASE_MEASURED, PHASE_OVER } from './load-counters.js';
import { LoadThread, sleep } from './load-thread.js';
import { processMemory } from './proc-memory.js';
import { copiesPerPublish, type Scenario } from './scenarios.js';
import { int, minus } from './stats.js';

export interface Target {
  readonly label: string;
  readonly url: string;
  /** The broker's process, for its CPU time; undefined when unknown. */
  readonly pid: number | undefined;
}

export interface RunOptions {
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** Most messages in flight (published, not yet consumed); 0 for no limit: open loop. */
  readonly window: number;
  /** After the publishers have closed, how long the consumers get to take what is queued (default 5). */
  readonly drainSeconds?: number;
}

/**
 * The window a scenario runs with: 0 (open loop) when asked for 0, whatever the scenario; otherwise the
 * one asked for, or the scenario's own maximum when that is smaller (f's 256 64-KiB messages).
 */
export function effectiveWindow(scenario: Scenario, window: number): number {
  if (window === 0) return 0;
  return scenario.maxWindow === undefined ? window : Math.min(window, scenario.maxWindow);
}

/** How the tables and JSON lines name a window: 'open loop' or 'window N'. */
export function modeText(window: number): string {
  return window === 0 ? 'open loop' : `window ${int(window)}`;
}

export interface RunResult {
  readonly label: string;
  /** 'open loop' or 'window N' (modeText of `window`). */
  readonly mode: string;
  /** The window the publishers kept to; 0 for open loop. */
  readonly window: number;
  /** Wall time of the measured interval. */
  readonly seconds: number;
  readonly published: number;
  readonly consumed: number;
  /** Publishes the broker confirmed (basic.ack or basic.nack); 0 without confirm mode. */
  readonly confirmed: number;
  /** Deliveries the rejecting consumers of a dead-lettering scenario received (and rejected); else 0. */
  readonly rejected: number;
  /** Publishes the broker nacked in the whole run: 0 unless it failed to store them. */
  readonly nacked: number;
  /**
   * Deliveries published and not yet consumed at the end of the measured interval (each publish counts
   * once per queue it goes to): what the broker holds or has on its way, from the load generator's counts
   * (a broker busy with a backlog may take seconds to answer a queue.declare).
   */
  readonly queueDepth: number;
  /** CPU seconds in the measured interval; undefined where /proc could not tell. */
  readonly brokerCpu: number | undefined;
  readonly loadCpu: number;
  readonly publisherCpu: number | undefined;
  readonly consumerCpu: number | undefined;
  /** All cores' busy time, the broker and the bench included: the rest is what else ran meanwhile. */
  readonly machineCpu: number | undefined;
  /** Latency from the publisher's write to the consumer's read, of the messages received in the interval. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly latencySamples: number;
  /** The broker's highest RSS sampled every 100 ms from the first publish to the queues' deletion. */
  readonly peakRss: number | undefined;
  /** Messages published and deliveries consumed in the whole run: warm-up, measured interval, drain. */
  readonly publishedTotal: number;
  readonly consumedTotal: number;
  /** connection.blocked notifications the publishers received. */
  readonly blocked: number;
  /**
   * Deliveries owed for the messages published in the whole run (warm-up included) that the consumers had
   * not received by the end of the drain while the broker still held them (its queues' message count
   * then): a backlog, deleted with the queues; open loop leaves one when the consumers were slower.
   */
  readonly backlog: number;
  /**
   * Deliveries owed that the broker no longer held: the consumers stopped receiving, the queues were
   * empty and messages were still owed. 0 unless the broker (or the bench) lost some.
   */
  readonly undelivered: number;
  /**
   * Whether the counts above could be checked: not when a publisher's socket had to be destroyed with
   * publishes still in it (the broker did not read them within PUBLISHER_CLOSE_MS).
   */
  readonly deliveryChecked: boolean;
  /** Deliveries were owed at the end of the drain and the consumers had received nothing for STALL_MS. */
  readonly drainStalled: boolean;
}

// After the publishers close, how long the consumers get to receive what is still queued.
const DRAIN_MS = 5_000;
const DRAIN_POLL_S = 0.01;
// Consumers that received nothing for this long at the end of the drain have stopped receiving.
const STALL_MS = 1_000;
// How long a publisher's close waits for the broker to read the publishes its socket still holds.
const PUBLISHER_CLOSE_MS = 10_000;
const PUBLISHER_DONE_MS = PUBLISHER_CLOSE_MS + 5_000;
// A broker with a large backlog may be slow to answer a passive declare, and to delete its queue.
const DECLARE_TIMEOUT_MS = 30_000;
const DELETE_TIMEOUT_MS = 60_000;
const RSS_SAMPLE_MS = 100;

function sum(values: (number | undefined)[]): number | undefined {
  let total = 0;
  for (const v of values) {
    if (v === undefined) return undefined;
    total += v;
  }
  return total;
}

/** Totals since the start of the run (warm-up included) at one moment. */
interface Snapshot {
  readonly time: bigint;
  readonly published: number;
  readonly consumed: number;
  readonly confirmed: number;
  readonly rejected: number;
  readonly brokerCpu: number | undefined;
  readonly loadCpu: number;
  readonly publisherCpu: number | undefined;
  readonly consumerCpu: number | undefined;
  readonly machineCpu: number | undefined;
}

let runNumber = 0;

export async function runScenario(
  scenario: Scenario,
  target: Target,
  options: RunOptions,
): Promise<RunResult> {
  const base = `warren-bench-${scenario.name}-${process.pid}-${++runNumber}`;
  const queues = Array.from({ length: scenario.queues }, (_, i) =>
    scenario.queues === 1 ? base : `${base}-${i}`,
  );
  const exchange = scenario.fanout ? `${base}-fanout` : '';
  // With dead-lettering: queue i's dead-letter exchange and queue, where its consumers consume.
  const deadLetter = scenario.deadLetter === true;
  const deadLetterExchanges = deadLetter ? queues.map((q) => `${q}-dlx`) : [];
  const deadLetterQueues = deadLetter ? queues.map((q) => `${q}-dlq`) : [];
  const consumedQueues = deadLetter ? deadLetterQueues : queues;
  const rejecterCount = deadLetter ? scenario.queues : 0;
  const copies = copiesPerPublish(scenario);
  const window = effectiveWindow(scenario, options.window);
  const drainMs = (options.drainSeconds ?? DRAIN_MS / 1000) * 1000;
  const control = await LoadConnection.open(parseAmqpUrl(target.url), 'warren-bench control');
  const counters = new LoadCounters(scenario.publishers, scenario.consumers, rejecterCount);
  const publishers: LoadThread[] = [];
  const consumers: LoadThread[] = [];
  const rejecters: LoadThread[] = [];
  const all = () => [...consumers, ...rejecters, ...publishers];
  let cleanedUp = false;
  const cleanUp = async () => {
    // The queues that dead-letter first, then their dead-letter queues and exchanges.
    for (const q of [...queues, ...deadLetterQueues]) await control.deleteQueue(q, DELETE_TIMEOUT_MS);
    for (const x of deadLetterExchanges) await control.deleteExchange(x);
    if (exchange !== '') await control.deleteExchange(exchange);
    cleanedUp = true;
  };
  let peakRss: number | undefined;
  const sampleRss = () => {
    const rss = target.pid === undefined ? undefined : processMemory(target.pid)?.rss;
    if (rss !== undefined && (peakRss === undefined || rss > peakRss)) peakRss = rss;
  };
  let sampler: NodeJS.Timeout | undefined;
  try {
    for (let i = 0; i < deadLetterQueues.length; i++) {
      await control.declareExchange(deadLetterExchanges[i], 'fanout');
      await control.declareQueue(deadLetterQueues[i], { durable: scenario.durableQueue });
      await control.bindQueue(deadLetterQueues[i], deadLetterExchanges[i], '');
    }
    for (let i = 0; i < queues.length; i++) {
      const args: FieldTable = {};
      if (deadLetter) args['x-dead-letter-exchange'] = deadLetterExchanges[i];
      if (scenario.maxPriority !== undefined) args['x-max-priority'] = scenario.maxPriority;
      await control.declareQueue(queues[i], { durable: scenario.durableQueue, arguments: args });
    }
    if (exchange !== '') {
      await control.declareExchange(exchange, 'fanout');
      for (const q of queues) await control.bindQueue(q, exchange, '');
    }
    const queueOf = (role: 'publisher' | 'consumer' | 'rejecter', index: number) => {
      if (role === 'publisher') return scenario.fanout ? '' : queues[index % queues.length];
      return (role === 'consumer' ? consumedQueues : queues)[index % queues.length];
    };
    const start = (role: 'publisher' | 'consumer' | 'rejecter', index: number) =>
      new LoadThread({
        role,
        index,
        url: target.url,
        exchange,
        queue: queueOf(role, index),
        scenario,
        counters: counters.buffer,
        rejecters: rejecterCount,
        window,
        limit: 0,
        closeTimeoutMs: PUBLISHER_CLOSE_MS,
      });
    for (let i = 0; i < scenario.consumers; i++) consumers.push(start('consumer', i));
    for (let i = 0; i < rejecterCount; i++) rejecters.push(start('rejecter', i));
    await Promise.all([...consumers, ...rejecters].map((w) => w.waitReady()));
    for (let i = 0; i < scenario.publishers; i++) publishers.push(start('publisher', i));
    await Promise.all(publishers.map((w) => w.waitReady()));
    const failed = Promise.race(all().map((w) => w.failed));
    failed.catch(() => {});

    const snapshot = (): Snapshot => {
      const usage = process.cpuUsage();
      return {
        time: process.hrtime.bigint(),
        published: counters.published(),
        consumed: counters.consumed(),
        confirmed: counters.confirmed(),
        rejected: counters.rejected(),
        brokerCpu: target.pid === undefined ? undefined : cpuSeconds(target.pid),
        loadCpu: (usage.user + usage.system) / 1e6,
        publisherCpu: sum(publishers.map((w) => w.cpu())),
        consumerCpu: sum([...consumers, ...rejecters].map((w) => w.cpu())),
        machineCpu: machineBusySeconds(),
      };
    };

    const depth = async () => {
      let n = 0;
      for (const q of [...queues, ...deadLetterQueues])
        n += (await control.declareQueue(q, { passive: true, timeoutMs: DECLARE_TIMEOUT_MS })).messageCount;
      return n;
    };

    sampleRss();
    sampler = setInterval(sampleRss, RSS_SAMPLE_MS);
    for (const w of publishers) w.send({ type: 'run' });
    await sleep(options.warmupSeconds, failed);
    const s0 = snapshot();
    counters.phase = PHASE_MEASURED;
    await sleep(options.seconds, failed);
    counters.phase = PHASE_OVER;
    const s1 = snapshot();

    for (const w of publishers) w.send({ type: 'stop' });
    const published = await Promise.all(publishers.map((w) => w.waitDone(PUBLISHER_DONE_MS)));
    // A publisher with its close-ok knows the broker has taken every publish: let the consumers catch up,
    // for a bounded time, watching whether they still receive anything.
    const drainEnd = Date.now() + drainMs;
    const expected = () => counters.published() * copies;
    let lastConsumed = counters.consumed();
    let lastProgress = Date.now();
    while (counters.consumed() < expected() && Date.now() < drainEnd) {
      await sleep(DRAIN_POLL_S, failed);
      const c = counters.consumed();
      if (c !== lastConsumed) {
        lastConsumed = c;
        lastProgress = Date.now();
      }
    }
    const deliveryChecked = published.every((p) => p.polite);
    let owed = expected() - counters.consumed();
    let backlog = 0;
    let undelivered = 0;
    let stalled = false;
    if (owed > 0) {
      const left = await depth();
      owed = expected() - counters.consumed();
      stalled = owed > 0 && Date.now() - lastProgress >= STALL_MS;
      // Owed while the consumers still receive: on its way. Owed with nothing left in the queues and the
      // consumers idle: lost (unless a publisher's socket went with publishes in it; then unknown).
      undelivered = deliveryChecked && stalled ? Math.max(0, owed - left) : 0;
      backlog = Math.max(0, owed - undelivered);
    }
    // The rejecters first, so that what they reject on their way out still reaches the consumers.
    for (const w of rejecters) w.send({ type: 'stop' });
    await Promise.all(rejecters.map((w) => w.waitDone()));
    for (const w of consumers) w.send({ type: 'stop' });
    const consumerReports = await Promise.all(consumers.map((w) => w.waitDone()));
    await cleanUp();
    clearInterval(sampler);
    sampleRss();
    const latency = new LatencyHistogram();
    for (const c of consumerReports) if (c.latency) latency.add(c.latency);

    return {
      label: target.label,
      mode: modeText(window),
      window,
      seconds: Number(s1.time - s0.time) / 1e9,
      published: s1.published - s0.published,
      consumed: s1.consumed - s0.consumed,
      confirmed: s1.confirmed - s0.confirmed,
      rejected: s1.rejected - s0.rejected,
      nacked: counters.nacked(),
      queueDepth: s1.published * copies - s1.consumed,
      brokerCpu: minus(s1.brokerCpu, s0.brokerCpu),
      loadCpu: s1.loadCpu - s0.loadCpu,
      publisherCpu: minus(s1.publisherCpu, s0.publisherCpu),
      consumerCpu: minus(s1.consumerCpu, s0.consumerCpu),
      machineCpu: minus(s1.machineCpu, s0.machineCpu),
      p50Ms: latency.percentile(0.5) / 1000,
      p99Ms: latency.percentile(0.99) / 1000,
      latencySamples: latency.count,
      peakRss,
      publishedTotal: counters.published(),
      consumedTotal: counters.consumed(),
      blocked: published.reduce((n, p) => n + p.blocked, 0),
      backlog,
      undelivered,
      deliveryChecked,
      drainStalled: stalled,
    };
  } finally {
    clearInterval(sampler);
    await Promise.all(all().map((w) => w.worker.terminate()));
    // After a failure, still try not to leave queues behind in a long-running reference broker.
    if (!cleanedUp) await cleanUp().catch(() => {});
    await control.close();
  }
}
