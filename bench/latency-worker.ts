// The publisher or the consumer of the latency scenario (g, latency-scenario.ts), each in its own worker
// thread with its own connection and event loop.
//
// Every message's 16-byte body carries the time it was sent, from process.hrtime.bigint() (CLOCK_MONOTONIC,
// the same clock in every thread of the process), and a flag saying whether it was sent in the measured
// interval. The publisher keeps to a fixed rate (open loop: it never waits for the consumer); the consumer
// reads the time back from each body as it arrives and keeps `now - sent` for the flagged messages.
//
// The main thread moves the run through its phases (warm-up, measured, over) in a SharedArrayBuffer that
// both threads read; the same buffer carries the message counts back (LatencyShared, in
// latency-scenario.ts: this module only runs as a worker, so the main thread imports nothing but types
// from it).
import { parentPort, workerData } from 'node:worker_threads';
import { FRAME_BODY } from '../src/protocol/index.js';
import { LatencyShared, PHASE_MEASURED, PHASE_OVER } from './latency-scenario.js';
import { encodePublishBatch, LoadConnection, parseAmqpUrl } from './load-client.js';

export interface LatencyWorkerInput {
  readonly role: 'publisher' | 'consumer';
  readonly url: string;
  readonly queue: string;
  /** Messages per second the publisher keeps to. */
  readonly rate: number;
  /** The consumer's first guess at how many latencies it will keep (it grows its array past that). */
  readonly expectedSamples: number;
  /** LatencyShared's buffer. */
  readonly shared: SharedArrayBuffer;
}

/** Worker to main thread. */
export type LatencyWorkerReport =
  | { readonly type: 'ready' }
  | { readonly type: 'published'; readonly sent: number; readonly measured: number }
  /** samples: the latencies in ms of the flagged messages, in arrival order. */
  | { readonly type: 'consumed'; readonly received: number; readonly samples: Float64Array }
  | { readonly type: 'error'; readonly message: string };

/** Main thread to worker: the publisher starts its schedule on 'run'; both close their connection on 'stop'. */
export type LatencyWorkerCommand = { readonly type: 'run' } | { readonly type: 'stop' };

/** The body: the send time (hrtime, ns, uint64 little-endian) at 0, the measured flag at 8, filler after. */
const BODY_SIZE = 16;
const TIME_AT = 0;
const FLAG_AT = 8;
const FRAME_HEADER_SIZE = 7;

// The schedule's tick. setTimeout cannot wait less than 1 ms (and usually fires 1.05-1.2 ms later), so at
// 10,000 msg/s a tick sends about 10 messages, at 1,000 msg/s about one. A busy loop would keep closer
// to the schedule but take a whole core from a 2-core machine that the broker needs.
const TICK_MS = 1;
// The publisher writes whatever the schedule says, whether or not the socket keeps up (open loop); past
// this much waiting in the socket the broker has stopped reading, and the run fails rather than fill memory.
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

const port = parentPort;
if (!port) throw new Error('latency-worker.js runs as a worker thread');
const input = workerData as LatencyWorkerInput;
const shared = new LatencyShared(input.shared);
let failed = false;

function report(r: LatencyWorkerReport, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(r, transfer);
}

/** Reports the first failure only: the ones after it are its consequences. */
function fail(message: string): void {
  if (failed) return;
  failed = true;
  report({ type: 'error', message });
}

async function publisher(): Promise<void> {
  const conn = await LoadConnection.open(parseAmqpUrl(input.url), 'warren-bench latency publisher');
  // One complete publish (method, content header, body frame), copied once per message and patched: the
  // body is the last BODY_SIZE bytes before the body frame's frame-end octet.
  const shape = { routingKey: input.queue, bodySize: BODY_SIZE, persistent: false };
  const template = encodePublishBatch(conn.frameMax, shape, 1);
  const size = template.length;
  const bodyAt = size - 1 - BODY_SIZE;
  if (template[bodyAt - FRAME_HEADER_SIZE] !== FRAME_BODY) throw new Error('unexpected publish layout');
  const socket = conn.socket;
  const rate = input.rate;
  let start = 0n;
  let sent = 0;
  let measured = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;

  const tick = (): void => {
    timer = undefined;
    if (stopping || failed || conn.failure) return;
    const phase = shared.phase;
    if (phase === PHASE_OVER) return;
    // The schedule counts from the start, so a late tick sends what the earlier ones could not.
    const due = Math.floor((Number(process.hrtime.bigint() - start) / 1e9) * rate) - sent;
    if (due > 0) {
      const out = Buffer.allocUnsafe(due * size);
      const flag = phase === PHASE_MEASURED ? 1 : 0;
      for (let i = 0; i < due; i++) {
        template.copy(out, i * size);
        out[i * size + bodyAt + FLAG_AT] = flag;
      }
      // The send times last, each read just before it is written, all in microseconds of the write. They
      // are the times of the write, not of the schedule: a late tick (this thread stalled) shows as a burst,
      // not as latency, since what is measured is the broker's part.
      for (let i = 0; i < due; i++)
        out.writeBigUInt64LE(process.hrtime.bigint(), i * size + bodyAt + TIME_AT);
      socket.write(out);
      sent += due;
      if (flag === 1) measured += due;
      shared.setSent(sent, measured);
      if (socket.writableLength > MAX_BUFFERED_BYTES) {
        fail(`the broker stopped reading: ${socket.writableLength} bytes wait in the publisher's socket`);
        return;
      }
    }
    timer = setTimeout(tick, TICK_MS);
  };

  socket.once('close', () => {
    if (!stopping) fail(conn.failure?.message ?? 'socket closed');
  });
  port?.on('message', (command: LatencyWorkerCommand) => {
    if (command.type === 'run' && start === 0n && !stopping) {
      start = process.hrtime.bigint();
      tick();
    } else if (command.type === 'stop' && !stopping) {
      stopping = true;
      clearTimeout(timer);
      const failure = conn.failure;
      // close-ok comes after the broker has taken every publish before it.
      conn.close().then(() => {
        if (failure) fail(failure.message);
        else report({ type: 'published', sent, measured });
      });
    }
  });
  report({ type: 'ready' });
}

async function consumer(): Promise<void> {
  const conn = await LoadConnection.open(parseAmqpUrl(input.url), 'warren-bench latency consumer');
  let samples = new Float64Array(Math.max(1024, input.expectedSamples));
  let count = 0;
  let received = 0;
  let stopping = false;
  conn.socket.once('close', () => {
    if (!stopping) fail(conn.failure?.message ?? 'socket closed');
  });
  await conn.consume(input.queue, true, {
    onBody(b: Buffer, start: number, end: number) {
      // 16 bytes always fit one body frame: a frame of any other size is not one of our messages.
      if (end - start !== BODY_SIZE) {
        fail(`a body frame of ${end - start} bytes, not ${BODY_SIZE}`);
        return;
      }
      if (b[start + FLAG_AT] !== 1) return;
      const ms = Number(process.hrtime.bigint() - b.readBigUInt64LE(start + TIME_AT)) / 1e6;
      if (count === samples.length) {
        const grown = new Float64Array(samples.length * 2);
        grown.set(samples);
        samples = grown;
      }
      samples[count++] = ms;
    },
    onMessage() {
      received++;
    },
    afterRead() {
      shared.setReceived(received, count);
    },
  });
  port?.on('message', (command: LatencyWorkerCommand) => {
    if (command.type !== 'stop' || stopping) return;
    stopping = true;
    conn.close().then(() => {
      const kept = samples.slice(0, count);
      report({ type: 'consumed', received, samples: kept }, [kept.buffer]);
    });
  });
  report({ type: 'ready' });
}

(input.role === 'publisher' ? publisher() : consumer()).catch((err: unknown) => {
  fail(err instanceof Error ? err.message : String(err));
});
