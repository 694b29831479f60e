// One publisher or consumer of the load generator, in its own worker thread so that it has an event loop
// (and a core, when there is one) of its own. The main thread tells it when to run and stop; it stores
// its message count in the shared counters and reports its thread id for CPU accounting.
//
// Latency: the publisher writes the time of each batch's socket write (process.hrtime, CLOCK_MONOTONIC,
// one clock for every thread of the process, in microseconds as a float64 little-endian) into the first
// 8 bytes of every body in the batch; the consumer reads it back from each body and counts `now - sent`
// in a histogram (histogram.ts) for the messages it receives in the measured interval (the counters'
// phase), `now` being read once per socket read. It hands the histogram to the main thread when done.
//
// A rejecter (scenario m) is a consumer that settles what it receives with basic.nack (multiple, requeue
// false) where a consumer would ack, so that the broker dead-letters it; it counts in its own slots, not
// in the consumed count, and keeps no latency.
import { parentPort, workerData } from 'node:worker_threads';
import { currentThreadId } from './cpu.js';
import { LatencyHistogram } from './histogram.js';
import { bodyOffset, encodePublishBatch, LoadConnection, parseAmqpUrl } from './load-client.js';
import { LoadCounters, PHASE_MEASURED } from './load-counters.js';
import { copiesPerPublish, type Scenario } from './scenarios.js';

export interface LoadWorkerInput {
  readonly role: 'publisher' | 'consumer' | 'rejecter';
  /** The worker's slot among the publishers, the consumers or the rejecters. */
  readonly index: number;
  readonly url: string;
  /** A publisher's exchange ('' for the default exchange). */
  readonly exchange: string;
  /** A publisher's routing key; a consumer's or rejecter's queue. */
  readonly queue: string;
  readonly scenario: Scenario;
  readonly counters: SharedArrayBuffer;
  /** Rejecting consumers sharing the counters (0 unless the scenario dead-letters). */
  readonly rejecters?: number;
  /** Most messages published and not yet consumed, over all publishers; 0 for no limit. */
  readonly window: number;
  /** A publisher publishes this many messages and then waits for 'stop'; 0 for no limit. */
  readonly limit: number;
  /**
   * How long a publisher's close may wait for close-ok, which comes only once the broker has read every
   * publish still in the socket (default 3 s); then the socket is destroyed.
   */
  readonly closeTimeoutMs?: number;
}

/** Worker to main thread. */
export type LoadWorkerReport =
  | { readonly type: 'ready'; readonly tid: number | undefined }
  | {
      readonly type: 'done';
      readonly messages: number;
      readonly blocked: number;
      /** The connection closed with close-ok (for a publisher: the broker took every publish). */
      readonly polite: boolean;
      /** A consumer's latency histogram (histogram.ts) of the measured interval. */
      readonly latency?: Float64Array;
    }
  | { readonly type: 'error'; readonly message: string };

/** Main thread to worker: publishers start on 'run'; everyone closes its connection on 'stop'. */
export type LoadWorkerCommand = { readonly type: 'run' } | { readonly type: 'stop' };

// A publish batch is about this many bytes: large writes, few syscalls, a bounded socket buffer.
const BATCH_BYTES = 64 * 1024;
// Publishes per batch however large they are.
const MIN_PER_BATCH = 4;
// Batches written per event-loop turn before yielding to commands and socket events.
const MAX_BATCHES_PER_TURN = 16;
// How often a publisher whose window is full looks at the consumers' counts again.
const WINDOW_POLL_MS = 1;
// A rejecter rejects what it holds once nothing more has come for this long.
const REJECT_IDLE_MS = 5;

/** The send-time stamp: a float64 of microseconds at the start of the body. */
const STAMP_BYTES = 8;
const nowMicros = (): number => Number(process.hrtime.bigint()) / 1000;

const port = parentPort;
if (!port) throw new Error('load-worker.js runs as a worker thread');
const input = workerData as LoadWorkerInput;
const counters = new LoadCounters(
  input.scenario.publishers,
  input.scenario.consumers,
  input.rejecters ?? 0,
  input.counters,
);

function report(r: LoadWorkerReport): void {
  port?.postMessage(r);
}

async function publisher(): Promise<void> {
  const { scenario, index } = input;
  const conn = await LoadConnection.open(parseAmqpUrl(input.url), 'warren-bench publisher');
  const confirmWindow = scenario.confirmWindow;
  if (confirmWindow > 0) await conn.confirmSelect();
  const copies = copiesPerPublish(scenario);
  const shape = {
    exchange: input.exchange,
    routingKey: input.queue,
    bodySize: scenario.bodySize,
    persistent: scenario.persistent,
    priorityLevels: scenario.priorityLevels,
  };
  const socket = conn.socket;
  const one = encodePublishBatch(conn.frameMax, shape, 1);
  const setBytes = one.length;
  const bodyAt = scenario.bodySize >= STAMP_BYTES ? bodyOffset(one) : -1;
  // Large messages go a few to a write too: one write call per 64 KiB body cost the publisher thread
  // more than the broker spent on the message.
  let perBatch = Math.max(MIN_PER_BATCH, Math.floor(BATCH_BYTES / setBytes));
  // Several batches in flight within the confirm window, so that the broker always has the next to read.
  if (confirmWindow > 0) perBatch = Math.min(perBatch, Math.max(1, Math.floor(confirmWindow / 10)));
  // Every priority equally often: a batch holds whole rounds of them.
  const levels = scenario.priorityLevels ?? 1;
  perBatch = Math.max(levels, perBatch - (perBatch % levels));
  const batch = encodePublishBatch(conn.frameMax, shape, perBatch);
  if (batch.length !== perBatch * setBytes) throw new Error('unexpected publish batch layout');
  const limit = input.limit;
  const tailCount = limit % perBatch;
  // Each write gets the send time in its bodies, so a batch that the socket still holds must not be
  // stamped again: copies of the batch wait here between writes (a write's callback gives its copy back).
  const spare: Buffer[] = [batch];
  const spareTail: Buffer[] = tailCount > 0 ? [encodePublishBatch(conn.frameMax, shape, tailCount)] : [];
  const stampedWrite = (count: number): boolean => {
    const pool = count === perBatch ? spare : spareTail;
    const b =
      pool.pop() ??
      (count === perBatch ? Buffer.from(batch) : encodePublishBatch(conn.frameMax, shape, count));
    if (bodyAt >= 0) {
      const now = nowMicros();
      for (let i = 0, at = bodyAt; i < count; i++, at += setBytes) b.writeDoubleLE(now, at);
    }
    return socket.write(b, () => pool.push(b));
  };
  // A window smaller than two batches would stall the pipeline between batches.
  const window = input.window > 0 ? Math.max(input.window, 2 * perBatch) : 0;
  let published = 0;
  let running = false;
  let finished = false;
  // What a pump that returned without scheduling itself again waits for.
  let waiting: 'confirm' | 'limit' | 'drain' | undefined;

  const finish = () => {
    if (finished) return;
    finished = true;
    const failure = conn.failure;
    conn
      .close(input.closeTimeoutMs)
      .then((polite) =>
        report(
          failure
            ? { type: 'error', message: failure.message }
            : { type: 'done', messages: published, blocked: conn.blockedCount, polite },
        ),
      );
  };

  const pump = (): void => {
    waiting = undefined;
    for (let i = 0; i < MAX_BATCHES_PER_TURN; i++) {
      if (!running || conn.failure) {
        finish();
        return;
      }
      const n = limit > 0 ? Math.min(perBatch, limit - published) : perBatch;
      if (n === 0) {
        waiting = 'limit';
        return;
      }
      if (confirmWindow > 0 && published - conn.confirms.settled + n > confirmWindow) {
        waiting = 'confirm';
        return;
      }
      // In flight: published and not yet consumed from every queue it went to.
      if (window > 0 && counters.published() - counters.consumed() / copies + n > window) {
        setTimeout(pump, WINDOW_POLL_MS);
        return;
      }
      published += n;
      counters.setPublished(index, published);
      if (!stampedWrite(n)) {
        waiting = 'drain';
        socket.once('drain', pump);
        return;
      }
    }
    setImmediate(pump);
  };

  conn.onConfirm = () => {
    counters.setConfirmed(index, conn.confirms.settled, conn.confirms.nacked);
    if (waiting === 'confirm') {
      waiting = undefined;
      pump();
    }
  };
  socket.once('close', () => {
    if (!finished) report({ type: 'error', message: conn.failure?.message ?? 'socket closed' });
  });
  port?.on('message', (command: LoadWorkerCommand) => {
    if (command.type === 'run' && !running && !finished) {
      running = true;
      pump();
    } else if (command.type === 'stop') {
      const wasRunning = running;
      running = false;
      // A pump that is scheduled sees `running` false and finishes; one that waits may not come back soon
      // (a broker that stopped reading this socket): close now, behind what the socket still holds.
      if (!wasRunning || waiting !== undefined) {
        waiting = undefined;
        finish();
      }
    }
  });
  report({ type: 'ready', tid: currentThreadId() });
}

async function consumer(): Promise<void> {
  const { scenario, index } = input;
  const rejecter = input.role === 'rejecter';
  const conn = await LoadConnection.open(parseAmqpUrl(input.url), `warren-bench ${input.role}`);
  const settle = rejecter ? (tag: number) => conn.rejectUpTo(tag) : (tag: number) => conn.ack(tag);
  const store = rejecter
    ? (n: number) => counters.setRejected(index, n)
    : (n: number) => counters.setConsumed(index, n);
  const ackEvery = scenario.noAck ? 0 : Math.max(1, Math.floor(scenario.prefetch / 2));
  let consumed = 0;
  let lastTag = 0;
  let ackedTag = 0;
  let stopping = false;
  // A rejecter's deliveries reach the dead-letter queue only once it has rejected them: the last few of a
  // run, fewer than ackEvery, are rejected when nothing more has come for REJECT_IDLE_MS.
  let idleTimer: NodeJS.Timeout | undefined;
  const settleNow = () => {
    if (ackEvery > 0 && lastTag > ackedTag) {
      settle(lastTag);
      ackedTag = lastTag;
      conn.flush();
    }
  };
  const latency = new LatencyHistogram();
  // Per socket read: the time it was handled (-1 before its first stamped body), and whether it is in
  // the measured interval.
  let readAt = -1;
  let measuring = false;
  if (!scenario.noAck && scenario.prefetch > 0) await conn.qos(scenario.prefetch);
  conn.socket.once('close', () => {
    if (!stopping) report({ type: 'error', message: conn.failure?.message ?? 'socket closed' });
  });
  await conn.consume(input.queue, scenario.noAck, {
    onBody(b: Buffer, start: number, end: number, offset: number) {
      if (rejecter || offset !== 0 || end - start < STAMP_BYTES) return;
      if (readAt < 0) {
        readAt = nowMicros();
        measuring = counters.phase === PHASE_MEASURED;
      }
      if (measuring) latency.record(readAt - b.readDoubleLE(start));
    },
    onMessage(deliveryTag: number) {
      consumed++;
      lastTag = deliveryTag;
    },
    afterRead() {
      readAt = -1;
      store(consumed);
      if (ackEvery > 0 && lastTag - ackedTag >= ackEvery) settleNow();
      if (rejecter && lastTag > ackedTag) {
        if (idleTimer) idleTimer.refresh();
        else
          idleTimer = setTimeout(() => {
            idleTimer = undefined;
            settleNow();
          }, REJECT_IDLE_MS);
      }
    },
  });
  port?.on('message', (command: LoadWorkerCommand) => {
    if (command.type !== 'stop' || stopping) return;
    stopping = true;
    // Ack (or reject) what is still unacked, so that closing the channel requeues nothing.
    clearTimeout(idleTimer);
    settleNow();
    conn.close().then((polite) => {
      const counts = latency.counts;
      port?.postMessage(
        {
          type: 'done',
          messages: consumed,
          blocked: conn.blockedCount,
          polite,
          latency: counts,
        } satisfies LoadWorkerReport,
        [counts.buffer as ArrayBuffer],
      );
    });
  });
  report({ type: 'ready', tid: currentThreadId() });
}

(input.role === 'publisher' ? publisher() : consumer()).catch((err: unknown) => {
  report({ type: 'error', message: err instanceof Error ? err.message : String(err) });
});
