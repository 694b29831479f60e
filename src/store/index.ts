// The store layer's public face for the broker.

export type { StoreFile, StoreIo } from './file-io.js';
export { FileStore, type FileStoreOptions } from './file-store.js';
export { MemoryStore } from './memory-store.js';
export type { Recovered, RecoveredMessages, RecoveredQueue, Store, StoredMessage } from './store.js';
export { StoreError, type StoreErrorCode } from './store-error.js';
