// The messages one durable queue holds, as the store tracks them: message ids in publish order, each
// with a small value (whether it was delivered; where its record is, the store keeps per message in
// message-locations.ts). Ids arrive in increasing order, so entries are appended to sorted arrays; a
// remove marks its slot (O(1) at the head, where FIFO acks land, else a binary search) and the arrays
// are compacted when the holes outnumber the entries. 9 bytes per entry (a float64 id and a byte): far
// smaller and faster than a Map for queues of millions of messages.
import { searchSortedIds } from './sorted-ids.js';

/** Slot value of a removed entry. */
const REMOVED = 0xff;

/** Largest value an entry can have. */
export const MAX_ENTRY_VALUE = 0xfe;

export class QueueEntries {
  /** Message ids, increasing, removed ones included. */
  private ids = new Float64Array(16);
  /** Per slot: the entry's value (0 to MAX_ENTRY_VALUE), or REMOVED. */
  private values = new Uint8Array(16);
  /** First slot that may be live. */
  private head = 0;
  /** One past the last slot used. */
  private tail = 0;
  /** Live entries. */
  size = 0;

  /** Adds an entry (value 0 to MAX_ENTRY_VALUE); false (and nothing changes) if the queue holds the id. */
  add(id: number, value: number): boolean {
    const tail = this.tail;
    if (tail === 0 || id > this.ids[tail - 1]) {
      if (tail === this.ids.length) this.makeRoom();
      this.ids[this.tail] = id;
      this.values[this.tail++] = value;
      this.size++;
      return true;
    }
    return this.insert(id, value);
  }

  /** The entry's value, or -1 if the queue does not hold the id. */
  get(id: number): number {
    const slot = this.find(id);
    return slot < 0 || this.values[slot] === REMOVED ? -1 : this.values[slot];
  }

  /** Changes the value of an entry the queue holds. */
  set(id: number, value: number): void {
    const slot = this.find(id);
    if (slot >= 0 && this.values[slot] !== REMOVED) this.values[slot] = value;
  }

  /** Removes the entry; returns its value, or -1 if the queue did not hold the id. */
  delete(id: number): number {
    const slot = this.find(id);
    if (slot < 0) return -1;
    const value = this.values[slot];
    if (value === REMOVED) return -1;
    this.values[slot] = REMOVED;
    if (--this.size === 0) {
      this.head = 0;
      this.tail = 0;
    } else if (slot === this.head) {
      let head = slot + 1;
      while (this.values[head] === REMOVED) head++;
      this.head = head;
    }
    return value;
  }

  clear(): void {
    this.head = 0;
    this.tail = 0;
    this.size = 0;
  }

  /** Calls `visit` for each entry, in id order. */
  forEach(visit: (id: number, value: number) => void): void {
    const { ids, values } = this;
    for (let slot = this.head; slot < this.tail; slot++) {
      if (values[slot] !== REMOVED) visit(ids[slot], values[slot]);
    }
  }

  /** The live entries, in id order: their ids, and their values at the same index. */
  toArrays(): { ids: Float64Array; values: Uint8Array } {
    // No removed slot between head and tail (a queue consumed in order): two copies of a range.
    if (this.tail - this.head === this.size) {
      return { ids: this.ids.slice(this.head, this.tail), values: this.values.slice(this.head, this.tail) };
    }
    const live = { ids: new Float64Array(this.size), values: new Uint8Array(this.size) };
    let i = 0;
    this.forEach((id, value) => {
      live.ids[i] = id;
      live.values[i++] = value;
    });
    return live;
  }

  /** The slot holding `id` (live or removed), or -1. */
  private find(id: number): number {
    return searchSortedIds(this.ids, this.head, this.tail - 1, id);
  }

  /** An id below the last one: kept in order at the cost of a move (the broker never does this). */
  private insert(id: number, value: number): boolean {
    const existing = this.find(id);
    if (existing >= 0) {
      if (this.values[existing] !== REMOVED) return false;
      this.values[existing] = value;
      this.size++;
      return true;
    }
    if (this.tail === this.ids.length) this.makeRoom();
    let slot = this.tail;
    while (slot > 0 && this.ids[slot - 1] > id) slot--;
    this.ids.copyWithin(slot + 1, slot, this.tail);
    this.values.copyWithin(slot + 1, slot, this.tail);
    this.ids[slot] = id;
    this.values[slot] = value;
    this.tail++;
    this.size++;
    if (slot < this.head) this.head = slot;
    return true;
  }

  /** Compacts the live entries to the front, growing the arrays if they stay over half full. */
  private makeRoom(): void {
    const { ids, values } = this;
    let to = 0;
    for (let from = this.head; from < this.tail; from++) {
      if (values[from] === REMOVED) continue;
      ids[to] = ids[from];
      values[to++] = values[from];
    }
    this.head = 0;
    this.tail = to;
    if (to * 2 > ids.length) {
      const grownIds = new Float64Array(ids.length * 2);
      const grownValues = new Uint8Array(ids.length * 2);
      grownIds.set(ids.subarray(0, to));
      grownValues.set(values.subarray(0, to));
      this.ids = grownIds;
      this.values = grownValues;
    }
  }
}
