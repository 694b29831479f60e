// Scenario h: a backlog built and then consumed, with no restart in between. One publisher fills a fresh
// durable queue with persistent 16-byte messages (publisher confirms, at most 1,000 unconfirmed, no
// consumer); then one consumer (manual acks, prefetch 100, as in scenarios b and c) drains it. Reported:
// both rates, the broker's CPU per message in each phase, its RSS with the backlog in place, and its peak
// RSS over the whole scenario, sampled every 100 ms (VmHWM would include whatever the process did
// before, which for a long-running reference broker is other scenarios).
import { cpuSeconds } from './cpu.js';
import { formatBytes, processMemory } from './proc-memory.js';
import {
  BACKLOG_DELETE_TIMEOUT_MS,
  backlogTimeoutMs,
  deleteQueue,
  drainQueue,
  fillQueue,
} from './restart-scenario.js';
import { int, ratio, tableRow } from './stats.js';

export interface FillDrainResult {
  readonly label: string;
  readonly messages: number;
  /** Confirmed messages per second while filling. */
  readonly fillRate: number;
  readonly fillSeconds: number;
  /** Messages consumed (and acked) per second while draining. */
  readonly drainRate: number;
  readonly drainSeconds: number;
  /** Broker CPU seconds per message in each phase; undefined without the broker's pid. */
  readonly fillCpuPerMessage: number | undefined;
  readonly drainCpuPerMessage: number | undefined;
  /** RSS before the fill, with the whole backlog queued, and the highest sampled; null without a pid. */
  readonly idleRssBytes: number | null;
  readonly backlogRssBytes: number | null;
  readonly peakRssBytes: number | null;
  readonly error: string | undefined;
}

const SAMPLE_MS = 100;
const DRAIN_PREFETCH = 100;

/** Fills and drains one queue on the broker at `url`; pid: its process, for CPU and memory. */
export async function fillDrain(
  label: string,
  url: string,
  pid: number | undefined,
  messages: number,
  log: (line: string) => void,
): Promise<FillDrainResult> {
  const queue = `warren-bench-h-${process.pid}-${label}`;
  const rss = () => (pid === undefined ? undefined : processMemory(pid)?.rss);
  let peak = rss() ?? null;
  const idleRssBytes = peak;
  const sampler = setInterval(() => {
    const now = rss();
    if (now !== undefined && (peak === null || now > peak)) peak = now;
  }, SAMPLE_MS);
  const cpu = () => (pid === undefined ? undefined : cpuSeconds(pid));
  const perMessage = (a: number | undefined, b: number | undefined, n: number) =>
    a === undefined || b === undefined || n === 0 ? undefined : (b - a) / n;
  try {
    log(`${label}: filling ${messages.toLocaleString('en-US')} messages`);
    const cpu0 = cpu();
    const fill = await fillQueue(url, queue, messages, pid, backlogTimeoutMs(messages), log);
    const cpu1 = cpu();
    const backlogRssBytes = rss() ?? null;
    if (fill.nacked !== 0 || fill.queueDepth !== messages) {
      throw new Error(`fill: ${fill.nacked} nacked, the queue holds ${fill.queueDepth} of ${messages}`);
    }
    log(`${label}: draining`);
    const drain = await drainQueue(url, queue, messages, backlogTimeoutMs(messages), DRAIN_PREFETCH);
    const cpu2 = cpu();
    if (drain.consumed !== messages || drain.remaining !== 0) {
      throw new Error(
        `drain: ${drain.consumed} of ${messages} received, ${drain.remaining} left in the queue`,
      );
    }
    return {
      label,
      messages,
      fillRate: messages / fill.seconds,
      fillSeconds: fill.seconds,
      drainRate: messages / drain.seconds,
      drainSeconds: drain.seconds,
      fillCpuPerMessage: perMessage(cpu0, cpu1, messages),
      drainCpuPerMessage: perMessage(cpu1, cpu2, messages),
      idleRssBytes,
      backlogRssBytes,
      peakRssBytes: peak,
      error: undefined,
    };
  } catch (err) {
    return {
      label,
      messages,
      fillRate: 0,
      fillSeconds: 0,
      drainRate: 0,
      drainSeconds: 0,
      fillCpuPerMessage: undefined,
      drainCpuPerMessage: undefined,
      idleRssBytes,
      backlogRssBytes: null,
      peakRssBytes: peak,
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    clearInterval(sampler);
    await deleteQueue(url, queue, BACKLOG_DELETE_TIMEOUT_MS).catch(() => {});
  }
}

const us = (s: number | undefined) => (s === undefined ? '-' : (s * 1e6).toFixed(2));
const bytes = (b: number | null) => formatBytes(b ?? undefined);

/** The table, and with two results the ratios of the first to the second. */
export function fillDrainReport(results: readonly FillDrainResult[]): string[] {
  const widths = [9, 10, 8, 10, 9, 10, 10, 10, 10];
  const line = (cells: string[]) => tableRow(cells, widths);
  const lines = [
    line(['broker', 'fill/s', 'µs/msg', 'drain/s', 'µs/msg', 'idle RSS', 'backlog', 'peak RSS', 'total s']),
  ];
  for (const r of results) {
    if (r.error !== undefined) {
      lines.push(`${r.label.padEnd(widths[0])}  failed: ${r.error}`);
      continue;
    }
    lines.push(
      line([
        r.label,
        int(r.fillRate),
        us(r.fillCpuPerMessage),
        int(r.drainRate),
        us(r.drainCpuPerMessage),
        bytes(r.idleRssBytes),
        bytes(r.backlogRssBytes),
        bytes(r.peakRssBytes),
        (r.fillSeconds + r.drainSeconds).toFixed(1),
      ]),
    );
  }
  const [w, ref] = results;
  if (w && ref && w.error === undefined && ref.error === undefined) {
    const parts = [`fill ${ratio(w.fillRate, ref.fillRate)}`, `drain ${ratio(w.drainRate, ref.drainRate)}`];
    if (w.peakRssBytes !== null && ref.peakRssBytes !== null) {
      parts.push(`peak RSS ${ratio(w.peakRssBytes, ref.peakRssBytes)}`);
    }
    lines.push(`ratio ${w.label}/${ref.label}: ${parts.join(', ')}`);
  }
  return lines;
}
