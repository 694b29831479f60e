import fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeIo, type StoreIo } from '../../src/store/file-io.js';
import { FileStore } from '../../src/store/file-store.js';
import { ioWrapping, openStore, recordingLogger, tempDir } from './store-helpers.js';

const definitions = (n: number) => ({
  queues: [{ name: `q${n}`, durable: true }],
  exchanges: [],
  bindings: [],
});

describe('the definitions file', () => {
  it('is undefined until saved, and survives a restart', async () => {
    const dir = tempDir();
    const { store, recovered } = await openStore(dir);
    expect(recovered.definitions).toBeUndefined();
    await store.saveDefinitions(definitions(1));
    await store.close();
    const { recovered: again } = await openStore(dir);
    expect(again.definitions).toEqual(definitions(1));
    const text = JSON.parse(fs.readFileSync(join(dir, 'definitions.json'), 'utf8'));
    expect(text).toEqual({
      format: 'warren-definitions',
      version: 2,
      logSeq: 0,
      definitions: definitions(1),
    });
  });

  it('reads a definitions file of format version 1', async () => {
    const dir = tempDir();
    fs.writeFileSync(
      join(dir, 'definitions.json'),
      JSON.stringify({ format: 'warren-definitions', version: 1, definitions: definitions(3) }),
    );
    const { recovered } = await openStore(dir);
    expect(recovered.definitions).toEqual(definitions(3));
    expect(recovered.definitionChanges).toEqual([]);
  });

  it('is replaced by rename: the last of concurrent saves wins, nothing torn is ever read', async () => {
    const dir = tempDir();
    const renames: string[] = [];
    const io: StoreIo = {
      ...nodeIo,
      async rename(from, to) {
        if (to.endsWith('definitions.json')) {
          // Every rename moves a complete file: what a reader could see at any moment.
          expect(JSON.parse(fs.readFileSync(from, 'utf8')).format).toBe('warren-definitions');
          renames.push(to);
        }
        return nodeIo.rename(from, to);
      },
    };
    const { store } = await openStore(dir, { io, fsync: true });
    const saves = Array.from({ length: 10 }, (_, n) => store.saveDefinitions(definitions(n)));
    await Promise.all(saves);
    // The first save runs alone; the nine made while it ran are merged into one write of the last.
    expect(renames).toHaveLength(2);
    await store.close();
    expect((await openStore(dir)).recovered.definitions).toEqual(definitions(9));
  });

  it('snapshots the value when saved, and rejects what is not JSON-serialisable', async () => {
    const { store } = await openStore(tempDir());
    const value: Record<string, unknown> = { a: 1 };
    const saved = store.saveDefinitions(value);
    value.a = 2;
    await saved;
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(store.saveDefinitions(cyclic)).rejects.toMatchObject({ code: 'INVALID' });
  });

  it('ignores and removes a leftover temporary file', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    await store.saveDefinitions(definitions(1));
    await store.close();
    fs.writeFileSync(join(dir, 'definitions.json.tmp'), '{"format":"warren-defin');
    const { recovered } = await openStore(dir);
    expect(recovered.definitions).toEqual(definitions(1));
    expect(fs.existsSync(join(dir, 'definitions.json.tmp'))).toBe(false);
  });

  it('refuses to open over a damaged definitions file rather than starting empty', async () => {
    const dir = tempDir();
    fs.writeFileSync(join(dir, 'definitions.json'), '{"format":"warren-definitions","vers');
    const error = await new FileStore({ dir, fsync: false }).open().catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'CORRUPT' });
    expect((error as Error).message).toMatch(/definitions\.json is not valid JSON/);
  });
});

describe('the definitions log', () => {
  const change = (n: number) => ({ op: 'queue', name: `q${n}` });

  it('hands back the changes appended after the last save, in order, across restarts', async () => {
    const dir = tempDir();
    const first = await openStore(dir);
    expect(first.recovered.definitionChanges).toEqual([]);
    // Changes with no save before them count from no definitions.
    await first.store.appendDefinitions([change(1)]);
    await first.store.close();
    const second = await openStore(dir);
    expect(second.recovered.definitions).toBeUndefined();
    expect(second.recovered.definitionChanges).toEqual([change(1)]);
    await second.store.saveDefinitions(definitions(1));
    await Promise.all([
      second.store.appendDefinitions([change(2), change(3)]),
      second.store.appendDefinitions([change(4)]),
    ]);
    await second.store.close();
    const third = await openStore(dir);
    expect(third.recovered.definitions).toEqual(definitions(1));
    expect(third.recovered.definitionChanges).toEqual([change(2), change(3), change(4)]);
    // Appends go on after the records found at open.
    await third.store.appendDefinitions([change(5)]);
    await third.store.close();
    expect((await openStore(dir)).recovered.definitionChanges).toEqual([
      change(2),
      change(3),
      change(4),
      change(5),
    ]);
  });

  it('is emptied by a save, which replaces the changes appended before it', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    await store.appendDefinitions([change(1), change(2)]);
    // Made while the append runs: the save makes the appends queued before it moot, not those after.
    const calls = [
      store.appendDefinitions([change(3)]),
      store.saveDefinitions(definitions(2)),
      store.appendDefinitions([change(4)]),
    ];
    await Promise.all(calls);
    await store.close();
    const { recovered } = await openStore(dir);
    expect(recovered.definitions).toEqual(definitions(2));
    expect(recovered.definitionChanges).toEqual([change(4)]);
  });

  it('replays nothing twice when a crash left the log as it was before a save', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    await store.appendDefinitions([change(1)]);
    await store.appendDefinitions([change(2)]);
    await store.close();
    const log = fs.readFileSync(join(dir, 'definitions.log'));
    const again = await openStore(dir);
    await again.store.saveDefinitions(definitions(2));
    await again.store.appendDefinitions([change(3)]);
    await again.store.close();
    // The save's truncation of the log and the append after it lost: the old records are back.
    fs.writeFileSync(join(dir, 'definitions.log'), log);
    const { recovered } = await openStore(dir);
    expect(recovered.definitions).toEqual(definitions(2));
    expect(recovered.definitionChanges).toEqual([]);
  });

  it('cuts a torn last record off and appends after the records before it', async () => {
    const dir = tempDir();
    const { store } = await openStore(dir);
    await store.saveDefinitions(definitions(1));
    await store.appendDefinitions([change(1)]);
    await store.appendDefinitions([change(2)]);
    await store.close();
    const path = join(dir, 'definitions.log');
    const whole = fs.statSync(path).size;
    fs.truncateSync(path, whole - 5);
    const { logger, lines } = recordingLogger();
    const torn = await openStore(dir, { logger });
    expect(torn.recovered.definitionChanges).toEqual([change(1)]);
    expect(torn.recovered.dropped.records).toBe(1);
    expect(lines.some((l) => l.msg === 'store: torn tail cut off' && l.file === 'definitions.log')).toBe(
      true,
    );
    await torn.store.appendDefinitions([change(3)]);
    await torn.store.close();
    expect((await openStore(dir)).recovered.definitionChanges).toEqual([change(1), change(3)]);
  });

  it('syncs each append in the fsync mode, one write and one sync for the appends made together', async () => {
    const dir = tempDir();
    const calls: string[] = [];
    const io = ioWrapping('definitions.log', (file) => ({
      writev: (buffers, position) => {
        calls.push('write');
        return file.writev(buffers, position);
      },
      sync: () => {
        calls.push('sync');
        return file.sync();
      },
    }));
    const { store } = await openStore(dir, { io, fsync: true });
    await store.appendDefinitions([change(1)]);
    expect(calls).toEqual(['write', 'sync']);
    // The first runs alone; the three made while it runs go out together.
    await Promise.all([1, 2, 3, 4].map((n) => store.appendDefinitions([change(n)])));
    expect(calls).toEqual(['write', 'sync', 'write', 'sync', 'write', 'sync']);
  });

  it('writes a failed append again in place, and the next append after it', async () => {
    const dir = tempDir();
    let fail = false;
    const io = ioWrapping('definitions.log', (file) => ({
      writev: async (buffers, position) => {
        if (fail) {
          // Half of it reaches the file before the failure.
          await file.writev([buffers[0].subarray(0, buffers[0].length >> 1)], position);
          throw new Error('EIO: injected');
        }
        return file.writev(buffers, position);
      },
    }));
    const { store } = await openStore(dir, { io });
    await store.appendDefinitions([change(1)]);
    fail = true;
    await expect(store.appendDefinitions([change(2)])).rejects.toMatchObject({ code: 'IO' });
    fail = false;
    await store.appendDefinitions([change(3)]);
    await store.close();
    const { recovered } = await openStore(dir);
    expect(recovered.definitionChanges).toEqual([change(1), change(3)]);
    expect(recovered.dropped.records).toBe(0);
  });
});
