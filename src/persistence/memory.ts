/**
 * An in-memory {@link StateStore} for tests and simulations. It keeps encoded bytes (not objects), so it behaves
 * like the durable stores: codec limits apply, and mutating a record after `put` or `get` changes nothing stored.
 * `quotaBytes` simulates a full device (`StorageFull`). Nothing survives the process.
 */
import { msgpackCodec, type Codec } from '../codec/index.js';
import { meshError } from '../errors.js';
import { checkScanPrefix, checkStoreKey, prefixUpperBound } from './keys.js';
import {
  SCAN_PAGE_SIZE,
  checkBatch,
  checkLimit,
  closedError,
  decodeRecord,
  prepareBatch,
  preparePut,
  type PreparedOp,
} from './record.js';
import type { BatchOp, PutOptions, ScanOptions, StateRecord, StateStore } from './types.js';

/** Options of {@link MemoryStateStore}. */
export interface MemoryStateStoreOptions {
  /** Label in `name` (default `"memory"`). */
  name?: string;
  /** Largest number of stored bytes (keys plus encoded records); a write that would exceed it fails with `StorageFull`. */
  quotaBytes?: number;
  /** Codec of stored records (default {@link msgpackCodec}). */
  codec?: Codec;
}

/** Index of the first element of sorted `keys` that is >= `key` (or > `key` when `after`). */
function lowerBound(keys: readonly string[], key: string, after = false): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid]!;
    if (k < key || (after && k === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkQuota(quotaBytes: number | undefined): void {
  if (quotaBytes !== undefined && (!Number.isFinite(quotaBytes) || quotaBytes < 0)) {
    throw meshError('InvalidArgument', 'quotaBytes must be a non-negative number', { details: { quotaBytes } });
  }
}

/** The in-memory state store. */
export class MemoryStateStore implements StateStore {
  readonly name: string;
  readonly #codec: Codec;
  readonly #entries = new Map<string, Uint8Array>();
  /** Stored keys in ascending order, for scans. */
  readonly #sorted: string[] = [];
  #usedBytes = 0;
  #quotaBytes: number | undefined;
  #closed = false;

  constructor(options: MemoryStateStoreOptions = {}) {
    checkQuota(options.quotaBytes);
    this.name = options.name ?? 'memory';
    this.#codec = options.codec ?? msgpackCodec;
    this.#quotaBytes = options.quotaBytes;
  }

  /** Stored bytes (keys plus encoded records), the measure `quotaBytes` limits. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Changes the quota (`undefined`: unlimited). A quota below `usedBytes` refuses every write that adds bytes. */
  setQuotaBytes(quotaBytes: number | undefined): void {
    checkQuota(quotaBytes);
    this.#quotaBytes = quotaBytes;
  }

  async get(key: string): Promise<StateRecord | undefined> {
    this.#checkOpen();
    checkStoreKey(key);
    return this.#read(key);
  }

  async getMany(keys: readonly string[]): Promise<Array<StateRecord | undefined>> {
    this.#checkOpen();
    if (!Array.isArray(keys)) throw meshError('InvalidArgument', 'getMany takes an array of keys');
    for (const key of keys) checkStoreKey(key);
    return keys.map((key) => this.#read(key));
  }

  async put(key: string, record: StateRecord, options: PutOptions = {}): Promise<void> {
    this.#checkOpen();
    this.#apply([preparePut(this.#codec, key, record, options.expectEpochAtMost !== false)]);
  }

  async delete(key: string): Promise<void> {
    this.#checkOpen();
    checkStoreKey(key);
    this.#apply([{ type: 'delete', key }]);
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#checkOpen();
    this.#apply(prepareBatch(this.#codec, ops));
  }

  scan(prefix: string, options: ScanOptions = {}): AsyncIterable<[string, StateRecord]> {
    return this.#scan(prefix, options.limit);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async *#scan(prefix: string, limit: number | undefined): AsyncGenerator<[string, StateRecord]> {
    this.#checkOpen();
    checkScanPrefix(prefix);
    checkLimit(limit);
    const end = prefixUpperBound(prefix);
    let remaining = limit ?? Infinity;
    let last: string | undefined;
    while (remaining > 0) {
      this.#checkOpen();
      const start = last === undefined ? lowerBound(this.#sorted, prefix) : lowerBound(this.#sorted, last, true);
      const page: Array<[string, StateRecord]> = [];
      for (let i = start; i < this.#sorted.length && page.length < Math.min(SCAN_PAGE_SIZE, remaining); i++) {
        const key = this.#sorted[i]!;
        if (key >= end) break;
        page.push([key, this.#read(key)!]);
      }
      if (page.length === 0) return;
      remaining -= page.length;
      last = page[page.length - 1]![0];
      yield* page;
    }
  }

  #read(key: string): StateRecord | undefined {
    const bytes = this.#entries.get(key);
    // Decode from a copy: decoded byte arrays may be views of the input.
    return bytes === undefined ? undefined : decodeRecord(this.#codec, key, new Uint8Array(bytes));
  }

  /** Checks and applies prepared ops synchronously, so each call is atomic. */
  #apply(ops: readonly PreparedOp[]): void {
    const { deltaBytes } = checkBatch(this.#codec, ops, (key) => this.#entries.get(key));
    if (deltaBytes > 0 && this.#quotaBytes !== undefined && this.#usedBytes + deltaBytes > this.#quotaBytes) {
      throw meshError('StorageFull', `state store ${this.name} is full`, {
        details: { store: this.name, quotaBytes: this.#quotaBytes, usedBytes: this.#usedBytes, neededBytes: deltaBytes },
      });
    }
    for (const op of ops) {
      const exists = this.#entries.has(op.key);
      if (op.type === 'put') {
        this.#entries.set(op.key, op.bytes);
        if (!exists) this.#sorted.splice(lowerBound(this.#sorted, op.key), 0, op.key);
      } else if (exists) {
        this.#entries.delete(op.key);
        this.#sorted.splice(lowerBound(this.#sorted, op.key), 1);
      }
    }
    this.#usedBytes += deltaBytes;
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError(this.name);
  }
}
