/** Clustered functions in the simulation: placement, load spreading, failover, dedupe, typed errors. */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../clock/simulated.js';
import { defineActor, isMeshError, type Mesh } from '../index.js';
import { createSimulation, type Simulation } from '../testing/index.js';
import { approxSize, bindClustered, clustered, clusteredContext, DedupeTable, type ClusteredContext } from './clustered.js';

const Ledger = defineActor({
  type: 'ledger',
  initialState: () => ({ count: 0 }),
  handlers: { add: (s, by: number) => (s.count += by), get: (s) => s.count },
});

/** Settles `p` in simulated time, or fails on a hang. */
function settle<T>(sim: Simulation, p: Promise<T>, maxMs = 30_000): Promise<PromiseSettledResult<T>> {
  return sim.clock.settle(p, maxMs, 1);
}

async function value<T>(sim: Simulation, p: Promise<T>): Promise<T> {
  const r = await settle(sim, p);
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

async function failure(sim: Simulation, p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const r = await settle(sim, p);
  if (r.status === 'fulfilled') throw new Error(`expected a failure, got ${JSON.stringify(r.value)}`);
  expect(isMeshError(r.reason), String(r.reason)).toBe(true);
  return r.reason as { code: string; message: string };
}

/** Registers `where` (unkeyed) and `whereKeyed` (keyed by its argument) on a peer; counts runs per peer. */
function registerWhere(mesh: Mesh, runs: Map<string, number>, sim: Simulation) {
  const where = mesh.clustered(
    'where',
    async function (this: ClusteredContext, delayMs: number) {
      runs.set(this.peerId, (runs.get(this.peerId) ?? 0) + 1);
      await new Promise<void>((r) => sim.clock.setTimeout(r, delayMs));
      return this.peerId;
    },
    { capability: 'work' },
  );
  const whereKeyed = mesh.clustered(
    'whereKeyed',
    function (this: ClusteredContext, key: string) {
      return `${key}@${this.peerId}`;
    },
    { capability: 'work', key: (key) => key },
  );
  return { where, whereKeyed };
}

describe('clustered functions (simulation)', () => {
  it('spreads unkeyed calls by load and runs keyed calls on the key owner', async () => {
    const sim = createSimulation({ seed: 81, actors: [], latencyMs: [1, 4] });
    try {
      const runs = new Map<string, number>();
      const handles = new Map<string, ReturnType<typeof registerWhere>>();
      for (const id of ['a', 'b', 'c']) handles.set(id, registerWhere(await sim.addPeer(id, ['work']), runs, sim));
      const client = await sim.addPeer('client', []);
      const { where, whereKeyed } = registerWhere(client, runs, sim);
      await sim.converge();

      // 300 calls, 6 at a time, each taking 1-20 ms of simulated time.
      const served = new Map<string, number>();
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < 300) {
          const i = next++;
          const r = await where.invoke([1 + (i % 20)]);
          expect(r.result).toBe(r.peerId);
          served.set(r.peerId, (served.get(r.peerId) ?? 0) + 1);
        }
      };
      await value(sim, Promise.all(Array.from({ length: 6 }, () => worker())));
      expect([...served.keys()].sort()).toEqual(['a', 'b', 'c']);
      for (const n of served.values()) expect(n).toBeLessThanOrEqual(150);
      expect(served.get('a')! + served.get('b')! + served.get('c')!).toBe(300);
      expect(runs.get('client')).toBeUndefined(); // not capable: never runs it

      // With a key: always the key's owner, whoever calls.
      for (let i = 0; i < 60; i++) {
        const key = `user-${i}`;
        const owner = client.ownerOf('work', key)!;
        const r = await value(sim, whereKeyed.invoke([key]));
        expect(r.peerId).toBe(owner);
        expect(r.result).toBe(`${key}@${owner}`);
        const fromA = await value(sim, handles.get('a')!.whereKeyed.invoke([key]));
        expect(fromA.peerId).toBe(owner);
      }
      expect(client._clusteredRegistry().inFlight().size).toBe(0);
    } finally {
      await sim.close();
    }
  });

  it('fails with UnknownFunction when no capable peer registered it, and skips capable peers that did not', async () => {
    const sim = createSimulation({ seed: 82, actors: [] });
    try {
      const a = await sim.addPeer('a', ['work']);
      await sim.addPeer('b', ['work']);
      const client = await sim.addPeer('client', []);
      await sim.converge();
      const missing = client.clustered('missing', () => 1, { capability: 'work' });
      const e = await failure(sim, missing());
      expect(e.code).toBe('UnknownFunction');
      expect(e.message).toContain('"missing"');
      expect(isMeshError(await settle(sim, missing()).then((r) => (r.status === 'rejected' ? r.reason : undefined)), 'UnknownFunction')).toBe(true);

      const nobody = client.clustered('nobody', () => 1, { capability: 'absent' });
      expect((await failure(sim, nobody())).code).toBe('NoPeersForCapability');

      // Registered on `a` only: every call lands there, keyed or not.
      a.clustered('onlyA', function (this: ClusteredContext, k: string) {
        return `${k}:${this.peerId}`;
      }, { capability: 'work' });
      a.clustered('onlyAKeyed', function (this: ClusteredContext, k: string) {
        return `${k}:${this.peerId}`;
      }, { capability: 'work', key: (k) => k });
      const onlyA = client.clustered('onlyA', (k: string) => k, { capability: 'work' });
      const onlyAKeyed = client.clustered('onlyAKeyed', (k: string) => k, { capability: 'work', key: (k) => k });
      // Results cross the network as they are: undefined stays undefined, null stays null.
      a.clustered('nothing', () => undefined, { capability: 'work' });
      a.clustered('nullish', () => null, { capability: 'work' });
      expect(await value(sim, client.clustered('nothing', () => undefined, { capability: 'work' })())).toBeUndefined();
      expect(await value(sim, client.clustered('nullish', () => null, { capability: 'work' })())).toBeNull();
      for (let i = 0; i < 20; i++) {
        expect(await value(sim, onlyA(`x${i}`))).toBe(`x${i}:a`);
        expect(await value(sim, onlyAKeyed(`x${i}`))).toBe(`x${i}:a`);
      }
    } finally {
      await sim.close();
    }
  });

  it('rejects bad registrations and arguments with typed errors', async () => {
    const sim = createSimulation({ seed: 83, actors: [] });
    try {
      const a = await sim.addPeer('a', ['work']);
      await sim.converge();
      expect(() => a.clustered('bad name!', () => 1, { capability: 'work' })).toThrow(/must match/);
      expect(() => a.clustered('f', () => 1, { capability: '' })).toThrow(/capability/);
      expect(() => a.clustered('f', () => 1, { capability: 'work', replicas: 0 })).toThrow(/replicas/);
      a.clustered('f', () => 1, { capability: 'work' });
      expect(() => a.clustered('f', () => 2, { capability: 'work' })).toThrow(/already registered/);
      const keyed = a.clustered('g', (x: string) => x, { capability: 'work', key: () => '' });
      expect((await failure(sim, keyed('x'))).code).toBe('InvalidArgument');
      const slow = a.clustered('slow', () => new Promise(() => {}), { capability: 'work', timeoutMs: 200 });
      expect((await failure(sim, slow())).code).toBe('Timeout');
      const thrower = a.clustered('thrower', () => {
        throw new Error('boom');
      }, { capability: 'work' });
      const t = await failure(sim, thrower());
      expect(t.code).toBe('HandlerFailed');
      expect(t.message).toContain('boom');
    } finally {
      await sim.close();
    }
  });

  it('answers a retried key from the table, joins a run in progress, and refuses the key with other arguments', async () => {
    const sim = createSimulation({ seed: 84, actors: [] });
    try {
      let runs = 0;
      const register = (m: Mesh) =>
        m.clustered('charge', async function (this: ClusteredContext, amount: number) {
          runs++;
          await new Promise<void>((r) => sim.clock.setTimeout(r, 50));
          return { charged: amount, by: this.peerId, key: this.idempotencyKey };
        }, { capability: 'pay', key: () => 'account-1' });
      for (const id of ['a', 'b']) register(await sim.addPeer(id, ['pay']));
      const client = await sim.addPeer('client', []);
      const charge = register(client);
      await sim.converge();

      const first = await value(sim, charge.invoke([10], { idempotencyKey: 'order-1' }));
      expect(first).toMatchObject({ replayed: false, attempts: 1, idempotencyKey: 'order-1' });
      expect(first.result).toEqual({ charged: 10, by: first.peerId, key: 'order-1' });
      const again = await value(sim, charge.invoke([10], { idempotencyKey: 'order-1' }));
      expect(again).toMatchObject({ replayed: true, peerId: first.peerId, result: first.result });
      expect(runs).toBe(1);
      expect((await failure(sim, charge.invoke([11], { idempotencyKey: 'order-1' }))).code).toBe('Conflict');

      // Two calls with one key at once: one run, both get its result.
      const [x, y] = await value(sim, Promise.all([charge.invoke([5], { idempotencyKey: 'order-2' }), charge.invoke([5], { idempotencyKey: 'order-2' })]));
      expect(runs).toBe(2);
      expect([x.replayed, y.replayed].sort()).toEqual([false, true]);
      expect(x.result).toEqual(y.result);
      // Without a caller key every call is its own.
      await value(sim, charge(1));
      await value(sim, charge(1));
      expect(runs).toBe(4);
    } finally {
      await sim.close();
    }
  });

  it('retries on another peer when the executor crashes mid-call; the effect keyed by the call happens once', async () => {
    const sim = createSimulation({ seed: 85, actors: [Ledger], stores: true, detectMs: 1000, livenessMs: 200 });
    try {
      const started: string[] = [];
      const register = (m: Mesh) =>
        m.clustered('bump', async function (this: ClusteredContext, account: string) {
          started.push(this.peerId);
          // The side effect, keyed by the call: a retry's increment is answered from the ledger's dedupe table.
          await this.mesh.call({ capability: 'ledger', type: 'ledger', id: account, payload: { op: 'add', arg: 1 } }, { idempotencyKey: `bump:${this.idempotencyKey}` });
          await new Promise<void>((r) => sim.clock.setTimeout(r, 500));
          return this.peerId;
        }, { capability: 'work', key: (account) => account });
      for (const id of ['a', 'b', 'c']) register(await sim.addPeer(id, ['work', 'ledger']));
      const client = await sim.addPeer('client', []);
      const bump = register(client);
      await sim.converge();

      const account = 'acct-7';
      const owner = client.ownerOf('work', account)!;
      const call = bump.invoke([account], { timeoutMs: 20_000 });
      await sim.clock.advanceUntil(() => started.length === 1, 5000, 1);
      await sim.advance(20); // the increment is acknowledged; the function is still running
      expect(started).toEqual([owner]);
      await sim.crashPeer(owner);
      const r = await value(sim, call);
      expect(r.peerId).not.toBe(owner);
      expect(r.result).toBe(r.peerId);
      expect(r.attempts).toBe(2);
      expect(started).toEqual([owner, r.peerId]);
      const count = await value(sim, client.call<number>({ capability: 'ledger', type: 'ledger', id: account, payload: { op: 'get' } }, { timeoutMs: 10_000 }));
      expect(count.reply).toBe(1);
    } finally {
      await sim.close();
    }
  });

  it('retries an unkeyed call on another capable peer when its executor crashes, within the deadline', async () => {
    const sim = createSimulation({ seed: 88, actors: [], detectMs: 1000, livenessMs: 200 });
    try {
      const started: string[] = [];
      const register = (m: Mesh) =>
        m.clustered('slow', async function (this: ClusteredContext) {
          started.push(this.peerId);
          await new Promise<void>((r) => sim.clock.setTimeout(r, 400));
          return this.peerId;
        }, { capability: 'work' });
      for (const id of ['a', 'b', 'c']) register(await sim.addPeer(id, ['work']));
      const client = await sim.addPeer('client', []);
      const slow = register(client);
      await sim.converge();
      const call = slow.invoke([], { timeoutMs: 10_000 });
      await sim.clock.advanceUntil(() => started.length === 1, 5000, 1);
      await sim.crashPeer(started[0]!);
      const r = await value(sim, call);
      expect(r.attempts).toBe(2);
      expect(r.peerId).not.toBe(started[0]);
      expect(started).toEqual([started[0], r.peerId]);
      // A deadline shorter than the failover: a typed Timeout, not a hang.
      const short = slow.invoke([], { timeoutMs: 100 });
      await sim.clock.advanceUntil(() => started.length === 3, 5000, 1);
      await sim.crashPeer(started[2]!);
      expect((await failure(sim, short)).code).toBe('Timeout');
    } finally {
      await sim.close();
    }
  });

  it('with replicas: 2, a retry after the executor is lost is still answered from the table', async () => {
    const sim = createSimulation({ seed: 86, actors: [], detectMs: 1000, livenessMs: 200 });
    try {
      let runs = 0;
      const register = (m: Mesh) =>
        m.clustered('once', function (this: ClusteredContext, job: string) {
          runs++;
          return `${job} by ${this.peerId}`;
        }, { capability: 'work', key: (job) => job, replicas: 2 });
      for (const id of ['a', 'b', 'c']) register(await sim.addPeer(id, ['work']));
      const client = await sim.addPeer('client', []);
      const once = register(client);
      await sim.converge();
      const [owner, standby] = client.preferenceList('work', 'job-1', 2);
      const first = await value(sim, once.invoke(['job-1'], { idempotencyKey: 'k1' }));
      expect(first.peerId).toBe(owner);
      await sim.crashPeer(owner!);
      await sim.converge();
      const again = await value(sim, once.invoke(['job-1'], { idempotencyKey: 'k1' }));
      expect(again).toMatchObject({ peerId: standby, replayed: true, result: `job-1 by ${owner}` });
      expect(runs).toBe(1);
    } finally {
      await sim.close();
    }
  });

  it('decorated methods run as clustered functions once bound to a mesh', async () => {
    const sim = createSimulation({ seed: 87, actors: [] });
    try {
      // The standard decorator protocol, applied by hand (vitest's transform does not lower decorators; the
      // real-stack test runs the same decorator through tsx).
      class Reports {
        calls = 0;
        render(user: string): string {
          this.calls++;
          return `${user}:${clusteredContext().peerId}`;
        }
      }
      const inits: Array<(this: Reports) => void> = [];
      const decorated = clustered<Reports, [string], string>({ capability: 'work', key: (u) => u })(Reports.prototype.render, {
        kind: 'method',
        name: 'render',
        static: false,
        private: false,
        access: { has: () => true, get: (o: Reports) => o.render },
        addInitializer: (fn: (this: Reports) => void) => void inits.push(fn),
        metadata: {},
      } as unknown as ClassMethodDecoratorContext<Reports, (this: Reports, user: string) => string>);
      const make = (): Reports => {
        const r = new Reports();
        for (const init of inits) init.call(r);
        (r as unknown as { render: typeof decorated }).render = decorated;
        return r;
      };
      const instances = new Map<string, Reports>();
      for (const id of ['a', 'b']) instances.set(id, bindClustered(make(), await sim.addPeer(id, ['work'])));
      const client = await sim.addPeer('client', []);
      await sim.converge();
      const unbound = make();
      expect((await failure(sim, unbound.render('x') as unknown as Promise<string>)).code).toBe('InvalidArgument');
      const mine = bindClustered(make(), client);
      for (const user of ['ada', 'bob', 'cy', 'dee']) {
        const owner = client.ownerOf('work', user)!;
        expect(await value(sim, mine.render(user) as unknown as Promise<string>)).toBe(`${user}:${owner}`);
      }
      expect(instances.get('a')!.calls + instances.get('b')!.calls).toBe(4);
      expect(mine.calls).toBe(0);
    } finally {
      await sim.close();
    }
  });
});

describe('DedupeTable', () => {
  it('is bounded by entries, bytes and age, and forgets failed runs', async () => {
    const clock = new SimulatedClock();
    const t = new DedupeTable<string>(clock, { maxEntries: 3, maxBytes: 100, ttlMs: 1000 });
    for (const k of ['a', 'b', 'c', 'd']) t.put(k, 'h', k, 10);
    expect(t.size).toBe(3);
    expect(t.peek('a')).toBeUndefined();
    t.put('big', 'h', 'x', 101); // larger than the byte bound: not stored
    expect(t.peek('big')).toBeUndefined();
    t.put('e', 'h', 'e', 80); // pushes older ones out to stay within 100 bytes
    expect(t.bytes).toBeLessThanOrEqual(100);
    expect(t.peek('e')).toMatchObject({ state: 'done', value: 'e' });
    const run = t.begin('r', 'h');
    const entry = t.peek('r');
    expect(entry?.state).toBe('running');
    run.reject(new Error('failed'));
    await expect((entry as { promise: Promise<string> }).promise).rejects.toThrow('failed');
    expect(t.peek('r')).toBeUndefined();
    await clock.advance(1001);
    expect(t.peek('e')).toBeUndefined();
    expect(approxSize({ a: 'xy', b: new Uint8Array(100) })).toBeGreaterThan(100);
  });
});
