// A quorum queue's ready list, as RabbitMQ 4.x orders a quorum queue: two levels, high (priority 5 and
// above) and normal (0 to 4, or none), with no x-max-priority. High goes first, but not always: every
// third message taken, when both levels have entries, the normal level's head goes instead if it was
// published before the high level's head, so that a stream of high-priority messages does not starve
// the others. First in first out within a level; messages given back return to their place in theirs.
import type { Message } from '../message.js';
import { FifoReadyList } from './fifo-ready-list.js';
import { entrySeq, type ReadyEntry, type ReadyList } from './ready-list.js';

/** The lowest priority property of the high level. */
const HIGH = 5;
/** Of every WEIGHT + 1 messages taken, the last may come from the normal level. */
const WEIGHT = 2;

function isHigh(priority: number | undefined): boolean {
  return priority !== undefined && priority >= HIGH;
}

export class QuorumReadyList implements ReadyList {
  private readonly high = new FifoReadyList();
  private readonly normal = new FifoReadyList();
  /** Messages taken since the normal level last had its turn, up to WEIGHT. */
  private taken = 0;
  shiftedMarked = false;

  get length(): number {
    return this.high.length + this.normal.length;
  }

  add(entry: ReadyEntry, priority: number): void {
    (isHigh(priority) ? this.high : this.normal).push(entry);
  }

  /** The level the next message comes from, or undefined when both are empty. */
  private next(): FifoReadyList | undefined {
    const high = this.high;
    const normal = this.normal;
    if (high.length === 0) return normal.length === 0 ? undefined : normal;
    if (normal.length === 0 || this.taken < WEIGHT) return high;
    return entrySeq(normal.peek() as ReadyEntry) < entrySeq(high.peek() as ReadyEntry) ? normal : high;
  }

  shift(): ReadyEntry | undefined {
    const fifo = this.next();
    if (fifo === undefined) {
      this.shiftedMarked = false;
      return undefined;
    }
    this.taken = this.taken === WEIGHT ? 0 : this.taken + 1;
    const entry = fifo.shift();
    this.shiftedMarked = fifo.shiftedMarked;
    return entry;
  }

  peek(): ReadyEntry | undefined {
    return this.next()?.peek();
  }

  putBack(messages: readonly Message[]): void {
    const high: Message[] = [];
    const normal: Message[] = [];
    for (const m of messages) (isHigh(m.props.priority) ? high : normal).push(m);
    if (high.length > 0) this.high.putBack(high);
    if (normal.length > 0) this.normal.putBack(normal);
  }

  drain(): ReadyEntry[] {
    const out = this.high.drain();
    for (const e of this.normal.drain()) out.push(e);
    this.taken = 0;
    return out;
  }

  clear(): void {
    this.high.clear();
    this.normal.clear();
    this.taken = 0;
  }

  *[Symbol.iterator](): Iterator<ReadyEntry> {
    yield* this.high;
    yield* this.normal;
  }
}
