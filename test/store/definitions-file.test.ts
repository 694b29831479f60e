import fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeIo, type StoreIo } from '../../src/store/file-io.js';
import { FileStore } from '../../src/store/file-store.js';
import { openStore, tempDir } from './store-helpers.js';

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
    expect(text).toEqual({ format: 'warren-definitions', version: 1, definitions: definitions(1) });
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
