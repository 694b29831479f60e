// Message counters shared by the load generator's threads: each publisher and consumer owns its slots and
// stores its running totals there once per batch, confirm or socket read; anyone may read the totals at
// any time. Publishers read them to keep the messages in flight (published, not yet consumed) within a
// window; the main thread reads them to measure and to know when a fill is confirmed. The main thread
// also stores the run's phase there, which the consumers read to know which latencies to keep.
// Layout: published per publisher, then consumed per consumer, then confirmed and nacked per publisher,
// then rejected per rejecting consumer (scenario m's, on the queue that dead-letters), then the phase.

/** Before the measured interval (warm-up), in it, and after it. */
export const PHASE_WARMUP = 0;
export const PHASE_MEASURED = 1;
export const PHASE_OVER = 2;

export class LoadCounters {
  private readonly slots: BigInt64Array;

  constructor(
    readonly publishers: number,
    readonly consumers: number,
    readonly rejecters = 0,
    readonly buffer = new SharedArrayBuffer(8 * (3 * publishers + consumers + rejecters + 1)),
  ) {
    this.slots = new BigInt64Array(buffer);
  }

  setPublished(publisher: number, total: number): void {
    Atomics.store(this.slots, publisher, BigInt(total));
  }

  setConsumed(consumer: number, total: number): void {
    Atomics.store(this.slots, this.publishers + consumer, BigInt(total));
  }

  /** Publishes the broker has settled (basic.ack or basic.nack), and of them the nacked ones. */
  setConfirmed(publisher: number, settled: number, nacked: number): void {
    const at = this.publishers + this.consumers + 2 * publisher;
    Atomics.store(this.slots, at, BigInt(settled));
    Atomics.store(this.slots, at + 1, BigInt(nacked));
  }

  /** Deliveries a rejecting consumer has received (and rejects, or has rejected). */
  setRejected(rejecter: number, total: number): void {
    Atomics.store(this.slots, 3 * this.publishers + this.consumers + rejecter, BigInt(total));
  }

  /** PHASE_WARMUP, PHASE_MEASURED or PHASE_OVER. */
  get phase(): number {
    return Number(Atomics.load(this.slots, this.slots.length - 1));
  }

  set phase(p: number) {
    Atomics.store(this.slots, this.slots.length - 1, BigInt(p));
  }

  published(): number {
    return this.total(0, this.publishers, 1);
  }

  consumed(): number {
    return this.total(this.publishers, this.consumers, 1);
  }

  /** Publishes acked or nacked by the broker (confirm mode only). */
  confirmed(): number {
    return this.total(this.publishers + this.consumers, this.publishers, 2);
  }

  nacked(): number {
    return this.total(this.publishers + this.consumers + 1, this.publishers, 2);
  }

  /** Deliveries the rejecting consumers received: not in consumed(). */
  rejected(): number {
    return this.total(3 * this.publishers + this.consumers, this.rejecters, 1);
  }

  private total(first: number, count: number, stride: number): number {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += Number(Atomics.load(this.slots, first + i * stride));
    return sum;
  }
}
