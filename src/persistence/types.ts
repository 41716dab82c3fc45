/**
 * The persistence contract. A {@link StateStore} keeps one {@link StateRecord} per actor, under the key
 * `capability/type/id` (see `stateKey`). Implementations are named by mechanism: `MemoryStateStore` (tests),
 * `IdbStateStore` (browsers, IndexedDB through idb-keyval), `LmdbStateStore` (Node edge peers, Node-only).
 *
 * Every implementation, checked by the shared contract suite (`src/testing/contracts/state-store.ts`):
 *
 * - stores records encoded with the frame codec (MessagePack with limits), so a stored record obeys the same
 *   size, depth and key limits as a frame; a record that cannot be encoded is refused with `InvalidArgument`
 *   before anything is written;
 * - returns copies: mutating a record after `put` or after `get` never changes what is stored;
 * - applies writes in call order, each `put`/`delete`/`batch` atomically (all of a batch or none of it);
 * - fences epochs atomically with the write (see {@link StateStore.put});
 * - reports a full device or quota as `StorageFull` (cause kept, nothing half written), any other failure as
 *   `StorageError`, and rejects every call after `close()` with `Closed`.
 */

/** One entry of an actor's bounded idempotency table; it travels with the state. */
export interface DedupeEntry {
  /** The caller's idempotency key. */
  key: string;
  /** A hash of the call payload (same key with a different payload is a `Conflict`). */
  hash: string;
  /** The reply sent the first time, returned again on a retry. */
  reply: unknown;
  /** When the entry was recorded (the writer's clock, milliseconds), for bounding the table. */
  at: number;
}

/** What a store keeps for one actor. */
export interface StateRecord {
  /** The actor's state; any value the codec can encode. */
  state: unknown;
  /** Per-actor write counter, starting at 1 and growing by one per acknowledged write. */
  version: number;
  /** The membership view version (epoch) in which the record was written. */
  epoch: number;
  /** The idempotency table, if the actor has one. */
  dedupe?: ReadonlyArray<DedupeEntry>;
}

/** Options of {@link StateStore.put}. */
export interface PutOptions {
  /**
   * Epoch fencing, on by default: the stored record's epoch must be at most the written record's epoch (and, at
   * an equal epoch, its version at most the written version), or the put fails with `StaleEpoch`. `false` writes
   * unconditionally; it is meant for restoring backups and for tools, never for the actor write path.
   */
  expectEpochAtMost?: boolean;
}

/** Options of {@link StateStore.scan}. */
export interface ScanOptions {
  /** Return at most this many entries (a non-negative integer; default unlimited). */
  limit?: number;
}

/** One operation of a {@link StateStore.batch}. */
export type BatchOp = { type: 'put'; key: string; record: StateRecord } | { type: 'delete'; key: string };

/** Durable storage of actor state records. */
export interface StateStore {
  /** A label for logs and metrics: the mechanism and where the data lives (e.g. `"lmdb:actors"`). */
  readonly name: string;

  /** The record stored under `key`, or `undefined`. */
  get(key: string): Promise<StateRecord | undefined>;

  /** The records stored under `keys`, in the same order (`undefined` where absent). */
  getMany(keys: readonly string[]): Promise<Array<StateRecord | undefined>>;

  /**
   * Stores `record` under `key` once it is committed (durably, for the durable stores).
   *
   * Epoch fencing, checked in the same transaction as the write: a record whose `epoch` is lower than the stored
   * record's epoch, or equal with a lower `version` (an older write of the same owner), is refused with
   * `StaleEpoch` (`details: { key, stored, attempted, storedVersion, attemptedVersion }`, `stored`/`attempted`
   * being epochs). An equal epoch and equal version is accepted (an idempotent rewrite, e.g. a retried mirror).
   * A deleted key has no fence.
   */
  put(key: string, record: StateRecord, options?: PutOptions): Promise<void>;

  /** Removes the record under `key` (no error when absent). Not fenced. */
  delete(key: string): Promise<void>;

  /**
   * Applies `ops` in order in one transaction (one commit: the group-commit lever). All or nothing: if any put is
   * fenced (`StaleEpoch`), un-encodable (`InvalidArgument`) or does not fit (`StorageFull`), nothing is written.
   * A later op sees the earlier ops of the same batch (put then stale put of the same key fails).
   */
  batch(ops: readonly BatchOp[]): Promise<void>;

  /**
   * Entries whose key starts with `prefix`, in ascending key order (keys are ASCII, so every store agrees).
   * Pages are read lazily; each page is a consistent snapshot, and an entry written or deleted during the scan
   * may or may not be seen, but no key is returned twice.
   */
  scan(prefix: string, options?: ScanOptions): AsyncIterable<[string, StateRecord]>;

  /** Waits for in-flight writes, then releases the store; later calls reject with `Closed`. Idempotent. */
  close(): Promise<void>;
}
