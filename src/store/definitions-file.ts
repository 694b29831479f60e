// The definitions file: the broker's durable exchanges, queues, bindings, vhosts, users, as the JSON
// value it hands to saveDefinitions. Replaced atomically: written to a temporary file, synced, renamed
// over the old one, and the directory synced. A leftover temporary file (a crash mid-save) is ignored
// and deleted at open.
//
// Format, version 1: UTF-8 JSON text
//
//   { "format": "warren-definitions", "version": 1, "definitions": <the broker's value> }
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type StoreIo, writeFully } from './file-io.js';
import { StoreError } from './store-error.js';

export const DEFINITIONS_FILE = 'definitions.json';
export const DEFINITIONS_TEMP_FILE = 'definitions.json.tmp';
const FORMAT = 'warren-definitions';
const VERSION = 1;

/** The stored definitions (undefined if none were ever saved), or why they cannot be read. */
export async function loadDefinitions(dir: string): Promise<{ definitions: unknown } | StoreError> {
  const path = join(dir, DEFINITIONS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { definitions: undefined };
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
  const { version, definitions } = parsed as { version?: unknown; definitions?: unknown };
  if (version !== VERSION) {
    return new StoreError(
      'VERSION',
      `${path} has format version ${String(version)}; this warren reads ${VERSION}`,
    );
  }
  return { definitions };
}

/** Saves definitions one write at a time; calls made while a write runs are merged into the next one. */
export class DefinitionsWriter {
  private next: string | undefined;
  private waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
    private readonly io: StoreIo,
  ) {}

  save(definitions: unknown): Promise<void> {
    let text: string;
    try {
      text = JSON.stringify({ format: FORMAT, version: VERSION, definitions });
    } catch (err) {
      return Promise.reject(
        new StoreError('INVALID', `definitions are not JSON-serialisable: ${(err as Error).message}`, {
          cause: err,
        }),
      );
    }
    // Serialised now, so a caller changing its object afterwards changes nothing.
    this.next = text;
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.running ??= this.run();
    return done;
  }

  /** Resolves once no save is in progress. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async run(): Promise<void> {
    while (this.next !== undefined) {
      const text = this.next;
      const waiting = this.waiting;
      this.next = undefined;
      this.waiting = [];
      try {
        await this.write(text);
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

  private async write(text: string): Promise<void> {
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
  }
}
