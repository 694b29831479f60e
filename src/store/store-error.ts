// The error value the store hands to the broker: a code to branch on and a message for the operator.

export type StoreErrorCode =
  /** Another live process holds the store's directory. */
  | 'LOCKED'
  /** A file the store cannot recover from without losing data it must not lose (index, definitions). */
  | 'CORRUPT'
  /** A file is of a format version this build does not read. */
  | 'VERSION'
  /** Writing, syncing or reading a file failed. */
  | 'IO'
  /** The store is not open. */
  | 'CLOSED'
  /** The store was handed something it cannot record (a name longer than its length field). */
  | 'INVALID';

export class StoreError extends Error {
  override readonly name = 'StoreError';

  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
