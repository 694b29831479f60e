// Store recovery benchmark: the time to open() a FileStore holding N live 16-byte messages in one
// queue (1,000,000 by default), the process's memory once it is open, and the cost of read() per
// message, in queue order (as a broker pages a queue back in) and at random. The store is filled by
// this process, then opened by a fresh child process, so that the figures are those of a restart.
// Build with `npm run build:tools`, run `node build/bench/store-recovery.js [messages]`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStore } from '../src/store/file-store.js';
import type { Recovered, StoredMessage } from '../src/store/store.js';

const MiB = 1024 * 1024;
const QUEUE = 'bench';

interface OpenFigures {
  openMs: number;
  entries: number;
  rssBefore: number;
  rssAfter: number;
  heapAfter: number;
  externalAfter: number;
  /**
   * Heap and external memory once the caller has let go of what open() returned: the store's own
   * state (RSS is no guide here: the collection that frees the lists grows it for a while).
   */
  heapStoreOnly: number;
  externalStoreOnly: number;
  sequentialReadNs: number;
  randomReadNs: number;
}

/** Publishes `count` messages to one queue, in chunks, and closes the store. */
async function fill(dir: string, count: number): Promise<void> {
  const store = new FileStore({ dir, fsync: false });
  await store.open();
  const properties = Buffer.from([0x10, 0x00, 0x02]);
  const queues = [QUEUE];
  for (let id = 1; id <= count; id++) {
    const body = Buffer.alloc(16, id & 0xff);
    const message: StoredMessage = {
      id,
      exchange: 'amq.direct',
      routingKey: 'bench',
      properties,
      body,
      publishedAt: Date.now(),
    };
    store.publish(message, queues);
    if (id % 10_000 === 0) await new Promise<void>((resolve) => store.afterSync(() => resolve()));
  }
  await store.close();
}

/** In the child: open the store, measure, close. */
async function openAndMeasure(dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rssBefore = process.memoryUsage().rss;
  const store = new FileStore({ dir, fsync: false });
  const started = performance.now();
  let recovered: Recovered | undefined = await store.open();
  const openMs = performance.now() - started;
  let queue = recovered.queues.get(QUEUE);
  const entries = queue?.messageIds.length ?? 0;
  gc?.();
  const usage = process.memoryUsage();
  const ids = queue?.messageIds ?? new Float64Array(0);
  recovered = undefined;
  queue = undefined;
  gc?.();
  const storeOnly = process.memoryUsage();
  const readAll = (order: (i: number) => number, reads: number): number => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < reads; i++) {
      if (store.read(ids[order(i)])?.body.length !== 16) throw new Error(`read ${ids[order(i)]} failed`);
    }
    return Number(process.hrtime.bigint() - started) / Math.max(reads, 1);
  };
  const sequentialReadNs = readAll((i) => i, ids.length);
  const randomReadNs = readAll(() => Math.floor(Math.random() * ids.length), Math.min(ids.length, 100_000));
  const figures: OpenFigures = {
    openMs,
    entries,
    rssBefore,
    rssAfter: usage.rss,
    heapAfter: usage.heapUsed,
    externalAfter: usage.external,
    heapStoreOnly: storeOnly.heapUsed,
    externalStoreOnly: storeOnly.external,
    sequentialReadNs,
    randomReadNs,
  };
  await store.close();
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--open') {
    await openAndMeasure(process.argv[3]);
    return;
  }
  const count = Number(process.argv[2] ?? 1_000_000);
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'warren-store-recovery-'));
  try {
    const filling = performance.now();
    await fill(dir, count);
    const usage = fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(join(dir, name)).size, 0);
    console.log(
      `filled: ${count} messages in ${((performance.now() - filling) / 1000).toFixed(1)} s, ` +
        `${(usage / MiB).toFixed(1)} MiB on disk`,
    );
    const script = fileURLToPath(import.meta.url);
    for (let run = 1; run <= 2; run++) {
      const output = execFileSync(process.execPath, ['--expose-gc', script, '--open', dir], {
        encoding: 'utf8',
      });
      const f = JSON.parse(output.trim().split('\n').pop() ?? '{}') as OpenFigures;
      console.log(
        `open #${run}: ${f.openMs.toFixed(0)} ms for ${f.entries} entries; RSS ` +
          `${(f.rssBefore / MiB).toFixed(0)} MiB before, ${(f.rssAfter / MiB).toFixed(0)} MiB after ` +
          `(+${((f.rssAfter - f.rssBefore) / MiB).toFixed(0)} MiB); heap ${(f.heapAfter / MiB).toFixed(0)} MiB, ` +
          `external ${(f.externalAfter / MiB).toFixed(0)} MiB; without the recovered lists: heap ` +
          `${(f.heapStoreOnly / MiB).toFixed(0)} MiB, external ${(f.externalStoreOnly / MiB).toFixed(0)} MiB ` +
          `(the ids copied for the reads included); ` +
          `read() ${f.sequentialReadNs.toFixed(0)} ns ` +
          `in queue order, ${f.randomReadNs.toFixed(0)} ns at random`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
