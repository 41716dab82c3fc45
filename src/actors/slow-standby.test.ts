/**
 * A slow standby holds up only the actors it mirrors (deterministic simulation: memory transport, simulated
 * clock). An owner used to commit its durable actors in one serial chain, each write waiting for the mirrors of
 * the one before: one standby that answered slowly (a slow disk, a link being set up, a peer about to be declared
 * down) stalled every actor of the owner, activations included, for up to the replication timeout (3 s).
 */
import { describe, expect, it } from 'vitest';
import { defineActor, isMeshError } from '../index.js';
import { createSimulation, type Simulation } from '../testing/index.js';

const Counter = defineActor({
  type: 'counter',
  initialState: () => ({ count: 0 }),
  handlers: { add: (s, by: number) => (s.count += by), get: (s) => s.count },
});

/** How long the slow standby takes to store a mirror, ms. */
const SLOW_MS = 1500;

type Peer = Awaited<ReturnType<Simulation['addPeer']>>;
interface Outcome {
  readonly id: string;
  ms?: number;
  code?: string;
}

/** Increments counters from `client`: each call's outcome, and the acknowledged increments per counter. */
function increments(sim: Simulation, client: Peer) {
  const acked = new Map<string, number>();
  const add = (id: string): Outcome => {
    const started = sim.clock.now();
    const out: Outcome = { id };
    client.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }, { timeoutMs: 5000 }).then(
      () => {
        acked.set(id, (acked.get(id) ?? 0) + 1);
        out.ms = sim.clock.now() - started;
      },
      (e: unknown) => (out.code = isMeshError(e) ? e.code : String(e)),
    );
    return out;
  };
  const run = async (calls: readonly Outcome[]): Promise<void> => {
    await sim.clock.advanceUntil(() => calls.every((c) => c.ms !== undefined || c.code !== undefined), 10_000, 1);
  };
  return { acked, add, run };
}

/** From now on, `peer`'s store takes {@link SLOW_MS} for every write. */
function slowDisk(sim: Simulation, peer: string): void {
  const store = sim.store(peer)!;
  const put = store.put.bind(store);
  store.put = async (...args: Parameters<typeof put>) => {
    await new Promise<void>((resolve) => sim.clock.setTimeout(resolve, SLOW_MS));
    return put(...args);
  };
}

/** Every counter of `ids` holds its acknowledged increments. */
async function expectAcked(sim: Simulation, client: Peer, ids: readonly string[], acked: ReadonlyMap<string, number>, seed: number): Promise<void> {
  for (const id of ids) {
    let reply: unknown;
    client.call({ capability: 'game', type: 'counter', id, payload: { op: 'get' } }, { timeoutMs: 5000 }).then((r) => (reply = r.reply));
    await sim.clock.advanceUntil(() => reply !== undefined, 10_000, 1);
    expect(reply, `${id} (seed ${seed})`).toBe(acked.get(id));
  }
}

describe('a slow standby', () => {
  it('delays the replies of the actors it mirrors, not those of the other actors of their owner', async () => {
    const seed = 11;
    const sim: Simulation = createSimulation({ seed, actors: [Counter], stores: true, latencyMs: [1, 3] });
    try {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
      const client = await sim.addPeer('client', []);
      await sim.converge();
      const ids = Array.from({ length: 80 }, (_, i) => `k${i}`);
      const pref = (id: string): string => client.preferenceList('game', id, 2).join();
      const toB = ids.filter((id) => pref(id) === 'a,b');
      const toC = ids.filter((id) => pref(id) === 'a,c');
      const fresh = toC.pop()!; // activated only while b is slow
      expect(toB.length, `seed ${seed}`).toBeGreaterThan(1);
      expect(toC.length, `seed ${seed}`).toBeGreaterThan(1);

      const { acked, add, run } = increments(sim, client);
      await run([...toB, ...toC].map(add)); // everything active, every copy in place

      // b's disk turns slow: each mirror it stores takes 1.5 s.
      slowDisk(sim, 'b');
      const slow = toB.map(add);
      await sim.advance(5); // their writes are committed on a, their mirrors wait on b
      const fast = [...toC, fresh].map(add);
      await run([...slow, ...fast]);

      expect([...slow, ...fast].filter((c) => c.code !== undefined), `seed ${seed}`).toEqual([]);
      expect(Math.min(...slow.map((c) => c.ms!)), `seed ${seed}`).toBeGreaterThanOrEqual(SLOW_MS);
      expect(Math.max(...fast.map((c) => c.ms!)), `seed ${seed}: ${JSON.stringify(fast)}`).toBeLessThan(100);

      // Nothing acknowledged is lost: every counter holds its acknowledged increments.
      await expectAcked(sim, client, [...toB, ...toC, fresh], acked, seed);
      sim.assertSingleActivation();
    } finally {
      await sim.close();
    }
  }, 60_000);

  it('that dies before acknowledging: the writes are mirrored to the next standby and acknowledged, none lost', async () => {
    const seed = 12;
    const sim: Simulation = createSimulation({ seed, actors: [Counter], stores: true, latencyMs: [1, 3], livenessMs: 100 });
    try {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
      const client = await sim.addPeer('client', []);
      await sim.converge();
      const ids = Array.from({ length: 80 }, (_, i) => `k${i}`);
      const toB = ids.filter((id) => client.preferenceList('game', id, 2).join() === 'a,b');
      expect(toB.length, `seed ${seed}`).toBeGreaterThan(1);
      const { acked, add, run } = increments(sim, client);
      await run(toB.map(add));

      // b stores slowly, then dies with those mirrors unacknowledged: a sends them to c (the standby without b).
      slowDisk(sim, 'b');
      const calls = toB.map(add);
      await sim.advance(10);
      await sim.crashPeer('b');
      await run(calls);
      expect(calls.filter((c) => c.code !== undefined), `seed ${seed}`).toEqual([]);
      for (const id of toB) expect(client.preferenceList('game', id, 2), `${id} (seed ${seed})`).toEqual(['a', 'c']);

      // c holds every acknowledged write: a crashes too, c serves the counters from its copies.
      await sim.crashPeer('a');
      await sim.converge();
      await expectAcked(sim, client, toB, acked, seed);
      sim.assertSingleActivation();
    } finally {
      await sim.close();
    }
  }, 60_000);
});
