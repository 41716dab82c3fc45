/**
 * Subscriptions in the deterministic simulation: order, shared registrations, unsubscribe, lazy activation,
 * following the actor through a join, a graceful leave and a crash, cleanup when the subscriber goes, bounds,
 * and the output gate (no event of a write that was rolled back).
 */
import { describe, expect, it } from 'vitest';
import { createMesh, defineActor, isMeshError, MemoryStateStore, type Mesh, type MeshError } from '../index.js';
import { createSimulation, type Simulation, type SimulationOptions } from '../testing/index.js';
import { Mesh as MeshClass } from './mesh.js';
import { resolveParts } from '../create.js';
import { SimulatedClock } from '../clock/simulated.js';
import type { StateStore } from '../persistence/types.js';

interface FeedEvent {
  n: number;
  text?: string;
}

const feedHandlers = {
  post: (s: { n: number }, text: string, ctx: { publish(e: unknown): void }) => {
    s.n++;
    ctx.publish({ n: s.n, text });
    return s.n;
  },
  burst: (s: { n: number }, k: number, ctx: { publish(e: unknown): void }) => {
    for (let i = 0; i < k; i++) ctx.publish({ n: ++s.n });
    return s.n;
  },
  big: (s: { n: number }, bytes: number, ctx: { publish(e: unknown): void }) => {
    ctx.publish({ n: ++s.n, pad: 'x'.repeat(bytes) });
    return s.n;
  },
  get: (s: { n: number }) => s.n,
};
/** Durable (replicated when the peer has a store): its counter survives moves. */
const Feed = defineActor({ type: 'feed', initialState: () => ({ n: 0 }), handlers: feedHandlers });
/** In memory only: a move starts it afresh. */
const MemFeed = defineActor({ type: 'mfeed', durability: 'memory', initialState: () => ({ n: 0 }), handlers: feedHandlers });

const at = (id: string, type = 'feed') => ({ capability: 'game', type, id });

/** Settles `p` in simulated time, or fails on a hang. */
function settle<T>(sim: Simulation, p: Promise<T>, maxMs = 30_000): Promise<PromiseSettledResult<T>> {
  return sim.clock.settle(p, maxMs, 1);
}

async function ok<T>(sim: Simulation, p: Promise<T>): Promise<T> {
  const r = await settle(sim, p);
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

async function seeded(seed: number, body: (sim: Simulation) => Promise<void>, options: Partial<SimulationOptions> = {}): Promise<void> {
  const sim = createSimulation({ seed, actors: [Feed, MemFeed], latencyMs: [1, 5], detectMs: 1500, livenessMs: 300, ...options });
  try {
    await body(sim);
  } catch (error) {
    (error as Error).message = `[seed ${seed}] ${(error as Error).message}`;
    throw error;
  } finally {
    await sim.close();
  }
}

/** A recording subscriber: events and errors. */
function record(mesh: Mesh, address: { capability: string; type: string; id: string }): { events: FeedEvent[]; errors: MeshError[]; stop: () => void } {
  const events: FeedEvent[] = [];
  const errors: MeshError[] = [];
  const stop = mesh.subscribe<FeedEvent>(address, (e) => events.push(e), { onError: (e) => errors.push(e) });
  return { events, errors, stop };
}

const ns = (events: readonly FeedEvent[]): number[] => events.map((e) => e.n);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** An id of `type` whose preference list in `mesh`'s view starts with `owner` (and `standby`, if given). */
function idOwnedBy(mesh: Mesh, owner: string, standby?: string, prefix = 'f'): string {
  for (let i = 0; ; i++) {
    const id = `${prefix}${i}`;
    const list = mesh.preferenceList('game', id, 2);
    if (list[0] === owner && (standby === undefined || list[1] === standby)) return id;
  }
}

describe('subscriptions (simulation)', () => {
  it('delivers events in order to every listener, shares one registration per peer, and stops on unsubscribe', async () => {
    await seeded(11, async (sim) => {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
      const sub = await sim.addPeer('s', []);
      const caller = await sim.addPeer('k', []);
      await sim.converge();
      const id = idOwnedBy(sub, 'a');
      const one = record(sub, at(id, 'mfeed'));
      const two = record(sub, at(id, 'mfeed'));
      await sim.advance(50);
      // Lazy activation: the subscription activated the actor on its owner; one registration for two listeners.
      expect(sim.peers.get('a')!.activeActors()).toContainEqual(at(id, 'mfeed'));
      expect(sim.peers.get('a')!.stats().subscribers).toBe(1);
      expect(sub.stats().subscriptions).toBe(1);

      const replies = await ok(sim, Promise.all(range(1, 40).map((i) => caller.call({ ...at(id, 'mfeed'), payload: { op: 'post', arg: `m${i}` } }))));
      await sim.advance(50);
      expect(ns(one.events)).toEqual(range(1, 40));
      expect(ns(two.events)).toEqual(range(1, 40));
      // The events carry what the handler published, in the order the mailbox ran the posts.
      const textByN = new Map(replies.map((r, i) => [r.reply as number, `m${i + 1}`]));
      expect(one.events.map((e) => e.text)).toEqual(range(1, 40).map((n) => textByN.get(n)));

      two.stop();
      two.stop(); // idempotent
      await ok(sim, caller.call({ ...at(id, 'mfeed'), payload: { op: 'post', arg: 'x' } }));
      await sim.advance(50);
      expect(ns(one.events)).toEqual(range(1, 41));
      expect(two.events).toHaveLength(40);
      expect(sim.peers.get('a')!.stats().subscribers).toBe(1);

      one.stop();
      await sim.advance(50);
      expect(sim.peers.get('a')!.stats().subscribers).toBe(0);
      expect(sub.stats().subscriptions).toBe(0);
      await ok(sim, caller.call({ ...at(id, 'mfeed'), payload: { op: 'post', arg: 'y' } }));
      await sim.advance(50);
      expect(one.events).toHaveLength(41);
      expect([...one.errors, ...two.errors]).toEqual([]);
    });
  });

  it('subscribes to an actor on this very peer (no network), and the events are the published values', async () => {
    await seeded(12, async (sim) => {
      const a = await sim.addPeer('a', ['game']);
      await sim.converge();
      const r = record(a, at('solo'));
      await ok(sim, a.call({ ...at('solo'), payload: { op: 'burst', arg: 3 } }));
      await sim.advance(10);
      expect(r.events).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      r.stop();
      expect(a.stats().subscribers).toBe(0);
    });
  });

  for (const durable of [false, true]) {
    it(`follows a ${durable ? 'replicated' : 'memory'} actor to a joining peer, with posts racing the handoff, losing nothing`, async () => {
      await seeded(durable ? 21 : 22, async (sim) => {
        for (const id of ['a', 'b']) await sim.addPeer(id, ['game']);
        const sub = await sim.addPeer('s', []);
        const caller = await sim.addPeer('k', []);
        await sim.converge();
        const type = durable ? 'feed' : 'mfeed';
        const ids = Array.from({ length: 24 }, (_, i) => `j${i}`);
        const recs = new Map(ids.map((id) => [id, record(sub, at(id, type))]));
        const before = new Map(ids.map((id) => [id, sub.ownerOf('game', id)]));
        let key = 0;
        const post = (id: string) => caller.call({ ...at(id, type), payload: { op: 'post', arg: id } }, { idempotencyKey: `${id}-${++key}`, timeoutMs: 10_000 });
        for (const id of ids) await ok(sim, post(id));
        // Posts race the join: some land on the old owner, some on the new one before the subscriber arrives.
        const racing = ids.map((id) => settle(sim, post(id)));
        await sim.addPeer('d', ['game']);
        await Promise.all(racing);
        await sim.converge();
        await sim.advance(500);
        for (const id of ids) await ok(sim, post(id));
        await sim.advance(500);
        const moved = ids.filter((id) => sub.ownerOf('game', id) === 'd');
        expect(moved.length).toBeGreaterThan(0);
        for (const id of ids) {
          const { events, errors } = recs.get(id)!;
          expect(errors.map((e) => e.code), `${id} ${before.get(id)} -> ${sub.ownerOf('game', id)}`).toEqual([]);
          if (durable || !moved.includes(id)) {
            // One counter across owners: every event once, in order.
            expect(ns(events), id).toEqual(range(1, 3));
          } else {
            // A memory actor starts afresh on its new owner; the subscriber still sees every event once, in order.
            const n = ns(events);
            expect(n.length, id).toBe(3);
            expect(n[0], id).toBe(1);
          }
        }
        expect(sim.peers.get('d')!.stats().subscribers).toBe(moved.length);
        sim.assertSingleActivation();
      }, { stores: durable });
    });
  }

  it('follows the actor when its owner leaves gracefully', async () => {
    await seeded(31, async (sim) => {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
      const sub = await sim.addPeer('s', []);
      await sim.converge();
      const id = idOwnedBy(sub, 'a', 'b');
      const r = record(sub, at(id));
      for (let i = 0; i < 5; i++) await ok(sim, sub.call({ ...at(id), payload: { op: 'post', arg: `before-${i}` } }));
      await sim.removePeer('a');
      await sim.converge();
      for (let i = 0; i < 5; i++) await ok(sim, sub.call({ ...at(id), payload: { op: 'post', arg: `after-${i}` } }));
      await sim.advance(100);
      expect(ns(r.events)).toEqual(range(1, 10));
      expect(r.errors).toEqual([]);
      expect(sim.peers.get('b')!.stats().subscribers).toBe(1);
    }, { stores: true });
  });

  it('follows a replicated actor to its standby when the owner crashes, and counts exactly what was lost in flight', async () => {
    for (const seed of [41, 42, 43, 44, 45]) {
      await seeded(seed, async (sim) => {
        for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
        const sub = await sim.addPeer('s', []);
        const caller = await sim.addPeer('k', []);
        await sim.converge();
        const id = idOwnedBy(sub, 'a', 'b');
        const r = record(sub, at(id));
        await sim.advance(20);
        // Acknowledged posts: each event is committed and mirrored before it leaves. The crash comes right after
        // the last acknowledgement, so some events to the subscriber may still be on the wire and be lost.
        for (let i = 0; i < 10; i++) await ok(sim, caller.call({ ...at(id), payload: { op: 'post', arg: `p${i}` } }));
        await sim.crashPeer('a');
        await sim.converge();
        for (let i = 10; i < 15; i++) await ok(sim, caller.call({ ...at(id), payload: { op: 'post', arg: `p${i}` } }, { timeoutMs: 10_000 }));
        await sim.advance(200);
        const got = ns(r.events);
        const lost = r.errors.filter((e) => e.code === 'EventsLost').map((e) => e.details['count']);
        expect(r.errors.every((e) => e.code === 'EventsLost'), String(r.errors)).toBe(true);
        // Exactly the missing events are reported, counted (the standby knows where the stream stood).
        const missing = range(1, 15).filter((n) => !got.includes(n));
        expect(lost.reduce((x: number, y) => x + (y as number), 0), `got ${got.join(',')}`).toBe(missing.length);
        expect(got).toEqual([...got].sort((x, y) => x - y));
        expect(got.slice(-5)).toEqual(range(11, 15));
        expect(sim.peers.get('b')!.stats().subscribers).toBe(1);
      }, { stores: true });
    }
  });

  it('reports possible loss (count null) when the owner of an in-memory actor crashes', async () => {
    await seeded(51, async (sim) => {
      for (const id of ['a', 'b']) await sim.addPeer(id, ['game']);
      const sub = await sim.addPeer('s', []);
      await sim.converge();
      const id = idOwnedBy(sub, 'a');
      const r = record(sub, at(id, 'mfeed'));
      await ok(sim, sub.call({ ...at(id, 'mfeed'), payload: { op: 'post', arg: 'one' } }));
      await sim.crashPeer('a');
      await sim.converge();
      await ok(sim, sub.call({ ...at(id, 'mfeed'), payload: { op: 'post', arg: 'two' } }));
      await sim.advance(100);
      expect(r.events).toEqual([
        { n: 1, text: 'one' },
        { n: 1, text: 'two' },
      ]);
      expect(r.errors.map((e) => [e.code, e.details['count']])).toEqual([['EventsLost', null]]);
    });
  });

  it('drops the registrations of a subscriber that leaves the view', async () => {
    await seeded(61, async (sim) => {
      const a = await sim.addPeer('a', ['game']);
      const s1 = await sim.addPeer('s1', []);
      const s2 = await sim.addPeer('s2', []);
      await sim.converge();
      record(s1, at('x'));
      record(s1, at('y'));
      record(s2, at('x'));
      await sim.advance(50);
      expect(a.stats().subscribers).toBe(3);
      await sim.crashPeer('s1'); // no goodbye: the owner learns it from the view
      await sim.converge();
      expect(a.stats().subscribers).toBe(1);
      await ok(sim, a.call({ ...at('x'), payload: { op: 'post', arg: 'hi' } }));
      await sim.advance(50);
      expect(s2.stats().subscriptions).toBe(1);
    });
  });

  it('bounds subscribers per actor and events per subscriber with typed errors', async () => {
    await seeded(71, async (sim) => {
      await sim.addPeer('a', ['game']);
      const subs = [await sim.addPeer('s1', []), await sim.addPeer('s2', []), await sim.addPeer('s3', [])];
      await sim.converge();
      const recs = subs.map((s) => record(s, at('crowded')));
      await sim.advance(100);
      const refused = recs.filter((r) => r.errors.some((e) => e.code === 'TooManySubscribers'));
      expect(refused).toHaveLength(1);
      expect(sim.peers.get('a')!.stats().subscribers).toBe(2);
      // The refused subscription is over: nothing more arrives there.
      const a = sim.peers.get('a')!;
      await ok(sim, a.call({ ...at('crowded'), payload: { op: 'post', arg: 'x' } }));
      await sim.advance(50);
      expect(refused[0]!.events).toEqual([]);
      expect(recs.filter((r) => r.events.length === 1)).toHaveLength(2);

      // A handler may not queue more events than the limit.
      const burst = await settle(sim, a.call({ ...at('crowded'), payload: { op: 'burst', arg: 9 } }));
      expect(burst.status).toBe('rejected');
      expect(isMeshError((burst as PromiseRejectedResult).reason, 'SubscriptionOverflow')).toBe(true);
    }, { subscriptions: { maxSubscribersPerActor: 2, maxPendingEvents: 8 } });
  });

  it('drops a subscriber that falls too far behind (SubscriptionOverflow) and keeps serving the others', async () => {
    await seeded(72, async (sim) => {
      const a = await sim.addPeer('a', ['game']);
      const slow = await sim.addPeer('slow', []);
      const fast = await sim.addPeer('fast', []);
      await sim.converge();
      const rs = record(slow, at('hot'));
      const rf = record(fast, at('hot'));
      await sim.advance(50);
      // The slow subscriber's link stalls (frames wait, as a congested channel would); sends back up.
      sim.network.cut('a', 'slow');
      for (let i = 0; i < 12; i++) {
        await ok(sim, a.call({ ...at('hot'), payload: { op: 'big', arg: 600 } }));
        await sim.advance(20); // the healthy link drains between events
      }
      await sim.advance(200);
      sim.heal();
      await sim.advance(2000);
      expect(rs.errors.map((e) => e.code)).toContain('SubscriptionOverflow');
      expect(slow.stats().subscriptions).toBe(0);
      expect(ns(rf.events)).toEqual(range(1, 12));
      expect(rf.errors).toEqual([]);
      expect(a.stats().subscribers).toBe(1);
    }, { subscriptions: { maxPendingEvents: 4 }, highWaterMark: 1000, detectMs: 60_000 });
  });

  it('follows the actor through a burst of view changes with posts in flight: in order, no duplicates, every loss reported', async () => {
    for (const seed of [81, 82, 83, 84, 85, 86]) {
      await seeded(seed, async (sim) => {
        for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
        const sub = await sim.addPeer('s', []);
        const caller = await sim.addPeer('k', []);
        await sim.converge();
        const ids = Array.from({ length: 10 }, (_, i) => `v${i}`);
        const recs = new Map(ids.map((id) => [id, record(sub, at(id))]));
        await sim.advance(50); // registered before the first post
        let stop = false;
        const acked = new Map<string, number[]>(ids.map((id) => [id, []]));
        const load = (async () => {
          let i = 0;
          while (!stop) {
            const id = ids[i++ % ids.length]!;
            const r = await settle(sim, caller.call({ ...at(id), payload: { op: 'post', arg: 'x' } }, { idempotencyKey: `${id}-${i}`, timeoutMs: 8000 }));
            if (r.status === 'fulfilled') acked.get(id)!.push(r.value.reply as number);
          }
        })();
        await sim.addPeer('d', ['game']);
        await sim.advance(300);
        await sim.removePeer('b');
        await sim.advance(300);
        await sim.crashPeer('c');
        await sim.advance(300);
        await sim.addPeer('e', ['game']);
        await sim.converge();
        stop = true;
        await load;
        await sim.advance(1000);
        for (const id of ids) {
          const { events, errors } = recs.get(id)!;
          const got = ns(events);
          // Strictly increasing: in order, never twice.
          for (let k = 1; k < got.length; k++) expect(got[k]!, `${id}: ${got.join(',')}`).toBeGreaterThan(got[k - 1]!);
          const counted = errors.filter((e) => e.code === 'EventsLost');
          expect(errors.filter((e) => e.code !== 'EventsLost'), id).toEqual([]);
          const unknown = counted.some((e) => e.details['count'] === null);
          const reported = counted.reduce((x, e) => x + ((e.details['count'] as number | null) ?? 0), 0);
          const max = Math.max(0, ...acked.get(id)!);
          const missing = range(1, max).filter((n) => !got.includes(n)).length;
          // Every acknowledged event arrived or is reported lost, counted exactly.
          expect(unknown, id).toBe(false);
          expect(reported, `${id}: got ${got.join(',')}, acked ${acked.get(id)!.join(',')}`).toBe(missing);
        }
        sim.assertSingleActivation();
      }, { stores: true });
    }
  }, 60_000);
});

describe('subscriptions and the output gate (single peer)', () => {
  /** A store whose commits can be held open or made to fail. */
  class GatedStore extends MemoryStateStore {
    hold: Promise<void> | undefined;
    failNext = false;
    override async batch(ops: Parameters<StateStore['batch']>[0]): Promise<void> {
      if (this.hold !== undefined) await this.hold;
      if (this.failNext) {
        this.failNext = false;
        throw new Error('disk on fire');
      }
      return super.batch(ops);
    }
  }

  it('delivers an event only after its write is committed, and never the event of a rolled-back write', async () => {
    const clock = new SimulatedClock();
    const store = new GatedStore();
    const mesh = await createMesh({ capabilities: ['game'], actors: [Feed], store, clock, peerId: 'solo' });
    try {
      const events: FeedEvent[] = [];
      const errors: MeshError[] = [];
      mesh.subscribe<FeedEvent>(at('g'), (e) => events.push(e), { onError: (e) => errors.push(e) });
      await clock.advance(10);
      let release!: () => void;
      store.hold = new Promise((r) => (release = r));
      const first = mesh.call({ ...at('g'), payload: { op: 'post', arg: 'held' } });
      await clock.advance(10);
      expect(events).toEqual([]); // published, not committed yet
      store.hold = undefined;
      release();
      expect((await first).reply).toBe(1);
      expect(events).toEqual([{ n: 1, text: 'held' }]);

      store.failNext = true;
      const failed = await mesh.call({ ...at('g'), payload: { op: 'post', arg: 'lost' } }).then(
        () => 'ok',
        (e: unknown) => (isMeshError(e) ? e.code : String(e)),
      );
      expect(failed).toBe('StorageError');
      await clock.advance(10);
      // The rolled-back write's event never left; the subscription resumes on the reloaded actor.
      expect((await mesh.call({ ...at('g'), payload: { op: 'post', arg: 'after' } })).reply).toBe(2);
      await clock.advance(10);
      expect(events).toEqual([
        { n: 1, text: 'held' },
        { n: 2, text: 'after' },
      ]);
      expect(errors).toEqual([]);
    } finally {
      await mesh.close();
    }
  });

  it('keeps a subscribed actor active past its idle timeout, and validates arguments', async () => {
    const clock = new SimulatedClock();
    const parts = resolveParts({ capabilities: ['game'], actors: [MemFeed], clock, idleTimeoutMs: 100, peerId: 'solo' });
    const mesh = await MeshClass.start({ ...parts, subscriptions: { replayEvents: 0 } });
    try {
      const stop = mesh.subscribe(at('idle', 'mfeed'), () => {});
      await clock.advance(1000);
      expect(mesh.activeActors()).toHaveLength(1);
      stop();
      await clock.advance(1000);
      expect(mesh.activeActors()).toHaveLength(0);
      expect(() => mesh.subscribe({ capability: 'game', type: '', id: 'x' }, () => {})).toThrow(/type/);
      expect(() => mesh.subscribe(at('x'), 'nope' as never)).toThrow(/listener/);
      await expect(MeshClass.start({ ...parts, subscriptions: { maxPendingEvents: 0 } })).rejects.toThrow(/maxPendingEvents/);
    } finally {
      await mesh.close();
    }
    expect(() => mesh.subscribe(at('x'), () => {})).toThrow(/closed/);
  });

  it('ends a subscription to an unknown actor type with UnknownActorType', async () => {
    const mesh = await createMesh({ capabilities: ['game'], actors: [Feed] });
    const errors: string[] = [];
    mesh.subscribe({ capability: 'game', type: 'nope', id: '1' }, () => {}, { onError: (e) => errors.push(e.code) });
    await Promise.resolve();
    expect(errors).toEqual(['UnknownActorType']);
    expect(mesh.stats().subscriptions).toBe(0);
    await mesh.close();
  });
});
