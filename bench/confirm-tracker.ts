// Publisher confirms as the load generator counts them: how many publishes the broker has confirmed
// (basic.ack) or refused (basic.nack), whether it answers with `multiple` or one tag at a time, in any
// order. Tags run from 1 in publish order (confirm.select starts the count).

export class ConfirmTracker {
  /** Every tag up to this one is settled (acked or nacked). */
  private settledUpTo = 0;
  /** Tags above settledUpTo settled one by one, out of order; at most the publisher's window of them. */
  private readonly above = new Set<number>();
  /** Publishes the broker refused (basic.nack). */
  nacked = 0;

  /** Publishes settled so far: confirmed or refused. */
  get settled(): number {
    return this.settledUpTo + this.above.size;
  }

  /** Applies a basic.ack or basic.nack; returns how many publishes it settled. */
  settle(deliveryTag: number, multiple: boolean, nack: boolean): number {
    const before = this.settled;
    if (multiple) {
      if (deliveryTag > this.settledUpTo) {
        this.settledUpTo = deliveryTag;
        if (this.above.size > 0) for (const t of this.above) if (t <= deliveryTag) this.above.delete(t);
      }
    } else if (deliveryTag === this.settledUpTo + 1) {
      this.settledUpTo = deliveryTag;
    } else if (deliveryTag > this.settledUpTo) {
      this.above.add(deliveryTag);
    }
    // Singles that arrived early join the contiguous run once the gap before them closes.
    while (this.above.size > 0 && this.above.delete(this.settledUpTo + 1)) this.settledUpTo++;
    const count = this.settled - before;
    if (nack) this.nacked += count;
    return count;
  }
}
