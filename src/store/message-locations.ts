// Where the record of every live message is (segment, offset, length), by message id, and how many
// queues hold the message: what read() looks up, and what keeps a segment alive. Like QueueEntries,
// sorted typed arrays rather than a Map: ids arrive in increasing order and are appended; a message no
// queue holds any more leaves a hole (O(1) at the head, where FIFO acks land, else a binary search),
// and holes are compacted away when the arrays fill. 24 bytes per live message (ids as float64; offsets,
// lengths, segments and queue counts as uint32), with no object per message. An offset fits 32 bits: a
// record starts at most segmentSize into its segment, and the store keeps segmentSize below
// OFFSET_UNKNOWN.
//
// Slots are positions in the arrays: valid until the next add(), which may compact.

import { searchSortedIds } from './sorted-ids.js';

const INITIAL_CAPACITY = 16;

/** The offset of a message whose record has not been found yet (during recovery); no record starts there. */
export const OFFSET_UNKNOWN = 0xffff_ffff;

export class MessageLocations {
  /** Message ids, increasing, removed ones included. */
  private ids = new Float64Array(INITIAL_CAPACITY);
  /** Byte offset of the framed record in its segment file; OFFSET_UNKNOWN while unknown (during recovery). */
  private offsets = new Uint32Array(INITIAL_CAPACITY);
  /** Bytes of the framed record. */
  private lengths = new Uint32Array(INITIAL_CAPACITY);
  private segments = new Uint32Array(INITIAL_CAPACITY);
  /** Queues holding the message; 0 marks a removed slot. */
  private queueCounts = new Uint32Array(INITIAL_CAPACITY);
  /** First slot that may be live. */
  private head = 0;
  /** One past the last slot used. */
  private tail = 0;
  /** The slot last found: lookups in id order (FIFO acks, recovery scans) start next to it. */
  private hint = 0;
  /** Live messages. */
  size = 0;

  /** The slot of the live message `id`, or -1. */
  find(id: number): number {
    const slot = this.slotOf(id);
    if (slot < 0 || this.queueCounts[slot] === 0) return -1;
    this.hint = slot;
    return slot;
  }

  /**
   * Records a message held by `queues` (at least 1) queues; returns its slot. The message must not be
   * live already (see find and addQueues).
   */
  add(id: number, segment: number, offset: number, length: number, queues: number): number {
    let slot = this.tail;
    if (slot > 0 && id <= this.ids[slot - 1]) return this.insert(id, segment, offset, length, queues);
    if (slot === this.ids.length) {
      this.makeRoom();
      slot = this.tail;
    }
    this.ids[slot] = id;
    this.set(slot, segment, offset, length, queues);
    this.tail = slot + 1;
    this.size++;
    return slot;
  }

  segmentAt(slot: number): number {
    return this.segments[slot];
  }

  offsetAt(slot: number): number {
    return this.offsets[slot];
  }

  /** Whether the record of the message in `slot` has been found (recovery places them as it scans). */
  placed(slot: number): boolean {
    return this.offsets[slot] !== OFFSET_UNKNOWN;
  }

  lengthAt(slot: number): number {
    return this.lengths[slot];
  }

  idAt(slot: number): number {
    return this.ids[slot];
  }

  /** Sets where the record of the message in `slot` is (recovery finds it after the index names it). */
  setPosition(slot: number, segment: number, offset: number, length: number): void {
    this.segments[slot] = segment;
    this.offsets[slot] = offset;
    this.lengths[slot] = length;
  }

  /** More queues hold the live message in `slot`. */
  addQueues(slot: number, queues: number): void {
    this.queueCounts[slot] += queues;
  }

  /**
   * One queue no longer holds the message. Returns the segment of its record if that was the last
   * queue (the message is gone), else -1; -1 too if the message was not live.
   */
  release(id: number): number {
    const slot = this.find(id);
    if (slot < 0) return -1;
    if (--this.queueCounts[slot] > 0) return -1;
    this.removeSlot(slot);
    return this.segments[slot];
  }

  /** Forgets the live message in `slot` whatever holds it (recovery: its record was not found). */
  removeSlot(slot: number): void {
    this.queueCounts[slot] = 0;
    if (--this.size === 0) {
      this.head = 0;
      this.tail = 0;
    } else if (slot === this.head) {
      let head = slot + 1;
      while (this.queueCounts[head] === 0) head++;
      this.head = head;
    }
  }

  /** Calls `visit` with the slot of each live message, in id order. */
  forEach(visit: (slot: number) => void): void {
    const counts = this.queueCounts;
    for (let slot = this.head; slot < this.tail; slot++) {
      if (counts[slot] > 0) visit(slot);
    }
  }

  /**
   * The segment of each of `ids` (live messages, in increasing order), in one pass: consecutive ids are
   * usually in consecutive slots, and a binary search finds the others. 0 for an id not live.
   */
  segmentsOf(ids: Float64Array): Uint32Array {
    const out = new Uint32Array(ids.length);
    const own = this.ids;
    const counts = this.queueCounts;
    const segments = this.segments;
    const last = this.tail - 1;
    let slot = this.head;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const found = slot <= last && own[slot] === id ? slot : searchSortedIds(own, slot, last, id);
      if (found < 0 || counts[found] === 0) continue;
      out[i] = segments[found];
      slot = found + 1;
    }
    return out;
  }

  /** Queues holding the live message in `slot`. */
  queuesAt(slot: number): number {
    return this.queueCounts[slot];
  }

  private set(slot: number, segment: number, offset: number, length: number, queues: number): void {
    this.segments[slot] = segment;
    this.offsets[slot] = offset;
    this.lengths[slot] = length;
    this.queueCounts[slot] = queues;
  }

  /** The slot holding `id` (live or removed), or -1. */
  private slotOf(id: number): number {
    const ids = this.ids;
    const low = this.head;
    const high = this.tail - 1;
    // Beyond the last id: a new message, the usual case when ids are appended.
    if (high < low || id > ids[high]) return -1;
    const hint = this.hint;
    if (hint >= low && hint <= high) {
      if (ids[hint] === id) return hint;
      if (hint < high && ids[hint + 1] === id) return hint + 1;
    }
    return searchSortedIds(ids, low, high, id);
  }

  /** An id below the last one: kept in order at the cost of a move (a message id published again). */
  private insert(id: number, segment: number, offset: number, length: number, queues: number): number {
    const existing = this.slotOf(id);
    if (existing >= 0) {
      if (this.queueCounts[existing] > 0) {
        this.queueCounts[existing] += queues;
        return existing;
      }
      this.set(existing, segment, offset, length, queues);
      this.size++;
      if (existing < this.head) this.head = existing;
      return existing;
    }
    if (this.tail === this.ids.length) this.makeRoom();
    let slot = this.tail;
    while (slot > 0 && this.ids[slot - 1] > id) slot--;
    for (const column of this.columns()) column.copyWithin(slot + 1, slot, this.tail);
    this.ids[slot] = id;
    this.set(slot, segment, offset, length, queues);
    this.tail++;
    this.size++;
    if (slot < this.head) this.head = slot;
    return slot;
  }

  private columns(): (Float64Array | Uint32Array)[] {
    return [this.ids, this.offsets, this.lengths, this.segments, this.queueCounts];
  }

  /** Compacts the live messages to the front, growing the arrays if they stay over half full. */
  private makeRoom(): void {
    const { ids, offsets, lengths, segments, queueCounts } = this;
    let to = 0;
    for (let from = this.head; from < this.tail; from++) {
      if (queueCounts[from] === 0) continue;
      ids[to] = ids[from];
      offsets[to] = offsets[from];
      lengths[to] = lengths[from];
      segments[to] = segments[from];
      queueCounts[to++] = queueCounts[from];
    }
    this.head = 0;
    this.tail = to;
    this.hint = 0;
    if (to * 2 > ids.length) {
      const capacity = ids.length * 2;
      this.ids = grow(new Float64Array(capacity), ids, to);
      this.offsets = grow(new Uint32Array(capacity), offsets, to);
      this.lengths = grow(new Uint32Array(capacity), lengths, to);
      this.segments = grow(new Uint32Array(capacity), segments, to);
      this.queueCounts = grow(new Uint32Array(capacity), queueCounts, to);
    }
  }
}

function grow<T extends Float64Array | Uint32Array>(grown: T, old: T, used: number): T {
  grown.set(old.subarray(0, used));
  return grown;
}
