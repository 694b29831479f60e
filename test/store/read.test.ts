import fs from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nodeIo, type StoreIo } from '../../src/store/file-io.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { StoredMessage } from '../../src/store/store.js';
import {
  entries,
  message,
  openStore,
  recordingLogger,
  segmentFiles,
  synced,
  tempDir,
} from './store-helpers.js';

/** The message read back, compared field by field (buffers by content). */
function expectSame(got: StoredMessage | undefined, sent: StoredMessage): void {
  expect(got).toBeDefined();
  expect({ ...got, properties: undefined, body: undefined }).toEqual({
    ...sent,
    properties: undefined,
    body: undefined,
  });
  expect(got?.properties.equals(sent.properties)).toBe(true);
  expect(got?.body.equals(sent.body)).toBe(true);
}

/** A message whose body says its id, of a size that varies with it. */
function sized(id: number, size = 50 + ((id * 37) % 300)): StoredMessage {
  const body = Buffer.alloc(size, id & 0xff);
  body.writeUInt32BE(id, 0);
  return message(id, body);
}

/** File operations whose writes wait until `open()` is called: a batch held in flight. */
function gatedIo(): { io: StoreIo; close(): void; open(): void; writes: () => number } {
  let gate: Promise<void> = Promise.resolve();
  let release = (): void => {};
  let writes = 0;
  const io: StoreIo = {
    ...nodeIo,
    async open(path, flags) {
      const file = await nodeIo.open(path, flags);
      return {
        writev: async (buffers, position) => {
          writes++;
          await gate;
          return file.writev(buffers, position);
        },
        sync: () => file.sync(),
        close: () => file.close(),
      };
    },
  };
  return {
    io,
    close: () => {
      gate = new Promise((resolve) => (release = resolve));
    },
    open: () => release(),
    writes: () => writes,
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('FileStore.read of this run’s messages', () => {
  it('reads a message right after publish, while its batch is written, and after', async () => {
    const gate = gatedIo();
    const { store } = await openStore(tempDir(), { io: gate.io });
    const first = sized(1);
    store.publish(first, ['q']);
    // Still in the write buffer: no batch has run.
    expectSame(store.read(1), first);

    gate.close();
    const done = synced(store);
    while (gate.writes() === 0) await turn();
    // The batch is in flight, its write held: the record is in the chunks being written.
    expectSame(store.read(1), first);
    const second = sized(2);
    store.publish(second, ['q']);
    expectSame(store.read(2), second);
    gate.open();
    await done;
    await synced(store);
    expectSame(store.read(1), first);
    expectSame(store.read(2), second);
  });

  it('reads large records, whose bodies the write buffer holds by reference, before and after writing', async () => {
    const { store } = await openStore(tempDir());
    const big = sized(1, 100_000);
    const small = sized(2, 10);
    const huge = sized(3, 300_000);
    store.publish(big, ['q']);
    store.publish(small, ['q']);
    store.publish(huge, ['q']);
    expectSame(store.read(1), big);
    expectSame(store.read(2), small);
    expectSame(store.read(3), huge);
    await synced(store);
    expectSame(store.read(3), huge);
    expectSame(store.read(1), big);
    expectSame(store.read(2), small);
  });

  it('reads across many segments, buffered, rolled and written, in order and at random', async () => {
    const dir = tempDir();
    const segmentSize = 4096;
    const { store } = await openStore(dir, { segmentSize });
    const sent = new Map<number, StoredMessage>();
    let id = 0;
    for (let round = 0; round < 10; round++) {
      // Some rounds synced, some left in the buffers of rolled segments when read.
      for (let i = 0; i < 100; i++) {
        const m = sized(++id);
        sent.set(id, m);
        store.publish(m, id % 4 === 0 ? ['q', 'r'] : ['q']);
      }
      for (let check = id - 99; check <= id; check += 7)
        expectSame(store.read(check), sent.get(check) as StoredMessage);
      if (round % 3 !== 2) await synced(store);
    }
    await synced(store);
    expect(segmentFiles(dir).length).toBeGreaterThan(50);
    for (let m = 1; m <= id; m++) expectSame(store.read(m), sent.get(m) as StoredMessage);
    for (let i = 0; i < 300; i++) {
      const m = 1 + ((i * 7919) % id);
      expectSame(store.read(m), sent.get(m) as StoredMessage);
    }
    // Removing most frees whole segments; what is left still reads.
    for (let m = 1; m <= id; m++) if (m % 50 !== 0) store.remove('q', m);
    for (let m = 4; m <= id; m += 4) if (m % 50 !== 0) store.remove('r', m);
    await synced(store);
    expect(store.diskUsage().segments).toBeLessThan(25);
    for (let m = 50; m <= id; m += 50) expectSame(store.read(m), sent.get(m) as StoredMessage);
    expect(store.read(49)).toBeUndefined();
  });

  it('reads a message whose write failed from memory, and from the file once written', async () => {
    const dir = tempDir();
    let failing = false;
    const io: StoreIo = {
      ...nodeIo,
      async open(path, flags) {
        const file = await nodeIo.open(path, flags);
        return {
          ...file,
          writev: async (buffers, position) => {
            if (failing) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
            return file.writev(buffers, position);
          },
        };
      },
    };
    const { store } = await openStore(dir, { io });
    store.publish(sized(1), ['q']);
    await synced(store);
    failing = true;
    store.publish(sized(2), ['q']);
    await expect(synced(store)).rejects.toMatchObject({ code: 'IO' });
    expectSame(store.read(2), sized(2));
    store.publish(sized(3), ['q']);
    expectSame(store.read(3), sized(3));
    failing = false;
    await synced(store);
    for (const m of [1, 2, 3]) expectSame(store.read(m), sized(m));
  });

  it('gives a message published again to another queue one record, readable until both let it go', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    store.publish(sized(1), ['a']);
    await synced(store);
    const before = store.diskUsage().bytes;
    store.publish(sized(1), ['b']);
    await synced(store);
    // Only the index grew (QUEUE and ENQUEUE records, 51 bytes), not the segment (the record is 136).
    expect(store.diskUsage().bytes - before).toBe(51);
    store.remove('a', 1);
    expectSame(store.read(1), sized(1));
    await store.close();
    const reopened = await openStore(dir);
    expect(entries(reopened.recovered, 'b')).toEqual([[1, false]]);
    expectSame(reopened.store.read(1), sized(1));
    reopened.store.remove('b', 1);
    expect(reopened.store.read(1)).toBeUndefined();
  });
});

describe('FileStore.read after a restart', () => {
  it('reads every recovered message, and the deprecated messages view reads too', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir, { segmentSize: 8192 });
    for (let id = 1; id <= 500; id++) store.publish(sized(id), id % 2 === 0 ? ['a', 'b'] : ['a']);
    store.remove('a', 10);
    await store.close();

    const { store: reopened, recovered } = await openStore(dir, { segmentSize: 8192 });
    expect(entries(recovered, 'a')).toHaveLength(499);
    for (let id = 1; id <= 500; id++) expectSame(reopened.read(id), sized(id));
    expect(recovered.messages.size).toBe(500);
    expect(recovered.messages.has(10)).toBe(true);
    expectSame(recovered.messages.get(7), sized(7));
    reopened.remove('b', 10);
    expect(recovered.messages.has(10)).toBe(false);
    expect(recovered.messages.get(10)).toBeUndefined();
    // New messages after the recovered ones, and a restart again.
    for (let id = 501; id <= 520; id++) reopened.publish(sized(id), ['a']);
    await reopened.close();
    const again = await openStore(dir, { segmentSize: 8192 });
    for (let id = 495; id <= 520; id++) expectSame(again.store.read(id), sized(id));
  });

  it('returns undefined, logging a warning, for unknown, removed and dropped messages', async () => {
    const dir = tempDir();
    const { logger, lines } = recordingLogger();
    const { store } = await openStore(dir, { logger });
    for (let id = 1; id <= 4; id++) store.publish(sized(id), id < 3 ? ['q'] : ['gone']);
    store.remove('q', 1);
    store.dropQueue('gone');
    for (const id of [1, 3, 4, 99]) expect(store.read(id)).toBeUndefined();
    expectSame(store.read(2), sized(2));
    const warnings = lines.filter((l) => l.msg === 'store: read of a message no queue holds');
    expect(warnings.map((l) => l.messageId)).toEqual([1, 3, 4, 99]);
    expect(warnings.every((l) => l.level === 40)).toBe(true);
    await store.close();
    expect(store.read(2)).toBeUndefined();
    const { store: reopened } = await openStore(dir);
    for (const id of [1, 3, 4, 99]) expect(reopened.read(id)).toBeUndefined();
    expectSame(reopened.read(2), sized(2));
  });

  it('returns undefined, without throwing, for a record corrupted on disk after recovery', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    for (let id = 1; id <= 3; id++) store.publish(sized(id), ['q']);
    await store.close();
    const { logger, lines } = recordingLogger();
    const { store: reopened } = await openStore(dir, { logger });
    const [segment] = segmentFiles(dir);
    const path = join(dir, segment);
    const file = fs.readFileSync(path);
    // The last byte of message 2's body: its record ends where message 3's starts.
    const third = file.indexOf(Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]));
    file[third - 1 - 12 - 2] ^= 0x10;
    fs.writeFileSync(path, file);
    let read: StoredMessage | undefined;
    expect(() => {
      read = reopened.read(2);
    }).not.toThrow();
    expect(read).toBeUndefined();
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: 'store: message record unusable',
        messageId: 2,
        reason: 'bad checksum',
      }),
    );
    expectSame(reopened.read(1), sized(1));
    expectSame(reopened.read(3), sized(3));
  });

  it('returns undefined, without throwing, when the segment file cannot be read', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    store.publish(sized(1), ['q']);
    await store.close();
    const { logger, lines } = recordingLogger();
    const { store: reopened } = await openStore(dir, { logger });
    fs.rmSync(join(dir, segmentFiles(dir)[0]));
    expect(() => reopened.read(1)).not.toThrow();
    expect(reopened.read(1)).toBeUndefined();
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 40, msg: 'store: cannot read a message record', messageId: 1 }),
    );
  });

  it('MemoryStore reads nothing', async () => {
    const store = new MemoryStore();
    await store.open();
    store.publish(sized(1), ['q']);
    expect(store.read(1)).toBeUndefined();
  });
});

/** A full garbage collection, for the memory test (vitest runs without --expose-gc). */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('FileStore recovery memory', () => {
  it('recovers 200k messages without a buffer or a body per message', async () => {
    const dir = tempDir();
    const count = 200_000;
    const { store } = await openStore(dir);
    const properties = Buffer.from([0x10, 0x00, 0x02]);
    for (let id = 1; id <= count; id++) {
      store.publish(
        {
          id,
          exchange: 'amq.direct',
          routingKey: 'k',
          properties,
          body: Buffer.alloc(64, id),
          publishedAt: id,
        },
        ['q'],
      );
      if (id % 20_000 === 0) await synced(store);
    }
    await store.close();

    const allocations = ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'from'] as const;
    const spies = allocations.map((name) => vi.spyOn(Buffer, name));
    collect();
    const before = process.memoryUsage();
    const { recovered } = await openStore(dir);
    collect();
    const after = process.memoryUsage();
    const buffers = spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    for (const spy of spies) spy.mockRestore();

    expect(recovered.queues.get('q')?.messageIds).toHaveLength(count);
    // A handful of buffers (blocks of the scan, headers, the write buffers), not one per message.
    expect(buffers).toBeLessThan(100);
    // What stays per message: its id and mark in the returned arrays (9 bytes), its queue entry (9
    // bytes) and its location (24 bytes), with up to twice that in array capacity (about 63 in all,
    // against 122 with an object per message in the returned list). Loading the
    // messages as before cost over 500 bytes each, bodies (64 bytes here) included.
    const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
    expect(grown / count).toBeLessThan(100);
  });
});
