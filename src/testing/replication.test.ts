import { describe, expect, it } from 'vitest';
import { defineActor, isMeshError } from '../index.js';
import { createSimulation, type Simulation } from './index.js';

const Counter = defineActor({
  type: 'counter',
  initialState: () => ({ count: 0 }),
  handlers: { add: (s, by: number) => (s.count += by), get: (s) => s.count },
});

/** Settles `p` in simulated time, or fails on a hang. */
function settle<T>(sim: Simulation, p: Promise<T>, maxMs = 30_000): Promise<PromiseSettledResult<T>> {
  return sim.clock.settle(p, maxMs, 1);
}

describe('replicated actors (simulation)', () => {
  it('keeps every acknowledged increment, exactly once, through a crash, a join and a graceful leave', async () => {
    const seed = 4242;
    const sim = createSimulation({ seed, actors: [Counter], stores: true, latencyMs: [1, 5], detectMs: 1500, livenessMs: 300 });
    try {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
      const caller = await sim.addPeer('client', []);
      await sim.converge();
      const ids = Array.from({ length: 40 }, (_, i) => `k${i}`);
      const acked = new Map<string, number>(ids.map((id) => [id, 0]));
      let seq = 0;
      const round = async (): Promise<{ ok: number; failed: string[] }> => {
        const results = await Promise.all(
          ids.map(async (id) => {
            const key = `inc-${seq++}`;
            const r = await settle(sim, caller.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }, { idempotencyKey: key, timeoutMs: 8000 }));
            if (r.status === 'fulfilled') acked.set(id, acked.get(id)! + 1);
            else expect(isMeshError(r.reason), String(r.reason)).toBe(true);
            return r.status === 'fulfilled' ? undefined : (r.reason as { code: string }).code;
          }),
        );
        return { ok: results.filter((x) => x === undefined).length, failed: results.filter((x): x is string => x !== undefined) };
      };
      const check = async (): Promise<void> => {
        for (const id of ids) {
          const r = await settle(sim, caller.call({ capability: 'game', type: 'counter', id, payload: { op: 'get' } }, { timeoutMs: 8000 }));
          if (r.status === 'rejected') throw r.reason;
          expect(r.value.reply, `${id} (seed ${seed})`).toBe(acked.get(id));
        }
      };
      await round();
      await round();
      await check();

      // Crash the owner of the most counters; its standbys take over from their copies.
      const owners = new Map<string, number>();
      for (const id of ids) owners.set(caller.ownerOf('game', id)!, (owners.get(caller.ownerOf('game', id)!) ?? 0) + 1);
      const victim = [...owners].sort((x, y) => y[1] - x[1])[0]![0];
      const during = round();
      await sim.advance(3);
      await sim.crashPeer(victim);
      await during;
      await sim.converge();
      await round();
      await check();

      await sim.addPeer('d', ['game']); // a join: the new owner loads from the old one
      await sim.converge();
      await round();
      await check();

      const leaver = ['a', 'b', 'c'].find((p) => p !== victim)!;
      await sim.removePeer(leaver); // a graceful leave
      await sim.converge();
      await round();
      await check();
      sim.assertSingleActivation();
    } finally {
      await sim.close();
    }
  }, 60_000);
});

describe('stale owner', () => {
  it('refuses the writes of a partitioned owner with StaleEpoch after the heal; the newer state wins', async () => {
    const seed = 77;
    const sim = createSimulation({
      seed,
      actors: [Counter],
      stores: true,
      latencyMs: [1, 3],
      detectMs: 60_000, // frames across the partition wait (a reliable channel) instead of the link dying
      livenessMs: 200,
      mesh: { replicationTimeoutMs: 20_000 },
    });
    try {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
      const minorityCaller = await sim.addPeer('m', []);
      const majorityCaller = await sim.addPeer('n', []);
      await sim.converge();
      // An actor owned by a, standby b.
      let id = '';
      for (let i = 0; ; i++) {
        id = `s${i}`;
        const list = majorityCaller.preferenceList('game', id, 2);
        if (list[0] === 'a' && list[1] === 'b') break;
      }
      const inc = (from: typeof majorityCaller, key: string) =>
        from.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }, { idempotencyKey: key, retry: false, timeoutMs: 30_000 });
      expect((await settle(sim, inc(majorityCaller, 'before'))).status).toBe('fulfilled');

      // a and its caller m are cut off from everyone, signaling included; a keeps believing it owns the actor.
      sim.partition(['a', 'm'], ['b', 'c', 'n', 'signaling']);
      const stale = inc(minorityCaller, 'stale-write');
      await sim.advance(2000); // the majority's view drops a; b owns the actor now
      expect(majorityCaller.ownerOf('game', id)).toBe('b');
      const newer = [inc(majorityCaller, 'new-1'), inc(majorityCaller, 'new-2')];
      await sim.advance(500);
      for (const p of newer) expect((await settle(sim, p)).status).toBe('fulfilled');
      // During the partition the stale owner's write could not be mirrored: not acknowledged, rolled back.
      const duringPartition = await settle(sim, stale, 25_000);
      expect(duringPartition.status).toBe('rejected');
      expect(['PeerUnavailable', 'StaleEpoch']).toContain((duringPartition as PromiseRejectedResult).reason.code);
      // Right after the heal, before a and m hear the new view, m writes through a again: the mirror reaches b,
      // which serves the actor in a newer view and refuses it.
      sim.heal();
      const afterHeal = await settle(sim, inc(minorityCaller, 'stale-after-heal'));
      expect(afterHeal.status).toBe('rejected');
      expect((afterHeal as PromiseRejectedResult).reason.code).toBe('StaleEpoch');
      await sim.converge();
      const read = await settle(sim, majorityCaller.call({ capability: 'game', type: 'counter', id, payload: { op: 'get' } }));
      expect(read.status === 'fulfilled' && read.value.reply).toBe(3); // before + new-1 + new-2; the stale write is gone
      sim.assertSingleActivation();
    } finally {
      await sim.close();
    }
  }, 60_000);
});

describe('new standby', () => {
  it('receives a full copy after the old standby crashes, without waiting for the next write', async () => {
    const sim = createSimulation({ seed: 5, actors: [Counter], stores: true, latencyMs: [1, 3], livenessMs: 200 });
    try {
      for (const id of ['a', 'b', 'c', 'd']) await sim.addPeer(id, ['game']);
      await sim.converge();
      const a = sim.peers.get('a')!;
      let id = '';
      for (let i = 0; ; i++) {
        id = `ns${i}`;
        if (a.preferenceList('game', id, 2)[0] === 'a') break;
      }
      const standby = a.preferenceList('game', id, 2)[1]!;
      const r = await settle(sim, a.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 7 } }));
      expect(r.status).toBe('fulfilled');
      const key = `game/counter/${id}`;
      expect((await sim.store(standby)!.get(key))?.state).toEqual({ count: 7 });
      await sim.crashPeer(standby);
      await sim.converge();
      const next = a.preferenceList('game', id, 2)[1]!;
      expect(next).not.toBe(standby);
      await sim.advance(100);
      expect((await sim.store(next)!.get(key))?.state).toEqual({ count: 7 });
    } finally {
      await sim.close();
    }
  }, 30_000);
});
