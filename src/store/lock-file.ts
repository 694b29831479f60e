// The lock that keeps a second broker off a store directory: a file holding the owner's pid, put in
// place by link(2), which fails if the name exists, so the lock never exists without its pid. A lock
// whose pid is no longer running was left by a crash and is taken over; so is one naming this very
// process that this process does not hold (a restart that got the same pid, as pid 1 in a container
// does), and one naming a zombie (killed, not yet reaped by its parent). Two processes taking over the same stale lock at the same moment could both win: node offers
// no flock to close that gap. A stale lock whose pid now belongs to an unrelated live process is
// reported as held, naming the pid, for the operator to remove.
//
// Format, version 1: warren.lock holds the owner's pid in decimal ASCII and a newline ("4242\n").

import { readFileSync } from 'node:fs';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { randomBytes } from '../builtins.js';
import { StoreError } from './store-error.js';

export const LOCK_FILE = 'warren.lock';

export interface LockFile {
  /** The lock was taken over from a process that did not release it: the last run did not stop cleanly. */
  readonly tookOver: boolean;
  release(): Promise<void>;
}

/** Lock files this process holds (absolute paths). */
const held = new Set<string>();

/** Takes the lock of `dir`, or a StoreError('LOCKED') naming the process that holds it. */
export async function acquireLock(dir: string): Promise<LockFile | StoreError> {
  const path = resolve(dir, LOCK_FILE);
  if (held.has(path)) return locked(dir, path, 'this process');
  // Reserved at once, so that a second open in this process cannot race this one.
  held.add(path);
  const lock = await takeLock(dir, path);
  if (lock instanceof StoreError) held.delete(path);
  return lock;
}

async function takeLock(dir: string, path: string): Promise<LockFile | StoreError> {
  // Two tries: the second after removing a stale lock. If another process takes it over in between,
  // the second exclusive create fails and its pid is reported.
  for (let attempt = 0; attempt < 2; attempt++) {
    const taken = await linkLock(path, attempt > 0);
    if (taken !== undefined) return taken;
    const owner = await readOwner(path);
    if (owner !== undefined && owner !== process.pid && isRunning(owner)) {
      return locked(dir, path, `process ${owner}`);
    }
    // A crash left the lock (or a previous process with our pid did, or it is unreadable, or it was
    // just released): take it over.
    await unlink(path).catch(() => undefined);
  }
  return new StoreError(
    'LOCKED',
    `the store in ${dir} is being locked by another process (lock file ${path})`,
  );
}

function locked(dir: string, path: string, who: string): StoreError {
  return new StoreError(
    'LOCKED',
    `the store in ${dir} is in use by ${who} (lock file ${path}); stop that broker or use another directory`,
  );
}

/** The lock if it was free, undefined if the lock file exists, or the error that stopped it. */
async function linkLock(path: string, tookOver: boolean): Promise<LockFile | StoreError | undefined> {
  const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, `${process.pid}\n`);
    await link(temp, path);
    return {
      tookOver,
      release: async () => {
        await unlink(path).catch(() => undefined);
        held.delete(path);
      },
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    return new StoreError('IO', `cannot create the lock file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function readOwner(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A process killed (SIGKILL, say) stays a zombie until its parent reaps it, which can take seconds:
  // it has exited and closed its files, so its lock is stale. Linux says so in /proc.
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // The state follows the command name, which is in parentheses and may hold anything (proc(5)).
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}
