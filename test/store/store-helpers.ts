// Shared fixtures of the store tests: temporary directories, messages, a log recorder, open/sync helpers.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach } from 'vitest';
import { crc32 } from '../../src/store/checksum.js';
import { nodeIo, type StoreFile, type StoreIo } from '../../src/store/file-io.js';
import { FileStore, type FileStoreOptions } from '../../src/store/file-store.js';
import type { Recovered, Store, StoredMessage } from '../../src/store/store.js';

const dirs: string[] = [];
const stores: Store[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'warren-store-'));
  dirs.push(dir);
  return dir;
}

export function message(
  id: number,
  body: string | Buffer = `body ${id}`,
  routingKey = `key.${id}`,
): StoredMessage {
  return {
    id,
    exchange: 'amq.direct',
    routingKey,
    properties: Buffer.from([0x10, 0x00, 0x02]),
    body: typeof body === 'string' ? Buffer.from(body) : body,
    publishedAt: 1_765_000_000_000 + id,
  };
}

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino logger that records its lines. */
export function recordingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  return { logger, lines };
}

/** Opens a FileStore (closed after the test if still open), fsync off unless asked. */
export async function openStore(
  dir: string,
  options: Partial<FileStoreOptions> = {},
): Promise<{ store: FileStore; recovered: Recovered }> {
  const store = new FileStore({ dir, fsync: false, ...options });
  stores.push(store);
  const recovered = await store.open();
  return { store, recovered };
}

/** Resolves once everything before it is durable; rejects with the store's error. */
export function synced(store: Store): Promise<void> {
  return new Promise((resolve, reject) => store.afterSync((err) => (err ? reject(err) : resolve())));
}

/** Queue contents as [messageId, delivered] pairs, for compact assertions. */
export function entries(recovered: Recovered, queue: string): [number, boolean][] {
  const q = recovered.queues.get(queue);
  if (!q) return [];
  return Array.from(q.messageIds, (id, i) => [id, q.delivered[i] === 1]);
}

export function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.seg'))
    .sort();
}

/**
 * The node file operations, with the files whose path ends with `suffix` changed by `wrap` (which gets
 * the real file and returns what to use instead of some of its methods).
 */
export function ioWrapping(suffix: string, wrap: (file: StoreFile) => Partial<StoreFile>): StoreIo {
  return {
    ...nodeIo,
    async open(path, flags) {
      const file = await nodeIo.open(path, flags);
      if (!path.endsWith(suffix)) return file;
      return { ...file, ...wrap(file) };
    },
  };
}

/**
 * Turns the segment files of a closed store into what a warren of segment format version 1 wrote: the
 * header's version 1, and each message record of type 2 rewritten as type 1 (without its publish time,
 * the bytes at 9 to 17 of the payload) in a frame of its own length and CRC. The queue index does not
 * change between the two (it names segments, not offsets), so the directory is then one that warren
 * wrote. Written from the byte diagrams of segment-format.ts, not with its code, so that the format as
 * documented is what is read.
 */
export function downgradeSegmentsToVersion1(dir: string): void {
  for (const name of segmentFiles(dir)) {
    const path = join(dir, name);
    const file = fs.readFileSync(path);
    if (file.readUInt16BE(4) !== 2) throw new Error(`${name} is not a version 2 segment`);
    const headerSize = file.readUInt16BE(6);
    const header = Buffer.from(file.subarray(0, headerSize));
    header.writeUInt16BE(1, 4);
    const out: Buffer[] = [header];
    for (let at = headerSize; at < file.length; ) {
      const length = file.readUInt32BE(at);
      const payload = file.subarray(at + 12, at + 12 + length);
      at += 12 + length;
      if (payload[0] !== 2) throw new Error(`${name}: a record of type ${payload[0]}`);
      const v1 = Buffer.concat([Buffer.from([1]), payload.subarray(1, 9), payload.subarray(17)]);
      const frame = Buffer.alloc(12);
      frame.writeUInt32BE(v1.length, 0);
      frame.writeUInt32BE(~v1.length >>> 0, 4);
      frame.writeUInt32BE(crc32(v1, 0, v1.length) >>> 0, 8);
      out.push(frame, v1);
    }
    fs.writeFileSync(path, Buffer.concat(out));
  }
}
