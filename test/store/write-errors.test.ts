import { describe, expect, it } from 'vitest';
import { nodeIo, type StoreIo } from '../../src/store/file-io.js';
import { StoreError } from '../../src/store/store-error.js';
import { entries, message, openStore, recordingLogger, synced, tempDir } from './store-helpers.js';

type Operation = 'open' | 'writev' | 'sync' | 'rename';

/** File operations that fail on demand (as root, a read-only directory would not stop a write). */
function faultyIo(): { io: StoreIo; failing: Set<Operation>; calls: Record<Operation, number> } {
  const failing = new Set<Operation>();
  const calls: Record<Operation, number> = { open: 0, writev: 0, sync: 0, rename: 0 };
  const check = (operation: Operation): void => {
    calls[operation]++;
    if (failing.has(operation)) {
      throw Object.assign(new Error(`EIO: injected ${operation} failure`), { code: 'EIO' });
    }
  };
  const io: StoreIo = {
    ...nodeIo,
    async open(path, flags) {
      check('open');
      const file = await nodeIo.open(path, flags);
      return {
        writev: async (buffers, position) => {
          check('writev');
          return file.writev(buffers, position);
        },
        sync: async () => {
          check('sync');
          return file.sync();
        },
        close: () => file.close(),
      };
    },
    async rename(from, to) {
      check('rename');
      return nodeIo.rename(from, to);
    },
  };
  return { io, failing, calls };
}

function nextSync(store: { afterSync(cb: (err?: Error) => void): void }): Promise<Error | undefined> {
  return new Promise((resolve) => store.afterSync(resolve));
}

describe('FileStore write errors', () => {
  it('hands a failed write to the pending afterSync callbacks, then writes the data again', async () => {
    const dir = tempDir();
    const { io, failing } = faultyIo();
    const { logger, lines } = recordingLogger();
    const { store } = await openStore(dir, { io, logger });
    store.publish(message(1), ['q']);
    await synced(store);

    failing.add('writev');
    expect(() => store.publish(message(2), ['q'])).not.toThrow();
    expect(() => store.remove('q', 1)).not.toThrow();
    const [first, second] = await Promise.all([nextSync(store), nextSync(store)]);
    expect(first).toBeInstanceOf(StoreError);
    expect((first as StoreError).code).toBe('IO');
    expect(first?.message).toMatch(
      /^writing (segment 0000000001\.seg|queues\.idx) failed: EIO: injected writev/,
    );
    expect(second).toBe(first);
    expect(lines).toContainEqual(expect.objectContaining({ level: 50, msg: 'store: batch write failed' }));

    failing.delete('writev');
    store.publish(message(3), ['q']);
    expect(await nextSync(store)).toBeUndefined();
    await store.close();

    const { recovered } = await openStore(dir);
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([2, 3]);
    expect(recovered.dropped).toEqual({ records: 0, bytes: 0, messages: 0 });
  });

  it('rewrites the bytes of a batch whose fsync failed', async () => {
    const dir = tempDir();
    const { io, failing, calls } = faultyIo();
    const { store } = await openStore(dir, { io, fsync: true });
    failing.add('sync');
    store.publish(message(1), ['q']);
    expect((await nextSync(store)) as StoreError).toMatchObject({ code: 'IO' });
    failing.delete('sync');
    const writes = calls.writev;
    store.publish(message(2), ['q']);
    expect(await nextSync(store)).toBeUndefined();
    // Segment and index, each rewritten from the failed position in one write.
    expect(calls.writev - writes).toBe(2);
    await store.close();
    const { recovered } = await openStore(dir);
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([1, 2]);
  });

  it('reports a segment that cannot be created, and creates it on the next batch', async () => {
    const dir = tempDir();
    const { io, failing } = faultyIo();
    const { store } = await openStore(dir, { io });
    failing.add('open');
    store.publish(message(1), ['q']);
    expect(((await nextSync(store)) as Error).message).toMatch(
      /segment 0000000001\.seg failed: EIO: injected open/,
    );
    failing.delete('open');
    expect(await nextSync(store)).toBeUndefined();
    await store.close();
    const { recovered } = await openStore(dir);
    expect(entries(recovered, 'q').map(([id]) => id)).toEqual([1]);
  });

  it('keeps the old index when a compaction cannot be renamed into place, and compacts again later', async () => {
    const dir = tempDir();
    const { io, failing } = faultyIo();
    const { store } = await openStore(dir, { io, indexCompactBytes: 1024 });
    failing.add('rename');
    let id = 0;
    let error: Error | undefined;
    for (let round = 0; round < 10 && error === undefined; round++) {
      for (let i = 0; i < 20; i++) store.publish(message(++id), ['q']);
      for (let i = id - 19; i < id; i++) store.remove('q', i);
      error = await nextSync(store);
    }
    expect(error?.message).toMatch(/^rewriting queues\.idx failed: EIO: injected rename/);
    failing.delete('rename');
    store.publish(message(++id), ['q']);
    expect(await nextSync(store)).toBeUndefined();
    await store.close();
    const { recovered } = await openStore(dir);
    expect(entries(recovered, 'q').map(([m]) => m)).toEqual(
      Array.from({ length: id }, (_, i) => i + 1).filter((m) => m % 20 === 0 || m === id),
    );
  });

  it('rejects close when the last flush fails, and still releases the lock', async () => {
    const dir = tempDir();
    const { io, failing } = faultyIo();
    const { store } = await openStore(dir, { io });
    store.publish(message(1), ['q']);
    failing.add('writev');
    await expect(store.close()).rejects.toMatchObject({ code: 'IO' });
    const { recovered } = await openStore(dir);
    expect(recovered.queues.size).toBe(0);
  });
});
