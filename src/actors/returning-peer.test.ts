/**
 * A peer that is killed and comes back (same id, new process) must not stall its neighbours (deterministic
 * simulation: memory transport, simulated clock).
 *
 * The stall this guards against (bench:failover, ~7.5 s with every call of the load timing out): a survivor
 * answered a request of the dead peer after the view had removed it (a mirror whose store write was still
 * running). That reply made the WebRTC transport dial a peer that was no longer in the room: the signaling server
 * drops the offer, nothing refuses the dial, and it sits in `connecting` for `connectTimeoutMs` (10 s), holding
 * every frame sent to that id, those to its next incarnation included (whose own connection request is ignored,
 * since the dial in progress is taken to serve it). Every mirror to the returning peer then waited out the
 * replication timeout (3 s) in the survivor's serial commit chain, so all of the survivor's actors stalled.
 *
 * The memory transport refuses a send to an absent peer at once, so the test wraps it in {@link DialingTransport},
 * which models that dial. The mesh must neither dial a departed peer nor route a returning one through a link
 * opened for its previous incarnation.
 */
import { describe, expect, it } from 'vitest';
import type { Clock, Timer } from '../clock/clock.js';
import { meshError } from '../errors.js';
import { defineActor, isMeshError, type Mesh } from '../index.js';
import { createSimulation, type Simulation } from '../testing/index.js';
import type { MemoryTransport } from '../transport/memory.js';
import type { SendListener, Transport, TransportHandlers } from '../transport/types.js';

const Counter = defineActor({
  type: 'counter',
  initialState: () => ({ count: 0 }),
  handlers: { add: (s, by: number) => (s.count += by), get: (s) => s.count },
});

/** What WebRTC's connection timeout is by default (`connectTimeoutMs`). */
const CONNECT_TIMEOUT_MS = 10_000;

interface Held {
  frame: Uint8Array;
  sent: (() => void) | undefined;
  failed: (error: ReturnType<typeof meshError>) => void;
}

/**
 * The memory transport, except that a frame to a peer whose process is not running starts a dial that nothing
 * refuses: it holds that frame and every later one to the same id (even once a new process with that id is up)
 * until `disconnect(id)` abandons it or {@link CONNECT_TIMEOUT_MS} passes. That is how `WebRtcTransport` behaves
 * when the offer (or connect request) goes to a peer that is not in the room.
 */
class DialingTransport implements Transport {
  readonly #dials = new Map<string, { held: Held[]; timer: Timer }>();
  /** Dials started (for assertions). */
  readonly dialsToAbsentPeers: string[] = [];
  /** Closed (the process crashed or closed). */
  closed = false;

  constructor(
    private readonly inner: MemoryTransport,
    private readonly running: (peerId: string) => boolean,
    private readonly clock: Clock,
  ) {}

  get localPeerId(): string {
    return this.inner.localPeerId;
  }

  get maxFrameSize(): number {
    return this.inner.maxFrameSize;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.inner.setHandlers(handlers);
  }

  send(peerId: string, frame: Uint8Array): Promise<void> {
    const dial = this.#dialFor(peerId);
    if (dial === undefined) return this.inner.send(peerId, frame);
    return new Promise((resolve, reject) => dial.held.push({ frame, sent: resolve, failed: reject }));
  }

  post(peerId: string, frame: Uint8Array, listener?: SendListener): void {
    const dial = this.#dialFor(peerId);
    if (dial === undefined) this.inner.post(peerId, frame, listener);
    else dial.held.push({ frame, sent: undefined, failed: (e) => listener?.sendFailed(e) });
  }

  disconnect(peerId: string): void {
    this.#abandon(peerId, 'disconnected locally');
    this.inner.disconnect(peerId);
  }

  close(): Promise<void> {
    this.closed = true;
    for (const peerId of [...this.#dials.keys()]) this.#abandon(peerId, 'closed');
    return this.inner.close();
  }

  #dialFor(peerId: string): { held: Held[]; timer: Timer } | undefined {
    let dial = this.#dials.get(peerId);
    if (dial === undefined && !this.running(peerId) && peerId !== this.localPeerId) {
      this.dialsToAbsentPeers.push(peerId);
      const timer = this.clock.setTimeout(() => this.#abandon(peerId, `not connected within ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS);
      this.#dials.set(peerId, (dial = { held: [], timer }));
    }
    return dial;
  }

  #abandon(peerId: string, why: string): void {
    const dial = this.#dials.get(peerId);
    if (dial === undefined) return;
    this.#dials.delete(peerId);
    dial.timer.cancel();
    const error = meshError('PeerUnavailable', `link to ${peerId}: ${why}`, { details: { peerId } });
    for (const h of dial.held) h.failed(error);
  }
}

/** Settles `p` in simulated time, or fails on a hang. */
function settle<T>(sim: Simulation, p: Promise<T>, maxMs = 30_000): Promise<PromiseSettledResult<T>> {
  return sim.clock.settle(p, maxMs, 1);
}

describe('a peer killed and restarted with the same id', () => {
  it('does not stall the mirrors (and calls) of the peers that answered its last requests late', async () => {
    const seed = 7;
    const transports = new Map<string, DialingTransport>();
    let sim: Simulation | undefined;
    sim = createSimulation({
      seed,
      actors: [Counter],
      stores: true,
      latencyMs: [1, 3],
      detectMs: 1500,
      livenessMs: 300,
      transport: (id, memory) => {
        // A process runs from the creation of its transport to the close of it (a crash closes it too).
        const t = new DialingTransport(memory, (peer) => transports.get(peer)?.closed === false, sim!.clock);
        transports.set(id, t);
        return t;
      },
    });
    try {
      for (const id of ['a', 'b', 'c']) await sim.addPeer(id, ['game']);
      const client = await sim.addPeer('client', []);
      await sim.converge();
      const ids = Array.from({ length: 60 }, (_, i) => `k${i}`);
      const pref = (id: string): string[] => client.preferenceList('game', id, 2);
      // `x`: owned by b, mirrored to a (b dies while a stores that mirror). `ab`: owned by a, mirrored to b.
      const x = ids.find((id) => pref(id).join() === 'b,a')!;
      const ab = ids.filter((id) => pref(id).join() === 'a,b');
      expect(x, `seed ${seed}`).toBeDefined();
      expect(ab.length, `seed ${seed}`).toBeGreaterThan(2);

      const acked = new Map<string, number>();
      const add = async (caller: Mesh, id: string): Promise<{ ok: boolean; code?: string; ms: number }> => {
        const started = sim!.clock.now();
        const r = await settle(sim!, caller.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }, { timeoutMs: 2000 }));
        const ms = sim!.clock.now() - started;
        if (r.status === 'fulfilled') {
          acked.set(id, (acked.get(id) ?? 0) + 1);
          return { ok: true, ms };
        }
        expect(isMeshError(r.reason), String(r.reason)).toBe(true);
        return { ok: false, code: (r.reason as { code: string }).code, ms };
      };
      for (const id of [x, ...ab]) expect((await add(client, id)).ok).toBe(true);

      // a's disk turns slow: a mirror from b is still being stored when b dies and leaves the view.
      const storeA = sim.store('a')!;
      const put = storeA.put.bind(storeA);
      let slow = true;
      storeA.put = async (...args: Parameters<typeof put>) => {
        if (slow) await new Promise<void>((resolve) => sim!.clock.setTimeout(resolve, 1000));
        return put(...args);
      };
      void client.call({ capability: 'game', type: 'counter', id: x, payload: { op: 'add', arg: 1 } }, { timeoutMs: 2000 }).catch(() => {});
      await sim.advance(15); // the call ran on b; its mirror reached a, whose write takes a second
      await sim.crashPeer('b');
      await sim.converge(); // a (and everyone) sees b gone
      expect(sim.peers.get('a')!.table.peer('b')).toBeUndefined();
      slow = false;
      await sim.advance(1200); // a's write ends; the mirror's reply is due to a peer that is gone

      await sim.addPeer('b', ['game']); // the same id, a new process, the same store
      await sim.converge();

      // Calls on actors that a owns and mirrors to the returning b: each must be mirrored at once, not wait out
      // a stale dial (3 s per mirror; the call's deadline is 2 s).
      const outcomes = [];
      for (let round = 0; round < 3; round++) outcomes.push(...(await Promise.all(ab.map((id) => add(client, id)))));
      const failed = outcomes.filter((o) => !o.ok);
      expect(failed, `seed ${seed}: ${JSON.stringify(failed)}`).toEqual([]);
      expect(Math.max(...outcomes.map((o) => o.ms)), `seed ${seed}`).toBeLessThan(500);
      // Nothing was sent towards the departed peer in the first place.
      expect(transports.get('a')!.dialsToAbsentPeers, `seed ${seed}`).toEqual([]);

      // No acknowledged write lost, none applied twice; one activation per actor per view.
      for (const id of ab) {
        const r = await settle(sim, client.call({ capability: 'game', type: 'counter', id, payload: { op: 'get' } }, { timeoutMs: 2000 }));
        if (r.status === 'rejected') throw r.reason;
        expect(r.value.reply, `${id} (seed ${seed})`).toBe(acked.get(id));
      }
      sim.assertSingleActivation();
    } finally {
      await sim.close();
    }
  }, 60_000);
});
