// One message segment file as the store sees it: its references, its bytes, what is still to be
// written, and a file descriptor to read records back at their positions. Bytes below `written` are in
// the file; the rest are in memory, in order: the chunks being written, those waiting for the next
// batch, and (for the active segment) the store's segment write buffer.
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { closeFile, type StoreFile, type StoreIo, writeFully } from './file-io.js';
import { segmentFileName } from './segment-format.js';
import { StoreError } from './store-error.js';
import { copyFromChunks, type WriteBuffer } from './write-buffer.js';

/** Bytes the read-ahead block holds. */
const READ_AHEAD = 64 * 1024;

export class Segment {
  readonly path: string;
  /** Live messages whose record is in this segment; at 0 (and sealed) the file can go. */
  references = 0;
  /** Bytes assigned: the header and every record appended, written or not. */
  size: number;
  /** Bytes in the file: where the next write goes. */
  written: number;
  /** Chunks taken from the write buffer, not yet written (or whose write failed and must be retried). */
  unwritten: Buffer[] = [];
  /** Chunks of the write in progress (at `written`), until it ends. */
  private flushing: Buffer[] = [];
  /** Nothing more is appended: a newer segment is active, or this one was recovered. */
  sealed: boolean;
  /** In the writer's list of segments with something to write or close. */
  dirty = false;
  /** In the deletion list. */
  deleting = false;
  /** The file was created, and the directory not synced since: its name may not survive a power loss. */
  unsyncedEntry = false;
  private file: StoreFile | undefined;
  /** Read-only descriptor for read(), opened at the first read of a written record. */
  private reader: number | undefined;
  /** Offset of the last record read from the file (-1: none): tells forward reads from random ones. */
  private lastRead = -1;
  /** Read-ahead: file bytes [blockStart, blockEnd), all written. */
  private block: Buffer | undefined;
  private blockStart = 0;
  private blockEnd = 0;

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

  /** Takes the chunks waiting, for a batch to write (see write). */
  takeUnwritten(): Buffer[] {
    const chunks = this.unwritten;
    this.unwritten = [];
    this.flushing = chunks;
    return chunks;
  }

  /**
   * Writes `chunks` (from takeUnwritten) where the file ends (creating it first if it is new) and
   * syncs in the fsync mode; closes the file once sealed and fully written. On failure, resolves with a
   * StoreError, having kept the chunks to be written again from the same position.
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
        // In the same turn as `written` moves: reads of these bytes go to the file from now on.
        this.flushing = [];
        if (fsync) await this.file.sync();
      }
      if (this.sealed && this.unwritten.length === 0) await this.close(false);
      return undefined;
    } catch (err) {
      // After a failed sync the kernel may have dropped the pages: the bytes are rewritten too.
      this.written = position;
      this.flushing = [];
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

  /**
   * Copies the `length` bytes at `offset` into `target`, from the file below `written` and from memory
   * above it (`tail` is the store's write buffer when this is the active segment). Synchronous; throws
   * if the file cannot be opened or read, or the bytes are not there.
   */
  readInto(offset: number, length: number, target: Buffer, tail: WriteBuffer | undefined): void {
    const fromFile = Math.max(0, Math.min(length, this.written - offset));
    if (fromFile === length && this.readAhead(offset, length, target)) return;
    if (fromFile > 0) this.readFile(target, 0, fromFile, offset);
    this.lastRead = offset;
    if (fromFile === length) return;
    let skip = offset + fromFile - this.written;
    let at = fromFile;
    for (const chunks of [this.flushing, this.unwritten]) {
      const copied = copyFromChunks(chunks, skip, target, at, length - at);
      at += copied;
      if (at === length) return;
      skip = Math.max(0, skip - chunksLength(chunks));
    }
    if (tail !== undefined) at += tail.copyTo(skip, target, at, length - at);
    if (at < length) throw new Error(`bytes ${offset}-${offset + length} are neither written nor pending`);
  }

  /**
   * Serves a written record from the read-ahead block, filling the block first when reads move forward
   * through the file (a queue read in publish order); false for a random read, which reads only its
   * record. The block holds written bytes, which never change, so it needs no invalidation.
   */
  private readAhead(offset: number, length: number, target: Buffer): boolean {
    const block = this.block;
    if (block !== undefined && offset >= this.blockStart && offset + length <= this.blockEnd) {
      const at = offset - this.blockStart;
      block.copy(target, 0, at, at + length);
      return true;
    }
    const forward = offset > this.lastRead && offset - this.lastRead < READ_AHEAD;
    if (!forward || length > READ_AHEAD / 4) return false;
    const bytes = Math.min(READ_AHEAD, this.written - offset);
    this.block ??= Buffer.allocUnsafeSlow(READ_AHEAD);
    this.blockStart = offset;
    this.blockEnd = offset;
    this.readFile(this.block, 0, bytes, offset);
    this.blockEnd = offset + bytes;
    this.lastRead = offset;
    this.block.copy(target, 0, 0, length);
    return true;
  }

  /** Reads exactly `length` bytes at file position `position` into `target` at `at`. */
  private readFile(target: Buffer, at: number, length: number, position: number): void {
    this.reader ??= openSync(this.path, 'r');
    let got = 0;
    while (got < length) {
      const n = readSync(this.reader, target, at + got, length - got, position + got);
      if (n === 0) throw new Error(`short read at ${position + got}`);
      got += n;
    }
  }

  /** Closes the read descriptor, if open, and drops the read-ahead block. */
  closeReader(): void {
    const reader = this.reader;
    this.reader = undefined;
    this.block = undefined;
    this.blockEnd = 0;
    if (reader !== undefined) closeSync(reader);
  }

  /** Closes the file if it is open, syncing it first if asked. */
  async close(sync: boolean): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (file !== undefined) await closeFile(file, sync);
  }
}

function chunksLength(chunks: readonly Buffer[]): number {
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.length;
  return bytes;
}
