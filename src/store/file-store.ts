// The durable store: message segments, the queue index and the definitions file in one directory,
// written by group commit. publish/remove/delivered/dropQueue only encode records into write buffers
// and update the in-memory queue state; one batch at a time then writes each file once (one writev)
// and, in the fsync mode, syncs each file once, off the event loop (fs async APIs). While a batch is in
// flight the next one accumulates, and it starts as soon as the first is done. afterSync callbacks are
// released in call order once their batch is durable.
//
// Message bodies are not kept in memory: the store knows where each live message's record is
// (message-locations.ts: 24 bytes a message, plus 9 per queue entry in queue-entries.ts) and read()
// fetches it from its segment file, or from the write buffers while its batch is not written yet.
//
// Files (formats in their modules): warren.lock (lock-file.ts), NNNNNNNNNN.seg (segment-format.ts),
// queues.idx (queue-index-format.ts), definitions.json and definitions.log (definitions-file.ts).
//
// Failures: a write or sync that fails hands its StoreError to the batch's callbacks and leaves what it
// was writing queued, to be written again at the same file positions with the next batch (after a
// failed fsync the kernel may have dropped the pages, so those bytes are rewritten too). What was
// durable stays durable; nothing throws out of the record methods.
import { mkdir } from 'node:fs/promises';
import { DefinitionsWriter } from './definitions-file.js';
import { nodeIo, type StoreIo } from './file-io.js';
import { IndexFile } from './index-file.js';
import { IndexSnapshot, type SnapshotQueue } from './index-snapshot.js';
import { acquireLock, type LockFile } from './lock-file.js';
import { MessageLocations, OFFSET_UNKNOWN } from './message-locations.js';
import { QueueEntries } from './queue-entries.js';
import {
  encodeDeliveredRecord,
  encodeDropRecord,
  encodeEnqueueRecord,
  encodeQueueRecord,
  encodeRemoveRecord,
  MAX_ENQUEUE_QUEUES,
  MAX_QUEUE_NAME,
} from './queue-index-format.js';
import { recover } from './recovery.js';
import { Segment } from './segment.js';
import {
  decodeMessageFrame,
  encodeMessageRecord,
  encodeSegmentHeader,
  messageRecordLength,
  SEGMENT_HEADER_SIZE,
} from './segment-format.js';
import type { Recovered, RecoveredMessages, Store, StoredMessage } from './store.js';
import { StoreError } from './store-error.js';
import { type StoreLogger, silentLogger } from './store-logger.js';
import { utf8Length } from './utf8.js';
import { WriteBuffer } from './write-buffer.js';

export interface FileStoreOptions {
  /** The store's directory; created if missing. One broker at a time (see the lock file). */
  dir: string;
  /** Sync every batch before its callbacks run (durable against power loss), or only write it. */
  fsync: boolean;
  /** Bytes at which a segment file is closed and a new one started; default 64 MiB. */
  segmentSize?: number;
  logger?: StoreLogger;
  /** The index is rewritten once it passes this size and four times its live content; default 16 MiB. */
  indexCompactBytes?: number;
  /** For tests: the write path's file operations, to inject failures. */
  io?: StoreIo;
}

type Callback = (err?: Error) => void;

interface QueueState {
  /** The queue's number in the current index file, or -1 until a QUEUE record names it there. */
  number: number;
  /** Message id -> delivered flag (0 or 1), in publish order. */
  entries: QueueEntries;
}

interface Batch {
  segments: { segment: Segment; chunks: Buffer[] }[];
  /** Records to append to the index, or undefined when `rewrite` replaces the whole file. */
  index: Buffer[] | undefined;
  rewrite: IndexSnapshot | undefined;
  callbacks: Callback[];
  /** Per callback: a failure of a record call made before it (validation), reported even if the batch succeeds. */
  failures: (StoreError | undefined)[];
  deletes: Segment[];
}

const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;
const DEFAULT_INDEX_COMPACT_BYTES = 16 * 1024 * 1024;
/** Rough index bytes per live queue entry (an ENQUEUE record, sometimes a DELIVERED one). */
const INDEX_BYTES_PER_ENTRY = 40;
/** How long delivered marks (and retries after a failure) may wait for a batch. */
const LAZY_FLUSH_MS = 100;
/**
 * Messages of dropped queues released per turn of the event loop: a queue of a million is let go over
 * about 16 turns of a few milliseconds, not in one stop of every client for tens of milliseconds.
 */
const RELEASE_SLICE = 65_536;

type State = 'new' | 'opening' | 'open' | 'closing' | 'closed';

export class FileStore implements Store {
  readonly keepsMessages = true;
  private readonly dir: string;
  private readonly fsync: boolean;
  private readonly segmentSize: number;
  private readonly indexCompactBytes: number;
  private readonly logger: StoreLogger;
  private readonly io: StoreIo;
  private readonly definitions: DefinitionsWriter;
  private state: State = 'new';
  private lock: LockFile | undefined;

  private readonly queues = new Map<string, QueueState>();
  /** Where each live message's record is, and how many queues hold it. */
  private locations = new MessageLocations();
  private nextQueueNumber = 0;
  private liveEntries = 0;
  private maxMessageId = 0;
  /** Scratch for the queues of one publish, and their numbers. */
  private readonly states: QueueState[] = [];
  private readonly numbers: number[] = [];

  private readonly segments = new Map<number, Segment>();
  private active: Segment | undefined;
  private nextSegment = 1;
  private readonly segmentOut = new WriteBuffer();
  private dirtySegments: Segment[] = [];
  /** A segment file was created since the directory was last synced. */
  private directoryUnsynced = false;
  private deletes: Segment[] = [];

  private readonly index: IndexFile;
  /** Where the record methods encode index records: the index file's buffer. */
  private readonly indexOut: WriteBuffer;

  private callbacks: Callback[] = [];
  private failures: (StoreError | undefined)[] = [];
  /** A record call failed since the last afterSync: the next callback reports it. */
  private failure: StoreError | undefined;
  /** Something is pending that a batch should write now (not only lazy delivered marks). */
  private urgent = false;
  private flushScheduled = false;
  private lazyTimer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private closing: Promise<void> | undefined;
  private lastErrorLogged = 0;
  /** Ids of dropped queues' messages still to release (their segments' references), oldest first. */
  private releasing: { ids: Float64Array; next: number }[] = [];
  private releaseScheduled = false;

  constructor(options: FileStoreOptions) {
    this.dir = options.dir;
    this.fsync = options.fsync;
    this.segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    // A record starts within segmentSize bytes of its segment's start: its offset fits 32 bits.
    if (!Number.isInteger(this.segmentSize) || this.segmentSize <= 0 || this.segmentSize >= OFFSET_UNKNOWN) {
      throw new RangeError(
        `segmentSize must be a whole number of bytes below 4 GiB, not ${this.segmentSize}`,
      );
    }
    this.indexCompactBytes = options.indexCompactBytes ?? DEFAULT_INDEX_COMPACT_BYTES;
    this.logger = options.logger ?? silentLogger;
    this.io = options.io ?? nodeIo;
    this.definitions = new DefinitionsWriter(this.dir, this.fsync, this.io);
    this.index = new IndexFile(this.dir, this.io, this.fsync);
    this.indexOut = this.index.out;
  }

  async open(): Promise<Recovered> {
    if (this.state !== 'new') throw new StoreError('CLOSED', `the store in ${this.dir} was already opened`);
    this.state = 'opening';
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      this.state = 'new';
      throw new StoreError('IO', `cannot create the store directory ${this.dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const lock = await acquireLock(this.dir);
    if (lock instanceof StoreError) {
      this.state = 'new';
      throw lock;
    }
    this.lock = lock;
    try {
      const started = performance.now();
      const state = await recover(this.dir, this.logger);
      if (state instanceof StoreError) throw state;
      this.definitions.recovered(state.definitions);
      for (const [name, entries] of state.queues) {
        this.queues.set(name, { number: -1, entries });
        this.liveEntries += entries.size;
      }
      this.locations = state.locations;
      for (const [number, { references, bytes }] of state.segments) {
        const segment = new Segment(number, this.dir, bytes, true);
        segment.references = references;
        this.segments.set(number, segment);
      }
      this.nextSegment = state.nextSegment;
      const recovered: Recovered = { ...state.recovered, messages: this.messagesView() };
      this.maxMessageId = recovered.maxMessageId;
      const reusable = state.index;
      const numbered =
        reusable !== undefined && [...this.queues.keys()].every((name) => reusable.queueNumbers.has(name));
      if (numbered) {
        // Nothing to cut or drop: records go on after the last one, under the file's queue numbers.
        for (const [name, queue] of this.queues) queue.number = reusable.queueNumbers.get(name) ?? -1;
        this.nextQueueNumber = reusable.nextQueueNumber;
        const adopted = await this.index.adopt(reusable.bytes);
        if (adopted !== undefined) throw adopted;
      } else {
        // A fresh index of what was recovered: no skipped records or torn tail stays in the file we append to.
        const written = await this.index.rewrite(this.snapshotIndex());
        if (written !== undefined) throw written;
      }
      this.state = 'open';
      recovered.uncleanShutdown = lock.tookOver;
      this.logger.info(
        {
          dir: this.dir,
          queues: recovered.queues.size,
          messages: this.locations.size,
          segments: this.segments.size,
          dropped: recovered.dropped,
          ms: Math.round(performance.now() - started),
        },
        'store opened',
      );
      return recovered;
    } catch (err) {
      await this.index.close(false).catch(() => undefined);
      await lock.release();
      this.lock = undefined;
      this.state = 'closed';
      if (err instanceof StoreError) throw err;
      throw new StoreError('IO', `opening the store in ${this.dir} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  publish(message: StoredMessage, queues: readonly string[]): void {
    if (this.state !== 'open') {
      this.failure = this.notOpen();
      return;
    }
    const count = queues.length;
    if (count === 0) return;
    const exchangeLength = utf8Length(message.exchange);
    const routingKeyLength = utf8Length(message.routingKey);
    const recordLength = messageRecordLength(message, exchangeLength, routingKeyLength);
    if (typeof recordLength === 'string') {
      this.failure = new StoreError('INVALID', `cannot store message ${message.id}: ${recordLength}`);
      return;
    }
    const states = this.states;
    for (let i = 0; i < count; i++) {
      const queue = this.queueFor(queues[i]);
      if (queue === undefined) {
        this.failure = new StoreError('INVALID', `cannot store message ${message.id}: queue name too long`);
        return;
      }
      states[i] = queue;
    }
    const id = message.id;
    // A message some queue holds already keeps its record: its new queues reference that one.
    const stored = this.locations.find(id);
    let segment: Segment | undefined;
    let segmentNumber: number;
    if (stored >= 0) {
      segmentNumber = this.locations.segmentAt(stored);
    } else {
      segment = this.active;
      if (
        segment === undefined ||
        (segment.size + recordLength > this.segmentSize && segment.size > SEGMENT_HEADER_SIZE)
      ) {
        segment = this.roll();
      }
      segmentNumber = segment.number;
    }
    const numbers = this.numbers;
    let added = 0;
    for (let i = 0; i < count; i++) {
      const queue = states[i];
      // A queue named twice, or a message id published twice to a queue, is recorded once.
      if (!queue.entries.add(id, 0)) continue;
      numbers[added++] = queue.number;
    }
    if (added === 0) return;
    this.liveEntries += added;
    if (segment === undefined) {
      this.locations.addQueues(stored, added);
    } else {
      this.locations.add(id, segmentNumber, segment.size, recordLength, added);
      segment.references++;
      encodeMessageRecord(this.segmentOut, message, exchangeLength, routingKeyLength, recordLength);
      segment.size += recordLength;
    }
    for (let i = 0; i < added; i += MAX_ENQUEUE_QUEUES) {
      encodeEnqueueRecord(
        this.indexOut,
        id,
        segmentNumber,
        numbers,
        i,
        Math.min(MAX_ENQUEUE_QUEUES, added - i),
      );
    }
    if (id > this.maxMessageId) this.maxMessageId = id;
    this.urgent = true;
    this.flushSoon();
  }

  remove(queue: string, messageId: number): void {
    if (this.state !== 'open') return;
    const state = this.queues.get(queue);
    if (state === undefined) return;
    if (state.entries.delete(messageId) < 0) return;
    this.liveEntries--;
    this.releaseMessage(messageId);
    encodeRemoveRecord(this.indexOut, state.number, messageId);
    this.urgent = true;
    this.flushSoon();
  }

  delivered(queue: string, messageId: number): void {
    if (this.state !== 'open') return;
    const state = this.queues.get(queue);
    if (state === undefined) return;
    if (state.entries.get(messageId) !== 0) return;
    state.entries.set(messageId, 1);
    encodeDeliveredRecord(this.indexOut, state.number, messageId);
    this.flushLazily();
  }

  dropQueue(queue: string): void {
    if (this.state !== 'open') return;
    const state = this.queues.get(queue);
    if (state === undefined || state.entries.size === 0) return;
    if (state.entries.size <= RELEASE_SLICE) state.entries.forEach(this.releaseMessage);
    else {
      // The ids are copied out (a memory copy); each message is released in a later slice.
      this.releasing.push({ ids: state.entries.toArrays().ids, next: 0 });
      if (!this.releaseScheduled) {
        this.releaseScheduled = true;
        setImmediate(this.releaseSlice);
      }
    }
    this.liveEntries -= state.entries.size;
    state.entries.clear();
    encodeDropRecord(this.indexOut, state.number);
    this.urgent = true;
    this.flushSoon();
  }

  read(messageId: number): StoredMessage | undefined {
    if (this.state !== 'open' && this.state !== 'closing') {
      this.logger.warn({ messageId }, 'store: read while the store is not open');
      return undefined;
    }
    const locations = this.locations;
    const slot = locations.find(messageId);
    if (slot < 0) {
      this.logger.warn({ messageId }, 'store: read of a message no queue holds');
      return undefined;
    }
    const segmentNumber = locations.segmentAt(slot);
    const offset = locations.offsetAt(slot);
    const segment = this.segments.get(segmentNumber);
    if (segment === undefined) {
      this.logger.warn(
        { messageId, segment: segmentNumber },
        'store: read of a message in a deleted segment',
      );
      return undefined;
    }
    const record = Buffer.allocUnsafe(locations.lengthAt(slot));
    try {
      segment.readInto(offset, record.length, record, segment === this.active ? this.segmentOut : undefined);
    } catch (err) {
      this.logger.warn(
        { messageId, segment: segmentNumber, offset, err: (err as Error).message },
        'store: cannot read a message record',
      );
      return undefined;
    }
    const message = decodeMessageFrame(record);
    if (typeof message === 'string' || message.id !== messageId) {
      this.logger.warn(
        {
          messageId,
          segment: segmentNumber,
          offset,
          reason: typeof message === 'string' ? message : `record of message ${message.id}`,
        },
        'store: message record unusable',
      );
      return undefined;
    }
    return message;
  }

  afterSync(callback: (err?: Error) => void): void {
    if (this.state !== 'open' && this.state !== 'closing') {
      const error = this.notOpen();
      setImmediate(callback, error);
      return;
    }
    this.callbacks.push(callback);
    this.failures.push(this.failure);
    this.failure = undefined;
    this.urgent = true;
    this.flushSoon();
  }

  saveDefinitions(definitions: unknown): Promise<void> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    return this.definitions.save(definitions);
  }

  appendDefinitions(changes: readonly unknown[]): Promise<void> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    return this.definitions.append(changes);
  }

  close(): Promise<void> {
    if (this.state === 'new' || this.state === 'closed') return this.closing ?? Promise.resolve();
    if (this.state === 'opening')
      return Promise.reject(new StoreError('CLOSED', 'the store is still opening'));
    this.closing ??= this.shutDown();
    return this.closing;
  }

  diskUsage(): { segments: number; bytes: number } {
    let segments = 0;
    let bytes = this.index.written;
    for (const segment of this.segments.values()) {
      if (segment.written === 0) continue;
      segments++;
      bytes += segment.written;
    }
    return { segments, bytes };
  }

  private async shutDown(): Promise<void> {
    this.state = 'closing';
    let error: Error | undefined;
    // What dropped queues still hold is let go now, so that the last batches delete their segments.
    this.releaseSlice(Number.POSITIVE_INFINITY);
    // Everything buffered, delivered marks included, goes out in last batches; callers may still add
    // afterSync callbacks while those run, so drain until nothing is left.
    do {
      error = await new Promise<Error | undefined>((resolve) => {
        this.callbacks.push(resolve);
        this.failures.push(undefined);
        this.urgent = true;
        this.flushSoon();
      });
    } while (this.inFlight || this.urgent || this.callbacks.length > 0);
    // From here on no batch starts and new calls are refused.
    this.state = 'closed';
    if (this.lazyTimer !== undefined) clearTimeout(this.lazyTimer);
    await this.definitions.idle();
    await this.definitions.close().catch((err: Error) => {
      error ??= new StoreError('IO', `closing the definitions log failed: ${err.message}`, { cause: err });
    });
    // Without the fsync mode this is the one sync the data gets: at a clean shutdown.
    const sync = !this.fsync && error === undefined;
    for (const file of [this.index, ...this.segments.values()]) {
      try {
        await file.close(sync);
      } catch (err) {
        error ??= new StoreError('IO', `closing the store's files failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    for (const segment of this.segments.values()) {
      try {
        segment.closeReader();
      } catch (err) {
        error ??= new StoreError('IO', `closing the store's files failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    await this.lock?.release();
    this.lock = undefined;
    this.logger.info({ dir: this.dir }, 'store closed');
    if (error !== undefined) throw error;
  }

  private notOpen(): StoreError {
    return new StoreError(
      'CLOSED',
      `the store in ${this.dir} is ${this.state === 'new' ? 'not open' : 'closed'}`,
    );
  }

  /** The queue's state, named in the index if it is not yet; undefined if the name is too long. */
  private queueFor(name: string): QueueState | undefined {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = { number: -1, entries: new QueueEntries() };
      this.queues.set(name, queue);
    }
    if (queue.number < 0) {
      const nameLength = utf8Length(name);
      if (nameLength > MAX_QUEUE_NAME) return undefined;
      queue.number = this.nextQueueNumber++;
      encodeQueueRecord(this.indexOut, queue.number, name, nameLength);
    }
    return queue;
  }

  /** Seals the active segment (its buffered records go with it) and starts the next one. */
  private roll(): Segment {
    const old = this.active;
    if (old !== undefined) {
      old.sealed = true;
      this.takeSegmentOut(old);
      this.markDirty(old);
      if (old.references === 0) this.scheduleDelete(old);
    }
    const segment = new Segment(this.nextSegment++, this.dir, SEGMENT_HEADER_SIZE, false);
    this.segmentOut.appendReference(encodeSegmentHeader(segment.number));
    this.segments.set(segment.number, segment);
    this.active = segment;
    this.markDirty(segment);
    return segment;
  }

  /** Releases up to RELEASE_SLICE messages of dropped queues (all of them with Infinity). */
  private readonly releaseSlice = (limit = RELEASE_SLICE): void => {
    this.releaseScheduled = false;
    let left = limit;
    const releasing = this.releasing;
    while (left > 0 && releasing.length > 0) {
      const r = releasing[0];
      const end = Math.min(r.ids.length, r.next + left);
      for (let i = r.next; i < end; i++) this.releaseMessage(r.ids[i]);
      left -= end - r.next;
      r.next = end;
      if (end === r.ids.length) releasing.shift();
    }
    if (releasing.length > 0 && !this.releaseScheduled) {
      this.releaseScheduled = true;
      setImmediate(this.releaseSlice);
    }
  };

  /** One queue released the message: once none holds it, its segment loses a reference. */
  private readonly releaseMessage = (messageId: number): void => {
    const segment = this.locations.release(messageId);
    if (segment >= 0) this.release(segment);
  };

  /** The deprecated Recovered.messages: reads on demand. */
  private messagesView(): RecoveredMessages {
    const store = this;
    return {
      get size() {
        return store.locations.size;
      },
      has: (messageId) => store.locations.find(messageId) >= 0,
      get: (messageId) => store.read(messageId),
    };
  }

  private release(segmentNumber: number): void {
    const segment = this.segments.get(segmentNumber);
    if (segment === undefined) return;
    segment.references--;
    if (segment.references === 0 && segment.sealed) this.scheduleDelete(segment);
  }

  private scheduleDelete(segment: Segment): void {
    if (segment.deleting) return;
    segment.deleting = true;
    this.deletes.push(segment);
    this.urgent = true;
    this.flushSoon();
  }

  private markDirty(segment: Segment): void {
    if (segment.dirty) return;
    segment.dirty = true;
    this.dirtySegments.push(segment);
  }

  private takeSegmentOut(segment: Segment): void {
    const chunks = this.segmentOut.take();
    for (const chunk of chunks) segment.unwritten.push(chunk);
  }

  private flushSoon(): void {
    if (this.flushScheduled || this.inFlight) return;
    this.flushScheduled = true;
    setImmediate(this.runBatch);
  }

  private flushLazily(): void {
    if (this.flushScheduled || this.inFlight || this.lazyTimer !== undefined) return;
    this.lazyTimer = setTimeout(this.runBatch, LAZY_FLUSH_MS);
    this.lazyTimer.unref();
  }

  private readonly runBatch = (): void => {
    this.flushScheduled = false;
    if (this.lazyTimer !== undefined) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = undefined;
    }
    if (this.inFlight || this.state === 'closed') return;
    const batch = this.takeBatch();
    if (batch === undefined) return;
    this.inFlight = true;
    void this.writeBatch(batch).then((error) => this.finishBatch(batch, error));
  };

  private takeBatch(): Batch | undefined {
    if (this.active !== undefined && this.segmentOut.length > 0) {
      this.takeSegmentOut(this.active);
      this.markDirty(this.active);
    }
    const segments: Batch['segments'] = [];
    for (const segment of this.dirtySegments) {
      segment.dirty = false;
      segments.push({ segment, chunks: segment.takeUnwritten() });
    }
    this.dirtySegments = [];
    let index: Buffer[] | undefined;
    let rewrite: IndexSnapshot | undefined;
    const indexBytes = this.index.size;
    if (
      this.index.needsRewrite ||
      (indexBytes > this.indexCompactBytes && indexBytes > 4 * INDEX_BYTES_PER_ENTRY * this.liveEntries)
    ) {
      // The snapshot holds everything up to now: the index records waiting are superseded.
      this.index.discardPending();
      rewrite = this.snapshotIndex();
    } else {
      index = this.index.takeAppend();
    }
    const batch: Batch = {
      segments,
      index,
      rewrite,
      callbacks: this.callbacks,
      failures: this.failures,
      deletes: this.deletes,
    };
    this.callbacks = [];
    this.failures = [];
    this.deletes = [];
    this.urgent = false;
    if (
      segments.length === 0 &&
      (index === undefined || index.length === 0) &&
      rewrite === undefined &&
      batch.callbacks.length === 0 &&
      batch.deletes.length === 0
    ) {
      return undefined;
    }
    return batch;
  }

  private async writeBatch(batch: Batch): Promise<StoreError | undefined> {
    const [segmentError, indexError] = await Promise.all([
      this.writeSegments(batch),
      batch.rewrite !== undefined ? this.index.rewrite(batch.rewrite) : this.index.append(batch.index ?? []),
    ]);
    const error = segmentError ?? indexError;
    // Only once the index no longer references them durably may segments go.
    if (error === undefined) await this.deleteSegments(batch.deletes);
    else for (const segment of batch.deletes) this.deletes.push(segment);
    return error;
  }

  private async writeSegments(batch: Batch): Promise<StoreError | undefined> {
    let error: StoreError | undefined;
    for (const { segment, chunks } of batch.segments) {
      const failed = await segment.write(chunks, this.io, this.fsync);
      if (segment.unsyncedEntry) {
        segment.unsyncedEntry = false;
        this.directoryUnsynced = true;
      }
      if (failed !== undefined) {
        this.markDirty(segment);
        error ??= failed;
      }
    }
    // A new file's name is durable only once its directory is synced.
    if (this.fsync && this.directoryUnsynced) {
      try {
        await this.io.syncDir(this.dir);
        this.directoryUnsynced = false;
      } catch (err) {
        error ??= new StoreError('IO', `syncing the store directory failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    return error;
  }

  /**
   * Renumbers the queues and captures the whole index as of now, to be encoded as the rewrite writes it
   * (index-snapshot.ts); forgets queues that hold nothing.
   */
  private snapshotIndex(): IndexSnapshot {
    const queues: SnapshotQueue[] = [];
    let number = 0;
    for (const [name, queue] of this.queues) {
      if (queue.entries.size === 0) {
        this.queues.delete(name);
        continue;
      }
      queue.number = number++;
      const { ids, values } = queue.entries.toArrays();
      queues.push({
        number: queue.number,
        name,
        ids,
        delivered: values,
        segments: this.locations.segmentsOf(ids),
      });
    }
    this.nextQueueNumber = number;
    return new IndexSnapshot(this.maxMessageId, queues);
  }

  private async deleteSegments(segments: Segment[]): Promise<void> {
    for (const segment of segments) {
      // Only a sealed segment nothing references goes; one referenced again is kept.
      if (segment.references > 0 || !segment.sealed) {
        segment.deleting = false;
        continue;
      }
      try {
        segment.closeReader();
        await segment.close(false);
        await this.io.unlink(segment.path);
        this.segments.delete(segment.number);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.segments.delete(segment.number);
        } else {
          // The data is safe either way; the next open deletes what nothing references.
          this.logger.warn(
            { segment: segment.number, err: (err as Error).message },
            'store: cannot delete a segment',
          );
          this.segments.delete(segment.number);
        }
      }
    }
  }

  private finishBatch(batch: Batch, error: StoreError | undefined): void {
    this.inFlight = false;
    if (error !== undefined) {
      const now = Date.now();
      if (now - this.lastErrorLogged > 1000) {
        this.lastErrorLogged = now;
        this.logger.error(
          { err: error.message, callbacks: batch.callbacks.length },
          'store: batch write failed',
        );
      }
    }
    const { callbacks, failures } = batch;
    for (let i = 0; i < callbacks.length; i++) {
      try {
        callbacks[i](error ?? failures[i]);
      } catch (err) {
        // A throwing callback is the caller's bug: surface it without stopping the store.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    if (this.state === 'closed') return;
    if (this.urgent) {
      this.runBatch();
    } else if (error !== undefined || this.indexOut.length > 0 || this.dirtySegments.length > 0) {
      // Lazy records, or a failed write to retry: soon, but not in a tight loop against a failing disk.
      this.flushLazily();
    }
  }
}
