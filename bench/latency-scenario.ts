// Scenario g: end-to-end latency at a fixed publish rate. One publisher sends 16-byte transient messages
// to one fresh non-durable queue at `rate` messages per second, open loop (it keeps to its schedule
// whatever the broker does), and one no-ack consumer takes them; each body carries its send time, so the
// consumer knows each message's latency from the publisher's write to its own read of the body frame.
// Both run in worker threads (latency-worker.ts) of this process, on one monotonic clock. Reported over
// the measured interval: the latency percentiles (p50, p99, p99.9, nearest rank over every sample), max
// and mean, the rate the publisher achieved, messages that never arrived, and the broker's CPU.
//
// The latency includes both ends' socket and event-loop time: the publisher's write, loopback, the broker,
// loopback again and the consumer's read. The load generator's share is small but not zero; it is the same
// for every broker measured.
import v8 from 'node:v8';
import { cpuSeconds } from './cpu.js';
import type { LatencyWorkerCommand, LatencyWorkerInput, LatencyWorkerReport } from './latency-worker.js';
import { LoadConnection, parseAmqpUrl } from './load-client.js';
import { sleep, WorkerThread } from './load-thread.js';
import type { Target } from './run-scenario.js';
import { int, median, minus } from './stats.js';

export interface LatencyOptions {
  /** Messages per second the publisher sends. */
  readonly rate: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
}

export interface LatencyResult {
  readonly label: string;
  /** The rate asked for, messages per second. */
  readonly rate: number;
  /** Wall time of the measured interval. */
  readonly seconds: number;
  /** Messages published in the measured interval. */
  readonly sent: number;
  /** Latencies recorded: messages sent in the measured interval and received. */
  readonly samples: number;
  /** Messages sent in the measured interval and never received (within DRAIN_MS after publishing stopped). */
  readonly lost: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  /** Broker CPU seconds over the measured interval; undefined without its pid. */
  readonly brokerCpu: number | undefined;
}

export const PHASE_WARMUP = 0;
/** Messages sent in this phase are flagged in their body: their latencies are the result. */
export const PHASE_MEASURED = 1;
/** The publisher sends nothing more. */
export const PHASE_OVER = 2;

/**
 * What the main thread and the two workers share: the phase (written by the main thread), the publisher's
 * counts (all sent, and sent flagged) and the consumer's (all received, and received flagged), each stored
 * by its owner once per tick or socket read. Here rather than in latency-worker.ts, which runs only as a
 * worker.
 */
export class LatencyShared {
  private readonly slots: Int32Array;

  constructor(readonly buffer = new SharedArrayBuffer(5 * 4)) {
    this.slots = new Int32Array(buffer);
  }

  get phase(): number {
    return Atomics.load(this.slots, 0);
  }

  set phase(p: number) {
    Atomics.store(this.slots, 0, p);
  }

  setSent(all: number, measured: number): void {
    Atomics.store(this.slots, 1, all);
    Atomics.store(this.slots, 2, measured);
  }

  setReceived(all: number, measured: number): void {
    Atomics.store(this.slots, 3, all);
    Atomics.store(this.slots, 4, measured);
  }

  get sent(): number {
    return Atomics.load(this.slots, 1);
  }

  get sentMeasured(): number {
    return Atomics.load(this.slots, 2);
  }

  get received(): number {
    return Atomics.load(this.slots, 3);
  }

  get receivedMeasured(): number {
    return Atomics.load(this.slots, 4);
  }
}

// After the publisher has closed its connection, how long the consumer gets to receive the rest.
const DRAIN_MS = 5_000;
const DRAIN_POLL_SECONDS = 0.01;
// An achieved send rate this far below the asked one gets a note in the report.
const SHORT_RATE = 0.98;

type Published = Extract<LatencyWorkerReport, { type: 'published' }>;
type Consumed = Extract<LatencyWorkerReport, { type: 'consumed' }>;

/** The main thread's handle on one latency worker (latency-worker.js). */
class LatencyThread extends WorkerThread<LatencyWorkerReport, LatencyWorkerCommand, Published | Consumed> {
  constructor(input: LatencyWorkerInput) {
    super(new URL('./latency-worker.js', import.meta.url), input, `latency ${input.role}`);
  }
}

/** The nearest-rank percentile p (0 < p <= 1) of ascending values: the smallest with a share p at or below it. */
function nearestRank(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length))) - 1];
}

let runNumber = 0;

/**
 * One latency run against one broker: declare a fresh queue, start the consumer, then the publisher on
 * its schedule; warm up, measure, stop publishing, let the consumer receive the rest, delete the queue.
 */
export async function runLatency(target: Target, options: LatencyOptions): Promise<LatencyResult> {
  const { rate, warmupSeconds, seconds } = options;
  if (!(rate > 0) || !(seconds > 0) || !(warmupSeconds >= 0))
    throw new Error(`bad latency options: rate ${rate}, warm-up ${warmupSeconds} s, ${seconds} s`);
  // V8's memory reducer: some 8 s after an isolate starts, if it seems idle, V8 runs up to three full
  // collections about 0.6 s apart to shrink its heap. In the publisher and consumer threads, new isolates
  // for each run, they paused each thread 1-5 ms at the same moments of every run's measured interval,
  // and put some 40 samples per 10 s run above a millisecond, whichever broker was measured. Isolates read
  // the flag when they are set up, so setting it before the threads start keeps it from them.
  v8.setFlagsFromString('--no-memory-reducer');
  const queue = `warren-bench-latency-${process.pid}-${++runNumber}`;
  const control = await LoadConnection.open(parseAmqpUrl(target.url), 'warren-bench latency control');
  const shared = new LatencyShared();
  const threads: LatencyThread[] = [];
  let queueDeleted = false;
  try {
    await control.declareQueue(queue, { durable: false });
    const start = (role: 'publisher' | 'consumer') => {
      const thread = new LatencyThread({
        role,
        url: target.url,
        queue,
        rate,
        expectedSamples: Math.ceil(rate * seconds * 1.1),
        shared: shared.buffer,
      });
      threads.push(thread);
      return thread;
    };
    // The consumer first, so that no message waits in the queue for it.
    const consumer = start('consumer');
    await consumer.waitReady();
    const publisher = start('publisher');
    await publisher.waitReady();
    const failed = Promise.race(threads.map((t) => t.failed));
    failed.catch(() => {});

    publisher.send({ type: 'run' });
    await sleep(warmupSeconds, failed);
    shared.phase = PHASE_MEASURED;
    const t0 = process.hrtime.bigint();
    const cpu0 = target.pid === undefined ? undefined : cpuSeconds(target.pid);
    await sleep(seconds, failed);
    shared.phase = PHASE_OVER;
    const t1 = process.hrtime.bigint();
    const cpu1 = target.pid === undefined ? undefined : cpuSeconds(target.pid);

    publisher.send({ type: 'stop' });
    const published = await publisher.waitDone();
    if (published.type !== 'published') throw new Error('the publisher reported as a consumer');
    // The publisher has its close-ok, so the broker has taken every publish: let the consumer catch up.
    const drainEnd = Date.now() + DRAIN_MS;
    while (shared.received < published.sent && Date.now() < drainEnd) await sleep(DRAIN_POLL_SECONDS, failed);
    consumer.send({ type: 'stop' });
    const consumed = await consumer.waitDone();
    if (consumed.type !== 'consumed') throw new Error('the consumer reported as a publisher');
    await control.deleteQueue(queue);
    queueDeleted = true;

    const samples = consumed.samples;
    if (samples.length > published.measured) {
      throw new Error(
        `the consumer received ${samples.length} messages of the measured interval, ` +
          `but only ${published.measured} were sent (duplicate deliveries?)`,
      );
    }
    samples.sort();
    let total = 0;
    for (const s of samples) total += s;
    return {
      label: target.label,
      rate,
      seconds: Number(t1 - t0) / 1e9,
      sent: published.measured,
      samples: samples.length,
      lost: published.measured - samples.length,
      p50Ms: nearestRank(samples, 0.5),
      p99Ms: nearestRank(samples, 0.99),
      p999Ms: nearestRank(samples, 0.999),
      maxMs: samples.length === 0 ? Number.NaN : samples[samples.length - 1],
      meanMs: samples.length === 0 ? Number.NaN : total / samples.length,
      brokerCpu: minus(cpu1, cpu0),
    };
  } finally {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    // After a failure, still try not to leave the queue behind in a long-running reference broker.
    if (!queueDeleted) await control.deleteQueue(queue).catch(() => {});
    await control.close();
  }
}

// Report

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : '-');

type Column = readonly [name: string, width: number];

const COLUMNS: readonly Column[] = [
  ['broker', 9],
  ['rate', 6],
  ['sent/s', 6],
  ['p50 ms', 7],
  ['p99 ms', 7],
  ['p99.9 ms', 8],
  ['max ms', 8],
  ['mean ms', 7],
  ['samples', 9],
  ['lost', 5],
  ['broker cpu', 10],
];

function row(cells: readonly string[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(COLUMNS[i][1]) : c.padStart(COLUMNS[i][1]))).join('  ');
}

/**
 * One line per run: the asked and achieved send rates, the latency figures in ms, samples, lost messages
 * and the broker's CPU as % of one core. Then, for each rate measured with exactly two brokers, the ratio
 * of their p50 and p99 (warren's over the other's, the medians when a broker has several runs).
 */
export function latencyReport(results: readonly LatencyResult[]): string[] {
  const lines = [row(COLUMNS.map((c) => c[0]))];
  for (const r of results) {
    const achieved = r.sent / r.seconds;
    let line = row([
      r.label,
      int(r.rate),
      int(achieved),
      ms(r.p50Ms),
      ms(r.p99Ms),
      ms(r.p999Ms),
      ms(r.maxMs),
      ms(r.meanMs),
      int(r.samples),
      int(r.lost),
      r.brokerCpu === undefined ? '-' : `${Math.round((r.brokerCpu / r.seconds) * 100)}%`,
    ]);
    if (achieved < SHORT_RATE * r.rate)
      line += `  (the publisher kept only ${((achieved / r.rate) * 100).toFixed(1)}% of the schedule)`;
    lines.push(line);
  }
  const rates = [...new Set(results.map((r) => r.rate))];
  for (const rate of rates) {
    const atRate = results.filter((r) => r.rate === rate);
    const labels = [...new Set(atRate.map((r) => r.label))];
    if (labels.length !== 2) continue;
    if (labels[1] === 'warren') labels.reverse();
    const [a, b] = labels.map((label) => atRate.filter((r) => r.label === label));
    const ratio = (f: (r: LatencyResult) => number) => (median(a.map(f)) / median(b.map(f))).toFixed(2);
    lines.push(
      `ratio ${labels[0]}/${labels[1]} at ${int(rate)} msg/s: p50 ${ratio((r) => r.p50Ms)}, ` +
        `p99 ${ratio((r) => r.p99Ms)}`,
    );
  }
  return lines;
}
