// Store micro-benchmark: the record checksum (MB/s on large buffers, ns per small record) and FileStore
// throughput for 16-byte messages, published to one durable queue with a bounded window of unsynced
// records (as a broker with publisher confirms would), with fsync on and off; then the same messages
// acknowledged (remove). Build with `npm run build:tools`, run `node build/bench/store.js [seconds]`.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { crc32 } from '../src/store/checksum.js';
import { nodeIo, type StoreIo } from '../src/store/file-io.js';
import { FileStore } from '../src/store/file-store.js';
import type { StoredMessage } from '../src/store/store.js';

const SECONDS = Number(process.argv[2] ?? 3);
/** Publishes per event-loop turn, each turn followed by one afterSync. */
const CHUNK = 1000;
/** Unsynced publishes allowed before the publisher waits. */
const WINDOW = 50_000;

function checksum(): void {
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
  const record = big.subarray(0, 60);
  const rate = (f: () => number, bytes: number, iterations: number): { mbs: number; ns: number } => {
    for (let i = 0; i < iterations / 10; i++) f();
    const start = process.hrtime.bigint();
    let sink = 0;
    for (let i = 0; i < iterations; i++) sink ^= f();
    const ns = Number(process.hrtime.bigint() - start) / iterations;
    if (sink === 0.5) console.log(sink);
    return { mbs: (bytes / ns) * 1000, ns };
  };
  const large = rate(() => crc32(big), big.length, 500);
  const small = rate(() => crc32(record), record.length, 2_000_000);
  const zlibLarge = rate(() => zlib.crc32(big), big.length, 500);
  const zlibSmall = rate(() => zlib.crc32(record), record.length, 2_000_000);
  console.log(
    `crc32: ${large.mbs.toFixed(0)} MB/s on 1 MiB, ${small.ns.toFixed(0)} ns per 60-byte record ` +
      `(${small.mbs.toFixed(0)} MB/s); zlib.crc32 alone: ${zlibLarge.mbs.toFixed(0)} MB/s, ` +
      `${zlibSmall.ns.toFixed(0)} ns per record`,
  );
}

async function throughput(fsync: boolean): Promise<void> {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'warren-store-bench-'));
  try {
    // Counts the writes and syncs, to show how many records each batch carried.
    const calls = { writev: 0, sync: 0 };
    const io: StoreIo = {
      ...nodeIo,
      async open(path, flags) {
        const file = await nodeIo.open(path, flags);
        return {
          writev: (buffers, position) => {
            calls.writev++;
            return file.writev(buffers, position);
          },
          sync: () => {
            calls.sync++;
            return file.sync();
          },
          close: () => file.close(),
        };
      },
    };
    const store = new FileStore({ dir, fsync, io });
    await store.open();
    const properties = Buffer.from([0x10, 0x00, 0x02]);
    const body = Buffer.alloc(16, 0x61);
    const queues = ['bench'];
    let id = 0;
    let synced = 0;
    let waiting: (() => void) | undefined;
    const onSynced = (err?: Error): void => {
      if (err) throw err;
      synced += CHUNK;
      if (waiting !== undefined && id - synced <= WINDOW / 2) {
        const resume = waiting;
        waiting = undefined;
        resume();
      }
    };
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    while (performance.now() < deadline) {
      for (let i = 0; i < CHUNK; i++) {
        const message: StoredMessage = {
          id: ++id,
          exchange: 'amq.direct',
          routingKey: 'bench',
          properties,
          body,
          publishedAt: Date.now(),
        };
        store.publish(message, queues);
      }
      store.afterSync(onSynced);
      if (id - synced > WINDOW) await new Promise<void>((resolve) => (waiting = resolve));
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise<void>((resolve) => store.afterSync(() => resolve()));
    const publishSeconds = (performance.now() - started) / 1000;
    const usage = store.diskUsage();
    const { writev, sync } = calls;

    const ackStarted = performance.now();
    for (let m = 1; m <= id; m += CHUNK) {
      for (let i = m; i < m + CHUNK && i <= id; i++) store.remove('bench', i);
      store.afterSync(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise<void>((resolve) => store.afterSync(() => resolve()));
    const ackSeconds = (performance.now() - ackStarted) / 1000;
    const after = store.diskUsage();
    await store.close();
    console.log(
      `fsync ${fsync ? 'on ' : 'off'}: ${(id / publishSeconds).toFixed(0)} records/s published and ` +
        `${fsync ? 'synced' : 'written'} (${id} records, ${(usage.bytes / id).toFixed(0)} bytes each on disk, ` +
        `${usage.segments} segments, ${writev} writes, ${sync} fsyncs: ${((2 * id) / writev).toFixed(0)} ` +
        `records per write); ${(id / ackSeconds).toFixed(0)} removes/s; ` +
        `${after.segments} segment left after removing all`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

checksum();
await throughput(false);
await throughput(true);
