/**
 * The state store contract suite: every {@link StateStore} implementation must pass it (MemoryStateStore,
 * IdbStateStore, LmdbStateStore). It uses only the `StateStore` interface and what the factory returns.
 *
 * ```ts
 * stateStoreContract('MemoryStateStore', async () => {
 *   const store = new MemoryStateStore();
 *   return { store, simulateFull: () => store.setQuotaBytes(store.usedBytes), cleanup: async () => {} };
 * });
 * ```
 *
 * Each test opens a fresh, empty store. Capabilities a mechanism may lack are optional in the handle; a test
 * that needs a missing one is reported as skipped, not passed.
 */
import fc from 'fast-check';
import { describe, expect, it, type TestContext } from 'vitest';
import { DEFAULT_CODEC_LIMITS } from '../../codec/index.js';
import { isMeshError, type MeshErrorCode } from '../../errors.js';
import { parseStateKey, stateKey, stateKeyPrefix } from '../../persistence/keys.js';
import type { BatchOp, StateRecord, StateStore } from '../../persistence/types.js';

/** What a contract factory returns: a fresh, empty store and how to dispose of it. */
export interface StateStoreContractHandle {
  store: StateStore;
  /** Opens the same data again after `store.close()` (durable stores). Without it, the reopen test is skipped. */
  reopen?: () => Promise<StateStore>;
  /**
   * Makes the store behave as if its device were full from now on: every write that adds bytes fails with
   * `StorageFull`, reads keep working. Without it, the StorageFull test is skipped.
   */
  simulateFull?: () => void | Promise<void>;
  /** Removes what the store left behind (files, databases). Called after the test closed every store it opened. */
  cleanup(): Promise<void>;
}

/** Tunables of {@link stateStoreContract}; the defaults are the contract. */
export interface StateStoreContractOptions {
  /** Largest encoded record the store accepts (default: the codec default, 16 MiB); the oversize test goes past it. */
  maxRecordBytes?: number;
  /** fast-check runs of the model test (default 40). */
  modelRuns?: number;
  /** fast-check seed of the model test (default fixed, so a failure reproduces). */
  seed?: number;
  /** Timeout of each test in ms (default 60 000). */
  timeoutMs?: number;
}

async function codeOf(promise: Promise<unknown>): Promise<MeshErrorCode | 'resolved' | 'not a MeshError'> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return isMeshError(err) ? err.code : 'not a MeshError';
  }
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function collect(iterable: AsyncIterable<[string, StateRecord]>): Promise<Array<[string, StateRecord]>> {
  const out: Array<[string, StateRecord]> = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

/** Plain-data view of a record for deep equality (byte arrays become `{ bytes: [...] }`, Buffer or not). */
function plain(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return { bytes: [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)] };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function rec(epoch: number, version: number, state: unknown = { n: version }): StateRecord {
  return { state, version, epoch };
}

const key = (capability: string, type: string, id: string): string => stateKey({ capability, type, id });

/** Registers the contract tests for one implementation under `describe(name)`. */
export function stateStoreContract(
  name: string,
  open: () => Promise<StateStoreContractHandle>,
  options: StateStoreContractOptions = {},
): void {
  const timeout = options.timeoutMs ?? 60_000;
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_CODEC_LIMITS.maxBytes;

  /** Runs `fn` with a fresh store; closes it (and any reopened one) and cleans up afterwards. */
  const withStore =
    (fn: (h: StateStoreContractHandle, ctx: TestContext) => Promise<void>) =>
    async (ctx: TestContext) => {
      const h = await open();
      try {
        await fn(h, ctx);
      } finally {
        await h.store.close();
        await h.cleanup();
      }
    };

  describe(`StateStore contract: ${name}`, () => {
    it('has a name', withStore(async ({ store }) => {
      expect(typeof store.name).toBe('string');
      expect(store.name.length).toBeGreaterThan(0);
    }), timeout);

    it('round-trips records: nested objects, byte arrays, unicode, numbers, dedupe tables', withStore(async ({ store }) => {
      const states: unknown[] = [
        null,
        0,
        -1.5,
        2 ** 40,
        'plain',
        'unicode: héllo wörld, 日本語, emoji 🎲👾, rtl שלום',
        [1, 'two', [3, [4]], { five: 5 }],
        { nested: { deeper: { list: [1, 2, { x: 'y' }], flag: true, nothing: null } }, count: 7 },
        { bytes: new Uint8Array([0, 1, 2, 254, 255]), empty: new Uint8Array(0) },
        new Uint8Array(70_000).map((_, i) => i % 251),
        { 'key with spaces': 1, 'ключ': 2, '🔑': 3 },
      ];
      for (let i = 0; i < states.length; i++) {
        const k = key('game', 'counter', `s${i}`);
        await store.put(k, rec(1, 1, states[i]));
        const got = await store.get(k);
        expect(got).toBeDefined();
        expect(plain(got!.state)).toEqual(plain(states[i]));
        expect(got!.version).toBe(1);
        expect(got!.epoch).toBe(1);
        expect('dedupe' in got!).toBe(false);
      }
      const dedupe = [
        { key: 'idem-1', hash: 'h1', reply: { ok: 1 }, at: 1000 },
        { key: 'idem-2', hash: 'h2', reply: new Uint8Array([9]), at: 1001.5 },
      ];
      const k = key('game', 'counter', 'with-dedupe');
      await store.put(k, { state: { n: 1 }, version: 3, epoch: 2, dedupe });
      expect(plain(await store.get(k))).toEqual(plain({ state: { n: 1 }, version: 3, epoch: 2, dedupe }));
      expect(await store.get(key('game', 'counter', 'absent'))).toBeUndefined();
    }), timeout);

    it('overwrites, deletes, and deleting an absent key is fine', withStore(async ({ store }) => {
      const k = key('chat', 'room', 'r1');
      await store.put(k, rec(1, 1, 'a'));
      await store.put(k, rec(1, 2, 'b'));
      expect((await store.get(k))?.state).toBe('b');
      await store.delete(k);
      expect(await store.get(k)).toBeUndefined();
      await store.delete(k);
      await store.delete(key('chat', 'room', 'never'));
      expect(await store.get(k)).toBeUndefined();
    }), timeout);

    it('getMany returns records in key order of the request, undefined where absent', withStore(async ({ store }) => {
      const [a, b, c] = ['a', 'b', 'c'].map((id) => key('game', 'counter', id)) as [string, string, string];
      await store.put(a, rec(1, 1, 'A'));
      await store.put(c, rec(1, 1, 'C'));
      const got = await store.getMany([c, b, a, c]);
      expect(got.map((r) => r?.state)).toEqual(['C', undefined, 'A', 'C']);
      expect(await store.getMany([])).toEqual([]);
    }), timeout);

    it('returns copies: mutating a record after put or after get changes nothing stored', withStore(async ({ store }) => {
      const k = key('game', 'board', 'b1');
      const bytes = new Uint8Array([1, 2, 3]);
      const state = { cells: [[0, 0], [0, 0]], meta: { owner: 'x' }, bytes };
      const record: StateRecord = { state, version: 1, epoch: 1, dedupe: [{ key: 'k', hash: 'h', reply: { r: 1 }, at: 1 }] };
      await store.put(k, record);
      state.cells[0]![0] = 9;
      state.meta.owner = 'mutated';
      bytes[0] = 99;
      record.version = 42;
      (record.dedupe![0]!.reply as { r: number }).r = 2;
      const first = await store.get(k);
      expect(plain(first)).toEqual(plain({ state: { cells: [[0, 0], [0, 0]], meta: { owner: 'x' }, bytes: new Uint8Array([1, 2, 3]) }, version: 1, epoch: 1, dedupe: [{ key: 'k', hash: 'h', reply: { r: 1 }, at: 1 }] }));
      const got = first!.state as typeof state;
      got.cells[1]![1] = 7;
      got.meta.owner = 'changed';
      got.bytes[1] = 77;
      first!.epoch = 100;
      const second = await store.get(k);
      expect(plain(second)).toEqual(plain(await store.get(k)));
      expect(plain(second!.state)).toEqual(plain({ cells: [[0, 0], [0, 0]], meta: { owner: 'x' }, bytes: new Uint8Array([1, 2, 3]) }));
      expect(second!.epoch).toBe(1);
      const [, scanned] = (await collect(store.scan(stateKeyPrefix('game', 'board'))))[0]!;
      (scanned.state as typeof state).bytes[2] = 0;
      expect(plain((await store.get(k))!.state)).toEqual(plain({ cells: [[0, 0], [0, 0]], meta: { owner: 'x' }, bytes: new Uint8Array([1, 2, 3]) }));
    }), timeout);

    it('fences epochs: older epoch refused, equal epoch with lower version refused, equal or newer accepted', withStore(async ({ store }) => {
      const k = key('game', 'counter', 'fenced');
      await store.put(k, rec(2, 5, 'v5'));

      const stale = await errorOf(store.put(k, rec(1, 9, 'old owner')));
      expect(isMeshError(stale, 'StaleEpoch')).toBe(true);
      expect((stale as { details: Record<string, unknown> }).details).toMatchObject({ key: k, stored: 2, attempted: 1 });
      expect(await codeOf(store.put(k, rec(2, 4, 'older write')))).toBe('StaleEpoch');
      expect((await store.get(k))?.state).toBe('v5');

      await store.put(k, rec(2, 5, 'v5 again')); // equal epoch and version: idempotent rewrite
      await store.put(k, rec(2, 6, 'v6'));
      await store.put(k, rec(3, 1, 'new owner')); // newer epoch: accepted, whatever the version
      expect(await codeOf(store.put(k, rec(2, 100, 'late mirror')))).toBe('StaleEpoch');
      expect(plain(await store.get(k))).toEqual(plain(rec(3, 1, 'new owner')));

      // Fencing can be switched off explicitly (restores, tools).
      await store.put(k, rec(0, 1, 'restored'), { expectEpochAtMost: false });
      expect((await store.get(k))?.state).toBe('restored');

      // A deleted key has no fence.
      await store.delete(k);
      await store.put(k, rec(0, 1, 'fresh'));
      expect((await store.get(k))?.epoch).toBe(0);
    }), timeout);

    it('applies writes in call order, even when issued concurrently', withStore(async ({ store }) => {
      const k = key('game', 'counter', 'ordered');
      await Promise.all([1, 2, 3, 4, 5].map((v) => store.put(k, rec(1, v))));
      expect((await store.get(k))?.version).toBe(5);
      const many = Array.from({ length: 200 }, (_, i) => store.put(key('game', 'counter', `c${i}`), rec(1, 1, i)));
      await Promise.all(many);
      const got = await store.getMany(Array.from({ length: 200 }, (_, i) => key('game', 'counter', `c${i}`)));
      expect(got.map((r) => r?.state)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    }), timeout);

    it('batch is atomic: one stale put, and nothing of the batch is written', withStore(async ({ store }) => {
      const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => key('game', 'counter', id)) as [string, string, string, string];
      await store.put(a, rec(5, 1, 'a'));
      await store.put(c, rec(1, 1, 'c'));
      const ops: BatchOp[] = [
        { type: 'put', key: b, record: rec(5, 1, 'b') },
        { type: 'delete', key: c },
        { type: 'put', key: d, record: rec(5, 1, 'd') },
        { type: 'put', key: a, record: rec(4, 9, 'stale') },
      ];
      const err = await errorOf(store.batch(ops));
      expect(isMeshError(err, 'StaleEpoch')).toBe(true);
      expect((err as { details: Record<string, unknown> }).details).toMatchObject({ key: a, stored: 5, attempted: 4 });
      expect((await store.getMany([a, b, c, d])).map((r) => r?.state)).toEqual(['a', undefined, 'c', undefined]);
      expect((await collect(store.scan(''))).map(([k2]) => k2)).toEqual([a, c]);

      // The same batch without the stale op commits entirely.
      await store.batch(ops.slice(0, 3));
      expect((await store.getMany([a, b, c, d])).map((r) => r?.state)).toEqual(['a', 'b', undefined, 'd']);
    }), timeout);

    it('batch ops see the earlier ops of the same batch', withStore(async ({ store }) => {
      const k = key('game', 'counter', 'x');
      expect(await codeOf(store.batch([
        { type: 'put', key: k, record: rec(3, 1) },
        { type: 'put', key: k, record: rec(2, 1) },
      ]))).toBe('StaleEpoch');
      expect(await store.get(k)).toBeUndefined();
      await store.put(k, rec(5, 5));
      await store.batch([
        { type: 'delete', key: k },
        { type: 'put', key: k, record: rec(1, 1, 'after delete') },
        { type: 'put', key: k, record: rec(1, 2, 'last') },
      ]);
      expect(plain(await store.get(k))).toEqual(plain(rec(1, 2, 'last')));
      await store.batch([]);
    }), timeout);

    it('a batch of 1000 puts commits all of them', withStore(async ({ store }) => {
      const ops: BatchOp[] = Array.from({ length: 1000 }, (_, i) => ({ type: 'put', key: key('bulk', 'item', String(i).padStart(4, '0')), record: rec(1, 1, { i }) }));
      await store.batch(ops);
      const all = await collect(store.scan(stateKeyPrefix('bulk')));
      expect(all.length).toBe(1000);
      expect(all.map(([, r]) => (r.state as { i: number }).i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    }), timeout);

    it('scans by prefix in key order, with limit, without leaking neighbouring prefixes', withStore(async ({ store }) => {
      const keys = [
        key('game', 'counter', 'b'),
        key('game', 'counter', 'a'),
        key('game', 'counter', 'a/b'), // escaped: game/counter/a%2Fb
        key('game', 'counter', 'ü'),
        key('game', 'counter2', 'a'),
        key('game', 'counte', 'z'),
        key('game', 'count', 'er'),
        key('gamer', 'counter', 'a'),
        key('chat', 'room', 'a'),
      ];
      for (const k of keys) await store.put(k, rec(1, 1, k));
      const sorted = [...keys].sort();

      const counters = await collect(store.scan(stateKeyPrefix('game', 'counter')));
      expect(counters.map(([k]) => k)).toEqual(['game/counter/a', 'game/counter/a%2Fb', 'game/counter/b', 'game/counter/%C3%BC'].sort());
      expect(counters.map(([k]) => parseStateKey(k).id).sort()).toEqual(['a', 'a/b', 'b', 'ü'].sort());
      for (const [k, r] of counters) expect(r.state).toBe(k);

      expect((await collect(store.scan('game/'))).map(([k]) => k)).toEqual(sorted.filter((k) => k.startsWith('game/')));
      expect((await collect(store.scan(''))).map(([k]) => k)).toEqual(sorted);
      expect((await collect(store.scan('', { limit: 3 }))).map(([k]) => k)).toEqual(sorted.slice(0, 3));
      expect((await collect(store.scan(stateKeyPrefix('game', 'counter'), { limit: 2 }))).map(([k]) => k)).toEqual(counters.slice(0, 2).map(([k]) => k));
      expect(await collect(store.scan('game/', { limit: 0 }))).toEqual([]);
      expect(await collect(store.scan('nothing/'))).toEqual([]);
      expect((await collect(store.scan(key('game', 'counter', 'a')))).map(([k]) => k)).toEqual(['game/counter/a', 'game/counter/a%2Fb']);
    }), timeout);

    it('scans across many pages in order, each key once, even while keys are written', withStore(async ({ store }) => {
      const n = 700;
      const ids = Array.from({ length: n }, (_, i) => `k${String(i).padStart(4, '0')}`);
      await store.batch(ids.map((id) => ({ type: 'put', key: key('paged', 't', id), record: rec(1, 1, id) })));
      const seen: string[] = [];
      let i = 0;
      for await (const [k] of store.scan(stateKeyPrefix('paged'))) {
        seen.push(k);
        if (i++ % 100 === 0) {
          await store.put(key('paged', 't', `z${i}`), rec(1, 1)); // after the cursor: may or may not be seen
          await store.put(key('paged', 't', `a${i}`), rec(1, 1)); // before the cursor: not seen again
        }
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect([...seen].sort()).toEqual(seen);
      expect(seen.filter((k) => k.startsWith('paged/t/k'))).toEqual(ids.map((id) => key('paged', 't', id)));
    }), timeout);

    it('refuses invalid arguments with InvalidArgument and writes nothing', withStore(async ({ store }) => {
      const ok = key('game', 'counter', 'ok');
      const bad: Array<Promise<unknown>> = [
        store.put('', rec(1, 1)),
        store.put('non-ascii/é/x', rec(1, 1)),
        store.put('x'.repeat(5000), rec(1, 1)),
        store.put(ok, rec(1, 0)),
        store.put(ok, rec(1, 1.5)),
        store.put(ok, rec(-1, 1)),
        store.put(ok, rec(Number.NaN, 1)),
        store.put(ok, { state: 1, version: 1, epoch: 1, dedupe: [{ key: 1 } as never] }),
        store.put(ok, null as never),
        store.get(''),
        store.getMany([ok, 7 as never]),
        store.delete(''),
        store.batch([{ type: 'put', key: ok, record: rec(1, 1) }, { type: 'nope', key: ok } as never]),
        collect(store.scan('é')),
        collect(store.scan('', { limit: -1 })),
      ];
      for (const p of bad) expect(await codeOf(p)).toBe('InvalidArgument');
      expect(await store.get(ok)).toBeUndefined();
      expect(() => stateKey({ capability: '', type: 't', id: 'i' })).toThrow();
      expect(() => parseStateKey('a/b')).toThrow();
      expect(() => parseStateKey('a/b%2/c')).toThrow();
      expect(() => parseStateKey('a/b/c%2f')).toThrow(); // not canonical (lower-case escape)
      expect(parseStateKey(key('g', 'c/d', 'a/b%c'))).toEqual({ capability: 'g', type: 'c/d', id: 'a/b%c' });
    }), timeout);

    it('refuses oversize or un-encodable state with a typed error before writing anything', withStore(async ({ store }) => {
      const k = key('game', 'counter', 'big');
      const other = key('game', 'counter', 'other');
      const oversize = await errorOf(store.put(k, rec(1, 1, new Uint8Array(maxRecordBytes))));
      expect(isMeshError(oversize, 'InvalidArgument')).toBe(true);
      expect((oversize as { details: Record<string, unknown> }).details['reason']).toBe('MessageTooLarge');

      let deep: unknown = 'leaf';
      for (let i = 0; i < 200; i++) deep = [deep];
      const unencodable: unknown[] = [deep, { constructor: 'x' }, { s: Symbol('no') }];
      for (const state of unencodable) {
        const err = await errorOf(store.put(k, rec(1, 1, state)));
        expect(isMeshError(err, 'InvalidArgument')).toBe(true);
        expect((err as { details: Record<string, unknown> }).details['reason']).toBe('CodecError');
      }
      expect(await codeOf(store.batch([
        { type: 'put', key: other, record: rec(1, 1, 'fine') },
        { type: 'put', key: k, record: rec(1, 1, { s: Symbol('no') }) },
      ]))).toBe('InvalidArgument');
      expect(await store.getMany([k, other])).toEqual([undefined, undefined]);
      expect(await collect(store.scan(''))).toEqual([]);
    }), timeout);

    it('reports a full device as StorageFull and leaves no partial state', withStore(async (h, ctx) => {
      if (h.simulateFull === undefined) ctx.skip('this mechanism cannot simulate a full device');
      const { store } = h;
      const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => key('game', 'counter', id)) as [string, string, string, string];
      await store.batch([
        { type: 'put', key: a, record: rec(1, 1, 'a') },
        { type: 'put', key: b, record: rec(1, 1, 'b') },
      ]);
      await h.simulateFull!();
      const err = await errorOf(store.batch([
        { type: 'put', key: c, record: rec(1, 1, 'c'.repeat(1000)) },
        { type: 'delete', key: b },
        { type: 'put', key: d, record: rec(1, 1, 'd'.repeat(1000)) },
      ]));
      expect(isMeshError(err, 'StorageFull')).toBe(true);
      expect(await codeOf(store.put(c, rec(1, 1, 'c'.repeat(1000))))).toBe('StorageFull');
      expect((await store.getMany([a, b, c, d])).map((r) => r?.state)).toEqual(['a', 'b', undefined, undefined]);
      expect((await collect(store.scan(''))).map(([k]) => k)).toEqual([a, b]);
    }), timeout);

    it('rejects every call with Closed after close (close is idempotent)', withStore(async ({ store }) => {
      const k = key('game', 'counter', 'c');
      await store.put(k, rec(1, 1));
      const pending = store.put(key('game', 'counter', 'in-flight'), rec(1, 1));
      await store.close();
      await pending; // in-flight writes finish before close resolves
      await store.close();
      const calls: Array<Promise<unknown>> = [
        store.get(k),
        store.getMany([k]),
        store.put(k, rec(1, 2)),
        store.delete(k),
        store.batch([{ type: 'delete', key: k }]),
        collect(store.scan('')),
      ];
      for (const p of calls) expect(await codeOf(p)).toBe('Closed');
    }), timeout);

    it('a reopened store sees every committed write', withStore(async (h, ctx) => {
      if (h.reopen === undefined) ctx.skip('this mechanism does not persist across reopen');
      const { store } = h;
      const keys = Array.from({ length: 50 }, (_, i) => key('game', 'counter', `r${i}`));
      for (const [i, k] of keys.slice(0, 10).entries()) await store.put(k, rec(2, i + 1, { i, bytes: new Uint8Array([i]) }));
      await store.batch(keys.slice(10).map((k, i) => ({ type: 'put', key: k, record: rec(2, 1, { i: i + 10 }) })));
      await store.delete(keys[3]!);
      const before = await collect(store.scan(''));
      await store.close();
      const again = await h.reopen!();
      try {
        expect(plain(await collect(again.scan('')))).toEqual(plain(before));
        expect(before.length).toBe(49);
        // The fence survives the reopen too.
        expect(await codeOf(again.put(keys[0]!, rec(1, 9)))).toBe('StaleEpoch');
      } finally {
        await again.close();
      }
    }), timeout);

    it('matches a Map model under random put/delete/batch sequences (fast-check)', async () => {
      const ids = ['a', 'b', 'a/b', 'ü'];
      const keyArb = fc.tuple(fc.constantFrom('game', 'gamer'), fc.constantFrom('counter', 'counter2', 'c'), fc.constantFrom(...ids)).map(([c, t, id]) => key(c, t, id));
      const recordArb = fc.record({ epoch: fc.integer({ min: 0, max: 3 }), version: fc.integer({ min: 1, max: 4 }), state: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null)) });
      type Op = { type: 'put'; key: string; record: StateRecord } | { type: 'delete'; key: string };
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        fc.record({ type: fc.constant('put' as const), key: keyArb, record: recordArb }),
        fc.record({ type: fc.constant('delete' as const), key: keyArb }),
      );
      const stepArb = fc.oneof(
        { weight: 3, arbitrary: opArb.map((op) => ({ kind: 'single' as const, op })) },
        { weight: 1, arbitrary: fc.array(opArb, { minLength: 0, maxLength: 6 }).map((ops) => ({ kind: 'batch' as const, ops })) },
      );
      const prefixes = ['', 'game/', 'game/counter/', 'game/counter', 'gamer/c/', 'game/counter/a'];

      // The model: the contract's rules written independently of the stores.
      const allowed = (stored: StateRecord | undefined, next: StateRecord): boolean =>
        stored === undefined || next.epoch > stored.epoch || (next.epoch === stored.epoch && next.version >= stored.version);
      const applyModel = (model: Map<string, StateRecord>, ops: readonly Op[]): boolean => {
        const draft = new Map(model);
        for (const op of ops) {
          if (op.type === 'delete') draft.delete(op.key);
          else if (!allowed(draft.get(op.key), op.record)) return false;
          else draft.set(op.key, op.record);
        }
        model.clear();
        for (const [k, v] of draft) model.set(k, v);
        return true;
      };

      await fc.assert(
        fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.integer({ min: 0, max: 5 }), async (steps, limit) => {
          const h = await open();
          try {
            const model = new Map<string, StateRecord>();
            for (const step of steps) {
              const ops = step.kind === 'single' ? [step.op] : step.ops;
              const ok = applyModel(model, ops);
              const result =
                step.kind === 'batch'
                  ? codeOf(h.store.batch(step.ops))
                  : step.op.type === 'put'
                    ? codeOf(h.store.put(step.op.key, step.op.record))
                    : codeOf(h.store.delete(step.op.key));
              expect(await result).toBe(ok ? 'resolved' : 'StaleEpoch');
            }
            const sortedModel = [...model.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
            for (const prefix of prefixes) {
              const want = sortedModel.filter(([k]) => k.startsWith(prefix));
              expect(plain(await collect(h.store.scan(prefix)))).toEqual(plain(want));
              expect(plain(await collect(h.store.scan(prefix, { limit })))).toEqual(plain(want.slice(0, limit)));
            }
          } finally {
            await h.store.close();
            await h.cleanup();
          }
        }),
        { numRuns: options.modelRuns ?? 40, seed: options.seed ?? 0x5eed5 },
      );
    }, timeout * 3);
  });
}
