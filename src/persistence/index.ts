/**
 * Persistence: the {@link StateStore} contract and its runtime-neutral implementations. `LmdbStateStore` is
 * Node-only and is exported from the Node entry, not from here, so browser bundles never reach `lmdb`.
 */
export type { BatchOp, DedupeEntry, PutOptions, ScanOptions, StateRecord, StateStore } from './types.js';
export { MAX_STATE_KEY_LENGTH, parseStateKey, stateKey, stateKeyPrefix, type StateAddress } from './keys.js';
export { decodeRecord, encodeRecord, readRecordHeader, RECORD_FORMAT, type RecordHeader } from './record.js';
export { MemoryStateStore, type MemoryStateStoreOptions } from './memory.js';
export { IdbStateStore, createStrictStore, type IdbStateStoreOptions, type StrictStore } from './idb.js';
