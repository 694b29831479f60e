// One message segment file as the writer sees it: its references, its bytes, what is still to be written.
import { join } from 'node:path';
import { type StoreFile, type StoreIo, writeFully } from './file-io.js';
import { segmentFileName } from './segment-format.js';
import { StoreError } from './store-error.js';

export class Segment {
  readonly path: string;
  /** Queue entries that point at a message in this segment; at 0 (and sealed) the file can go. */
  references = 0;
  /** Bytes assigned: the header and every record appended, written or not. */
  size: number;
  /** Bytes in the file: where the next write goes. */
  written: number;
  /** Chunks taken from the write buffer, not yet written (or whose write failed and must be retried). */
  unwritten: Buffer[] = [];
  /** Nothing more is appended: a newer segment is active, or this one was recovered. */
  sealed: boolean;
  /** In the writer's list of segments with something to write or close. */
  dirty = false;
  /** In the deletion list. */
  deleting = false;
  /** The file was created, and the directory not synced since: its name may not survive a power loss. */
  unsyncedEntry = false;
  private file: StoreFile | undefined;

  constructor(
    readonly number: number,
    dir: string,
    bytes: number,
    sealed: boolean,
  ) {
    this.path = join(dir, segmentFileName(number));
    this.size = bytes;
    this.written = sealed ? bytes : 0;
    this.sealed = sealed;
  }

  /**
   * Writes `chunks` where the file ends (creating it first if it is new) and syncs in the fsync mode;
   * closes the file once sealed and fully written. On failure, resolves with a StoreError, having kept
   * the chunks to be written again from the same position.
   */
  async write(chunks: Buffer[], io: StoreIo, fsync: boolean): Promise<StoreError | undefined> {
    const position = this.written;
    try {
      if (chunks.length > 0) {
        if (this.file === undefined) {
          const create = position === 0;
          this.file = await io.open(this.path, create ? 'wx' : 'r+');
          if (create) this.unsyncedEntry = true;
        }
        this.written += await writeFully(this.file, chunks, position);
        if (fsync) await this.file.sync();
      }
      if (this.sealed && this.unwritten.length === 0) await this.close(false);
      return undefined;
    } catch (err) {
      // After a failed sync the kernel may have dropped the pages: the bytes are rewritten too.
      this.written = position;
      this.unwritten = chunks.concat(this.unwritten);
      return new StoreError(
        'IO',
        `writing segment ${segmentFileName(this.number)} failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** Closes the file if it is open, syncing it first if asked. */
  async close(sync: boolean): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (file === undefined) return;
    try {
      if (sync) await file.sync();
    } finally {
      await file.close();
    }
  }
}
