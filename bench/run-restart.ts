// Scenario k against warren (a child process on a fresh data directory, fsync on) and the reference
// broker: fill, memory, clean restart, SIGKILL restart (see restart-scenario.ts); and its report.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrokerProcess, startWarren } from './broker-process.js';
import { sleep } from './load-thread.js';
import { formatBytes, type ProcessMemory, processMemory } from './proc-memory.js';
import { processAlive, ReferenceNode } from './reference-node.js';
import {
  BACKLOG_DELETE_TIMEOUT_MS,
  backlogTimeoutMs,
  type DrainResult,
  deleteQueue,
  drainQueue,
  type FillResult,
  fillQueue,
  type ReadyResult,
  waitForMessages,
} from './restart-scenario.js';
import { int, tableRow } from './stats.js';

export interface RestartOptions {
  readonly messages: number;
  readonly cliPath: string;
  /** node arguments for warren (e.g. --cpu-prof). */
  readonly nodeArgs: string[];
  readonly referenceUrl: string | undefined;
  readonly referencePid: number | undefined;
  /** reference-rabbitmq.sh, or why the reference node is not restarted. */
  readonly referenceControl: { script: string } | { skip: string };
  readonly log: (line: string) => void;
}

export interface Restart {
  readonly how: 'clean' | 'kill';
  /** From SIGTERM or the stop command (clean), or SIGKILL, until the process had exited. */
  readonly stopMs: number;
  readonly ready: ReadyResult;
  /** warren's own figure, from its 'recovered from the data directory' log line. */
  readonly recoveryMs: number | undefined;
  /** The broker's memory once it reported every message, and again SETTLE_SECONDS later. */
  readonly memory: ProcessMemory | undefined;
  readonly settledMemory: ProcessMemory | undefined;
}

export interface RestartResult {
  readonly label: string;
  readonly messages: number;
  readonly fill: FillResult | undefined;
  /** Bytes in warren's data directory after the fill. */
  readonly dataBytes: number | undefined;
  readonly restarts: Restart[];
  /** The backlog consumed after the last restart. */
  readonly drain: DrainResult | undefined;
  readonly notes: string[];
  readonly error: string | undefined;
}

const STOP_TIMEOUT_MS = 120_000;
const KILL_TIMEOUT_MS = 30_000;
const RESTART_TIMEOUT_MS = 600_000;
const LAUNCH_TIMEOUT_MS = 30_000;
// A broker's memory just after recovery includes recovery's garbage (warren frees it within seconds of
// going idle): the memory is read again this long after.
export const SETTLE_SECONDS = 30;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function directoryBytes(dir: string): number | undefined {
  try {
    let total = 0;
    for (const name of readdirSync(dir)) total += statSync(join(dir, name)).size;
    return total;
  } catch {
    return undefined;
  }
}

/** The node's other clients; our own connections, just closed, may take a moment to go. */
async function quietClients(node: ReferenceNode): Promise<number> {
  let clients = node.clients();
  for (let i = 0; i < 10 && clients > 0; i++) {
    await sleep(0.2);
    clients = node.clients();
  }
  return clients;
}

/** The broker's memory once it is back, and SETTLE_SECONDS later (when it came back at all). */
async function afterRestart(
  how: 'clean' | 'kill',
  stopMs: number,
  ready: ReadyResult,
  recoveryMs: number | undefined,
  pid: number,
): Promise<Restart> {
  const memory = processMemory(pid);
  if (ready.readyMs !== undefined) await sleep(SETTLE_SECONDS);
  const settledMemory = ready.readyMs === undefined ? undefined : processMemory(pid);
  return { how, stopMs, ready, recoveryMs, memory, settledMemory };
}

/** Consumes the whole backlog after the restarts: every message back, exactly once. */
async function drain(url: string, queue: string, messages: number, log: (line: string) => void) {
  const result = await drainQueue(url, queue, messages, backlogTimeoutMs(messages));
  log(`  drained ${result.consumed.toLocaleString('en-US')} in ${result.seconds.toFixed(1)} s`);
  return result;
}

function checkDrain(result: DrainResult, messages: number): void {
  if (result.consumed !== messages || result.remaining !== 0) {
    throw new Error(
      `draining the queue after the restarts: ${result.consumed} of ${messages} messages received, ` +
        `${result.remaining} left in the queue`,
    );
  }
}

function checkCount(how: string, ready: ReadyResult, messages: number): void {
  if (ready.readyMs === undefined) {
    throw new Error(
      `after the ${how} restart the queue held ${ready.lastCount} of ${messages} messages ` +
        `for ${RESTART_TIMEOUT_MS / 1000} s`,
    );
  }
  if (ready.lastCount !== messages) {
    throw new Error(`after the ${how} restart the queue held ${ready.lastCount} messages, not ${messages}`);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function emptyResult(label: string, messages: number): Mutable<RestartResult> {
  return {
    label,
    messages,
    fill: undefined,
    dataBytes: undefined,
    restarts: [],
    drain: undefined,
    notes: [],
    error: undefined,
  };
}

export async function restartWarren(o: RestartOptions): Promise<RestartResult> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-bench-k-'));
  const queue = `warren-bench-k-${process.pid}`;
  const result = emptyResult('warren', o.messages);
  let broker: BrokerProcess | undefined;
  const start = () =>
    startWarren(o.cliPath, { dataDir: dir, nodeArgs: o.nodeArgs, startTimeoutMs: RESTART_TIMEOUT_MS });
  try {
    broker = await start();
    o.log(`warren: filling ${o.messages.toLocaleString('en-US')} messages`);
    result.fill = await fillQueue(
      broker.url,
      queue,
      o.messages,
      broker.pid,
      backlogTimeoutMs(o.messages),
      o.log,
    );
    result.dataBytes = directoryBytes(dir);
    for (const how of ['clean', 'kill'] as const) {
      const stopped = performance.now();
      if (how === 'clean') await broker.kill('SIGTERM', STOP_TIMEOUT_MS);
      else await broker.kill('SIGKILL', KILL_TIMEOUT_MS);
      const stopMs = performance.now() - stopped;
      broker = undefined;
      o.log(`warren: ${how === 'clean' ? 'stopped (SIGTERM)' : 'killed (SIGKILL)'}, starting again`);
      const startedAt = performance.now();
      broker = await start();
      const ready = await waitForMessages(broker.url, queue, o.messages, startedAt, RESTART_TIMEOUT_MS);
      result.restarts.push(await afterRestart(how, stopMs, ready, broker.recovery?.ms, broker.pid));
      checkCount(how, ready, o.messages);
    }
    result.drain = await drain(broker.url, queue, o.messages, o.log);
    checkDrain(result.drain, o.messages);
    await deleteQueue(broker.url, queue, BACKLOG_DELETE_TIMEOUT_MS);
  } catch (err) {
    result.error = message(err);
  } finally {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

export async function restartReference(o: RestartOptions & { referenceUrl: string }): Promise<RestartResult> {
  const url = o.referenceUrl;
  const queue = `warren-bench-k-${process.pid}`;
  const result = emptyResult('reference', o.messages);
  let node: ReferenceNode | undefined;
  try {
    o.log(`reference: filling ${o.messages.toLocaleString('en-US')} messages`);
    result.fill = await fillQueue(
      url,
      queue,
      o.messages,
      o.referencePid,
      backlogTimeoutMs(o.messages),
      o.log,
    );
    const control = o.referenceControl;
    const captured =
      'skip' in control
        ? control.skip
        : o.referencePid === undefined
          ? 'REFERENCE_PID is not set'
          : ReferenceNode.capture(o.referencePid, Number(new URL(url).port || 5672), control.script);
    const clients = typeof captured === 'string' ? 0 : await quietClients(captured);
    if (typeof captured === 'string') result.notes.push(`reference restart skipped: ${captured}`);
    else if (clients > 0) {
      result.notes.push(`reference restart skipped: ${clients} other client connection(s) to the node`);
    } else {
      node = captured;
      for (const how of ['clean', 'kill'] as const) {
        const stopped = performance.now();
        if (how === 'clean') await node.stopClean(STOP_TIMEOUT_MS);
        else await node.kill(KILL_TIMEOUT_MS);
        const stopMs = performance.now() - stopped;
        o.log(
          `reference: ${how === 'clean' ? 'stopped (rabbitmqctl stop)' : 'killed (SIGKILL)'}, starting again`,
        );
        const startedAt = performance.now();
        await node.start(LAUNCH_TIMEOUT_MS);
        const ready = await waitForMessages(url, queue, o.messages, startedAt, RESTART_TIMEOUT_MS);
        result.restarts.push(await afterRestart(how, stopMs, ready, undefined, node.pid));
        checkCount(how, ready, o.messages);
      }
      result.notes.push(
        `the reference node's beam.smp is now pid ${node.pid} (REFERENCE_PID for later runs)`,
      );
    }
    result.drain = await drain(url, queue, o.messages, o.log);
    checkDrain(result.drain, o.messages);
    await deleteQueue(url, queue, BACKLOG_DELETE_TIMEOUT_MS);
  } catch (err) {
    result.error = message(err);
    if (node && !processAlive(node.pid) && 'script' in o.referenceControl) {
      // Leave a reference node running for the others who use it, if an empty one.
      await node
        .restoreWithScript(STOP_TIMEOUT_MS)
        .then(() =>
          result.notes.push('the reference node was down: started again, empty, by reference-rabbitmq.sh'),
        )
        .catch((e: unknown) =>
          result.notes.push(`the reference node is down, and could not be started: ${message(e)}`),
        );
    } else {
      await deleteQueue(url, queue, BACKLOG_DELETE_TIMEOUT_MS).catch(() => {});
    }
  }
  return result;
}

// Report

const seconds = (ms: number | undefined) =>
  ms === undefined || Number.isNaN(ms) ? '-' : (ms / 1000).toFixed(2);

export function restartReport(results: RestartResult[]): string[] {
  const lines: string[] = [];
  const fillWidths = [9, 10, 8, 11, 6, 11, 6, 10, 9, 9, 9];
  lines.push(
    tableRow(
      [
        'broker',
        'fill msg/s',
        'fill s',
        'broker cpu',
        'µs/msg',
        'loadgen cpu',
        'µs/msg',
        'queue',
        'RSS',
        'peak RSS',
        'on disk',
      ],
      fillWidths,
    ),
  );
  for (const r of results) {
    const f = r.fill;
    if (!f) {
      lines.push(tableRow([r.label, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-'], fillWidths));
      continue;
    }
    const pct = (cpu: number | undefined) =>
      cpu === undefined ? '-' : `${Math.round((cpu / f.seconds) * 100)}%`;
    const per = (cpu: number | undefined) =>
      cpu === undefined ? '-' : ((cpu / f.confirmed) * 1e6).toFixed(1);
    lines.push(
      tableRow(
        [
          r.label,
          int(f.confirmed / f.seconds),
          f.seconds.toFixed(1),
          pct(f.brokerCpu),
          per(f.brokerCpu),
          pct(f.loadCpu),
          per(f.loadCpu),
          int(f.queueDepth),
          formatBytes(f.memory?.rss),
          formatBytes(f.memory?.peak),
          formatBytes(r.dataBytes),
        ],
        fillWidths,
      ),
    );
  }
  lines.push('');
  const restartWidths = [9, 19, 6, 12, 13, 8, 10, 9, 9, 9];
  lines.push(
    tableRow(
      [
        'broker',
        'restart',
        'stop s',
        'first answer',
        'messages then',
        'all at s',
        'recovery s',
        'RSS',
        'peak RSS',
        `RSS +${SETTLE_SECONDS} s`,
      ],
      restartWidths,
    ),
  );
  for (const r of results) {
    for (const x of r.restarts) {
      lines.push(
        tableRow(
          [
            r.label,
            x.how === 'clean'
              ? r.label === 'warren'
                ? 'clean (SIGTERM)'
                : 'clean (rabbitmqctl)'
              : 'kill (SIGKILL)',
            seconds(x.stopMs),
            seconds(x.ready.firstAnswerMs),
            int(x.ready.firstCount),
            seconds(x.ready.readyMs),
            seconds(x.recoveryMs),
            formatBytes(x.memory?.rss),
            formatBytes(x.memory?.peak),
            formatBytes(x.settledMemory?.rss),
          ],
          restartWidths,
        ),
      );
    }
  }
  for (const r of results) {
    const d = r.drain;
    if (d) {
      lines.push(
        `${r.label}: backlog consumed after the restarts (no-ack): ${int(d.consumed)} messages in ` +
          `${d.seconds.toFixed(1)} s, ${int(d.consumed / d.seconds)} msg/s; ${int(d.remaining)} left`,
      );
    }
  }
  for (const r of results) {
    for (const n of r.notes) lines.push(`${r.label}: ${n}`);
    if (r.error) lines.push(`${r.label}: FAILED: ${r.error}`);
  }
  const w = results.find((r) => r.label === 'warren');
  const ref = results.find((r) => r.label === 'reference');
  if (w?.fill && ref?.fill) {
    const ratios = [
      `fill rate warren/reference ${(w.fill.confirmed / w.fill.seconds / (ref.fill.confirmed / ref.fill.seconds)).toFixed(2)}`,
    ];
    if (w.fill.memory && ref.fill.memory) {
      ratios.push(`RSS warren/reference ${(w.fill.memory.rss / ref.fill.memory.rss).toFixed(2)}`);
    }
    for (const how of ['clean', 'kill'] as const) {
      const a = w.restarts.find((x) => x.how === how)?.ready.readyMs;
      const b = ref.restarts.find((x) => x.how === how)?.ready.readyMs;
      if (a !== undefined && b !== undefined)
        ratios.push(`${how} restart time warren/reference ${(a / b).toFixed(2)}`);
    }
    if (w.drain && ref.drain) {
      const rate = (d: DrainResult) => d.consumed / d.seconds;
      ratios.push(`drain rate warren/reference ${(rate(w.drain) / rate(ref.drain)).toFixed(2)}`);
    }
    lines.push(`ratios: ${ratios.join(', ')}`);
  }
  return lines;
}
