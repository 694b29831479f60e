// Recovery: rebuilds what the store holds from its files at open. The queue index is replayed first,
// so the segment scan decodes only the messages some queue still holds. Every record's CRC is checked;
// a corrupt record in the middle of a file is skipped, a torn tail is cut off (the file truncated),
// and both are logged with what they cost. A message the index names but no segment holds (a missing
// segment file, a corrupt record) is dropped from its queues and logged, never an error.
import { readdir, readFile, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFINITIONS_TEMP_FILE, loadDefinitions } from './definitions-file.js';
import { QueueEntries } from './queue-entries.js';
import {
  checkIndexHeader,
  decodeIndexRecord,
  INDEX_FILE,
  INDEX_TEMP_FILE,
  type IndexVisitor,
} from './queue-index-format.js';
import { type FrameScan, scanFrames } from './record-frame.js';
import {
  checkSegmentHeader,
  decodeMessageRecord,
  messageRecordId,
  parseSegmentFileName,
  segmentFileName,
} from './segment-format.js';
import type { Recovered, RecoveredEntry, StoredMessage } from './store.js';
import { StoreError } from './store-error.js';
import type { StoreLogger } from './store-logger.js';

export interface RecoveredState {
  /** What open() hands the broker. */
  recovered: Recovered;
  /** Per queue: its entries (message id -> segment * 2 + delivered flag), the store's working state. */
  queues: Map<string, QueueEntries>;
  /** Segment files kept (some queue references them): number -> references and bytes. */
  segments: Map<number, { references: number; bytes: number }>;
  /** The number the next new segment gets: above every segment seen, deleted or not. */
  nextSegment: number;
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
  const index = await replayIndex(dir, names.includes(INDEX_FILE), segmentNumbers.length, dropped, logger);
  if (index instanceof StoreError) return index;

  // The messages some queue still holds, and the segment the index says each was appended to.
  const wanted = new Map<number, number>();
  for (const entries of index.queues.values()) {
    for (const id of entries.keys()) wanted.set(id, index.messageSegment.get(id) ?? -1);
  }

  const messages = new Map<number, StoredMessage>();
  const segmentBytes = new Map<number, number>();
  let maxMessageId = index.maxMessageId;
  for (const segment of segmentNumbers) {
    const path = join(dir, segmentFileName(segment));
    let file: Buffer;
    try {
      file = await readFile(path);
    } catch (err) {
      return new StoreError('IO', `cannot read segment ${path}: ${(err as Error).message}`, { cause: err });
    }
    const header = checkSegmentHeader(file);
    if (!header.ok && header.reason === 'version') {
      return new StoreError('VERSION', `${path} has format version ${header.version}; this warren reads 1`);
    }
    if (!header.ok) {
      // A segment whose creation was torn, or garbage under a segment's name: nothing in it is usable.
      logger.warn(
        { segment, bytes: file.length, reason: header.reason },
        'store: segment header unusable, file dropped',
      );
      dropped.records += file.length > 0 ? 1 : 0;
      dropped.bytes += file.length;
      segmentBytes.set(segment, 0);
      continue;
    }
    const scan = scanFrames(
      file,
      header.headerSize,
      (start, end) => {
        const id = messageRecordId(file, start, end);
        if (id < 0) return false;
        if (id > maxMessageId) maxMessageId = id;
        if (wanted.get(id) !== segment) return true;
        const message = decodeMessageRecord(file, start, end);
        if (message === undefined) return false;
        messages.set(id, message);
        return true;
      },
      (offset, bytes) =>
        logger.warn({ segment, offset, bytes }, 'store: corrupt record skipped (bad checksum)'),
    );
    await cutTail(path, scan, { segment }, dropped, logger);
    segmentBytes.set(segment, scan.validEnd);
  }

  // Queue lists, segment references, and what the index names but no segment holds.
  const recoveredQueues = new Map<string, RecoveredEntry[]>();
  const queues = new Map<string, QueueEntries>();
  const references = new Map<number, number>();
  const missing = new Map<number, number>();
  for (const [name, entries] of index.queues) {
    const list: RecoveredEntry[] = [];
    for (const [messageId, delivered] of entries) {
      const segment = wanted.get(messageId) ?? -1;
      if (messages.has(messageId)) {
        list.push({ messageId, delivered });
        references.set(segment, (references.get(segment) ?? 0) + 1);
      } else {
        missing.set(segment, (missing.get(segment) ?? 0) + 1);
        dropped.messages++;
      }
    }
    if (list.length === 0) continue;
    // Publish order is id order; the index normally has them so already, and then this costs O(n).
    list.sort((a, b) => a.messageId - b.messageId);
    recoveredQueues.set(name, list);
    const working = new QueueEntries();
    for (const entry of list) {
      working.add(entry.messageId, (wanted.get(entry.messageId) ?? 0) * 2 + (entry.delivered ? 1 : 0));
    }
    queues.set(name, working);
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

  // Segments no queue references any more are deleted; the rest are kept for their references.
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
      queues: recoveredQueues,
      messages,
      maxMessageId,
      dropped,
      // Known only to the lock: the file store fills it in.
      uncleanShutdown: false,
    },
    queues,
    segments,
    nextSegment,
  };
}

interface ReplayedIndex {
  queues: Map<string, Map<number, boolean>>;
  messageSegment: Map<number, number>;
  maxMessageId: number;
}

async function replayIndex(
  dir: string,
  exists: boolean,
  segmentCount: number,
  dropped: { records: number; bytes: number },
  logger: StoreLogger,
): Promise<ReplayedIndex | StoreError> {
  const path = join(dir, INDEX_FILE);
  const replayed: ReplayedIndex = { queues: new Map(), messageSegment: new Map(), maxMessageId: 0 };
  if (!exists) {
    // Without the index nobody knows which queue holds what: deleting the segments would lose them.
    if (segmentCount > 0) {
      return new StoreError('CORRUPT', `${path} is missing but ${segmentCount} segment files are present`);
    }
    return replayed;
  }
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (err) {
    return new StoreError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const header = checkIndexHeader(file);
  if (!header.ok) {
    if (header.reason === 'version') {
      return new StoreError('VERSION', `${path} has format version ${header.version}; this warren reads 1`);
    }
    // The index only ever appears by rename of a complete, synced file: a bad header is damage.
    return new StoreError('CORRUPT', `${path} has no valid header (${header.reason})`);
  }
  replayed.maxMessageId = header.maxMessageId;
  const queueNames = new Map<number, string>();
  let unknownQueue = 0;
  const entriesOf = (queue: number): Map<number, boolean> | undefined => {
    const name = queueNames.get(queue);
    if (name === undefined) {
      unknownQueue++;
      return undefined;
    }
    return replayed.queues.get(name);
  };
  const visitor: IndexVisitor = {
    queue(queue, name) {
      queueNames.set(queue, name);
      if (!replayed.queues.has(name)) replayed.queues.set(name, new Map());
    },
    enqueue(messageId, segment, queues) {
      if (messageId > replayed.maxMessageId) replayed.maxMessageId = messageId;
      replayed.messageSegment.set(messageId, segment);
      for (const queue of queues) {
        const entries = entriesOf(queue);
        if (entries !== undefined && !entries.has(messageId)) entries.set(messageId, false);
      }
    },
    remove(queue, messageId) {
      entriesOf(queue)?.delete(messageId);
    },
    delivered(queue, messageId) {
      const entries = entriesOf(queue);
      if (entries?.has(messageId)) entries.set(messageId, true);
    },
    drop(queue) {
      entriesOf(queue)?.clear();
    },
  };
  const scan = scanFrames(
    file,
    header.headerSize,
    (start, end) => decodeIndexRecord(file, start, end, visitor),
    (offset, bytes) =>
      logger.warn({ file: INDEX_FILE, offset, bytes }, 'store: corrupt index record skipped'),
  );
  if (unknownQueue > 0) {
    logger.warn(
      { file: INDEX_FILE, records: unknownQueue },
      'store: index records name an unknown queue, ignored',
    );
  }
  await cutTail(path, scan, { file: INDEX_FILE }, dropped, logger);
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
