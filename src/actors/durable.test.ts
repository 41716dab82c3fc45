import { describe, expect, it } from 'vitest';
import { createMesh, defineActor, isMeshError, MemoryStateStore, stateKey, type StateStore } from '../index.js';
import { SimulatedClock } from '../clock/simulated.js';

const log: string[] = [];
const Counter = defineActor({
  type: 'counter',
  initialState: () => ({ count: 0 }),
  onActivate: (ctx) => void log.push(`activate ${ctx.address.id} at ${ctx.state.count}`),
  idleTimeoutMs: 1000,
  handlers: {
    add: (state, by: number) => (state.count += by),
    get: (state) => state.count,
    slowAdd: async (state, by: number) => {
      await Promise.resolve();
      return (state.count += by);
    },
  },
});
const Scratch = defineActor({ type: 'scratch', durability: 'memory', idleTimeoutMs: 1000, initialState: () => ({ n: 0 }), handlers: { inc: (s) => ++s.n } });

/** A memory store that counts its batches (commits). */
class CountingStore extends MemoryStateStore {
  readonly batches: number[] = [];
  override batch(ops: Parameters<StateStore['batch']>[0]): Promise<void> {
    this.batches.push(ops.length);
    return super.batch(ops);
  }
}

const at = (id: string) => ({ capability: 'game', type: 'counter', id });

describe('durable actors (local durability)', () => {
  it('loads state before onActivate and commits before the reply leaves', async () => {
    const store = new MemoryStateStore();
    await store.put(stateKey(at('c1')), { state: { count: 41 }, version: 3, epoch: 0 });
    log.length = 0;
    const mesh = await createMesh({ capabilities: ['game'], actors: [Counter], store });
    const r = await mesh.call({ ...at('c1'), payload: { op: 'add', arg: 1 } });
    expect(r.reply).toBe(42);
    expect(log).toEqual(['activate c1 at 41']);
    // When the reply arrived, the new state was already committed, with the next version.
    expect(await store.get(stateKey(at('c1')))).toMatchObject({ state: { count: 42 }, version: 4 });
    await mesh.close();
  });

  it('commits the writes of many actors that finish in the same tick in one batch (group commit), latest state wins', async () => {
    const store = new CountingStore();
    const mesh = await createMesh({ capabilities: ['game'], actors: [Counter], store });
    await Promise.all(Array.from({ length: 50 }, (_, i) => mesh.call({ ...at(`g${i}`), payload: { op: 'add', arg: 0 } })));
    store.batches.length = 0;
    const calls = [];
    for (let i = 0; i < 50; i++) for (let k = 0; k < 4; k++) calls.push(mesh.call({ ...at(`g${i}`), payload: { op: 'add', arg: 1 } }));
    await Promise.all(calls);
    expect(store.batches.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(50 * 4);
    expect(store.batches.length).toBeLessThan(10); // 200 acknowledged writes in a handful of commits
    for (let i = 0; i < 50; i++) expect((await store.get(stateKey(at(`g${i}`))))?.state).toEqual({ count: 4 });
    await mesh.close();
  });

  it('finds its state again after passivation and after a restart with the same store; memory actors are not stored', async () => {
    const clock = new SimulatedClock();
    const store = new MemoryStateStore();
    const mesh = await createMesh({ capabilities: ['game'], actors: [Counter, Scratch], store, clock });
    const add = (m: typeof mesh, id: string) => m.call({ ...at(id), payload: { op: 'add', arg: 5 } });
    await add(mesh, 'p');
    await mesh.call({ capability: 'game', type: 'scratch', id: 's', payload: { op: 'inc' } });
    await clock.advance(3000);
    expect(mesh.activeActors()).toEqual([]);
    expect((await add(mesh, 'p')).reply).toBe(10);
    await mesh.close();
    const again = await createMesh({ capabilities: ['game'], actors: [Counter, Scratch], store, clock });
    expect((await again.call({ ...at('p'), payload: { op: 'get' } })).reply).toBe(10);
    expect(await store.get(stateKey({ capability: 'game', type: 'scratch', id: 's' }))).toBeUndefined();
    await again.close();
  });

  it('never acknowledges a write that did not commit: StorageFull reaches the caller and memory falls back to the stored state', async () => {
    const store = new MemoryStateStore();
    const mesh = await createMesh({ capabilities: ['game'], actors: [Counter], store });
    expect((await mesh.call({ ...at('q'), payload: { op: 'add', arg: 1 } })).reply).toBe(1);
    store.setQuotaBytes(store.usedBytes); // the disk is now full: no record may grow
    const failed = await mesh.call({ ...at('q'), payload: { op: 'slowAdd', arg: 100_000 } }).catch((e: unknown) => e);
    expect(isMeshError(failed, 'StorageFull'), String(failed)).toBe(true);
    store.setQuotaBytes(undefined);
    // The unacknowledged +100,000 is gone: the actor was reloaded from the store.
    expect((await mesh.call({ ...at('q'), payload: { op: 'get' } })).reply).toBe(1);
    await mesh.close();
  });
});

describe('idempotency keys on durable actors', () => {
  it('answers a retry from the dedupe table, refuses a reused key with another payload, and keeps the table across restarts', async () => {
    const store = new MemoryStateStore();
    let runs = 0;
    const Acc = defineActor({
      type: 'acc',
      initialState: () => ({ total: 0 }),
      handlers: {
        add: (s, by: number) => {
          runs++;
          return (s.total += by);
        },
      },
    });
    const mesh = await createMesh({ capabilities: ['game'], actors: [Acc], store });
    const call = (m: typeof mesh, by: number, key: string) => m.call({ capability: 'game', type: 'acc', id: 'a', payload: { op: 'add', arg: by } }, { idempotencyKey: key });
    expect((await call(mesh, 5, 'k1')).reply).toBe(5);
    expect((await call(mesh, 5, 'k1')).reply).toBe(5); // retry: same reply, not run again
    expect(runs).toBe(1);
    const conflict = await call(mesh, 6, 'k1').catch((e: unknown) => e);
    expect(isMeshError(conflict, 'Conflict')).toBe(true);
    expect((await call(mesh, 1, 'k2')).reply).toBe(6);
    await mesh.close();
    const again = await createMesh({ capabilities: ['game'], actors: [Acc], store });
    expect((await call(again, 5, 'k1')).reply).toBe(5); // the table was stored with the state
    expect((await call(again, 1, 'k3')).reply).toBe(7);
    expect(runs).toBe(3);
    // Bounded: after more than DEDUPE_LIMIT newer keys, the oldest is forgotten.
    for (let i = 0; i < 300; i++) await call(again, 0, `fill-${i}`);
    const record = await store.get(stateKey({ capability: 'game', type: 'acc', id: 'a' }));
    expect(record?.dedupe?.length).toBe(256);
    expect(record?.dedupe?.some((d) => d.key === 'k1')).toBe(false);
    await again.close();
  });
});

describe('replicated actors: a write that could not be mirrored', () => {
  it('rolls back to the stored state, not to the state the handler mutated in place', async () => {
    const { createSimulation } = await import('../testing/index.js');
    const sim = createSimulation({ seed: 5, actors: [Counter], stores: true, latencyMs: [1, 3], detectMs: 500, livenessMs: 200 });
    try {
      const a = await sim.addPeer('a', ['game']);
      const b = await sim.addPeer('b', ['game']);
      await sim.converge();
      let id = '';
      for (let i = 0; ; i++) {
        id = `r${i}`;
        const list = a.preferenceList('game', id, 2);
        if (list[0] === 'a' && list[1] === 'b') break;
      }
      const run = async <T>(p: Promise<T>): Promise<T | string> => {
        let out: T | string | undefined;
        p.then((v) => (out = v), (e: unknown) => (out = isMeshError(e) ? e.code : String(e)));
        await sim.clock.advanceUntil(() => out !== undefined, 10_000, 1);
        return out!;
      };
      expect(await run(a.call({ ...at(id), payload: { op: 'add', arg: 1 } }).then((r) => r.reply))).toBe(1);
      await sim.advance(2000); // passivated (idle): the next message loads the stored record
      expect(a.activeActors()).toEqual([]);
      // The standby is cut off (signaling is not): the next write is committed locally, its mirror fails.
      sim.network.cut('a', 'b');
      expect(await run(a.call({ ...at(id), payload: { op: 'add', arg: 10 } }).then((r) => r.reply))).toBe('PeerUnavailable');
      sim.heal();
      // Not acknowledged, so not written: the actor comes back with the stored count.
      expect(await run(a.call({ ...at(id), payload: { op: 'get' } }).then((r) => r.reply))).toBe(1);
      expect((await sim.store('a')!.get(stateKey(at(id))))?.state).toEqual({ count: 1 });
      void b;
    } finally {
      await sim.close();
    }
  });
});
