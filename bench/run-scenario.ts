// One measured run of a scenario against one broker: declare its queues (and fanout exchange), start the
// consumers and then the publishers in worker threads, warm up, measure, read the queue depths, stop,
// clean up.
import { cpuSeconds, machineBusySeconds } from './cpu.js';
import { LoadConnection, parseAmqpUrl } from './load-client.js';
import { LoadCounters } from './load-counters.js';
import { LoadThread, sleep } from './load-thread.js';
import { copiesPerPublish, type Scenario } from './scenarios.js';
import { minus } from './stats.js';

export interface Target {
  readonly label: string;
  readonly url: string;
  /** The broker's process, for its CPU time; undefined when unknown. */
  readonly pid: number | undefined;
}

export interface RunOptions {
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** Most messages in flight (published, not yet consumed); 0 for no limit. */
  readonly window: number;
}

export interface RunResult {
  readonly label: string;
  /** Wall time of the measured interval. */
  readonly seconds: number;
  readonly published: number;
  readonly consumed: number;
  /** Publishes the broker confirmed (basic.ack or basic.nack); 0 without confirm mode. */
  readonly confirmed: number;
  /** Publishes the broker nacked in the whole run: 0 unless it failed to store them. */
  readonly nacked: number;
  /** Ready messages in the queues at the end of the measured interval. */
  readonly queueDepth: number;
  /** CPU seconds in the measured interval; undefined where /proc could not tell. */
  readonly brokerCpu: number | undefined;
  readonly loadCpu: number;
  readonly publisherCpu: number | undefined;
  readonly consumerCpu: number | undefined;
  /** All cores' busy time, the broker and the bench included: the rest is what else ran meanwhile. */
  readonly machineCpu: number | undefined;
  /** connection.blocked notifications the publishers received. */
  readonly blocked: number;
  /**
   * Deliveries owed for the messages published in the whole run (warm-up included) that the consumers had
   * not received a few seconds after the publishers closed: 0 unless the broker (or the bench) lost some.
   */
  readonly undelivered: number;
}

// After the publishers close, how long the consumers get to receive what is still queued.
const DRAIN_MS = 5_000;

function sum(values: (number | undefined)[]): number | undefined {
  let total = 0;
  for (const v of values) {
    if (v === undefined) return undefined;
    total += v;
  }
  return total;
}

interface Snapshot {
  readonly time: bigint;
  readonly published: number;
  readonly consumed: number;
  readonly confirmed: number;
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
  const copies = copiesPerPublish(scenario);
  const window =
    scenario.maxWindow === undefined
      ? options.window
      : options.window === 0
        ? scenario.maxWindow
        : Math.min(options.window, scenario.maxWindow);
  const control = await LoadConnection.open(parseAmqpUrl(target.url), 'warren-bench control');
  const counters = new LoadCounters(scenario.publishers, scenario.consumers);
  const publishers: LoadThread[] = [];
  const consumers: LoadThread[] = [];
  const all = () => [...consumers, ...publishers];
  let cleanedUp = false;
  const cleanUp = async () => {
    for (const q of queues) await control.deleteQueue(q);
    if (exchange !== '') await control.deleteExchange(exchange);
    cleanedUp = true;
  };
  try {
    for (const q of queues) await control.declareQueue(q, { durable: scenario.durableQueue });
    if (exchange !== '') {
      await control.declareExchange(exchange, 'fanout');
      for (const q of queues) await control.bindQueue(q, exchange, '');
    }
    const start = (role: 'publisher' | 'consumer', index: number) =>
      new LoadThread({
        role,
        index,
        url: target.url,
        exchange,
        queue: role === 'publisher' && scenario.fanout ? '' : queues[index % queues.length],
        scenario,
        counters: counters.buffer,
        window,
        limit: 0,
      });
    for (let i = 0; i < scenario.consumers; i++) consumers.push(start('consumer', i));
    await Promise.all(consumers.map((w) => w.waitReady()));
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
        brokerCpu: target.pid === undefined ? undefined : cpuSeconds(target.pid),
        loadCpu: (usage.user + usage.system) / 1e6,
        publisherCpu: sum(publishers.map((w) => w.cpu())),
        consumerCpu: sum(consumers.map((w) => w.cpu())),
        machineCpu: machineBusySeconds(),
      };
    };

    for (const w of publishers) w.send({ type: 'run' });
    await sleep(options.warmupSeconds, failed);
    const s0 = snapshot();
    await sleep(options.seconds, failed);
    const s1 = snapshot();
    let messageCount = 0;
    for (const q of queues) messageCount += (await control.declareQueue(q, { passive: true })).messageCount;

    for (const w of publishers) w.send({ type: 'stop' });
    const published = await Promise.all(publishers.map((w) => w.waitDone()));
    // Publishers have their close-ok, so the broker has taken every publish: let the consumers catch up.
    const drainEnd = Date.now() + DRAIN_MS;
    const expected = () => counters.published() * copies;
    while (counters.consumed() < expected() && Date.now() < drainEnd) await sleep(0.01, failed);
    const undelivered = expected() - counters.consumed();
    for (const w of consumers) w.send({ type: 'stop' });
    await Promise.all(consumers.map((w) => w.waitDone()));
    await cleanUp();

    return {
      label: target.label,
      seconds: Number(s1.time - s0.time) / 1e9,
      published: s1.published - s0.published,
      consumed: s1.consumed - s0.consumed,
      confirmed: s1.confirmed - s0.confirmed,
      nacked: counters.nacked(),
      queueDepth: messageCount,
      brokerCpu: minus(s1.brokerCpu, s0.brokerCpu),
      loadCpu: s1.loadCpu - s0.loadCpu,
      publisherCpu: minus(s1.publisherCpu, s0.publisherCpu),
      consumerCpu: minus(s1.consumerCpu, s0.consumerCpu),
      machineCpu: minus(s1.machineCpu, s0.machineCpu),
      blocked: published.reduce((n, p) => n + p.blocked, 0),
      undelivered,
    };
  } finally {
    await Promise.all(all().map((w) => w.worker.terminate()));
    // After a failure, still try not to leave queues behind in a long-running reference broker.
    if (!cleanedUp) await cleanUp().catch(() => {});
    await control.close();
  }
}
