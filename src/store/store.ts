// The store's contract with the broker: records and files, not AMQP. The broker assigns message ids
// (increasing in publish order), names its durable queues, and drives one Store implementation:
// MemoryStore for in-memory brokers, FileStore (with or without fsync) for durable ones.

/** A persistent message as the store keeps it: routing data, raw content-header properties, body. */
export interface StoredMessage {
  /**
   * Assigned by the broker, increasing in publish order, below 2^53, and never reused for different
   * content: a message stored again with changes (dead-lettered with x-death, say) needs a new id.
   */
  id: number;
  exchange: string;
  routingKey: string;
  /** Raw property bytes of the content header, opaque to the store. */
  properties: Buffer;
  body: Buffer;
  /**
   * When the broker routed the message, in milliseconds since the Unix epoch (what its TTLs count from
   * across restarts); 0 when read back from a record written before the store kept it.
   */
  publishedAt: number;
}

/**
 * One queue's messages after a restart, in publish (id) order: two arrays of one length, one element per
 * message. Arrays rather than an object per message, which for millions of messages took longer to
 * build than the rest of recovery.
 */
export interface RecoveredQueue {
  readonly messageIds: Float64Array;
  /** 1 if the message was delivered from this queue before the restart (deliver it as redelivered). */
  readonly delivered: Uint8Array;
}

/** Recovered.messages: a live view of the messages the store holds, each read on demand. */
export interface RecoveredMessages {
  /** Messages some queue holds now. */
  readonly size: number;
  has(messageId: number): boolean;
  /** Store.read(messageId): reads the message back from disk. */
  get(messageId: number): StoredMessage | undefined;
}

export interface Recovered {
  /** What saveDefinitions last stored (JSON-serialisable), or undefined if it never ran. */
  definitions: unknown | undefined;
  /**
   * What appendDefinitions stored after that, in order: the definitions are `definitions` with these
   * changes applied. Absent or empty if there were none (or the store does not append).
   */
  definitionChanges?: unknown[];
  /**
   * Per durable queue name: its messages not removed, in publish (id) order. Ids only: read a message's
   * content with Store.read when it is needed.
   */
  queues: Map<string, RecoveredQueue>;
  /**
   * @deprecated Use Store.read. No longer a map of loaded messages: open() keeps no bodies in memory,
   * and `get` reads the message from disk on each call, as read() does. Kept so that callers written
   * against the old map go on working until they move to read(); to be removed.
   */
  messages: RecoveredMessages;
  /** Highest message id seen: the broker continues after it. */
  maxMessageId: number;
  /**
   * What recovery cut off or skipped: records and bytes (torn tails, bad checksums), and queue entries
   * dropped because their message record was among them or its segment file was missing.
   */
  dropped: { records: number; bytes: number; messages: number };
  /**
   * The previous run did not close the store (a crash or SIGKILL): marks of deliveries made shortly
   * before it may be missing.
   */
  uncleanShutdown: boolean;
}

export interface Store {
  /**
   * Whether read() gives back the messages publish() was given. A store that keeps none (MemoryStore)
   * says false, and the broker then keeps every ready message of its durable queues in memory.
   */
  readonly keepsMessages: boolean;
  /** Recovers what the store holds. Rejects with a StoreError (e.g. LOCKED, CORRUPT) if it cannot. */
  open(): Promise<Recovered>;
  /**
   * Appends the message once, and its enqueue into each named durable queue. Buffered: see afterSync.
   * Never throws: a message the store cannot take is reported to the next afterSync callback.
   */
  publish(message: StoredMessage, queues: readonly string[]): void;
  /**
   * The message as stored, read back synchronously from its segment file at its known position (or
   * from memory if its batch is not written yet), its checksum verified; properties and body are fresh
   * buffers the caller may keep. Undefined, with a warning logged, if no queue holds the message, its
   * record fails its checksum, or its file cannot be read; never throws. Costs a file read (pread) of
   * the record: meant for the messages a queue does not keep in memory. MemoryStore keeps nothing and
   * always returns undefined.
   */
  read(messageId: number): StoredMessage | undefined;
  /** The message left the queue (ack, reject without requeue, dropped). Unknown pairs are ignored. */
  remove(queue: string, messageId: number): void;
  /** The message was delivered from the queue (so a restart marks it redelivered). May be written lazily. */
  delivered(queue: string, messageId: number): void;
  /** The queue was purged or deleted: every message it held is released. */
  dropQueue(queue: string): void;
  /**
   * Calls back, in call order and never synchronously, once everything published/removed before this
   * call is durable (fsynced in the fsync mode); with a StoreError if writing or syncing failed.
   */
  afterSync(callback: (err?: Error) => void): void;
  /**
   * Replaces the stored definitions atomically, and with them every change appended before the call;
   * of concurrent calls, the last one wins.
   */
  saveDefinitions(definitions: unknown): Promise<void>;
  /**
   * Appends changes (JSON-serialisable) to the stored definitions, to be handed back in order by open()
   * after the definitions of the last saveDefinitions before them; resolves once they are stored (synced
   * in the fsync mode). Optional: without it, the broker saves the whole definitions on each change.
   */
  appendDefinitions?(changes: readonly unknown[]): Promise<void>;
  /** Writes and syncs what is buffered, then releases the store (and its lock). */
  close(): Promise<void>;
  /** For tests and the benchmark: segment files on disk, and the bytes of the segment and index files. */
  diskUsage(): { segments: number; bytes: number };
}
