// A rewrite of the queue index (queue-index-format.ts): the whole index as of one moment, captured in
// typed arrays and encoded a slice at a time as the rewrite writes it out. Encoding the records of a
// million queue entries takes tens of milliseconds; captured first and encoded between the writes of
// the new file, the event loop keeps serving clients meanwhile, and only a slice of the encoded file is
// in memory at once. What changes after the capture goes to the records appended after the rewrite.
import {
  encodeDeliveredRecord,
  encodeEnqueueRecord,
  encodeIndexHeader,
  encodeQueueRecord,
} from './queue-index-format.js';
import { utf8Length } from './utf8.js';
import { WriteBuffer } from './write-buffer.js';

/** One queue as captured: its number in the new file, its name, and its entries in id order. */
export interface SnapshotQueue {
  readonly number: number;
  readonly name: string;
  readonly ids: Float64Array;
  /** Per entry: 1 if the message was delivered. */
  readonly delivered: Uint8Array;
  /** Per entry: the segment of the message's record. */
  readonly segments: Uint32Array;
}

export class IndexSnapshot {
  private readonly out = new WriteBuffer();
  private headerDone = false;
  /** The queue being encoded, and its next entry; -1: its QUEUE record comes first. */
  private queue = 0;
  private entry = -1;
  private readonly single = [0];

  constructor(
    private readonly maxMessageId: number,
    private readonly queues: readonly SnapshotQueue[],
  ) {}

  /**
   * Encodes the next records: about `bytes` of them (a record more), fewer at the end. Returns an
   * empty list once everything has been handed out.
   */
  next(bytes: number): Buffer[] {
    const out = this.out;
    if (!this.headerDone) {
      encodeIndexHeader(out, this.maxMessageId);
      this.headerDone = true;
    }
    const queues = this.queues;
    while (out.length < bytes && this.queue < queues.length) {
      const q = queues[this.queue];
      if (this.entry < 0) {
        encodeQueueRecord(out, q.number, q.name, utf8Length(q.name));
        this.entry = 0;
      }
      const { ids, delivered, segments } = q;
      const single = this.single;
      single[0] = q.number;
      let i = this.entry;
      for (; i < ids.length && out.length < bytes; i++) {
        encodeEnqueueRecord(out, ids[i], segments[i], single, 0, 1);
        if (delivered[i] === 1) encodeDeliveredRecord(out, q.number, ids[i]);
      }
      this.entry = i;
      if (i === ids.length) {
        this.queue++;
        this.entry = -1;
      }
    }
    return out.take();
  }
}
