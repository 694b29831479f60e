// The store of an in-memory broker: it keeps no messages, but honours the same contract as FileStore
// (afterSync calls back asynchronously and in order, definitions survive a close and a new open), so the
// broker runs one code path whatever its store.
import type { Recovered, Store, StoredMessage } from './store.js';
import { StoreError } from './store-error.js';

type Callback = (err?: Error) => void;

export class MemoryStore implements Store {
  /** Nothing to read back: a durable queue of an in-memory broker keeps its messages in memory. */
  readonly keepsMessages = false;
  /** The definitions as JSON text: what a FileStore would read back, not the caller's live object. */
  private definitions: string | undefined;
  /** Changes appended since, as JSON text each. */
  private definitionChanges: string[] = [];
  private open_ = false;
  private callbacks: Callback[] = [];
  private scheduled = false;

  async open(): Promise<Recovered> {
    this.open_ = true;
    return {
      definitions: this.definitions === undefined ? undefined : JSON.parse(this.definitions),
      definitionChanges: this.definitionChanges.map((c) => JSON.parse(c)),
      queues: new Map(),
      messages: new Map(),
      maxMessageId: 0,
      dropped: { records: 0, bytes: 0, messages: 0 },
      uncleanShutdown: false,
    };
  }

  publish(_message: StoredMessage, _queues: readonly string[]): void {}

  read(_messageId: number): StoredMessage | undefined {
    return undefined;
  }

  remove(_queue: string, _messageId: number): void {}

  delivered(_queue: string, _messageId: number): void {}

  dropQueue(_queue: string): void {}

  afterSync(callback: (err?: Error) => void): void {
    this.callbacks.push(callback);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.release);
  }

  async saveDefinitions(definitions: unknown): Promise<void> {
    if (!this.open_) throw new StoreError('CLOSED', 'the memory store is not open');
    this.definitions = JSON.stringify(definitions);
    this.definitionChanges = [];
  }

  async appendDefinitions(changes: readonly unknown[]): Promise<void> {
    if (!this.open_) throw new StoreError('CLOSED', 'the memory store is not open');
    for (const c of changes) this.definitionChanges.push(JSON.stringify(c));
  }

  async close(): Promise<void> {
    this.open_ = false;
  }

  diskUsage(): { segments: number; bytes: number } {
    return { segments: 0, bytes: 0 };
  }

  private readonly release = (): void => {
    this.scheduled = false;
    const callbacks = this.callbacks;
    this.callbacks = [];
    for (const callback of callbacks) callback();
  };
}
