import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/file-store.js';
import { StoreError } from '../../src/store/store-error.js';
import { message, openStore, tempDir } from './store-helpers.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(child.stdout);
}

describe('the store lock', () => {
  it('refuses a second open of the same directory, naming the holder', async () => {
    const dir = tempDir();
    await openStore(dir);
    expect(fs.readFileSync(join(dir, 'warren.lock'), 'utf8')).toBe(`${process.pid}\n`);
    const second = new FileStore({ dir, fsync: false });
    const error = await second.open().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('LOCKED');
    expect((error as Error).message).toMatch(/in use by this process/);
    expect(fs.readdirSync(dir).filter((name) => name.startsWith('warren.lock'))).toEqual(['warren.lock']);
  });

  it('names another live process that holds the lock', async () => {
    const dir = tempDir();
    fs.writeFileSync(join(dir, 'warren.lock'), '1\n');
    const error = await new FileStore({ dir, fsync: false }).open().catch((err: unknown) => err);
    expect((error as Error).message).toMatch(/in use by process 1 /);
  });

  it('takes over a lock left by a dead process, and releases it at close', async () => {
    const dir = tempDir();
    fs.writeFileSync(join(dir, 'warren.lock'), `${deadPid()}\n`);
    const { store, recovered: first } = await openStore(dir);
    expect(first.uncleanShutdown).toBe(true);
    expect(fs.readFileSync(join(dir, 'warren.lock'), 'utf8')).toBe(`${process.pid}\n`);
    store.publish(message(1), ['q']);
    await store.close();
    expect(fs.existsSync(join(dir, 'warren.lock'))).toBe(false);
    const { recovered } = await openStore(dir);
    expect(recovered.messages.size).toBe(1);
    // The previous open closed the store: a clean shutdown.
    expect(recovered.uncleanShutdown).toBe(false);
  });

  it('takes over a lock naming a zombie: a killed broker its parent has not reaped yet', async () => {
    // sh starts a child that exits at once, then becomes sleep, which never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const zombie = Number(
        await new Promise<string>((resolve) =>
          parent.stdout.once('data', (d: Buffer) => resolve(d.toString())),
        ),
      );
      const state = () => {
        const stat = fs.readFileSync(`/proc/${zombie}/stat`, 'utf8');
        return stat.charAt(stat.lastIndexOf(')') + 2);
      };
      const deadline = Date.now() + 5000;
      while (state() !== 'Z' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(state()).toBe('Z');
      const dir = tempDir();
      fs.writeFileSync(join(dir, 'warren.lock'), `${zombie}\n`);
      const { recovered } = await openStore(dir);
      expect(recovered.uncleanShutdown).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('takes over a lock naming this pid that this process does not hold (a restart as pid 1 in a container)', async () => {
    const dir = tempDir();
    fs.writeFileSync(join(dir, 'warren.lock'), `${process.pid}\n`);
    await openStore(dir);
    const error = await new FileStore({ dir, fsync: false }).open().catch((err: unknown) => err);
    expect((error as Error).message).toMatch(/in use by this process/);
  });

  it('lets only one of two concurrent opens in one process win', async () => {
    const dir = tempDir();
    const stores = [new FileStore({ dir, fsync: false }), new FileStore({ dir, fsync: false })];
    const results = await Promise.allSettled(stores.map((store) => store.open()));
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    for (const store of stores) await store.close();
  });

  it('takes over an empty or unreadable lock file', async () => {
    const dir = tempDir();
    fs.writeFileSync(join(dir, 'warren.lock'), '');
    await openStore(dir);
  });
});
