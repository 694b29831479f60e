// Why a message left a queue. Every removal names one: dead-lettering reads it to decide where the
// message goes next, and the metrics count each.

/** The reasons, as small integers (they index the queue's counters). */
export const Removal = {
  /** Acked by its consumer, or delivered to a no-ack consumer or basic.get. */
  acked: 0,
  /** basic.reject or basic.nack without requeue. */
  rejected: 1,
  /** Its TTL ran out at the head of the queue. */
  expired: 2,
  /** Dropped from the head by x-max-length or x-max-length-bytes (x-overflow drop-head). */
  maxlen: 3,
  /** queue.purge. */
  purged: 4,
  /** The queue was deleted with it. */
  deleted: 5,
  /** Its stored record could not be read back (failed its checksum): dropped, as recovery drops one. */
  unreadable: 6,
  /** Given back more times than a quorum queue's x-delivery-limit allows. */
  deliveryLimit: 7,
} as const;

export type RemovalReason = (typeof Removal)[keyof typeof Removal];

export const REMOVAL_NAMES = Object.keys(Removal) as readonly (keyof typeof Removal)[];

/** How many messages left a queue for each reason. */
export type RemovalCounts = Record<keyof typeof Removal, number>;
