// The file operations of the store's write path, behind an interface so that tests can inject failures
// (as root, chmod does not stop a write, so a read-only directory proves nothing).
import { open, rename, unlink } from 'node:fs/promises';

/** An open file the store writes at explicit positions (so a failed write can be retried in place). */
export interface StoreFile {
  /** Writes the buffers in order at `position`; resolves with the bytes written (possibly fewer). */
  writev(buffers: Buffer[], position: number): Promise<number>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreIo {
  /** Opens for writing: 'wx' creates a new file and fails if it exists, 'w' creates or truncates. */
  open(path: string, flags: 'wx' | 'w' | 'r+'): Promise<StoreFile>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Makes the directory's entries (created, renamed, removed files) durable. */
  syncDir(dir: string): Promise<void>;
}

export const nodeIo: StoreIo = {
  async open(path, flags) {
    const handle = await open(path, flags);
    return {
      writev: async (buffers, position) => (await handle.writev(buffers, position)).bytesWritten,
      sync: () => handle.sync(),
      close: () => handle.close(),
    };
  },
  rename,
  unlink,
  async syncDir(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** Writes all of `buffers` at `position`, continuing after short writes; resolves with the byte count. */
export async function writeFully(file: StoreFile, buffers: Buffer[], position: number): Promise<number> {
  let total = 0;
  for (const buffer of buffers) total += buffer.length;
  let written = await file.writev(buffers, position);
  while (written < total) {
    let skip = written;
    let first = 0;
    while (skip >= buffers[first].length) skip -= buffers[first++].length;
    const rest = [buffers[first].subarray(skip), ...buffers.slice(first + 1)];
    const more = await file.writev(rest, position + written);
    if (more <= 0) throw new Error(`short write: ${written} of ${total} bytes`);
    written += more;
  }
  return total;
}

/** Closes a file, syncing it first if asked; the file is closed even when the sync fails. */
export async function closeFile(file: StoreFile, sync: boolean): Promise<void> {
  try {
    if (sync) await file.sync();
  } finally {
    await file.close();
  }
}
