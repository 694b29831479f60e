// Scenario l: many durable definitions, one at a time. One client declares durable queues, each bound to
// amq.direct, waiting for each reply before the next call (as amqplib and most clients do), then deletes
// them the same way; meanwhile a second connection publishes a 16-byte message to a queue of its own
// every 5 ms and consumes it (no-ack), to show what the declarations cost the broker's other clients.
// Reported: declarations (queue.declare and queue.bind) and deletions per second, the broker's CPU per
// queue in each phase, and the other client's round trip (p50, p99) in each phase.
import { cpuSeconds } from './cpu.js';
import { encodePublishBatch, LoadConnection, parseAmqpUrl } from './load-client.js';
import { int, ratio, tableRow } from './stats.js';

export interface DefinitionsResult {
  readonly label: string;
  readonly queues: number;
  /** Queues declared and bound per second. */
  readonly declareRate: number;
  readonly deleteRate: number;
  /** Broker CPU seconds per queue in each phase; undefined without the broker's pid. */
  readonly declareCpuPerQueue: number | undefined;
  readonly deleteCpuPerQueue: number | undefined;
  /** The other client's round trips in each phase, in milliseconds: p50 and p99. */
  readonly declarePing: readonly [number, number] | undefined;
  readonly deletePing: readonly [number, number] | undefined;
  readonly error: string | undefined;
}

const PING_INTERVAL_MS = 5;

/** Declares, binds and deletes `queues` durable queues on the broker at `url`; pid: its process. */
export async function manyDefinitions(
  label: string,
  url: string,
  pid: number | undefined,
  queues: number,
): Promise<DefinitionsResult> {
  const prefix = `warren-bench-l-${process.pid}-${label}`;
  const cpu = () => (pid === undefined ? undefined : cpuSeconds(pid));
  const perQueue = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : (b - a) / queues;
  const endpoint = parseAmqpUrl(url);
  let control: LoadConnection | undefined;
  let pinger: LoadConnection | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    control = await LoadConnection.open(endpoint, 'warren-bench definitions');
    pinger = await LoadConnection.open(endpoint, 'warren-bench definitions ping');
    const pingQueue = `${prefix}-ping`;
    // Exclusive: it goes with the connection (deleting it would cancel the consumer first).
    await pinger.declareQueue(pingQueue, { exclusive: true });
    let sentAt = 0;
    let rounds: number[] = [];
    await pinger.consume(pingQueue, true, {
      onMessage: () => {
        if (sentAt > 0) rounds.push(performance.now() - sentAt);
        sentAt = 0;
      },
      afterRead: () => undefined,
    });
    const socket = pinger.socket;
    const publish = encodePublishBatch(
      pinger.frameMax,
      { routingKey: pingQueue, bodySize: 16, persistent: false },
      1,
    );
    timer = setInterval(() => {
      // One in flight at a time: a round trip longer than the interval skips the next ping.
      if (sentAt !== 0) return;
      sentAt = performance.now();
      socket.write(publish);
    }, PING_INTERVAL_MS);
    const takeRounds = (): readonly [number, number] | undefined => {
      const r = rounds.sort((a, b) => a - b);
      rounds = [];
      if (r.length === 0) return undefined;
      const at = (p: number) => r[Math.min(r.length - 1, Math.floor(p * r.length))];
      return [at(0.5), at(0.99)];
    };

    const cpu0 = cpu();
    const t0 = performance.now();
    for (let i = 0; i < queues; i++) {
      await control.declareQueue(`${prefix}-${i}`, { durable: true });
      await control.bindQueue(`${prefix}-${i}`, 'amq.direct', `${prefix}-${i}`);
    }
    const declareSeconds = (performance.now() - t0) / 1000;
    const cpu1 = cpu();
    const declarePing = takeRounds();
    const t1 = performance.now();
    for (let i = 0; i < queues; i++) await control.deleteQueue(`${prefix}-${i}`);
    const deleteSeconds = (performance.now() - t1) / 1000;
    const cpu2 = cpu();
    const deletePing = takeRounds();
    clearInterval(timer);
    timer = undefined;
    return {
      label,
      queues,
      declareRate: queues / declareSeconds,
      deleteRate: queues / deleteSeconds,
      declareCpuPerQueue: perQueue(cpu0, cpu1),
      deleteCpuPerQueue: perQueue(cpu1, cpu2),
      declarePing,
      deletePing,
      error: undefined,
    };
  } catch (err) {
    return {
      label,
      queues,
      declareRate: 0,
      deleteRate: 0,
      declareCpuPerQueue: undefined,
      deleteCpuPerQueue: undefined,
      declarePing: undefined,
      deletePing: undefined,
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    if (timer !== undefined) clearInterval(timer);
    await control?.close().catch(() => undefined);
    await pinger?.close().catch(() => undefined);
  }
}

const us = (s: number | undefined) => (s === undefined ? '-' : (s * 1e6).toFixed(0));
const ms = (p: readonly [number, number] | undefined) =>
  p === undefined ? '-' : `${p[0].toFixed(2)}/${p[1].toFixed(2)}`;

/** The table, and with two results the ratios of the first to the second. */
export function definitionsReport(results: readonly DefinitionsResult[]): string[] {
  const widths = [9, 10, 8, 11, 10, 8, 11];
  const line = (cells: string[]) => tableRow(cells, widths);
  const lines = [line(['broker', 'declare/s', 'µs/q', 'ping ms', 'delete/s', 'µs/q', 'ping ms'])];
  for (const r of results) {
    if (r.error !== undefined) {
      lines.push(`${r.label.padEnd(widths[0])}  failed: ${r.error}`);
      continue;
    }
    lines.push(
      line([
        r.label,
        int(r.declareRate),
        us(r.declareCpuPerQueue),
        ms(r.declarePing),
        int(r.deleteRate),
        us(r.deleteCpuPerQueue),
        ms(r.deletePing),
      ]),
    );
  }
  const [w, ref] = results;
  if (w && ref && w.error === undefined && ref.error === undefined) {
    lines.push(
      `ratio ${w.label}/${ref.label}: declare ${ratio(w.declareRate, ref.declareRate)}, ` +
        `delete ${ratio(w.deleteRate, ref.deleteRate)}`,
    );
  }
  return lines;
}
