/**
 * The StateStore contract suite on IdbStateStore in real Chromium (real IndexedDB). A full device is simulated:
 * in a "full" database, `IDBObjectStore.put` throws a `QuotaExceededError` DOMException (one of the two ways
 * Chromium reports it; the other, a failed request plus an aborted transaction, is covered on fake-indexeddb in
 * src/persistence/idb.test.ts). A real quota was tried first: Chrome DevTools Protocol
 * `Storage.overrideQuotaForOrigin` with quota 0 left IndexedDB writes committing in Chromium 156 (measured: a
 * 100 kB put committed and `estimate()` still reported the 10 GiB default), so it cannot fill a device here.
 */
import { IdbStateStore } from '../../src/persistence/idb.js';
import { stateStoreContract } from '../../src/testing/contracts/state-store.js';
import { runRegistered } from '../support/vitest-shim.js';

let n = 0;
const fullDbs = new Set<string>();
const originalPut = IDBObjectStore.prototype.put;
IDBObjectStore.prototype.put = function put(this: IDBObjectStore, value: unknown, key?: IDBValidKey): IDBRequest<IDBValidKey> {
  if (fullDbs.has(this.transaction.db.name)) throw new DOMException('simulated: the origin is out of storage quota', 'QuotaExceededError');
  return originalPut.call(this, value, key);
};

function deleteDb(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    req.onblocked = () => resolve();
  });
}

stateStoreContract('IdbStateStore (Chromium)', async () => {
  const dbName = `contract-${Date.now()}-${++n}`;
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

(globalThis as { __runContract?: typeof runRegistered }).__runContract = runRegistered;
