// The definitions: the broker's durable exchanges, queues, bindings, as the JSON value it hands to
// saveDefinitions (the snapshot), and the changes it hands to appendDefinitions after it (the log).
//
// The snapshot is replaced atomically: written to a temporary file, synced, renamed over the old one,
// and the directory synced; then the log is emptied. A leftover temporary file (a crash mid-save) is
// ignored and deleted at open. Appending a change costs one small write and one sync, however many
// definitions there are; the broker writes a new snapshot once the log holds enough changes.
//
// definitions.json, format version 2 (version 1 had no logSeq and no log): UTF-8 JSON text
//
//   { "format": "warren-definitions", "version": 2, "logSeq": <n>, "definitions": <the broker's value> }
//
// definitions.log: record frames (record-frame.ts), one per append, each payload UTF-8 JSON text
//
//   { "seq": <n>, "changes": [ <the broker's values> ] }
//
// seq counts appends up from 1 and goes on across snapshots; a snapshot's logSeq is the seq of the last
// append it includes. Recovery applies the records whose seq is above the snapshot's logSeq (and above
// the record before them), so a log left as it was by a crash between the snapshot's rename and the
// log's truncation replays nothing twice. A torn last record is cut off, as in the other logs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type StoreFile, type StoreIo, writeFully } from './file-io.js';
import { FRAME_HEADER_SIZE, type FrameScan, scanFrames, sealFrame } from './record-frame.js';
import { StoreError } from './store-error.js';

export const DEFINITIONS_FILE = 'definitions.json';
export const DEFINITIONS_TEMP_FILE = 'definitions.json.tmp';
export const DEFINITIONS_LOG_FILE = 'definitions.log';
const FORMAT = 'warren-definitions';
const VERSION = 2;

export interface LoadedDefinitions {
  /** The snapshot's value, undefined if none was ever saved. */
  definitions: unknown;
  /** The logged changes after the snapshot, in order. */
  changes: unknown[];
  /** The highest seq seen: appends go on after it. */
  seq: number;
  /** Where the log's valid records end (0 if there is no log): appends are written there. */
  logEnd: number;
  /** Whether the log file exists. */
  logExists: boolean;
  /** The log's scan: corrupt records skipped and the torn tail cut. */
  logScan: FrameScan | undefined;
}

/** The stored definitions and the changes logged after them, or why they cannot be read. */
export async function loadDefinitions(dir: string): Promise<LoadedDefinitions | StoreError> {
  const snapshot = await loadSnapshot(join(dir, DEFINITIONS_FILE));
  if (snapshot instanceof StoreError) return snapshot;
  const path = join(dir, DEFINITIONS_LOG_FILE);
  let log: Buffer;
  try {
    log = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      return new StoreError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    return {
      ...snapshot,
      changes: [],
      seq: snapshot.logSeq,
      logEnd: 0,
      logExists: false,
      logScan: undefined,
    };
  }
  const changes: unknown[] = [];
  let seq = snapshot.logSeq;
  const logScan = scanFrames(
    log,
    0,
    (start, end) => {
      let record: unknown;
      try {
        record = JSON.parse(log.toString('utf8', start, end));
      } catch {
        return false;
      }
      const { seq: recordSeq, changes: recordChanges } = record as { seq?: unknown; changes?: unknown };
      if (typeof recordSeq !== 'number' || !Array.isArray(recordChanges)) return false;
      if (recordSeq > seq) {
        seq = recordSeq;
        for (const c of recordChanges) changes.push(c);
      }
      return true;
    },
    () => undefined,
  );
  return {
    definitions: snapshot.definitions,
    changes,
    seq,
    logEnd: logScan.validEnd,
    logExists: true,
    logScan,
  };
}

async function loadSnapshot(path: string): Promise<{ definitions: unknown; logSeq: number } | StoreError> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { definitions: undefined, logSeq: 0 };
    return new StoreError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return new StoreError('CORRUPT', `${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { format?: unknown }).format !== FORMAT) {
    return new StoreError('CORRUPT', `${path} is not a warren definitions file`);
  }
  const { version, definitions, logSeq } = parsed as {
    version?: unknown;
    definitions?: unknown;
    logSeq?: unknown;
  };
  if (version === 1) return { definitions, logSeq: 0 };
  if (version !== VERSION) {
    return new StoreError(
      'VERSION',
      `${path} has format version ${String(version)}; this warren reads ${VERSION} and 1`,
    );
  }
  if (typeof logSeq !== 'number') return new StoreError('CORRUPT', `${path} has no logSeq`);
  return { definitions, logSeq };
}

type Operation = { kind: 'save'; text: string } | { kind: 'append'; record: Buffer };

/**
 * Saves and appends definitions one write at a time, in call order: calls made while a write runs go
 * out together in the next one, where a save makes the saves and appends before it moot.
 */
export class DefinitionsWriter {
  private pending: Operation[] = [];
  private waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private running: Promise<void> | undefined;
  private seq = 0;
  private logEnd = 0;
  private logExists = false;
  private log: StoreFile | undefined;

  constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
    private readonly io: StoreIo,
  ) {}

  /** Where recovery found the log: appends go on from there. */
  recovered(loaded: LoadedDefinitions): void {
    this.seq = loaded.seq;
    this.logEnd = loaded.logEnd;
    this.logExists = loaded.logExists;
  }

  save(definitions: unknown): Promise<void> {
    let text: string;
    try {
      text = JSON.stringify({ format: FORMAT, version: VERSION, logSeq: this.seq, definitions });
    } catch (err) {
      return Promise.reject(notSerialisable(err));
    }
    // Serialised now, so a caller changing its object afterwards changes nothing.
    return this.enqueue({ kind: 'save', text });
  }

  append(changes: readonly unknown[]): Promise<void> {
    let payload: Buffer;
    try {
      payload = Buffer.from(JSON.stringify({ seq: this.seq + 1, changes }), 'utf8');
    } catch (err) {
      return Promise.reject(notSerialisable(err));
    }
    this.seq++;
    const record = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
    payload.copy(record, FRAME_HEADER_SIZE);
    sealFrame(record, 0, payload.length);
    return this.enqueue({ kind: 'append', record });
  }

  /** Resolves once no write is in progress. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** Closes the log (after idle()). */
  async close(): Promise<void> {
    const log = this.log;
    this.log = undefined;
    await log?.close();
  }

  private enqueue(operation: Operation): Promise<void> {
    this.pending.push(operation);
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.running ??= this.run();
    return done;
  }

  private async run(): Promise<void> {
    while (this.pending.length > 0) {
      const operations = this.pending;
      const waiting = this.waiting;
      this.pending = [];
      this.waiting = [];
      try {
        let first = 0;
        for (let i = operations.length - 1; i >= 0; i--) {
          const op = operations[i];
          if (op.kind === 'save') {
            await this.writeSnapshot(op.text);
            first = i + 1;
            break;
          }
        }
        const records: Buffer[] = [];
        for (let i = first; i < operations.length; i++) {
          const op = operations[i];
          if (op.kind === 'append') records.push(op.record);
        }
        if (records.length > 0) await this.appendRecords(records);
        for (const w of waiting) w.resolve();
      } catch (err) {
        const error = new StoreError('IO', `saving definitions failed: ${(err as Error).message}`, {
          cause: err,
        });
        for (const w of waiting) w.reject(error);
      }
    }
    this.running = undefined;
  }

  private async writeSnapshot(text: string): Promise<void> {
    const temp = join(this.dir, DEFINITIONS_TEMP_FILE);
    const file = await this.io.open(temp, 'w');
    try {
      await writeFully(file, [Buffer.from(text, 'utf8')], 0);
      if (this.fsync) await file.sync();
    } finally {
      await file.close();
    }
    await this.io.rename(temp, join(this.dir, DEFINITIONS_FILE));
    if (this.fsync) await this.io.syncDir(this.dir);
    // The snapshot holds every change logged so far: empty the log (a crash before this leaves records
    // the snapshot's logSeq skips).
    const log = this.log;
    this.log = undefined;
    await log?.close();
    this.log = await this.io.open(join(this.dir, DEFINITIONS_LOG_FILE), 'w');
    this.logExists = true;
    this.logEnd = 0;
  }

  private async appendRecords(records: Buffer[]): Promise<void> {
    this.log ??= await this.io.open(join(this.dir, DEFINITIONS_LOG_FILE), this.logExists ? 'r+' : 'w');
    this.logExists = true;
    // At the end of the valid records: a failed write is written over by the next append.
    const written = await writeFully(this.log, records, this.logEnd);
    if (this.fsync) await this.log.sync();
    this.logEnd += written;
  }
}

function notSerialisable(err: unknown): StoreError {
  return new StoreError('INVALID', `definitions are not JSON-serialisable: ${(err as Error).message}`, {
    cause: err,
  });
}
