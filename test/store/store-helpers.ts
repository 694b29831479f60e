// Shared fixtures of the store tests: temporary directories, messages, a log recorder, open/sync helpers.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach } from 'vitest';
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
