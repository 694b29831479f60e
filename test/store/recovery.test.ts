import fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/file-store.js';
import type { Recovered } from '../../src/store/store.js';
import { StoreError } from '../../src/store/store-error.js';
import {
  downgradeSegmentsToVersion1,
  entries,
  message,
  openStore,
  recordingLogger,
  segmentFiles,
  synced,
  tempDir,
} from './store-helpers.js';

const SEGMENT_HEADER = 16;
const FRAME_HEADER = 12;

/** Offsets of the records of a segment or index file, from its frames' length fields. */
function recordOffsets(file: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = SEGMENT_HEADER; at < file.length; at += FRAME_HEADER + file.readUInt32BE(at))
    offsets.push(at);
  return offsets;
}

/** A closed store holding messages 1..count in queue q; returns its directory and its one segment file. */
async function storeWith(count: number): Promise<{ dir: string; segment: string }> {
  const dir = tempDir();
  const { store } = await openStore(dir);
  for (let id = 1; id <= count; id++) store.publish(message(id), ['q']);
  await store.close();
  const files = segmentFiles(dir);
  expect(files).toHaveLength(1);
  return { dir, segment: join(dir, files[0]) };
}

/** Copies a store's files (not its lock) to a fresh directory, as a crash would leave them. */
function copyStore(from: string): string {
  const to = tempDir();
  for (const name of fs.readdirSync(from)) {
    if (name !== 'warren.lock') fs.copyFileSync(join(from, name), join(to, name));
  }
  return to;
}

describe('recovery from corrupt records', () => {
  it('skips a record with a bad checksum in the middle of a segment, logs it, and goes on', async () => {
    const { dir, segment } = await storeWith(3);
    const file = fs.readFileSync(segment);
    const [, second, third] = recordOffsets(file);
    file[third - 2] ^= 0x01; // the last byte of record 2's body
    fs.writeFileSync(segment, file);

    const { logger, lines } = recordingLogger();
    const { store, recovered } = await openStore(dir, { logger });
    expect(entries(recovered, 'q')).toEqual([
      [1, false],
      [3, false],
    ]);
    expect(store.read(2)).toBeUndefined();
    expect(store.read(3)?.body.toString()).toBe('body 3');
    expect(recovered.dropped).toEqual({ records: 1, bytes: third - second, messages: 1 });
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'store: corrupt record skipped (bad checksum)', offset: second }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, messages: 1 }));
    expect(fs.statSync(segment).size).toBe(file.length);
  });

  it('skips a record whose checksum field itself is damaged', async () => {
    const { dir, segment } = await storeWith(3);
    const file = fs.readFileSync(segment);
    const [, second] = recordOffsets(file);
    file[second + 9] ^= 0xff;
    fs.writeFileSync(segment, file);
    const { recovered } = await openStore(dir);
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([1, 3]);
    expect(recovered.dropped.records).toBe(1);
  });

  it('treats the rest of the segment as torn when a length field is garbage', async () => {
    const { dir, segment } = await storeWith(3);
    const file = fs.readFileSync(segment);
    const [, second] = recordOffsets(file);
    file[second + 2] ^= 0x10;
    fs.writeFileSync(segment, file);

    const { logger, lines } = recordingLogger();
    const { recovered } = await openStore(dir, { logger });
    expect(entries(recovered, 'q')).toEqual([[1, false]]);
    expect(recovered.dropped).toEqual({ records: 1, bytes: file.length - second, messages: 2 });
    expect(fs.statSync(segment).size).toBe(second);
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'store: torn tail cut off',
        offset: second,
        bytes: file.length - second,
      }),
    );
  });

  it('cuts off a torn last record at every byte offset and truncates the file', async () => {
    const { dir, segment } = await storeWith(2);
    const file = fs.readFileSync(segment);
    const [, last] = recordOffsets(file);
    const index = fs.readFileSync(join(dir, 'queues.idx'));
    expect(file.length - last).toBeGreaterThan(40);
    for (let cut = last; cut < file.length; cut++) {
      const torn = tempDir();
      fs.writeFileSync(join(torn, 'queues.idx'), index);
      const tornSegment = join(torn, segment.slice(dir.length + 1));
      fs.writeFileSync(tornSegment, file.subarray(0, cut));
      const { logger, lines } = recordingLogger();
      const { store, recovered } = await openStore(torn, { logger });
      expect(entries(recovered, 'q')).toEqual([[1, false]]);
      expect(store.read(1)?.body.toString()).toBe('body 1');
      expect(store.read(2)).toBeUndefined();
      expect(recovered.dropped).toEqual({ records: cut > last ? 1 : 0, bytes: cut - last, messages: 1 });
      expect(fs.statSync(tornSegment).size).toBe(last);
      if (cut > last) expect(lines.some((l) => l.msg === 'store: torn tail cut off')).toBe(true);
      await store.close();
      fs.rmSync(torn, { recursive: true, force: true });
    }
  });

  it('treats a zero-filled tail (a file extended but never written) as torn', async () => {
    const { dir, segment } = await storeWith(2);
    fs.appendFileSync(segment, Buffer.alloc(4096));
    const { recovered } = await openStore(dir);
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([1, 2]);
    expect(recovered.dropped).toEqual({ records: 1, bytes: 4096, messages: 0 });
  });

  it('cuts a torn tail off the queue index, losing only the torn records', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    for (let id = 1; id <= 3; id++) store.publish(message(id), ['q']);
    await synced(store);
    store.remove('q', 1);
    store.remove('q', 3);
    await store.close();
    const path = join(dir, 'queues.idx');
    const index = fs.readFileSync(path);
    const records = recordOffsets(index);
    // Tear the last record (REMOVE 3) in half: message 3 comes back, as an unacknowledged message would.
    fs.writeFileSync(path, index.subarray(0, records[records.length - 1] + 7));
    const { recovered } = await openStore(dir);
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([2, 3]);
    expect(recovered.dropped).toEqual({ records: 1, bytes: 7, messages: 0 });
  });
});

describe('recovery from missing and foreign files', () => {
  it('drops and logs the messages of a missing segment file, without failing', async () => {
    const dir = tempDir();
    const segmentSize = 2048;
    const { store } = await openStore(dir, { segmentSize });
    for (let id = 1; id <= 30; id++) store.publish(message(id, Buffer.alloc(300, id)), ['q', 'r']);
    await store.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThanOrEqual(3);
    fs.rmSync(join(dir, files[1]));

    const { logger, lines } = recordingLogger();
    const { store: reopened, recovered } = await openStore(dir, { logger, segmentSize });
    const lost = lines.find((l) => l.msg === 'store: segment file missing, its messages dropped');
    expect(lost).toMatchObject({ segment: Number.parseInt(files[1], 10) });
    const kept = entries(recovered, 'q').map(([id]) => id);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBe(30 - (lost?.messages as number) / 2);
    expect(entries(recovered, 'r').map(([id]) => id)).toEqual(kept);
    expect(recovered.dropped.messages).toBe(lost?.messages);
    for (const id of kept) expect(reopened.read(id)?.body[0]).toBe(id);
    await reopened.close();

    // The index was rewritten without them: the next open drops nothing and reports nothing.
    const again = recordingLogger();
    const next = await openStore(dir, { logger: again.logger, segmentSize });
    expect(next.recovered.dropped).toEqual({ records: 0, bytes: 0, messages: 0 });
    expect(entries(next.recovered, 'q').map(([id]) => id)).toEqual(kept);
    expect(again.lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('recovers what was synced when the broker died without closing', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir, { fsync: true });
    for (let id = 1; id <= 5; id++) store.publish(message(id), ['q']);
    store.remove('q', 2);
    await synced(store);
    const { recovered } = await openStore(copyStore(dir));
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([1, 3, 4, 5]);
  });

  it('drops a segment file whose header is torn, and refuses a newer format version', async () => {
    const { dir } = await storeWith(1);
    fs.writeFileSync(join(dir, '0000000099.seg'), Buffer.from('WSE'));
    const { store, recovered } = await openStore(dir);
    expect(entries(recovered, 'q')).toEqual([[1, false]]);
    expect(recovered.dropped).toEqual({ records: 1, bytes: 3, messages: 0 });
    expect(fs.existsSync(join(dir, '0000000099.seg'))).toBe(false);
    store.publish(message(2), ['q']);
    await store.close();

    const [first] = segmentFiles(dir);
    const file = fs.readFileSync(join(dir, first));
    file.writeUInt16BE(3, 4);
    fs.writeFileSync(join(dir, first), file);
    const error = await new FileStore({ dir, fsync: false }).open().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('VERSION');
    expect((error as Error).message).toMatch(/format version 3; this warren reads 1 and 2/);
    expect(fs.existsSync(join(dir, 'warren.lock'))).toBe(false);
  });

  it('refuses to open segments without their queue index rather than deleting them', async () => {
    const { dir } = await storeWith(1);
    fs.rmSync(join(dir, 'queues.idx'));
    const error = await new FileStore({ dir, fsync: false }).open().catch((err: unknown) => err);
    expect((error as StoreError).code).toBe('CORRUPT');
    expect(segmentFiles(dir)).toHaveLength(1);
  });
});

describe('recovery of segment format version 1', () => {
  it('reads records written without a publish time (publishedAt 0), and writes new ones in version 2 beside them', async () => {
    const dir = tempDir();
    let { store } = await openStore(dir);
    for (let id = 1; id <= 3; id++) store.publish(message(id), id === 2 ? ['q', 'r'] : ['q']);
    store.remove('q', 1);
    await store.close();
    downgradeSegmentsToVersion1(dir);
    const [old] = segmentFiles(dir);
    expect(fs.readFileSync(join(dir, old)).readUInt16BE(4)).toBe(1);

    let recovered: Recovered;
    ({ store, recovered } = await openStore(dir));
    expect(recovered.dropped).toEqual({ records: 0, bytes: 0, messages: 0 });
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([2, 3]);
    expect(entries(recovered, 'r').map(([id]) => id)).toEqual([2]);
    for (const id of [2, 3]) {
      const got = store.read(id);
      expect(got?.publishedAt).toBe(0);
      expect(got?.routingKey).toBe(`key.${id}`);
      expect(got?.body.toString()).toBe(`body ${id}`);
    }
    store.publish(message(4), ['q']);
    await store.close();

    ({ store, recovered } = await openStore(dir));
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([2, 3, 4]);
    expect(store.read(3)?.publishedAt).toBe(0);
    expect(store.read(4)?.publishedAt).toBe(message(4).publishedAt);
    const files = segmentFiles(dir);
    expect(files).toHaveLength(2);
    expect(files.map((name) => fs.readFileSync(join(dir, name)).readUInt16BE(4))).toEqual([1, 2]);
  });
});
