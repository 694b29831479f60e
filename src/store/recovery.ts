// Recovery: rebuilds what the store holds from its files at open. The queue index is replayed first,
// giving every queue's message ids and the segment of each message's record; then the segments are
// scanned block by block to find where each live record is, checking every record's CRC. No body is
// kept: the store reads a message back at its position when the broker asks (FileStore.read). A corrupt
// record in the middle of a file is skipped, a torn tail is cut off (the file truncated), and both are
// logged with what they cost. A message the index names but no segment holds (a missing segment file, a
// corrupt record) is dropped from its queues and logged, never an error.
import { open, readdir, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFINITIONS_LOG_FILE,
  DEFINITIONS_TEMP_FILE,
  type LoadedDefinitions,
  loadDefinitions,
} from './definitions-file.js';
import { scanFileFrames } from './file-frames.js';
import { MessageLocations, OFFSET_UNKNOWN } from './message-locations.js';
import { QueueEntries } from './queue-entries.js';
import {
  checkIndexHeader,
  decodeIndexRecord,
  INDEX_FILE,
  INDEX_HEADER_SIZE,
  INDEX_TEMP_FILE,
  type IndexVisitor,
} from './queue-index-format.js';
import { FRAME_HEADER_SIZE, type FrameScan } from './record-frame.js';
import {
  checkMessageRecord,
  checkSegmentHeader,
  parseSegmentFileName,
  SEGMENT_HEADER_SIZE,
  SEGMENT_VERSIONS_READ,
  segmentFileName,
} from './segment-format.js';
import type { Recovered, RecoveredQueue } from './store.js';
import { StoreError } from './store-error.js';
import type { StoreLogger } from './store-logger.js';

export interface RecoveredState {
  /** What open() hands the broker (its `messages` is filled in by the file store). */
  recovered: Omit<Recovered, 'messages'>;
  /** Per queue: its entries (message id -> delivered flag, 0 or 1), the store's working state. */
  queues: Map<string, QueueEntries>;
  /** Where each live message's record is, and how many queues hold it. */
  locations: MessageLocations;
  /** Segment files kept (some live message is in them): number -> live messages and bytes. */
  segments: Map<number, { references: number; bytes: number }>;
  /** The number the next new segment gets: above every segment seen, deleted or not. */
  nextSegment: number;
  /** The index file as found, if it can be appended to as it is (else it must be rewritten). */
  index: ReusableIndex | undefined;
  /** The definitions and their log as found (the log's torn tail cut off). */
  definitions: LoadedDefinitions;
}

/** An index file with nothing to cut or drop: new records can follow its last one. */
export interface ReusableIndex {
  /** Its size: where the next record goes. */
  bytes: number;
  /** The number each queue has in it. */
  queueNumbers: Map<string, number>;
  /** Above every queue number in it. */
  nextQueueNumber: number;
}

export async function recover(dir: string, logger: StoreLogger): Promise<RecoveredState | StoreError> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    return new StoreError('IO', `cannot read the store directory ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  for (const leftover of [INDEX_TEMP_FILE, DEFINITIONS_TEMP_FILE]) {
    if (names.includes(leftover)) {
      logger.info({ file: leftover }, 'store: removing a temporary file left by an interrupted write');
      await unlink(join(dir, leftover)).catch(() => undefined);
    }
  }
  const definitions = await loadDefinitions(dir);
  if (definitions instanceof StoreError) return definitions;

  const segmentNumbers: number[] = [];
  for (const name of names) {
    const segment = parseSegmentFileName(name);
    if (segment !== undefined) segmentNumbers.push(segment);
  }
  segmentNumbers.sort((a, b) => a - b);

  const dropped = { records: 0, bytes: 0, messages: 0 };
  if (definitions.logScan) {
    const scan = definitions.logScan;
    if (scan.skippedRecords > 0) {
      logger.warn(
        { file: DEFINITIONS_LOG_FILE, records: scan.skippedRecords, bytes: scan.skippedBytes },
        'store: corrupt definition changes skipped (bad checksum)',
      );
    }
    await cutTail(join(dir, DEFINITIONS_LOG_FILE), scan, { file: DEFINITIONS_LOG_FILE }, dropped, logger);
  }
  const index = await replayIndex(dir, names.includes(INDEX_FILE), segmentNumbers.length, dropped, logger);
  if (index instanceof StoreError) return index;
  const { queues, locations } = index;

  // Where each live message's record is: every segment is scanned, its checksums checked, and the
  // position of each live message's record noted (nothing of it kept).
  const segmentBytes = new Map<number, number>();
  let maxMessageId = index.maxMessageId;
  for (const segment of segmentNumbers) {
    const path = join(dir, segmentFileName(segment));
    const header = await readHeader(path, SEGMENT_HEADER_SIZE);
    if (header instanceof StoreError) return header;
    const check = checkSegmentHeader(header.bytes);
    if (!check.ok && check.reason === 'version') {
      return new StoreError(
        'VERSION',
        `${path} has format version ${check.version}; this warren reads ${SEGMENT_VERSIONS_READ.join(' and ')}`,
      );
    }
    if (!check.ok) {
      // A segment whose creation was torn, or garbage under a segment's name: nothing in it is usable.
      logger.warn(
        { segment, bytes: header.size, reason: check.reason },
        'store: segment header unusable, file dropped',
      );
      dropped.records += header.size > 0 ? 1 : 0;
      dropped.bytes += header.size;
      segmentBytes.set(segment, 0);
      continue;
    }
    let scan: FrameScan;
    try {
      scan = await scanFileFrames(
        path,
        check.headerSize,
        (buffer, start, end, frameOffset) => {
          const id = checkMessageRecord(buffer, start, end);
          if (id < 0) return false;
          if (id > maxMessageId) maxMessageId = id;
          const slot = locations.find(id);
          // The first intact copy: a record is written once per id, but a store written by an older
          // warren may hold a second copy (same id, same content) in a later segment.
          if (slot >= 0 && !locations.placed(slot)) {
            locations.setPosition(slot, segment, frameOffset, end - start + FRAME_HEADER_SIZE);
          }
          return true;
        },
        (offset, bytes) =>
          logger.warn({ segment, offset, bytes }, 'store: corrupt record skipped (bad checksum)'),
      );
    } catch (err) {
      return new StoreError('IO', `cannot read segment ${path}: ${(err as Error).message}`, { cause: err });
    }
    await cutTail(path, scan, { segment }, dropped, logger);
    segmentBytes.set(segment, scan.validEnd);
  }

  // What the index names but no segment holds: dropped from its queues. Then each segment's references.
  const missingIds = new Set<number>();
  const missing = new Map<number, number>();
  const missingSlots: number[] = [];
  locations.forEach((slot) => {
    if (!locations.placed(slot)) missingSlots.push(slot);
  });
  for (const slot of missingSlots) {
    const segment = locations.segmentAt(slot);
    const count = locations.queuesAt(slot);
    missing.set(segment, (missing.get(segment) ?? 0) + count);
    dropped.messages += count;
    missingIds.add(locations.idAt(slot));
    locations.removeSlot(slot);
  }
  const recoveredQueues = new Map<string, RecoveredQueue>();
  for (const [name, entries] of queues) {
    if (missingIds.size > 0) {
      const gone: number[] = [];
      entries.forEach((id) => {
        if (missingIds.has(id)) gone.push(id);
      });
      for (const id of gone) entries.delete(id);
    }
    if (entries.size === 0) {
      queues.delete(name);
      continue;
    }
    // Entry values are the delivered marks: 0 or 1.
    const { ids, values } = entries.toArrays();
    recoveredQueues.set(name, { messageIds: ids, delivered: values });
  }
  for (const [segment, count] of missing) {
    if (segmentBytes.has(segment)) {
      logger.warn(
        { segment, messages: count },
        'store: messages not found in their segment (corrupt or torn records), dropped',
      );
    } else {
      logger.warn({ segment, messages: count }, 'store: segment file missing, its messages dropped');
    }
  }
  const references = new Map<number, number>();
  // Records of one segment are mostly neighbours in id order: count runs, not one Map update each.
  let runSegment = -1;
  let run = 0;
  locations.forEach((slot) => {
    const segment = locations.segmentAt(slot);
    if (segment !== runSegment) {
      if (run > 0) references.set(runSegment, (references.get(runSegment) ?? 0) + run);
      runSegment = segment;
      run = 0;
    }
    run++;
  });
  if (run > 0) references.set(runSegment, (references.get(runSegment) ?? 0) + run);

  // Segments no live message is in are deleted; the rest are kept for their references.
  const segments = new Map<number, { references: number; bytes: number }>();
  for (const [segment, bytes] of segmentBytes) {
    const count = references.get(segment) ?? 0;
    if (count > 0) {
      segments.set(segment, { references: count, bytes });
    } else {
      await unlink(join(dir, segmentFileName(segment))).catch((err: Error) =>
        logger.warn({ segment, err: err.message }, 'store: cannot delete an unreferenced segment'),
      );
    }
  }

  const nextSegment = segmentNumbers.length > 0 ? segmentNumbers[segmentNumbers.length - 1] + 1 : 1;
  return {
    recovered: {
      definitions: definitions.definitions,
      definitionChanges: definitions.changes,
      queues: recoveredQueues,
      maxMessageId,
      dropped,
      // Known only to the lock: the file store fills it in.
      uncleanShutdown: false,
    },
    queues,
    locations,
    segments,
    nextSegment,
    // Records of dropped messages would be dropped again at every open: only a clean index is kept.
    index: dropped.messages === 0 ? index.reusable : undefined,
    definitions,
  };
}

/** The first `bytes` bytes of a file (fewer if it is shorter) and its size. */
async function readHeader(
  path: string,
  bytes: number,
): Promise<{ bytes: Buffer; size: number } | StoreError> {
  try {
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const header = Buffer.alloc(Math.min(bytes, size));
      let got = 0;
      while (got < header.length) {
        const { bytesRead } = await handle.read(header, got, header.length - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return { bytes: header.subarray(0, got), size };
    } finally {
      await handle.close();
    }
  } catch (err) {
    return new StoreError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

interface ReplayedIndex {
  queues: Map<string, QueueEntries>;
  locations: MessageLocations;
  maxMessageId: number;
  /** Set if the file had nothing corrupt, torn or unknown in it. */
  reusable: ReusableIndex | undefined;
}

async function replayIndex(
  dir: string,
  exists: boolean,
  segmentCount: number,
  dropped: { records: number; bytes: number },
  logger: StoreLogger,
): Promise<ReplayedIndex | StoreError> {
  const path = join(dir, INDEX_FILE);
  const replayed: ReplayedIndex = {
    queues: new Map(),
    locations: new MessageLocations(),
    maxMessageId: 0,
    reusable: undefined,
  };
  if (!exists) {
    // Without the index nobody knows which queue holds what: deleting the segments would lose them.
    if (segmentCount > 0) {
      return new StoreError('CORRUPT', `${path} is missing but ${segmentCount} segment files are present`);
    }
    return replayed;
  }
  const file = await readHeader(path, INDEX_HEADER_SIZE);
  if (file instanceof StoreError) return file;
  const header = checkIndexHeader(file.bytes);
  if (!header.ok) {
    if (header.reason === 'version') {
      return new StoreError('VERSION', `${path} has format version ${header.version}; this warren reads 1`);
    }
    // The index only ever appears by rename of a complete, synced file: a bad header is damage.
    return new StoreError('CORRUPT', `${path} has no valid header (${header.reason})`);
  }
  replayed.maxMessageId = header.maxMessageId;
  const { queues, locations } = replayed;
  const queueNames = new Map<number, string>();
  let unknownQueue = 0;
  // The queue of the previous record: a backlog's records mostly name the same queue one after another.
  let lastQueue = -1;
  let lastEntries: QueueEntries | undefined;
  const entriesOf = (queue: number): QueueEntries | undefined => {
    if (queue === lastQueue) return lastEntries;
    const name = queueNames.get(queue);
    if (name === undefined) {
      unknownQueue++;
      return undefined;
    }
    lastQueue = queue;
    lastEntries = queues.get(name);
    return lastEntries;
  };
  const release = (id: number): void => {
    locations.release(id);
  };
  const visitor: IndexVisitor = {
    queue(queue, name) {
      lastQueue = -1;
      queueNames.set(queue, name);
      if (!queues.has(name)) queues.set(name, new QueueEntries());
    },
    enqueue(messageId, segment, queueNumbers, count) {
      if (messageId > replayed.maxMessageId) replayed.maxMessageId = messageId;
      let added = 0;
      for (let i = 0; i < count; i++) {
        if (entriesOf(queueNumbers[i])?.add(messageId, 0)) added++;
      }
      if (added === 0) return;
      // A message enqueued again while live keeps the record it has.
      const slot = locations.find(messageId);
      if (slot >= 0) locations.addQueues(slot, added);
      else locations.add(messageId, segment, OFFSET_UNKNOWN, 0, added);
    },
    remove(queue, messageId) {
      const entries = entriesOf(queue);
      if (entries !== undefined && entries.delete(messageId) >= 0) locations.release(messageId);
    },
    delivered(queue, messageId) {
      const entries = entriesOf(queue);
      if (entries === undefined) return;
      if (entries.get(messageId) === 0) entries.set(messageId, 1);
    },
    drop(queue) {
      const entries = entriesOf(queue);
      if (entries === undefined) return;
      entries.forEach(release);
      entries.clear();
    },
  };
  let scan: FrameScan;
  try {
    scan = await scanFileFrames(
      path,
      header.headerSize,
      (buffer, start, end) => decodeIndexRecord(buffer, start, end, visitor),
      (offset, bytes) =>
        logger.warn({ file: INDEX_FILE, offset, bytes }, 'store: corrupt index record skipped'),
    );
  } catch (err) {
    return new StoreError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (unknownQueue > 0) {
    logger.warn(
      { file: INDEX_FILE, records: unknownQueue },
      'store: index records name an unknown queue, ignored',
    );
  }
  await cutTail(path, scan, { file: INDEX_FILE }, dropped, logger);
  if (unknownQueue === 0 && scan.skippedRecords === 0 && scan.tailBytes === 0) {
    const queueNumbers = new Map<string, number>();
    let nextQueueNumber = 0;
    for (const [number, name] of queueNames) {
      queueNumbers.set(name, number);
      if (number >= nextQueueNumber) nextQueueNumber = number + 1;
    }
    replayed.reusable = { bytes: scan.validEnd, queueNumbers, nextQueueNumber };
  }
  return replayed;
}
/** Counts what a scan skipped and cut, and truncates the file after its last valid record. */
async function cutTail(
  path: string,
  scan: FrameScan,
  where: Record<string, unknown>,
  dropped: { records: number; bytes: number },
  logger: StoreLogger,
): Promise<void> {
  dropped.records += scan.skippedRecords + scan.tailRecords;
  dropped.bytes += scan.skippedBytes + scan.tailBytes;
  if (scan.tailBytes === 0) return;
  logger.warn(
    { ...where, offset: scan.validEnd, bytes: scan.tailBytes, records: scan.tailRecords },
    'store: torn tail cut off',
  );
  await truncate(path, scan.validEnd).catch((err: Error) =>
    logger.error({ ...where, err: err.message }, 'store: cannot truncate a torn tail'),
  );
}
