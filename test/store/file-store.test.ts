import fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../../src/store/store-error.js';
import { entries, message, openStore, segmentFiles, synced, tempDir } from './store-helpers.js';

describe('FileStore records', () => {
  it('round-trips messages: names, properties, bodies byte for byte, and publish times', async () => {
    const dir = tempDir();
    const big = Buffer.alloc(100_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const sent = [
      {
        id: 1,
        exchange: '',
        routingKey: 'q',
        properties: Buffer.alloc(0),
        body: Buffer.alloc(0),
        publishedAt: 0,
      },
      {
        id: 2,
        exchange: 'ex.ü',
        routingKey: 'ключ.路由',
        properties: Buffer.from([0x80, 0, 5, 1, 2]),
        body: big,
        publishedAt: Number.MAX_SAFE_INTEGER,
      },
      { ...message(3), exchange: 'e'.repeat(255), routingKey: 'r'.repeat(255) },
    ];
    const { store } = await openStore(dir);
    for (const m of sent) store.publish(m, ['q']);
    await synced(store);
    await store.close();

    const reopened = await openStore(dir);
    const { recovered } = reopened;
    expect(entries(recovered, 'q')).toEqual([
      [1, false],
      [2, false],
      [3, false],
    ]);
    for (const m of sent) {
      const got = reopened.store.read(m.id);
      expect({ ...got, body: undefined }).toEqual({ ...m, body: undefined });
      // Buffer.equals: a deep equality over 100 KB element by element is slow.
      expect(got?.body.equals(m.body)).toBe(true);
    }
    expect(recovered.maxMessageId).toBe(3);
    expect(recovered.dropped).toEqual({ records: 0, bytes: 0, messages: 0 });
  });

  it('writes a message routed to several queues once', async () => {
    const dir = tempDir();
    const body = Buffer.alloc(50_000, 7);
    const { store } = await openStore(dir);
    store.publish(message(1, body), ['a', 'b', 'c', 'd']);
    await synced(store);
    const segmentBytes = segmentFiles(dir).reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0);
    expect(segmentBytes).toBeGreaterThan(body.length);
    expect(segmentBytes).toBeLessThan(body.length + 200);
    await store.close();

    const reopened = await openStore(dir);
    for (const q of ['a', 'b', 'c', 'd']) expect(entries(reopened.recovered, q)).toEqual([[1, false]]);
    expect(reopened.store.read(1)?.body.equals(body)).toBe(true);
    // Still held by three queues: readable until the last one lets it go.
    for (const q of ['a', 'b', 'c']) reopened.store.remove(q, 1);
    expect(reopened.store.read(1)?.body.equals(body)).toBe(true);
    reopened.store.remove('d', 1);
    expect(reopened.store.read(1)).toBeUndefined();
  });

  it('rolls segments over at the size limit, giving an oversized record a segment alone', async () => {
    const dir = tempDir();
    const segmentSize = 4096;
    const { store } = await openStore(dir, { segmentSize });
    for (let id = 1; id <= 100; id++) store.publish(message(id, Buffer.alloc(200, id)), ['q']);
    store.publish(message(101, Buffer.alloc(10_000, 1)), ['q']);
    store.publish(message(102, Buffer.alloc(200, 2)), ['q']);
    await synced(store);
    const files = segmentFiles(dir);
    const sizes = files.map((f) => fs.statSync(join(dir, f)).size);
    expect(files.length).toBeGreaterThanOrEqual(7);
    expect(sizes.filter((size) => size > segmentSize)).toHaveLength(1);
    expect(store.diskUsage().segments).toBe(files.length);
    await store.close();

    const reopened = await openStore(dir, { segmentSize });
    expect(entries(reopened.recovered, 'q').map(([id]) => id)).toEqual(
      Array.from({ length: 102 }, (_, i) => i + 1),
    );
    expect(reopened.store.read(101)?.body.length).toBe(10_000);
  });

  it('refuses a segment size whose offsets would not fit 32 bits', async () => {
    for (const segmentSize of [2 ** 32, 2 ** 32 - 1, 0, 1.5]) {
      await expect(openStore(tempDir(), { segmentSize })).rejects.toThrow(RangeError);
    }
    const { store } = await openStore(tempDir(), { segmentSize: 2 ** 32 - 2 });
    store.publish(message(1), ['q']);
    await synced(store);
    expect(store.read(1)).toBeDefined();
  });

  it('reports a message it cannot record to the next afterSync, without throwing', async () => {
    const { store } = await openStore(tempDir());
    store.publish(message(1), ['q']);
    const first = new Promise<Error | undefined>((resolve) => store.afterSync(resolve));
    expect(() => store.publish({ ...message(2), routingKey: 'k'.repeat(256) }, ['q'])).not.toThrow();
    const second = new Promise<Error | undefined>((resolve) => store.afterSync(resolve));
    const third = new Promise<Error | undefined>((resolve) => store.afterSync(resolve));
    expect(await first).toBeUndefined();
    const error = await second;
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('INVALID');
    expect(error?.message).toMatch(/message 2: routing key of 256 bytes/);
    expect(await third).toBeUndefined();
  });
});

describe('FileStore restart', () => {
  it('rebuilds every queue in publish order with delivered flags', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    for (let id = 1; id <= 20; id++) {
      const queues = id % 3 === 0 ? ['a', 'b'] : id % 3 === 1 ? ['a'] : ['b', 'c'];
      store.publish(message(id), queues);
    }
    store.delivered('a', 4);
    store.delivered('b', 6);
    store.delivered('b', 6);
    store.delivered('c', 99);
    await synced(store);
    await store.close();

    const { store: reopened, recovered } = await openStore(dir);
    const expected = (filter: (id: number) => boolean, delivered: number[]) =>
      Array.from({ length: 20 }, (_, i) => i + 1)
        .filter(filter)
        .map((id) => [id, delivered.includes(id)]);
    expect(entries(recovered, 'a')).toEqual(expected((id) => id % 3 !== 2, [4]));
    expect(entries(recovered, 'b')).toEqual(expected((id) => id % 3 !== 1, [6]));
    expect(entries(recovered, 'c')).toEqual(expected((id) => id % 3 === 2, []));
    for (let id = 1; id <= 20; id++) expect(reopened.read(id)?.body.toString()).toBe(`body ${id}`);
  });

  it('honours removes and dropQueue after a restart, and keeps the ids growing', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    for (let id = 1; id <= 10; id++) store.publish(message(id), ['a', 'b', 'gone']);
    for (const id of [2, 4, 6]) store.remove('a', id);
    store.remove('b', 10);
    store.remove('nope', 1);
    store.remove('a', 999);
    store.dropQueue('gone');
    await synced(store);
    await store.close();

    const first = await openStore(dir);
    expect(entries(first.recovered, 'a').map(([id]) => id)).toEqual([1, 3, 5, 7, 8, 9, 10]);
    expect(entries(first.recovered, 'b').map(([id]) => id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(first.recovered.queues.has('gone')).toBe(false);
    expect(first.recovered.maxMessageId).toBe(10);
    // State carried over: removes after a restart apply to recovered entries, and new publishes append.
    first.store.remove('a', 1);
    first.store.dropQueue('b');
    first.store.publish(message(11), ['b']);
    await synced(first.store);
    await first.store.close();

    const second = await openStore(dir);
    expect(entries(second.recovered, 'a').map(([id]) => id)).toEqual([3, 5, 7, 8, 9, 10]);
    expect(entries(second.recovered, 'b')).toEqual([[11, false]]);
    expect(second.store.read(1)).toBeUndefined();
    expect(second.store.read(3)?.routingKey).toBe('key.3');
    expect(second.recovered.maxMessageId).toBe(11);
  });

  it('appends to a clean index after a restart instead of rewriting it, keeping its queue numbers', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    for (let id = 1; id <= 6; id++) store.publish(message(id), ['a', 'b', 'gone']);
    store.dropQueue('gone');
    store.delivered('b', 2);
    await store.close();
    const index = join(dir, 'queues.idx');
    const inode = fs.statSync(index).ino;

    const first = await openStore(dir);
    expect(fs.statSync(index).ino).toBe(inode);
    first.store.remove('a', 1);
    first.store.publish(message(7), ['gone', 'new']);
    first.store.publish(message(8), ['b']);
    first.store.delivered('a', 3);
    await first.store.close();
    expect(fs.statSync(index).ino).toBe(inode);

    const second = await openStore(dir);
    expect(entries(second.recovered, 'a')).toEqual([
      [2, false],
      [3, true],
      [4, false],
      [5, false],
      [6, false],
    ]);
    expect(entries(second.recovered, 'b').filter(([, delivered]) => delivered)).toEqual([[2, true]]);
    expect(entries(second.recovered, 'b').map(([id]) => id)).toEqual([1, 2, 3, 4, 5, 6, 8]);
    expect(entries(second.recovered, 'gone')).toEqual([[7, false]]);
    expect(entries(second.recovered, 'new')).toEqual([[7, false]]);
    expect(second.recovered.maxMessageId).toBe(8);
  });

  it('remembers the highest id even when every message is gone', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    store.publish(message(41), ['q']);
    store.remove('q', 41);
    await store.close();
    const { recovered } = await openStore(dir);
    expect(recovered.maxMessageId).toBe(41);
    expect(recovered.queues.size).toBe(0);
  });
});

describe('FileStore segment deletion', () => {
  it('deletes segments once nothing references them, leaving about one', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir, { segmentSize: 8192 });
    for (let id = 1; id <= 300; id++) store.publish(message(id, Buffer.alloc(300, 1)), ['a', 'b']);
    await synced(store);
    const full = store.diskUsage();
    expect(full.segments).toBeGreaterThan(10);
    expect(segmentFiles(dir)).toHaveLength(full.segments);

    for (let id = 1; id <= 300; id++) store.remove('a', id);
    await synced(store);
    expect(store.diskUsage().segments).toBe(full.segments);
    for (let id = 1; id <= 150; id++) store.remove('b', id);
    await synced(store);
    const half = store.diskUsage().segments;
    expect(half).toBeLessThan(full.segments * 0.6);
    expect(segmentFiles(dir)).toHaveLength(half);

    store.dropQueue('b');
    await synced(store);
    expect(store.diskUsage().segments).toBe(1);
    expect(segmentFiles(dir)).toHaveLength(1);
    expect(fs.statSync(join(dir, segmentFiles(dir)[0])).size).toBeLessThanOrEqual(8192);
    await store.close();

    const { recovered } = await openStore(dir);
    expect(recovered.queues.size).toBe(0);
    expect(segmentFiles(dir)).toHaveLength(0);
  });
});

describe('FileStore dropping a long queue', () => {
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('releases its messages over later turns: its segments go, messages another queue holds stay', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir, { segmentSize: 256 * 1024 });
    const count = 150_000; // more than two slices of releases
    for (let id = 1; id <= count; id++) store.publish(message(id), id <= 50 ? ['big', 'other'] : ['big']);
    await synced(store);
    const full = store.diskUsage().segments;
    expect(full).toBeGreaterThan(10);

    store.dropQueue('big');
    for (let i = 0; i < 3; i++) await turn();
    await synced(store);
    // Left: the first segment, with the messages 'other' holds, and the active one.
    expect(store.diskUsage().segments).toBe(2);
    expect(segmentFiles(dir)).toHaveLength(2);
    expect(store.read(50)?.routingKey).toBe('key.50');
    await store.close();
    const { recovered } = await openStore(dir);
    expect(entries(recovered, 'other').map(([id]) => id)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    expect(recovered.queues.has('big')).toBe(false);
  });

  it('finishes the release when closed right after the drop', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir, { segmentSize: 256 * 1024 });
    for (let id = 1; id <= 100_000; id++) store.publish(message(id), ['big']);
    await synced(store);
    expect(segmentFiles(dir).length).toBeGreaterThan(10);
    store.dropQueue('big');
    await store.close();
    // Deleted by the store's last batches, not left for the next open to find.
    expect(segmentFiles(dir).length).toBeLessThanOrEqual(1);
  });
});

describe('FileStore group commit', () => {
  it('calls afterSync back in call order, across batches, never synchronously', async () => {
    const { store } = await openStore(tempDir(), { fsync: true });
    const order: number[] = [];
    let sync = true;
    const done: Promise<void>[] = [];
    let id = 1;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) {
        store.publish(message(id++), ['q']);
        const n = order.length + done.length;
        done.push(
          new Promise((resolve) =>
            store.afterSync((err) => {
              expect(err).toBeUndefined();
              expect(sync).toBe(false);
              order.push(n);
              resolve();
            }),
          ),
        );
      }
      // Let a batch start so that later calls queue behind one in flight.
      await new Promise((resolve) => setImmediate(resolve));
    }
    sync = false;
    await Promise.all(done);
    expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('writes delivered marks lazily, without an afterSync, within a fraction of a second', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    store.publish(message(1), ['q']);
    store.publish(message(2), ['q']);
    await synced(store);
    store.delivered('q', 2);
    await new Promise((resolve) => setTimeout(resolve, 400));
    // Read the files as a crash would leave them: the store is still open.
    const copy = tempDir();
    for (const name of fs.readdirSync(dir)) {
      if (name !== 'warren.lock') fs.copyFileSync(join(dir, name), join(copy, name));
    }
    const { recovered } = await openStore(copy);
    expect(entries(recovered, 'q')).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  it('compacts the index so it does not grow forever', async () => {
    const dir = tempDir();
    const indexCompactBytes = 16 * 1024;
    const { store } = await openStore(dir, { indexCompactBytes });
    let id = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 50; i++) store.publish(message(++id), ['q', 'r']);
      for (let i = id - 49; i <= id; i++) {
        store.delivered('q', i);
        store.remove('q', i);
        if (i % 10 !== 0) store.remove('r', i);
      }
      await synced(store);
    }
    // 2000 publishes to two queues and their removes: about 100 KB of index records without compaction.
    expect(fs.statSync(join(dir, 'queues.idx')).size).toBeLessThan(3 * indexCompactBytes);
    store.delivered('r', 10);
    await store.close();

    const { recovered } = await openStore(dir);
    expect(recovered.queues.has('q')).toBe(false);
    const r = entries(recovered, 'r');
    expect(r.map(([messageId]) => messageId)).toEqual(Array.from({ length: 200 }, (_, i) => (i + 1) * 10));
    expect(r.filter(([, delivered]) => delivered)).toEqual([[10, true]]);
  });

  it('refuses record calls after close, reporting through afterSync', async () => {
    const { store } = await openStore(tempDir());
    await store.close();
    expect(() => store.publish(message(1), ['q'])).not.toThrow();
    expect(() => store.remove('q', 1)).not.toThrow();
    const error = await new Promise<Error | undefined>((resolve) => store.afterSync(resolve));
    expect((error as StoreError).code).toBe('CLOSED');
    await expect(store.saveDefinitions({})).rejects.toThrow(/closed/);
  });
});
