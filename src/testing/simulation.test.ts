import { describe, expect, it } from 'vitest';
import { defineActor, isMeshError, rendezvousStrategy, shardFor, type Mesh } from '../index.js';
import { createSimulation, type Simulation } from './index.js';

const Counter = defineActor({
  type: 'counter',
  initialState: () => ({ count: 0 }),
  handlers: {
    add: (s, by: number) => (s.count += by),
    get: (s) => s.count,
  },
});
const Room = defineActor({
  type: 'room',
  initialState: () => ({ messages: [] as string[] }),
  handlers: { post: (s, m: string, ctx) => (s.messages.push(m), ctx.peerId) },
});

/** Runs a seeded scenario; a failure names the seed so the run can be replayed. */
async function seeded(seed: number, body: (sim: Simulation) => Promise<void>, options: Partial<Parameters<typeof createSimulation>[0]> = {}): Promise<void> {
  const sim = createSimulation({ seed, actors: [Counter, Room], ...options });
  try {
    await body(sim);
  } catch (error) {
    const e = error as Error;
    e.message = `[seed ${seed}] ${e.message}`;
    throw e;
  } finally {
    await sim.close();
  }
}

/** The owner an independent computation predicts from the hub's view. */
function predictedOwner(sim: Simulation, capability: string, id: string): string | undefined {
  const peers = sim.hub.view('sim').peers.filter((p) => p.capabilities.includes(capability));
  return rendezvousStrategy.preferenceList(shardFor(id), capability, peers, 1)[0];
}

/** Settles `p` in simulated time, or fails on a hang. */
function settle<T>(sim: Simulation, p: Promise<T>, maxMs = 20_000): Promise<PromiseSettledResult<T>> {
  return sim.clock.settle(p, maxMs, 1);
}

function capsFor(i: number): string[] {
  return i % 3 === 0 ? ['game'] : i % 3 === 1 ? ['chat'] : ['game', 'chat'];
}

describe('simulated mesh', () => {
  for (const n of [3, 10, 50]) {
    it(`routes every call to the predicted owner with ${n} peers, and keeps capabilities apart`, async () => {
      await seeded(1000 + n, async (sim) => {
        for (let i = 0; i < n; i++) await sim.addPeer(`p${String(i).padStart(2, '0')}`, capsFor(i));
        await sim.converge();
        const meshes = [...sim.peers.values()];
        const calls = n === 50 ? 300 : 150;
        for (let k = 0; k < calls; k++) {
          const from = meshes[Math.floor(sim.random.next() * meshes.length)]!;
          const capability = k % 2 === 0 ? 'game' : 'chat';
          const id = `${capability}-${k % 40}`;
          const type = capability === 'game' ? 'counter' : 'room';
          const payload = capability === 'game' ? { op: 'add', arg: 1 } : { op: 'post', arg: `m${k}` };
          const r = await settle(sim, from.call({ capability, type, id, payload }));
          if (r.status === 'rejected') throw r.reason;
          expect(r.value.peerId).toBe(predictedOwner(sim, capability, id));
          expect(from.ownerOf(capability, id)).toBe(r.value.peerId);
        }
        for (const [id, mesh] of sim.peers) {
          for (const a of mesh.activeActors()) {
            expect(mesh.capabilities, `${id} runs ${a.capability}/${a.id}`).toContain(a.capability);
          }
        }
        sim.assertSingleActivation();
      });
    }, 60_000);
  }

  it('keeps one activation per view through joins, leaves, crashes and a healed partition', async () => {
    await seeded(42, async (sim) => {
      for (let i = 0; i < 6; i++) await sim.addPeer(`p${i}`, ['game']);
      await sim.converge();
      const caller = sim.peers.get('p0')!;
      const ids = Array.from({ length: 60 }, (_, i) => `c${i}`);
      const load = async (): Promise<void> => {
        for (const id of ids) {
          const r = await settle(sim, caller.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }, { timeoutMs: 3000 }));
          if (r.status === 'rejected') {
            // Only typed errors are acceptable, never a hang or an untyped throw.
            expect(isMeshError(r.reason), String(r.reason)).toBe(true);
          }
        }
      };
      await load();
      sim.assertSingleActivation();

      await sim.addPeer('p6', ['game']);
      await sim.converge();
      await load();
      sim.assertSingleActivation();

      await sim.removePeer('p3');
      await sim.converge();
      await load();
      sim.assertSingleActivation();

      await sim.crashPeer('p4');
      await sim.converge();
      await load();
      sim.assertSingleActivation();

      // p5 and p6 lose the signaling hub and the others; they keep their old view meanwhile.
      sim.partition(['p0', 'p1', 'p2', 'signaling'], ['p5', 'p6']);
      await sim.advance(4000);
      await load();
      sim.assertSingleActivation();
      sim.heal();
      await sim.converge();
      await load();
      sim.assertSingleActivation();
      // Every live peer agrees on the owners, and every active actor sits on its owner.
      for (const [id, mesh] of sim.peers) {
        for (const a of mesh.activeActors()) expect(predictedOwner(sim, a.capability, a.id)).toBe(id);
      }
    });
  }, 60_000);

  it('refreshes after NotOwner: a stale caller retries a bounded number of times, then succeeds once its view catches up', async () => {
    await seeded(7, async (sim) => {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, id === 'a' ? [] : ['game']);
      await sim.converge();
      const a = sim.peers.get('a')!;
      // a loses signaling only: it keeps talking to peers but misses views.
      sim.network.cut('a', 'signaling');
      const staleView = a.view;
      await sim.addPeer('d', ['game']);
      await sim.advance(100);
      expect(sim.peers.get('b')!.view).toBeGreaterThan(staleView);
      // Find an actor whose owner moved from b/c to d.
      let moved: string | undefined;
      for (let i = 0; i < 500 && moved === undefined; i++) {
        const id = `x${i}`;
        if (predictedOwner(sim, 'game', id) === 'd' && a.ownerOf('game', id) !== 'd') moved = id;
      }
      expect(moved).toBeDefined();
      expect(a.view).toBe(staleView);
      const r = await settle(sim, a.call({ capability: 'game', type: 'counter', id: moved!, payload: { op: 'add', arg: 1 } }, { timeoutMs: 60_000 }));
      expect(r.status).toBe('rejected');
      expect(isMeshError((r as PromiseRejectedResult).reason, 'RetriesExhausted')).toBe(true);
      sim.heal();
      await sim.converge();
      const ok = await settle(sim, a.call({ capability: 'game', type: 'counter', id: moved!, payload: { op: 'add', arg: 1 } }));
      expect(ok.status === 'fulfilled' && ok.value.peerId).toBe('d');
    });
  }, 60_000);

  it('fails calls to a crashed owner with a typed error, then moves its shards', async () => {
    await seeded(99, async (sim) => {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
      await sim.converge();
      const a = sim.peers.get('a')!;
      let id = '';
      for (let i = 0; predictedOwner(sim, 'game', (id = `k${i}`)) !== 'b'; i++);
      const Slow = { capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } };
      expect((await settle(sim, a.call(Slow))).status).toBe('fulfilled');
      // The reply is in flight when b dies: the caller gets PeerUnavailable (or Timeout), never a hang.
      const inflight = a.call(Slow, { timeoutMs: 10_000 });
      await sim.crashPeer('b');
      const r = await settle(sim, inflight);
      if (r.status === 'rejected') expect(['PeerUnavailable', 'Timeout']).toContain((r.reason as { code: string }).code);
      await sim.converge();
      const after = await settle(sim, a.call(Slow));
      expect(after.status === 'fulfilled' && after.value.peerId).not.toBe('b');
      expect(after.status === 'fulfilled' && after.value.peerId).toBe(predictedOwner(sim, 'game', id));
    });
  }, 60_000);

  it('is reproducible: the same seed gives the same trace', async () => {
    const run = async (seed: number): Promise<string[]> => {
      const trace: string[] = [];
      await seeded(seed, async (sim) => {
        for (let i = 0; i < 5; i++) {
          const m: Mesh = await sim.addPeer(`p${i}`, ['game']);
          m.inspect((e) => trace.push(`${sim.clock.now().toFixed(3)} p${i} ${e.type}`));
        }
        await sim.converge();
        const meshes = [...sim.peers.values()];
        const pending = [];
        for (let k = 0; k < 100; k++) {
          const from = meshes[Math.floor(sim.random.next() * meshes.length)]!;
          pending.push(from.call({ capability: 'game', type: 'counter', id: `c${k % 17}`, payload: { op: 'add', arg: k } }).then((r) => trace.push(`reply ${k} ${String(r.reply)} ${r.peerId}`)));
        }
        await sim.crashPeer('p2');
        await sim.advance(5000);
        await Promise.allSettled(pending);
      }, { latencyMs: [1, 20], lossRate: 0.05 });
      return trace;
    };
    const a = await run(2024);
    const b = await run(2024);
    const c = await run(2025);
    expect(a.length).toBeGreaterThan(100);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  }, 60_000);
});
