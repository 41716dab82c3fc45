/**
 * The durable state store of Node edge peers, on LMDB (the `lmdb` npm package): an embedded, crash-safe,
 * memory-mapped B+tree with ACID transactions. Node-only: only the Node entry imports this file.
 *
 * Durability: every write is one LMDB transaction committed on lmdb-js's writer thread with a synchronous flush
 * (`overlappingSync: false`, `noSync: false`: `fdatasync` before the commit resolves), so a resolved `put`/`batch`
 * survives a process crash (SIGKILL) and, as far as the disk honours flushes, a power loss. Concurrent writes
 * (from many actors) are grouped into one commit by lmdb-js; `batch` is always one transaction.
 *
 * Atomic fencing: each write runs as an lmdb-js child transaction whose callback reads the stored records,
 * checks the epoch fence and the quota, and only then writes; a throw rolls the child transaction back, so a
 * refused batch leaves nothing behind.
 *
 * Storage full: lmdb-js grows its memory map on demand, so `MDB_MAP_FULL` is rare; a full disk shows up as a
 * failed commit (`ENOSPC`, `EDQUOT`, `EFBIG` for a file-size limit, or `EIO`, which LMDB reports for a short
 * write). Those become `StorageFull` (`EIO` only when a probe shows the data directory cannot grow: under
 * 16 MiB free, or a sparse probe file cannot take a page at the data file's size); LMDB commits are atomic, so a
 * failed commit writes nothing. `quotaBytes` adds an exact application-level cap on stored bytes (keys plus encoded
 * records, tracked in a meta database inside the same transactions).
 *
 * One process per data directory: LMDB itself is multi-process safe, but meshrtc gives one peer one directory.
 */
import { mkdir, open as openFile, rm, stat, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { systemClock, type Clock } from '../clock/clock.js';
import { msgpackCodec, type Codec } from '../codec/index.js';
import { isMeshError, meshError, type MeshError } from '../errors.js';
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

/** Options of {@link LmdbStateStore.open}. */
export interface LmdbStateStoreOptions {
  /** Directory of the peer's data (default `./.meshrtc-data` under the working directory); created if missing. The LMDB environment lives in `<dataDir>/lmdb/`. */
  dataDir?: string;
  /** Name of the LMDB database inside the environment (letters, digits, `_`, `-`; default `"actors"`). */
  name?: string;
  /** Initial size of the memory map in bytes. lmdb-js grows the map on demand, so this is not a cap; see `quotaBytes`. */
  mapSizeBytes?: number;
  /** Largest number of stored bytes (keys plus encoded records); a write that would exceed it fails with `StorageFull`. */
  quotaBytes?: number;
  /** Codec of stored records (default {@link msgpackCodec}: records obey the frame limits). */
  codec?: Codec;
  /** Clock for commit timings in {@link LmdbStateStore.stats} (default the system clock). */
  clock?: Clock;
}

/** Counters of an {@link LmdbStateStore}. */
export interface LmdbStateStoreStats {
  /** Absolute path of the LMDB environment directory. */
  path: string;
  /** Entries in this store's database. */
  entries: number;
  /** Stored bytes (keys plus encoded records), the measure `quotaBytes` limits. */
  usedBytes: number;
  /** Id of the environment's last committed LMDB transaction (grows by one per commit). */
  lastTxnId: number;
  /** Writes (put, delete, batch) committed by this store since it was opened. */
  commits: number;
  /** Duration of the last committed write in milliseconds, from call to durable commit. */
  lastCommitMs: number;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const USED_BYTES = Buffer.from('usedBytes');
/** `EIO` counts as a full disk when less than this many bytes are free (LMDB reports a short write as `EIO`). */
const LOW_SPACE_BYTES = 16 * 1024 * 1024;
const FULL_CODES = new Set<unknown>([28, 'ENOSPC', 122, 'EDQUOT', 27, 'EFBIG', -30792, 'MDB_MAP_FULL']);
const NO_COMMIT_ERROR = Symbol('none');

function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

function encodeCount(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return b;
}

function checkSize(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)) {
    throw meshError('InvalidArgument', `${name} must be an integer >= ${min}`, { details: { [name]: value } });
  }
}

/** The LMDB state store (Node only). Open it with {@link LmdbStateStore.open}. */
export class LmdbStateStore implements StateStore {
  readonly name: string;
  readonly #path: string;
  readonly #root: RootDatabase<Buffer, Buffer>;
  readonly #db: Database<Buffer, Buffer>;
  readonly #meta: Database<Buffer, Buffer>;
  readonly #codec: Codec;
  readonly #clock: Clock;
  #quotaBytes: number | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #inflight = new Set<Promise<unknown>>();
  #commits = 0;
  #lastCommitMs = 0;

  private constructor(
    name: string,
    path: string,
    root: RootDatabase<Buffer, Buffer>,
    db: Database<Buffer, Buffer>,
    meta: Database<Buffer, Buffer>,
    options: LmdbStateStoreOptions,
  ) {
    this.name = `lmdb:${name}`;
    this.#path = path;
    this.#root = root;
    this.#db = db;
    this.#meta = meta;
    this.#codec = options.codec ?? msgpackCodec;
    this.#clock = options.clock ?? systemClock;
    this.#quotaBytes = options.quotaBytes;
  }

  /** Opens (creating if needed) the store in `options.dataDir`. Rejects with `StorageError` if LMDB cannot open it. */
  static async open(options: LmdbStateStoreOptions = {}): Promise<LmdbStateStore> {
    const name = options.name ?? 'actors';
    if (!NAME.test(name)) throw meshError('InvalidArgument', 'store name: 1-64 letters, digits, _ or -', { details: { name } });
    checkSize('mapSizeBytes', options.mapSizeBytes, 1);
    checkSize('quotaBytes', options.quotaBytes, 0);
    const path = join(resolve(options.dataDir ?? '.meshrtc-data'), 'lmdb');
    let root: RootDatabase<Buffer, Buffer> | undefined;
    try {
      await mkdir(path, { recursive: true });
      root = open<Buffer, Buffer>({
        path,
        ...(options.mapSizeBytes === undefined ? {} : { mapSize: options.mapSizeBytes }),
        encoding: 'binary',
        keyEncoding: 'binary',
        // Flush inside the commit: a resolved write is durable (no separate `flushed` promise to wait for).
        overlappingSync: false,
        noSync: false,
        // Only explicit transactions group writes; lmdb-js's implicit event-turn batch leaks an unhandled
        // rejection when its commit fails (a full disk).
        eventTurnBatching: false,
        cache: false,
        compression: false,
      });
      const db = root.openDB<Buffer, Buffer>({ name, encoding: 'binary', keyEncoding: 'binary' });
      const meta = root.openDB<Buffer, Buffer>({ name: `${name}.meta`, encoding: 'binary', keyEncoding: 'binary' });
      const store = new LmdbStateStore(name, path, root, db, meta, options);
      await store.#initUsedBytes();
      return store;
    } catch (cause) {
      await root?.close().catch(() => undefined);
      if (isMeshError(cause)) throw cause;
      throw meshError('StorageError', `cannot open LMDB state store at ${path}`, { cause, details: { path, name } });
    }
  }

  /** Changes the quota (`undefined`: unlimited). A quota below `usedBytes` refuses every write that adds bytes. */
  setQuotaBytes(quotaBytes: number | undefined): void {
    checkSize('quotaBytes', quotaBytes, 0);
    this.#quotaBytes = quotaBytes;
  }

  /** Counters of this store and its LMDB environment. */
  stats(): LmdbStateStoreStats {
    this.#checkOpen();
    const env = this.#root.getStats() as { lastTxnId?: number };
    const db = this.#db.getStats() as { entryCount?: number };
    return {
      path: this.#path,
      entries: db.entryCount ?? 0,
      usedBytes: this.#readUsed(),
      lastTxnId: env.lastTxnId ?? 0,
      commits: this.#commits,
      lastCommitMs: this.#lastCommitMs,
    };
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
    return this.#write([preparePut(this.#codec, key, record, options.expectEpochAtMost !== false)]);
  }

  async delete(key: string): Promise<void> {
    this.#checkOpen();
    checkStoreKey(key);
    return this.#write([{ type: 'delete', key }]);
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#checkOpen();
    const prepared = prepareBatch(this.#codec, ops);
    if (prepared.length === 0) return;
    return this.#write(prepared);
  }

  scan(prefix: string, options: ScanOptions = {}): AsyncIterable<[string, StateRecord]> {
    return this.#scan(prefix, options.limit);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inflight]);
      try {
        await this.#root.close();
      } catch (cause) {
        throw meshError('StorageError', `closing ${this.name} failed`, { cause, details: { path: this.#path } });
      }
    })();
    return this.#closing;
  }

  async *#scan(prefix: string, limit: number | undefined): AsyncGenerator<[string, StateRecord]> {
    this.#checkOpen();
    checkScanPrefix(prefix);
    checkLimit(limit);
    const end = keyBytes(prefixUpperBound(prefix));
    let remaining = limit ?? Infinity;
    let start = keyBytes(prefix);
    let exclusiveStart = false;
    while (remaining > 0) {
      this.#checkOpen();
      const page: Array<[string, StateRecord]> = [];
      try {
        // One synchronous read per page: a consistent snapshot, never held across the consumer's awaits.
        for (const { key, value } of this.#db.getRange({ start, end, exclusiveStart, limit: Math.min(SCAN_PAGE_SIZE, remaining) })) {
          const k = key.toString('latin1');
          page.push([k, decodeRecord(this.#codec, k, value)]);
        }
      } catch (cause) {
        if (isMeshError(cause)) throw cause;
        throw meshError('StorageError', `scan of ${this.name} failed`, { cause, details: { prefix } });
      }
      if (page.length === 0) return;
      remaining -= page.length;
      start = keyBytes(page[page.length - 1]![0]);
      exclusiveStart = true;
      yield* page;
    }
  }

  #read(key: string): StateRecord | undefined {
    let bytes: Buffer | undefined;
    try {
      bytes = this.#db.get(keyBytes(key));
    } catch (cause) {
      throw meshError('StorageError', `read of ${key} failed`, { cause, details: { key, store: this.name } });
    }
    // lmdb-js returns a fresh copy for `get`, so decoded byte arrays may safely be views of it.
    return bytes === undefined ? undefined : decodeRecord(this.#codec, key, bytes);
  }

  #readUsed(): number {
    const b = this.#meta.get(USED_BYTES);
    return b === undefined || b.byteLength !== 8 ? 0 : b.readDoubleLE(0);
  }

  /** Computes the stored-bytes counter once for a database written before it existed. */
  async #initUsedBytes(): Promise<void> {
    if (this.#meta.get(USED_BYTES) !== undefined) return;
    await this.#db.childTransaction(() => {
      if (this.#meta.get(USED_BYTES) !== undefined) return;
      let used = 0;
      for (const { key, value } of this.#db.getRange({})) used += key.byteLength + value.byteLength;
      this.#meta.put(USED_BYTES, encodeCount(used));
    });
  }

  #write(ops: readonly PreparedOp[]): Promise<void> {
    const run = this.#commit(ops);
    this.#inflight.add(run);
    const forget = (): void => void this.#inflight.delete(run);
    run.then(forget, forget);
    return run;
  }

  async #commit(ops: readonly PreparedOp[]): Promise<void> {
    const started = this.#clock.now();
    try {
      await this.#db.childTransaction(() => {
        // Runs inside the write transaction: reads see the latest committed state plus earlier writes of the
        // same transaction, and a throw aborts this child transaction (nothing of it is written).
        const { deltaBytes } = checkBatch(this.#codec, ops, (key) => this.#db.get(keyBytes(key)));
        const used = this.#readUsed();
        if (deltaBytes > 0 && this.#quotaBytes !== undefined && used + deltaBytes > this.#quotaBytes) {
          throw meshError('StorageFull', `state store ${this.name} is over its quota`, {
            details: { store: this.name, quotaBytes: this.#quotaBytes, usedBytes: used, neededBytes: deltaBytes },
          });
        }
        for (const op of ops) {
          if (op.type === 'put') void this.#db.put(keyBytes(op.key), Buffer.from(op.bytes.buffer, op.bytes.byteOffset, op.bytes.byteLength));
          else void this.#db.remove(keyBytes(op.key));
        }
        if (deltaBytes !== 0) void this.#meta.put(USED_BYTES, encodeCount(used + deltaBytes));
      });
    } catch (err) {
      throw await this.#toMeshError(err, ops);
    }
    this.#commits++;
    this.#lastCommitMs = this.#clock.now() - started;
  }

  /** Maps a failed write to a typed error; lmdb-js reports a failed commit's cause in `error.commitError`. */
  async #toMeshError(err: unknown, ops: readonly PreparedOp[]): Promise<MeshError> {
    if (isMeshError(err)) return err;
    let cause = err;
    const commitError = (err as { commitError?: unknown } | null)?.commitError;
    if (commitError !== null && typeof commitError === 'object' && typeof (commitError as PromiseLike<unknown>).then === 'function') {
      // Already rejected when our promise rejects (lmdb-js rejects both in the same callback); the race also
      // attaches a handler, so the shared commit-error promise never becomes an unhandled rejection.
      try {
        await Promise.race([commitError as PromiseLike<unknown>, Promise.resolve(NO_COMMIT_ERROR)]);
      } catch (inner) {
        cause = inner;
      }
    }
    const code = (cause as { code?: unknown } | null)?.code;
    const message = cause instanceof Error ? cause.message : String(cause);
    const details = { store: this.name, path: this.#path, errno: code, keys: ops.slice(0, 10).map((op) => op.key), ops: ops.length };
    if (FULL_CODES.has(code) || /MDB_MAP_FULL|No space left/i.test(message)) {
      return meshError('StorageFull', `${this.name}: no space for the write (${message})`, { cause, details });
    }
    if (code === 5 || code === 'EIO') {
      const probe = await this.#probeSpace();
      if (probe !== undefined) {
        return meshError('StorageFull', `${this.name}: write failed, the data directory cannot grow (${message}; ${probe})`, {
          cause,
          details: { ...details, probe },
        });
      }
    }
    return meshError('StorageError', `${this.name}: write failed (${message})`, { cause, details });
  }

  /**
   * LMDB reports a short write as `EIO`, which is what a full disk, a disk quota or a file-size limit often
   * produce. Tells them apart from a real I/O error: the reason (an errno name) if the file system has less than
   * 16 MiB free, or if a sparse probe file cannot take one page at the data file's current end; else undefined.
   */
  async #probeSpace(): Promise<string | undefined> {
    try {
      const fs = await statfs(this.#path);
      if (fs.bavail * fs.bsize < LOW_SPACE_BYTES) return `less than ${LOW_SPACE_BYTES} bytes free`;
    } catch {
      // No statfs here: rely on the probe.
    }
    const probe = join(this.#path, `space-probe-${process.pid}.tmp`);
    let handle: Awaited<ReturnType<typeof openFile>> | undefined;
    try {
      const end = (await stat(join(this.#path, 'data.mdb'))).size;
      handle = await openFile(probe, 'w');
      await handle.write(Buffer.alloc(4096), 0, 4096, end);
      await handle.sync();
      return undefined;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return typeof code === 'string' && FULL_CODES.has(code) ? code : undefined;
    } finally {
      await handle?.close().catch(() => undefined);
      await rm(probe, { force: true }).catch(() => undefined);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError(this.name);
  }
}
