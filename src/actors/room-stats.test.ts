/**
 * Room-wide stats in the deterministic simulation: a watcher gets every peer's compact report over the mesh, new
 * peers included; reports stop when the watcher stops or leaves; one peer reports to a bounded number of watchers.
 */
import { describe, expect, it } from 'vitest';
import { defineActor, type PeerStatsReport } from '../index.js';
import { createSimulation, type Simulation } from '../testing/index.js';

const Counter = defineActor({ type: 'counter', initialState: () => ({ n: 0 }), handlers: { add: (s, by: number) => (s.n += by) } });
const Room = defineActor({ type: 'room', initialState: () => ({ n: 0 }), handlers: { post: (s) => ++s.n } });

async function run(seed: number, body: (sim: Simulation) => Promise<void>): Promise<void> {
  const sim = createSimulation({ seed, actors: [Counter, Room], latencyMs: [2, 4], detectMs: 1500, livenessMs: 300 });
  try {
    await body(sim);
  } finally {
    await sim.close();
  }
}

/** Awaits `p` while advancing simulated time. */
async function ok<T>(sim: Simulation, p: Promise<T>): Promise<T> {
  let out: { v: T } | { e: unknown } | undefined;
  p.then((v) => (out = { v }), (e: unknown) => (out = { e }));
  await sim.clock.advanceUntil(() => out !== undefined, 10_000, 1);
  if (out === undefined) throw new Error('hang');
  if ('e' in out) throw out.e;
  return out.v;
}

/** Reports by peer, in arrival order. */
function collect(): { byPeer: Map<string, PeerStatsReport[]>; listener: (r: PeerStatsReport) => void; count: () => number } {
  const byPeer = new Map<string, PeerStatsReport[]>();
  return {
    byPeer,
    listener: (r) => {
      const list = byPeer.get(r.peerId) ?? [];
      list.push(r);
      byPeer.set(r.peerId, list);
    },
    count: () => [...byPeer.values()].reduce((n, l) => n + l.length, 0),
  };
}

describe('room stats (simulation)', () => {
  it('delivers a compact report of every peer to the watcher, each interval, with what each peer did', async () => {
    await run(1, async (sim) => {
      const a = await sim.addPeer('a', ['game']);
      await sim.addPeer('b', ['game']);
      const caller = await sim.addPeer('c', []);
      const w = await sim.addPeer('w', []);
      await sim.converge();
      const got = collect();
      const stop = w.watchRoom(got.listener, { intervalMs: 500 });
      await sim.advance(20); // the watch requests have arrived: every peer collects from here on
      // Traffic in the next interval: the caller calls counters on a and b, from a peer that serves nothing.
      const ids = Array.from({ length: 20 }, (_, i) => `k${i}`);
      await ok(sim, Promise.all(ids.map((id) => caller.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }))));
      await sim.advance(1020);
      expect([...got.byPeer.keys()].sort()).toEqual(['a', 'b', 'c', 'w']);
      for (const [peer, reports] of got.byPeer) expect(reports.length, peer).toBeGreaterThanOrEqual(2);

      const fromCaller = got.byPeer.get('c')!;
      const sent = fromCaller.reduce((acc, r) => {
        for (const [p, perSecond] of Object.entries(r.callsPerSecondByPeer)) acc[p] = (acc[p] ?? 0) + perSecond;
        return acc;
      }, {} as Record<string, number>);
      const owners = new Set(ids.map((id) => caller.ownerOf('game', id)));
      expect(Object.keys(sent).sort()).toEqual([...owners].sort());
      expect(fromCaller.some((r) => r.latencyMs.p50 > 0 && r.latencyMs.p99 >= r.latencyMs.p50)).toBe(true);
      expect(fromCaller[0]).toMatchObject({ peerId: 'c', kind: 'edge', capabilities: [], actorsActive: 0, view: caller.view });
      // The simulated network measures round trips on the links that carried frames.
      const rttPeers = new Set(fromCaller.flatMap((r) => Object.keys(r.rttMs)));
      for (const owner of owners) expect(rttPeers.has(owner!)).toBe(true);

      const lastA = got.byPeer.get('a')!.at(-1)!;
      expect(lastA.actorsActive).toBe(a.activeActors().length);
      expect(lastA.actorsByType).toEqual({ counter: a.activeActors().length });
      expect(lastA.callsServed).toBe(a.stats().callsServed);
      const activatedOnA = got.byPeer.get('a')!.flatMap((r) => r.recentActorEvents).filter((e) => e.type === 'activated');
      expect(activatedOnA.map((e) => e.address.id).sort()).toEqual(ids.filter((id) => caller.ownerOf('game', id) === 'a').sort());
      // Each peer pushes to one watcher.
      for (const p of ['a', 'b', 'c']) expect(sim.peers.get(p)!.stats().statsWatchers).toBe(1);

      stop();
      await sim.advance(50);
      const after = got.count();
      await sim.advance(2000);
      expect(got.count()).toBe(after);
      for (const p of ['a', 'b', 'c']) expect(sim.peers.get(p)!.stats().statsWatchers).toBe(0);
    });
  });

  it('includes peers that join later, reports moves, and stops when the watcher leaves', async () => {
    await run(2, async (sim) => {
      const a = await sim.addPeer('a', ['game']);
      const w = await sim.addPeer('w', []);
      await sim.converge();
      const got = collect();
      w.watchRoom(got.listener, { intervalMs: 200 });
      const ids = Array.from({ length: 30 }, (_, i) => `r${i}`);
      for (const id of ids) await ok(sim, w.call({ capability: 'game', type: 'room', id, payload: { op: 'post' } }));
      await sim.advance(300);
      await sim.addPeer('d', ['game']);
      await sim.converge();
      await sim.advance(500);
      expect(got.byPeer.get('d')?.length ?? 0).toBeGreaterThanOrEqual(2);
      // Some rooms moved from a to the new peer: a says so.
      const moved = got.byPeer.get('a')!.flatMap((r) => r.recentActorEvents).filter((e) => e.type === 'moved');
      expect(moved.length).toBeGreaterThan(0);
      expect(moved.every((e) => w.ownerOf('game', e.address.id) === 'd')).toBe(true);
      expect(a.stats().statsWatchers).toBe(1);

      await sim.crashPeer('w'); // no goodbye: the reporters learn it from the view
      await sim.converge();
      expect(a.stats().statsWatchers).toBe(0);
      expect(sim.peers.get('d')!.stats().statsWatchers).toBe(0);
    });
  });

  it('shares one stream between local watchers at the shortest interval, and validates options', async () => {
    await run(3, async (sim) => {
      await sim.addPeer('a', ['game']);
      const w = await sim.addPeer('w', []);
      await sim.converge();
      const slow = collect();
      const fast = collect();
      const stopSlow = w.watchRoom(slow.listener, { intervalMs: 1000 });
      const stopFast = w.watchRoom(fast.listener, { intervalMs: 250 });
      await sim.advance(1010);
      // Both get the same stream, at the faster pace (a's first report comes at once, then every 250 ms).
      expect(fast.byPeer.get('a')!.length).toBeGreaterThanOrEqual(4);
      expect(slow.byPeer.get('a')!.length).toBe(fast.byPeer.get('a')!.length);
      stopFast();
      const before = slow.byPeer.get('a')!.length;
      await sim.advance(2010);
      expect(slow.byPeer.get('a')!.length - before).toBeLessThanOrEqual(3); // back to about one a second
      expect(slow.byPeer.get('a')!.length - before).toBeGreaterThanOrEqual(1);
      stopSlow();
      expect(() => w.watchRoom(() => {}, { intervalMs: 5 })).toThrow(/intervalMs/);
      expect(() => w.watchRoom('x' as never)).toThrow(/listener/);
    });
  });

  it('reports to at most 32 watchers per peer', async () => {
    await run(4, async (sim) => {
      const a = await sim.addPeer('a', ['game']);
      const watchers = [];
      for (let i = 0; i < 33; i++) watchers.push(await sim.addPeer(`w${String(i).padStart(2, '0')}`, []));
      await sim.converge();
      const dropped: string[] = [];
      a.on('protocol:dropped', (e) => dropped.push(e.reason));
      const fromA = watchers.map(() => 0);
      watchers.forEach((w, i) => w.watchRoom((r) => void (r.peerId === 'a' && fromA[i]!++), { intervalMs: 500 }));
      await sim.advance(1100);
      expect(a.stats().statsWatchers).toBe(32);
      expect(fromA.filter((n) => n === 0)).toHaveLength(1);
      expect(dropped.some((r) => r.includes('watch'))).toBe(true);
    });
  });

  it('peerStats() reports this peer over the interval since the previous call', async () => {
    await run(5, async (sim) => {
      const a = await sim.addPeer('a', ['game']);
      await sim.converge();
      const t0 = a.peerStats().at;
      for (let i = 0; i < 10; i++) await ok(sim, a.call({ capability: 'game', type: 'counter', id: 'x', payload: { op: 'add', arg: 1 } }));
      await sim.advance(1000);
      const r = a.peerStats();
      expect(r).toMatchObject({ peerId: 'a', capabilities: ['game'], actorsActive: 1, actorsByType: { counter: 1 }, callsServed: 10 });
      expect(r.at).toBe(sim.clock.now());
      expect(r.callsPerSecondByPeer).toEqual({ a: Math.round((10 / ((r.at - t0) / 1000)) * 100) / 100 });
      expect(a.peerStats().callsPerSecondByPeer).toEqual({});
    });
  });
});
