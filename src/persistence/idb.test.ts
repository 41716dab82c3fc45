/**
 * IdbStateStore on fake-indexeddb (the browser run comes with the browser issue). A full device is simulated
 * the way browsers report it: the put request fails with `QuotaExceededError` and the transaction aborts with it.
 */
import 'fake-indexeddb/auto';
import { get as idbGet, set as idbSet } from 'idb-keyval';
import { afterEach, describe, expect, it } from 'vitest';
import { isMeshError } from '../errors.js';
import { stateStoreContract } from '../testing/contracts/state-store.js';
import { createStrictStore, IdbStateStore } from './idb.js';
import { stateKey } from './keys.js';

let dbCounter = 0;
const fullDbs = new Set<string>();
type QuotaMode = 'request-error' | 'sync-throw';
let quotaMode: QuotaMode = 'request-error';

/**
 * Wraps `IDBObjectStore.prototype.put`: in a "full" database, the put's operation fails with a
 * `QuotaExceededError` DOMException when the transaction executes it (the request's error, then the
 * transaction aborts with that error: what Chrome does). That needs fake-indexeddb's internal `_rawObjectStore`;
 * without it, or in 'sync-throw' mode, `put` throws the DOMException synchronously instead.
 */
const originalPut = IDBObjectStore.prototype.put;
IDBObjectStore.prototype.put = function put(this: IDBObjectStore, value: unknown, key?: IDBValidKey): IDBRequest<IDBValidKey> {
  if (!fullDbs.has(this.transaction.db.name)) return originalPut.call(this, value, key);
  const quota = new DOMException('simulated: the origin is out of storage quota', 'QuotaExceededError');
  const raw = (this as unknown as { _rawObjectStore?: { storeRecord: (...args: unknown[]) => unknown } })._rawObjectStore;
  if (quotaMode === 'sync-throw' || raw === undefined) throw quota;
  const storeRecord = raw.storeRecord;
  raw.storeRecord = () => {
    throw quota;
  };
  try {
    return originalPut.call(this, value, key);
  } finally {
    raw.storeRecord = storeRecord;
  }
};

async function deleteDb(name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
  });
}

stateStoreContract('IdbStateStore (fake-indexeddb)', async () => {
  const dbName = `meshrtc-test-${++dbCounter}`;
  const store = await IdbStateStore.open({ dbName });
  return {
    store,
    reopen: () => IdbStateStore.open({ dbName }),
    simulateFull: () => void fullDbs.add(dbName),
    cleanup: async () => {
      fullDbs.delete(dbName);
      await deleteDb(dbName);
    },
  };
});

describe('IdbStateStore', () => {
  const k = (id: string): string => stateKey({ capability: 'game', type: 'counter', id });
  const opened: Array<{ store: IdbStateStore; dbName: string }> = [];
  const openStore = async (options: { storeName?: string } = {}): Promise<IdbStateStore> => {
    const dbName = `meshrtc-idb-${++dbCounter}`;
    const store = await IdbStateStore.open({ dbName, ...options });
    opened.push({ store, dbName });
    return store;
  };

  afterEach(async () => {
    quotaMode = 'request-error';
    for (const { store, dbName } of opened.splice(0)) {
      fullDbs.delete(dbName);
      await store.close();
      await deleteDb(dbName);
    }
  });

  it('opens every transaction with strict durability, one transaction per batch', async () => {
    const store = await openStore();
    const seen: Array<{ mode: string | undefined; durability: string | undefined }> = [];
    const original = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function transaction(this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
      seen.push({ mode: args[1], durability: args[2]?.durability });
      return original.apply(this, args);
    };
    try {
      await store.batch(Array.from({ length: 500 }, (_, i) => ({ type: 'put' as const, key: k(`b${i}`), record: { state: i, version: 1, epoch: 1 } })));
      await store.put(k('p'), { state: 1, version: 1, epoch: 1 });
      await store.delete(k('p'));
      await store.get(k('b1'));
    } finally {
      IDBDatabase.prototype.transaction = original;
    }
    expect(seen.filter((t) => t.mode === 'readwrite')).toEqual([
      { mode: 'readwrite', durability: 'strict' },
      { mode: 'readwrite', durability: 'strict' },
      { mode: 'readwrite', durability: 'strict' },
    ]);
    expect(seen.every((t) => t.durability === 'strict')).toBe(true);
  });

  it('maps QuotaExceededError to StorageFull with the cause kept, from a request or thrown by put', async () => {
    for (const mode of ['request-error', 'sync-throw'] as const) {
      quotaMode = mode;
      const store = await openStore();
      await store.put(k('a'), { state: 'a', version: 1, epoch: 1 });
      fullDbs.add(opened[opened.length - 1]!.dbName);
      const err = await store
        .batch([
          { type: 'delete', key: k('a') },
          { type: 'put', key: k('b'), record: { state: 'b', version: 1, epoch: 1 } },
        ])
        .catch((e: unknown) => e);
      expect(isMeshError(err, 'StorageFull'), mode).toBe(true);
      expect((err as Error).cause).toBeInstanceOf(DOMException);
      expect(((err as Error).cause as DOMException).name).toBe('QuotaExceededError');
      expect((await store.getMany([k('a'), k('b')])).map((r) => r?.state)).toEqual(['a', undefined]);
    }
  });

  it('creates its object store in an existing database (version upgrade)', async () => {
    const first = await openStore({ storeName: 'actors' });
    await first.put(k('a'), { state: 'in actors', version: 1, epoch: 1 });
    const dbName = opened[0]!.dbName;
    await first.close();
    const second = await IdbStateStore.open({ dbName, storeName: 'mirrors' });
    opened.push({ store: second, dbName });
    await second.put(k('a'), { state: 'in mirrors', version: 1, epoch: 1 });
    expect((await second.get(k('a')))?.state).toBe('in mirrors');
    await second.close();
    const again = await IdbStateStore.open({ dbName, storeName: 'actors' });
    opened.push({ store: again, dbName });
    expect((await again.get(k('a')))?.state).toBe('in actors');
  });

  it('createStrictStore is a drop-in custom store for idb-keyval', async () => {
    const dbName = `meshrtc-keyval-${++dbCounter}`;
    const strict = createStrictStore(dbName, 'kv');
    await idbSet('hello', new Uint8Array([1, 2]), strict.useStore);
    expect([...((await idbGet<Uint8Array>('hello', strict.useStore)) ?? [])]).toEqual([1, 2]);
    strict.close();
    await deleteDb(dbName);
  });

  it('reopens its connection after the browser closes it', async () => {
    const dbName = `meshrtc-keyval-${++dbCounter}`;
    const strict = createStrictStore(dbName, 'kv');
    const db = await strict.connection();
    db.onversionchange?.(new Event('versionchange') as IDBVersionChangeEvent);
    await idbSet('x', 1, strict.useStore);
    expect(await idbGet('x', strict.useStore)).toBe(1);
    expect(await strict.connection()).not.toBe(db);
    strict.close();
    await deleteDb(dbName);
  });
});
