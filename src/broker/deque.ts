// A growable ring buffer: O(1) push and shift at both ends, without Array.prototype.shift's cost on long
// queues. Capacity is a power of two so that indexes wrap with a mask.
export class Deque<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;
  private mask: number;

  constructor(initialCapacity = 16) {
    let capacity = 16;
    while (capacity < initialCapacity) capacity *= 2;
    this.items = new Array<T | undefined>(capacity);
    this.mask = capacity - 1;
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & this.mask] = item;
    this.count++;
  }

  unshift(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.items[this.head] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
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

  /** Removes every item, returning them front to back; the deque starts again at its smallest. */
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
    this.mask = 15;
    this.head = 0;
    this.count = 0;
  }

  /** Keeps the items for which keep() is true, in order; returns the removed ones. */
  filter(keep: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (const item of this.drain()) (keep(item) ? kept : removed).push(item);
    for (const item of kept) this.push(item);
    return removed;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) & this.mask] as T;
  }

  private grow(): void {
    const old = this.items;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & this.mask];
    this.items = next;
    this.head = 0;
    this.mask = next.length - 1;
  }
}
