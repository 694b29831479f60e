import { describe, expect, it } from 'vitest';
import { nodeIo, type StoreIo } from '../../src/store/file-io.js';
import type { FileStore } from '../../src/store/file-store.js';
import { entries, message, openStore, synced, tempDir } from './store-helpers.js';

/**
 * File operations that, once armed, hold each write to the index's temporary file (a rewrite in
 * progress) until the test lets it go: `held` resolves when one is waiting, `release()` lets it through.
 */
function gatedIo(): {
  io: StoreIo;
  held: () => Promise<void>;
  arm: () => void;
  release: () => void;
  releaseAll: () => void;
  /** Writes to a temporary index file since the gate was armed. */
  tempWrites: () => number;
} {
  let writes = 0;
  let open = true;
  let onHeld: (() => void) | undefined;
  let waiting: (() => void) | undefined;
  let heldAlready = false;
  // The temporary file's writes; once renamed into place, the same file takes the appends that follow.
  let temp: { renamed: boolean } | undefined;
  const io: StoreIo = {
    ...nodeIo,
    async open(path, flags) {
      const file = await nodeIo.open(path, flags);
      if (!path.endsWith('queues.idx.tmp')) return file;
      const state = { renamed: false };
      temp = state;
      return {
        ...file,
        writev: async (buffers, position) => {
          if (!state.renamed) {
            writes++;
            if (!open) {
              await new Promise<void>((resolve) => {
                waiting = resolve;
                heldAlready = true;
                onHeld?.();
              });
            }
          }
          return file.writev(buffers, position);
        },
      };
    },
    async rename(from, to) {
      await nodeIo.rename(from, to);
      if (temp !== undefined) temp.renamed = true;
    },
  };
  const release = (): void => {
    heldAlready = false;
    onHeld = undefined;
    const go = waiting;
    waiting = undefined;
    go?.();
  };
  return {
    io,
    held: () =>
      heldAlready
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            onHeld = resolve;
          }),
    arm: () => {
      open = false;
      writes = 0;
    },
    release,
    releaseAll: () => {
      open = true;
      release();
    },
    tempWrites: () => writes,
  };
}

/** Publishes and removes messages in queue `r` until a rewrite of the index starts (at most `rounds` rounds). */
async function churnUntilRewrite(
  store: FileStore,
  firstId: number,
  held: Promise<void>,
  rounds: number,
): Promise<number> {
  let id = firstId;
  let started = false;
  void held.then(() => {
    started = true;
  });
  for (let round = 0; round < rounds && !started; round++) {
    for (let i = 0; i < 2000; i++) store.publish(message(++id, 'x'), ['r']);
    for (let i = id - 1999; i <= id; i++) store.remove('r', i);
    await Promise.race([synced(store), held]);
  }
  expect(started).toBe(true);
  return id;
}

describe('FileStore index rewrite', () => {
  it('writes a large snapshot in slices, and keeps what changes meanwhile for after it', async () => {
    const dir = tempDir();
    const gate = gatedIo();
    const { store } = await openStore(dir, { io: gate.io, indexCompactBytes: 1024 });
    // 80,000 entries: a snapshot of about 2.4 MB, more than two of the rewrite's 1 MiB slices.
    const live = 80_000;
    for (let id = 1; id <= live; id++) store.publish(message(id, 'q'), ['q']);
    await synced(store);

    gate.arm();
    let id = await churnUntilRewrite(store, live, gate.held(), 400);
    // The first slice waits to be written. What happens now is after the snapshot: it must reach the
    // index after the rewrite, whatever the slices still to come hold.
    for (let m = 1; m <= 10; m++) store.remove('q', m);
    store.delivered('q', 11);
    const late = ++id;
    store.publish(message(late), ['q', 's']);
    const afterFirst = synced(store);
    gate.release();
    await Promise.race([gate.held(), afterFirst]);
    // Second slice: these entries were captured, and are not yet encoded.
    for (let m = live - 9; m <= live; m++) store.remove('q', m);
    store.delivered('q', live - 10);
    store.remove('s', late);
    // Enough new entries that the queue's arrays compact and grow (moving what the snapshot captured).
    const more = 60_000;
    for (let m = 1; m <= more; m++) store.publish(message(late + m, 'q'), ['q']);
    const afterSecond = synced(store);
    gate.release();
    // A third slice (or the end of the rewrite, if there were only two: then the count below fails).
    await Promise.race([gate.held(), afterFirst]);
    gate.releaseAll();
    await afterFirst;
    await afterSecond;
    expect(gate.tempWrites()).toBeGreaterThanOrEqual(3);
    await store.close();

    const { store: reopened, recovered } = await openStore(dir);
    expect(reopened.read(late)?.body.toString()).toBe(`body ${late}`);
    const q = entries(recovered, 'q');
    const expected: [number, boolean][] = [];
    for (let m = 11; m <= live - 10; m++) expected.push([m, m === 11 || m === live - 10]);
    expected.push([late, false]);
    for (let m = 1; m <= more; m++) expected.push([late + m, false]);
    expect(q.length).toBe(expected.length);
    expect(q).toEqual(expected);
    expect(entries(recovered, 'r')).toEqual([]);
    expect(entries(recovered, 's')).toEqual([]);
  });
});
