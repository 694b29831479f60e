// A queue's ready messages, in the order they go out. The queue decides what an entry is (a message in
// memory, or the id of a stored one waiting on disk) and accounts for them; a ready list only orders
// them. The classic queue's is a FIFO (fifo-ready-list.ts); a priority queue's (x-max-priority) is a
// FIFO per priority level (priority-ready-list.ts).
import type { Message } from '../message.js';

/**
 * A ready entry: a message in memory, or the id of a stored message paged out to disk (negative when it
 * had been delivered before: it goes out redelivered). A message in memory that comes back after a
 * delivery is marked in the list and goes out redelivered too: the Message itself is shared by every
 * queue its publish reached, so the mark cannot be on it.
 */
export type ReadyEntry = Message | number;

/** The publish order of an entry. */
export function entrySeq(e: ReadyEntry): number {
  if (typeof e === 'number') return e < 0 ? -e : e;
  return e.seq;
}

export interface ReadyList {
  readonly length: number;
  /** Whether the entry the last shift() returned had been delivered before (it goes out redelivered). */
  readonly shiftedMarked: boolean;
  /**
   * A new arrival, with its priority (read from the message's properties by the queue, which has them
   * also for an entry that is the id of a stored message): a priority list orders by it, a FIFO ignores
   * it. The queue passes 0 when it has no x-max-priority.
   */
  add(entry: ReadyEntry, priority: number): void;
  /** Takes the entry that goes out next. */
  shift(): ReadyEntry | undefined;
  /** The entry that goes out next, left in place. */
  peek(): ReadyEntry | undefined;
  /**
   * Messages given back after a delivery, in publish order: each takes its original place among the
   * ready entries, marked as delivered before.
   */
  putBack(messages: readonly Message[]): void;
  /** Takes every entry, in order. */
  drain(): ReadyEntry[];
  /** Drops every entry at once. */
  clear(): void;
  /** The entries in order, left in place. */
  [Symbol.iterator](): Iterator<ReadyEntry>;
}
