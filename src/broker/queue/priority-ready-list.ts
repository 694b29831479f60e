// A priority queue's ready list (x-max-priority): one FIFO per priority level, the highest non-empty one
// going out first, first in first out within a level, as RabbitMQ's classic priority queues. A message's
// level is its priority property, 0 without one, and the queue's maximum for any above it. Messages given
// back after a delivery return to their place in their own level.
import type { Message } from '../message.js';
import { FifoReadyList } from './fifo-ready-list.js';
import type { ReadyEntry, ReadyList } from './ready-list.js';

/** The level of a priority property in a queue whose highest priority is max: 0 without one, at most max. */
export function levelOf(priority: number | undefined, max: number): number {
  if (priority === undefined || priority <= 0) return 0;
  return priority > max ? max : priority;
}

/** The level of a message in a queue whose highest priority is max. */
export function priorityLevel(message: Message, max: number): number {
  return levelOf(message.props.priority, max);
}

export class PriorityReadyList implements ReadyList {
  /** A FIFO per level, made the first time a message of that level comes. */
  private readonly levels: (FifoReadyList | undefined)[];
  /** The highest level that may hold entries: none above it does (a hint kept on push and shift). */
  private top = 0;
  private count = 0;
  shiftedMarked = false;

  constructor(private readonly max: number) {
    this.levels = new Array<FifoReadyList | undefined>(max + 1);
  }

  get length(): number {
    return this.count;
  }

  add(entry: ReadyEntry, priority: number): void {
    const level = levelOf(priority, this.max);
    let fifo = this.levels[level];
    if (fifo === undefined) {
      fifo = new FifoReadyList();
      this.levels[level] = fifo;
    }
    fifo.push(entry);
    if (level > this.top) this.top = level;
    this.count++;
  }

  /** The highest non-empty level (top is lowered past the empty ones), or undefined when empty. */
  private head(): FifoReadyList | undefined {
    if (this.count === 0) return undefined;
    for (;;) {
      const fifo = this.levels[this.top];
      if (fifo !== undefined && fifo.length > 0) return fifo;
      this.top--;
    }
  }

  shift(): ReadyEntry | undefined {
    const fifo = this.head();
    if (fifo === undefined) {
      this.shiftedMarked = false;
      return undefined;
    }
    const entry = fifo.shift();
    this.shiftedMarked = fifo.shiftedMarked;
    this.count--;
    return entry;
  }

  peek(): ReadyEntry | undefined {
    return this.head()?.peek();
  }

  putBack(messages: readonly Message[]): void {
    // Split by level, each part still in publish order; a single level (the usual case) needs no split.
    const first = priorityLevel(messages[0], this.max);
    let single = true;
    for (let i = 1; i < messages.length && single; i++) {
      if (priorityLevel(messages[i], this.max) !== first) single = false;
    }
    if (single) {
      this.putBackLevel(first, messages);
      return;
    }
    const byLevel = new Map<number, Message[]>();
    for (const m of messages) {
      const level = priorityLevel(m, this.max);
      let part = byLevel.get(level);
      if (part === undefined) {
        part = [];
        byLevel.set(level, part);
      }
      part.push(m);
    }
    for (const [level, part] of byLevel) this.putBackLevel(level, part);
  }

  private putBackLevel(level: number, messages: readonly Message[]): void {
    let fifo = this.levels[level];
    if (fifo === undefined) {
      fifo = new FifoReadyList();
      this.levels[level] = fifo;
    }
    fifo.putBack(messages);
    if (level > this.top) this.top = level;
    this.count += messages.length;
  }

  drain(): ReadyEntry[] {
    const out: ReadyEntry[] = [];
    for (let level = this.max; level >= 0; level--) {
      const fifo = this.levels[level];
      if (fifo !== undefined && fifo.length > 0) for (const e of fifo.drain()) out.push(e);
    }
    this.clear();
    return out;
  }

  clear(): void {
    this.levels.fill(undefined);
    this.top = 0;
    this.count = 0;
  }

  *[Symbol.iterator](): Iterator<ReadyEntry> {
    for (let level = this.max; level >= 0; level--) {
      const fifo = this.levels[level];
      if (fifo !== undefined) yield* fifo;
    }
  }
}
