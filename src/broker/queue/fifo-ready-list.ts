// The classic queue's ready list: first in, first out, on a ring buffer; messages given back after a
// delivery return to their place by publish order, as in RabbitMQ.
import type { Message } from '../message.js';
import { Deque } from './deque.js';
import { entrySeq, type ReadyEntry, type ReadyList } from './ready-list.js';

export class FifoReadyList extends Deque<ReadyEntry> implements ReadyList {
  /** One level: the priority is not looked at (a call V8 inlines into the ring buffer's push). */
  add(entry: ReadyEntry, _priority: number): void {
    this.push(entry);
  }

  /**
   * One pass over the messages and over the ready entries older than the newest of them, however many
   * come back at once (a channel closing with a million unacked): requeued messages are nearly always
   * older than everything ready, so that is usually none.
   */
  putBack(messages: readonly Message[]): void {
    const newest = messages[messages.length - 1].seq;
    const older: ReadyEntry[] = [];
    const olderMarked: boolean[] = [];
    while (this.length > 0 && entrySeq(this.peek() as ReadyEntry) < newest) {
      older.push(this.shift() as ReadyEntry);
      olderMarked.push(this.shiftedMarked);
    }
    // Merged back to the front, newest first; the ones given back are marked.
    let i = older.length - 1;
    let j = messages.length - 1;
    while (j >= 0) {
      if (i >= 0 && entrySeq(older[i]) > messages[j].seq) {
        this.unshift(older[i], olderMarked[i]);
        i--;
      } else this.unshift(messages[j--], true);
    }
    for (; i >= 0; i--) this.unshift(older[i], olderMarked[i]);
  }
}
