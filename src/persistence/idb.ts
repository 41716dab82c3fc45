/**
 * The browser state store, on IndexedDB through idb-keyval's store-function shape (`UseStore`).
 *
 * Durability: idb-keyval opens transactions with the browser default, which in Chrome is `relaxed` (acknowledged
 * before the data reaches the disk). {@link createStrictStore} is a drop-in replacement for idb-keyval's
 * `createStore` that opens every transaction with `{ durability: 'strict' }`, so a resolved write has been
 * flushed. Every write (a put, a delete, a whole batch) is one readwrite transaction: one commit (group commit).
 *
 * Atomic fencing: the stored records are read and the epoch fence checked inside the same readwrite transaction,
 * driven by request callbacks only (an `await` of anything else would let IndexedDB auto-commit the transaction);
 * a refused batch aborts the transaction, so nothing of it is written. A `QuotaExceededError` (from a request or
 * as the transaction's abort reason) becomes `StorageFull`; the transaction is aborted, so nothing is half written.
 */
import { getMany as idbGetMany, promisifyRequest, type UseStore } from 'idb-keyval';
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

/** Options of {@link IdbStateStore.open}. */
export interface IdbStateStoreOptions {
  /** IndexedDB database name (default `"meshrtc"`). */
  dbName?: string;
  /** Object store name inside it (default `"actors"`). */
  storeName?: string;
  /** Codec of stored records (default {@link msgpackCodec}: records obey the frame limits). */
  codec?: Codec;
  /** The IndexedDB factory (default `globalThis.indexedDB`). Scans use the global `IDBKeyRange`. */
  indexedDB?: IDBFactory;
}

/** A {@link UseStore} with strict durability, plus access to its connection. */
export interface StrictStore {
  /** idb-keyval-compatible store function: pass it as `customStore` to idb-keyval's helpers. */
  useStore: UseStore;
  /** Opens (or reuses) the connection; rejects if the database cannot be opened. */
  connection(): Promise<IDBDatabase>;
  /** Closes the connection (pending transactions finish first, per IndexedDB); later calls reopen it. */
  close(): void;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return promisifyRequest(req);
}

/** Opens `dbName`, creating `storeName` with a version upgrade if the database exists without it. */
async function openWithStore(factory: IDBFactory, dbName: string, storeName: string): Promise<IDBDatabase> {
  const open = (version?: number): Promise<IDBDatabase> => {
    const req = version === undefined ? factory.open(dbName) : factory.open(dbName, version);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(storeName)) req.result.createObjectStore(storeName);
    };
    return request(req);
  };
  const db = await open();
  if (db.objectStoreNames.contains(storeName)) return db;
  const next = db.version + 1;
  db.close();
  return open(next);
}

/**
 * idb-keyval's `createStore` with `{ durability: 'strict' }` transactions. Like idb-keyval, the connection is
 * opened lazily and reopened after the browser closes it (or another tab asks for a version upgrade).
 */
export function createStrictStore(dbName: string, storeName: string, factory: IDBFactory = globalThis.indexedDB): StrictStore {
  let dbp: Promise<IDBDatabase> | undefined;
  const connection = (): Promise<IDBDatabase> => {
    if (dbp !== undefined) return dbp;
    if (factory === undefined) return Promise.reject(new Error('IndexedDB is not available in this runtime'));
    const opening = openWithStore(factory, dbName, storeName);
    dbp = opening;
    opening.then(
      (db) => {
        const drop = (): void => {
          if (dbp === opening) dbp = undefined;
        };
        db.onclose = drop;
        db.onversionchange = () => {
          drop();
          db.close();
        };
      },
      () => {
        if (dbp === opening) dbp = undefined;
      },
    );
    return opening;
  };
  const useStore: UseStore = (txMode, callback) =>
    connection().then((db) => callback(db.transaction(storeName, txMode, { durability: 'strict' }).objectStore(storeName)));
  return {
    useStore,
    connection,
    close() {
      const current = dbp;
      dbp = undefined;
      void current?.then((db) => db.close(), () => undefined);
    },
  };
}

function isQuotaError(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'QuotaExceededError' || (err as { code?: unknown } | null)?.code === 22;
}

/** The IndexedDB state store. Open it with {@link IdbStateStore.open}. */
export class IdbStateStore implements StateStore {
  readonly name: string;
  readonly #strict: StrictStore;
  readonly #codec: Codec;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #inflight = new Set<Promise<unknown>>();

  private constructor(name: string, strict: StrictStore, codec: Codec) {
    this.name = name;
    this.#strict = strict;
    this.#codec = codec;
  }

  /** Opens (creating if needed) the store. Rejects with `StorageError` if IndexedDB refuses. */
  static async open(options: IdbStateStoreOptions = {}): Promise<IdbStateStore> {
    const dbName = options.dbName ?? 'meshrtc';
    const storeName = options.storeName ?? 'actors';
    const strict = createStrictStore(dbName, storeName, options.indexedDB ?? globalThis.indexedDB);
    try {
      await strict.connection();
    } catch (cause) {
      throw meshError('StorageError', `cannot open IndexedDB ${dbName}/${storeName}`, { cause, details: { dbName, storeName } });
    }
    return new IdbStateStore(`idb:${dbName}/${storeName}`, strict, options.codec ?? msgpackCodec);
  }

  async get(key: string): Promise<StateRecord | undefined> {
    return (await this.getMany([key]))[0];
  }

  async getMany(keys: readonly string[]): Promise<Array<StateRecord | undefined>> {
    this.#checkOpen();
    if (!Array.isArray(keys)) throw meshError('InvalidArgument', 'getMany takes an array of keys');
    for (const key of keys) checkStoreKey(key);
    if (keys.length === 0) return [];
    let values: unknown[];
    try {
      values = await idbGetMany(keys as string[], this.#strict.useStore);
    } catch (cause) {
      throw this.#storageError('read failed', cause);
    }
    return values.map((value, i) => (value === undefined ? undefined : decodeRecord(this.#codec, keys[i]!, value as Uint8Array)));
  }

  async put(key: string, record: StateRecord, options: PutOptions = {}): Promise<void> {
    this.#checkOpen();
    return this.#track(this.#write([preparePut(this.#codec, key, record, options.expectEpochAtMost !== false)]));
  }

  async delete(key: string): Promise<void> {
    this.#checkOpen();
    checkStoreKey(key);
    return this.#track(this.#write([{ type: 'delete', key }]));
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#checkOpen();
    const prepared = prepareBatch(this.#codec, ops);
    if (prepared.length === 0) return;
    return this.#track(this.#write(prepared));
  }

  scan(prefix: string, options: ScanOptions = {}): AsyncIterable<[string, StateRecord]> {
    return this.#scan(prefix, options.limit);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inflight]);
      this.#strict.close();
    })();
    return this.#closing;
  }

  async *#scan(prefix: string, limit: number | undefined): AsyncGenerator<[string, StateRecord]> {
    this.#checkOpen();
    checkScanPrefix(prefix);
    checkLimit(limit);
    const upper = prefixUpperBound(prefix);
    let remaining = limit ?? Infinity;
    let range = IDBKeyRange.bound(prefix, upper, false, true);
    while (remaining > 0) {
      this.#checkOpen();
      const count = Math.min(SCAN_PAGE_SIZE, remaining);
      let keys: IDBValidKey[];
      let values: unknown[];
      try {
        // Keys and values of one page from one read transaction: the same snapshot, so they line up.
        [keys, values] = await this.#strict.useStore('readonly', (store) =>
          Promise.all([request(store.getAllKeys(range, count)), request(store.getAll(range, count))]),
        );
      } catch (cause) {
        throw this.#storageError('scan failed', cause);
      }
      if (keys.length === 0) return;
      remaining -= keys.length;
      const last = keys[keys.length - 1] as string;
      range = IDBKeyRange.bound(last, upper, true, true);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        yield [key, decodeRecord(this.#codec, key, values[i] as Uint8Array)];
      }
    }
  }

  /**
   * One readwrite transaction: read the stored records of the batch's keys, check fences, write. Everything is
   * chained through request callbacks so the transaction stays active until the writes are issued.
   */
  async #write(ops: readonly PreparedOp[]): Promise<void> {
    try {
      await this.#strict.useStore('readwrite', (store) => this.#transact(store, ops));
    } catch (err) {
      throw this.#toMeshError(err, ops);
    }
  }

  #transact(store: IDBObjectStore, ops: readonly PreparedOp[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const tx = store.transaction;
      let failure: unknown;
      const fail = (err: unknown): void => {
        failure ??= err;
        try {
          tx.abort();
        } catch {
          // Already finished or aborting: the abort event reports it.
        }
      };
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(failure ?? tx.error ?? new Error('transaction aborted'));
      const keys = [...new Set(ops.map((op) => op.key))];
      const stored = new Map<string, Uint8Array | undefined>();
      const apply = (): void => {
        try {
          checkBatch(this.#codec, ops, (key) => stored.get(key));
          for (const op of ops) {
            if (op.type === 'put') store.put(op.bytes, op.key);
            else store.delete(op.key);
          }
        } catch (err) {
          fail(err);
        }
      };
      let pending = keys.length;
      for (const key of keys) {
        const req = store.get(key);
        req.onsuccess = () => {
          stored.set(key, req.result as Uint8Array | undefined);
          if (--pending === 0) apply();
        };
      }
    });
  }

  #toMeshError(err: unknown, ops: readonly PreparedOp[]): MeshError {
    if (isMeshError(err)) return err;
    const details = { store: this.name, keys: ops.slice(0, 10).map((op) => op.key), ops: ops.length };
    if (isQuotaError(err)) {
      return meshError('StorageFull', `${this.name}: storage quota exceeded`, { cause: err, details });
    }
    return meshError('StorageError', `${this.name}: write failed (${(err as Error)?.message ?? String(err)})`, { cause: err, details });
  }

  #storageError(what: string, cause: unknown): MeshError {
    if (isMeshError(cause)) return cause;
    return meshError('StorageError', `${this.name}: ${what}`, { cause, details: { store: this.name } });
  }

  #track(run: Promise<void>): Promise<void> {
    this.#inflight.add(run);
    const forget = (): void => void this.#inflight.delete(run);
    run.then(forget, forget);
    return run;
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError(this.name);
  }
}
