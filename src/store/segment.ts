// One message segment file as the writer sees it: its references, its bytes, what is still to be written.
import { join } from 'node:path';
import type { StoreFile } from './file-io.js';
import { segmentFileName } from './segment-format.js';

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
  file: StoreFile | undefined;
  /** Nothing more is appended: a newer segment is active, or this one was recovered. */
  sealed: boolean;
  /** In the writer's list of segments with something to write or close. */
  dirty = false;
  /** Waiting in, or removed by, the deletion list. */
  deleting = false;

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
}
