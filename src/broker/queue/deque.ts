// A growable ring buffer: O(1) push and shift at both ends, without Array.prototype.shift's cost on long
// queues. Capacity is a power of two so that indexes wrap with a mask.
//
// An item may be pushed or unshifted marked (a queue marks the messages it gets back after a delivery:
// they go out redelivered). The mark is a byte per slot, in an array made with the first marked item,
// so a deque that never holds one costs nothing for it, and marking a million items allocates no object
// per item.
export class Deque<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;
  private mask: number;
  /** A byte per slot of items: 1 if the item in it is marked. Every write of a slot writes its mark. */
  private marks: Uint8Array | undefined;
  /** Whether the item the last shift() returned was marked. */
  shiftedMarked = false;

  constructor(initialCapacity = 16) {
    let capacity = 16;
    while (capacity < initialCapacity) capacity *= 2;
    this.items = new Array<T | undefined>(capacity);
    this.mask = capacity - 1;
  }

  get length(): number {
    return this.count;
  }

  push(item: T, marked = false): void {
    if (this.count === this.items.length) this.grow();
    const i = (this.head + this.count) & this.mask;
    this.items[i] = item;
    if (marked || this.marks !== undefined) this.mark(i, marked);
    this.count++;
  }

  unshift(item: T, marked = false): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.items[this.head] = item;
    if (marked || this.marks !== undefined) this.mark(this.head, marked);
    this.count++;
  }

  /** Takes the front item; shiftedMarked then says whether it was marked. */
  shift(): T | undefined {
    if (this.count === 0) {
      this.shiftedMarked = false;
      return undefined;
    }
    const head = this.head;
    const item = this.items[head];
    this.items[head] = undefined;
    this.shiftedMarked = this.marks !== undefined && this.marks[head] === 1;
    this.head = (head + 1) & this.mask;
    this.count--;
    return item;
  }

  pop(): T | undefined {
    if (this.count === 0) return undefined;
    const i = (this.head + this.count - 1) & this.mask;
    const item = this.items[i];
    this.items[i] = undefined;
    this.count--;
    return item;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  peekBack(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.head + this.count - 1) & this.mask];
  }

  /** The item at position i from the front (0 is the front). */
  at(i: number): T | undefined {
    return i < 0 || i >= this.count ? undefined : this.items[(this.head + i) & this.mask];
  }

  /** Whether the item at position i from the front is marked. */
  markedAt(i: number): boolean {
    return (
      i >= 0 && i < this.count && this.marks !== undefined && this.marks[(this.head + i) & this.mask] === 1
    );
  }

  /**
   * Removes every item, returning them front to back (their marks are dropped); the deque starts again
   * at its smallest.
   */
  drain(): T[] {
    const { items, head, count } = this;
    const end = head + count;
    // Copies of one or two ranges (a million items in a few milliseconds, where pushing them one by one
    // took tens); the old ring is dropped whole rather than cleared.
    const out = (
      end <= items.length
        ? items.slice(head, end)
        : items.slice(head).concat(items.slice(0, end - items.length))
    ) as T[];
    this.clear();
    return out;
  }

  /** Removes every item at once; the deque starts again at its smallest. */
  clear(): void {
    this.items = new Array<T | undefined>(16);
    // Written only when set: V8 treats a field never written after construction as a constant, and the
    // first write of one throws away the optimised code that relied on it.
    if (this.marks !== undefined) this.marks = undefined;
    this.mask = 15;
    this.head = 0;
    this.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) & this.mask] as T;
  }

  private mark(slot: number, marked: boolean): void {
    if (this.marks === undefined) this.marks = new Uint8Array(this.items.length);
    this.marks[slot] = marked ? 1 : 0;
  }

  private grow(): void {
    const old = this.items;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & this.mask];
    const oldMarks = this.marks;
    if (oldMarks !== undefined) {
      const marks = new Uint8Array(next.length);
      for (let i = 0; i < this.count; i++) marks[i] = oldMarks[(this.head + i) & this.mask];
      this.marks = marks;
    }
    this.items = next;
    this.head = 0;
    this.mask = next.length - 1;
  }
}
