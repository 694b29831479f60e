import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { message } from './store-helpers.js';

describe('MemoryStore', () => {
  it('opens empty and takes records without keeping them', async () => {
    const store = new MemoryStore();
    const recovered = await store.open();
    expect(recovered).toEqual({
      definitions: undefined,
      definitionChanges: [],
      queues: new Map(),
      messages: new Map(),
      maxMessageId: 0,
      dropped: { records: 0, bytes: 0, messages: 0 },
      uncleanShutdown: false,
    });
    store.publish(message(1), ['q']);
    store.delivered('q', 1);
    store.remove('q', 1);
    store.dropQueue('q');
    expect(store.diskUsage()).toEqual({ segments: 0, bytes: 0 });
  });

  it('calls afterSync back asynchronously, in order', async () => {
    const store = new MemoryStore();
    await store.open();
    const order: number[] = [];
    let sync = true;
    const done = new Promise<void>((resolve) => {
      for (let i = 0; i < 5; i++) {
        store.afterSync((err) => {
          expect(err).toBeUndefined();
          expect(sync).toBe(false);
          order.push(i);
          // A callback registered from a callback comes after all of these.
          if (i === 0) store.afterSync(() => order.push(99));
          if (i === 4) setImmediate(resolve);
        });
      }
    });
    sync = false;
    await done;
    expect(order).toEqual([0, 1, 2, 3, 4, 99]);
  });

  it('keeps a snapshot of the definitions across close and open', async () => {
    const store = new MemoryStore();
    await store.open();
    const value = { queues: ['a'] };
    await store.saveDefinitions(value);
    value.queues.push('b');
    await store.close();
    expect((await store.open()).definitions).toEqual({ queues: ['a'] });
  });

  it('keeps the changes appended after the definitions, until the next save', async () => {
    const store = new MemoryStore();
    await store.open();
    await store.saveDefinitions({ queues: ['a'] });
    const change = { add: 'b' };
    await store.appendDefinitions([change]);
    change.add = 'x';
    await store.appendDefinitions([{ add: 'c' }, { drop: 'a' }]);
    await store.close();
    const recovered = await store.open();
    expect(recovered.definitions).toEqual({ queues: ['a'] });
    expect(recovered.definitionChanges).toEqual([{ add: 'b' }, { add: 'c' }, { drop: 'a' }]);
    await store.saveDefinitions({ queues: ['b', 'c'] });
    await store.close();
    expect((await store.open()).definitionChanges).toEqual([]);
  });
});
