// Message counters shared by the load generator's threads: each publisher and consumer owns one slot and
// stores its running total there once per batch or socket read; anyone may read the totals at any time.
// Publishers read them to keep the messages in flight (published, not yet consumed) within a window.

export class LoadCounters {
  private readonly slots: BigInt64Array;

  constructor(
    readonly publishers: number,
    readonly consumers: number,
    readonly buffer = new SharedArrayBuffer(8 * (publishers + consumers)),
  ) {
    this.slots = new BigInt64Array(buffer);
  }

  setPublished(publisher: number, total: number): void {
    Atomics.store(this.slots, publisher, BigInt(total));
  }

  setConsumed(consumer: number, total: number): void {
    Atomics.store(this.slots, this.publishers + consumer, BigInt(total));
  }

  published(): number {
    let sum = 0;
    for (let i = 0; i < this.publishers; i++) sum += Number(Atomics.load(this.slots, i));
    return sum;
  }

  consumed(): number {
    let sum = 0;
    for (let i = this.publishers; i < this.publishers + this.consumers; i++) {
      sum += Number(Atomics.load(this.slots, i));
    }
    return sum;
  }
}
