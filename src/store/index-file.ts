// The queue index file (queues.idx) as the writer sees it: records waiting in a buffer, appended by
// each batch at the position where the last write ended, or the whole file replaced by a snapshot.
import { join } from 'node:path';
import { closeFile, type StoreFile, type StoreIo, writeFully } from './file-io.js';
import type { IndexSnapshot } from './index-snapshot.js';
import { INDEX_FILE, INDEX_TEMP_FILE } from './queue-index-format.js';
import { StoreError } from './store-error.js';
import { WriteBuffer } from './write-buffer.js';

/** A rewrite encodes and writes about this much of the new file at a time. */
const REWRITE_SLICE_BYTES = 1024 * 1024;

export class IndexFile {
  /** Index records are encoded here by the record methods. */
  readonly out = new WriteBuffer();
  /** Bytes in the file: where the next append goes. */
  written = 0;
  /** A rewrite failed: whatever was appended since is lost, so only a new snapshot may follow. */
  needsRewrite = false;
  private file: StoreFile | undefined;
  /** Chunks whose append failed, written again ahead of newer ones. */
  private unwritten: Buffer[] = [];

  constructor(
    private readonly dir: string,
    private readonly io: StoreIo,
    private readonly fsync: boolean,
  ) {}

  /** Bytes written and waiting. */
  get size(): number {
    return this.written + this.out.length;
  }

  /** Takes what waits to be appended (retries first). */
  takeAppend(): Buffer[] {
    const chunks = this.unwritten;
    this.unwritten = [];
    for (const chunk of this.out.take()) chunks.push(chunk);
    return chunks;
  }

  /** Drops what waits: a snapshot taken now supersedes it. */
  discardPending(): void {
    this.unwritten = [];
    this.out.clear();
    this.needsRewrite = false;
  }

  /** Appends `chunks` (and syncs in the fsync mode); on failure keeps them to be written again. */
  async append(chunks: Buffer[]): Promise<StoreError | undefined> {
    if (chunks.length === 0 || this.file === undefined) return undefined;
    const position = this.written;
    try {
      this.written += await writeFully(this.file, chunks, position);
      if (this.fsync) await this.file.sync();
      return undefined;
    } catch (err) {
      // After a failed sync the kernel may have dropped the pages: the bytes are rewritten too.
      this.written = position;
      this.unwritten = chunks.concat(this.unwritten);
      return new StoreError('IO', `writing ${INDEX_FILE} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Takes the existing file as it is, `bytes` long, to append to (at open, when it needs no rewrite). */
  async adopt(bytes: number): Promise<StoreError | undefined> {
    try {
      const file = await this.io.open(join(this.dir, INDEX_FILE), 'r+');
      await this.file?.close().catch(() => undefined);
      this.file = file;
      this.written = bytes;
      return undefined;
    } catch (err) {
      return new StoreError('IO', `opening ${INDEX_FILE} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Replaces the file with the snapshot: encoded a slice at a time, each slice written before the next
   * is encoded, to a temporary file that is synced, renamed over the old one, and the directory synced.
   * On failure the old file stays and the next batch must rewrite again.
   */
  async rewrite(snapshot: IndexSnapshot): Promise<StoreError | undefined> {
    const temp = join(this.dir, INDEX_TEMP_FILE);
    let file: StoreFile | undefined;
    try {
      file = await this.io.open(temp, 'w');
      let size = 0;
      for (;;) {
        const chunks = snapshot.next(REWRITE_SLICE_BYTES);
        if (chunks.length === 0) break;
        size += await writeFully(file, chunks, size);
      }
      if (this.fsync) await file.sync();
      await this.io.rename(temp, join(this.dir, INDEX_FILE));
      const old = this.file;
      this.file = file;
      this.written = size;
      file = undefined;
      await old?.close().catch(() => undefined);
      if (this.fsync) await this.io.syncDir(this.dir);
      return undefined;
    } catch (err) {
      await file?.close().catch(() => undefined);
      this.needsRewrite = true;
      return new StoreError('IO', `rewriting ${INDEX_FILE} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Closes the file, syncing it first if asked. */
  async close(sync: boolean): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (file !== undefined) await closeFile(file, sync);
  }
}
