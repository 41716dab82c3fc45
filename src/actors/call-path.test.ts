/**
 * The remote call path: the fast path (a call without options) falls back to the general path on NotOwner with
 * the same deadline and attempt budget, and one deadline sweeper times out every pending request at its own
 * deadline, whatever order the deadlines come in.
 */
import { describe, expect, it } from 'vitest';
import { defineActor, isMeshError, rendezvousStrategy, shardFor } from '../index.js';
import { createSimulation, type Simulation } from '../testing/index.js';

const Counter = defineActor({ type: 'counter', initialState: () => ({ n: 0 }), handlers: { add: (s, by: number) => (s.n += by) } });

async function settle<T>(sim: Simulation, p: Promise<T>, maxMs = 60_000): Promise<{ result: PromiseSettledResult<T>; at: number }> {
  let out: { result: PromiseSettledResult<T>; at: number } | undefined;
  p.then(
    (value) => (out = { result: { status: 'fulfilled', value }, at: sim.clock.now() }),
    (reason: unknown) => (out = { result: { status: 'rejected', reason }, at: sim.clock.now() }),
  );
  await sim.clock.advanceUntil(() => out !== undefined, maxMs, 1);
  if (out === undefined) throw new Error('hang');
  return out;
}

describe('remote call path (simulation)', () => {
  it('a call without options that meets NotOwner retries on the general path, bounded, then succeeds once the view catches up', async () => {
    const sim = createSimulation({ seed: 17, actors: [Counter], mesh: { defaultTimeoutMs: 60_000, maxAttempts: 4 } });
    try {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, id === 'a' ? [] : ['game']);
      await sim.converge();
      const a = sim.peers.get('a')!;
      sim.network.cut('a', 'signaling'); // a keeps talking to peers but misses views
      await sim.addPeer('d', ['game']);
      await sim.advance(100);
      const peers = sim.hub.view('sim').peers.filter((p) => p.capabilities.includes('game'));
      let moved = '';
      for (let i = 0; moved === ''; i++) {
        const id = `x${i}`;
        if (rendezvousStrategy.preferenceList(shardFor(id), 'game', peers, 1)[0] === 'd' && a.ownerOf('game', id) !== 'd') moved = id;
      }
      const stale = await settle(sim, a.call({ capability: 'game', type: 'counter', id: moved, payload: { op: 'add', arg: 1 } }));
      expect(stale.result.status).toBe('rejected');
      const err = (stale.result as PromiseRejectedResult).reason;
      expect(isMeshError(err, 'RetriesExhausted')).toBe(true);
      expect(err.details.attempts).toBe(4); // the fast attempt counts as the first of maxAttempts
      sim.heal();
      await sim.converge();
      const ok = await settle(sim, a.call({ capability: 'game', type: 'counter', id: moved, payload: { op: 'add', arg: 1 } }));
      expect(ok.result.status === 'fulfilled' && ok.result.value.peerId).toBe('d');
    } finally {
      await sim.close();
    }
  }, 60_000);

  it('times out each pending call at its own deadline, whichever order the deadlines come in', async () => {
    const sim = createSimulation({ seed: 18, actors: [Counter], latencyMs: 2, detectMs: 600_000, mesh: { defaultTimeoutMs: 5000 } });
    try {
      const a = await sim.addPeer('a', []);
      await sim.addPeer('b', ['game']);
      await sim.converge();
      const call = (timeoutMs?: number) =>
        a.call({ capability: 'game', type: 'counter', id: 'k', payload: { op: 'add', arg: 1 } }, timeoutMs === undefined ? undefined : { timeoutMs });
      expect((await settle(sim, call())).result.status).toBe('fulfilled');
      sim.network.cut('a', 'b'); // frames wait: no reply comes back
      const t0 = sim.clock.now();
      const ended: Array<{ code: string; at: number }> = [];
      const track = (p: Promise<unknown>, i: number): void =>
        void p.then(
          () => (ended[i] = { code: 'ok', at: sim.clock.now() - t0 }),
          (e: unknown) => (ended[i] = { code: isMeshError(e) ? e.code : String(e), at: sim.clock.now() - t0 }),
        );
      track(call(), 0); // the fast path, default 5000 ms
      track(call(300), 1); // a later request with an earlier deadline
      track(call(2000), 2);
      await sim.clock.advanceUntil(() => ended.filter(Boolean).length === 3, 10_000, 1);
      expect(ended).toEqual([
        { code: 'Timeout', at: 5000 },
        { code: 'Timeout', at: 300 },
        { code: 'Timeout', at: 2000 },
      ]);
      expect(a.stats().pendingCalls).toBe(0);
    } finally {
      sim.heal();
      await sim.close();
    }
  }, 60_000);
});
