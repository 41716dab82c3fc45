/**
 * Deterministic simulation of a whole room in one process: a {@link SimulatedClock}, a seeded
 * {@link MemoryNetwork}, a {@link MemorySignalingHub}, and any number of peers. Same seed, same run.
 */
import type { AnyActorDefinition } from '../actors/define.js';
import type { SubscriptionLimits } from '../actors/host.js';
import { Mesh } from '../actors/mesh.js';
import { SimulatedClock } from '../clock/simulated.js';
import { resolveParts, type MeshOptions } from '../create.js';
import { meshError } from '../errors.js';
import type { ActorAddress } from '../monitoring/events.js';
import { seededRandom, type Random } from '../random.js';
import { MemorySignalingHub } from '../signaling/memory.js';
import { MemoryNetwork, type MemoryTransport } from '../transport/memory.js';
import type { Transport } from '../transport/types.js';
import { MemoryStateStore } from '../persistence/memory.js';

/** Options of {@link createSimulation}. */
export interface SimulationOptions {
  /** Seed of every random choice (latency, loss, ids). Printed by failing tests to reproduce them. */
  seed: number;
  /** Actor types every simulated peer can run. */
  actors: readonly AnyActorDefinition[];
  /** One-way latency in ms (default `[1, 5]`). */
  latencyMs?: number | readonly [number, number];
  /** Probability a frame needs a retransmission (default 0). */
  lossRate?: number;
  /** Partition detection time of the network (default 3000 ms). */
  detectMs?: number;
  /** Bytes in flight per link before a send waits (the network's backpressure; default 4 MiB). */
  highWaterMark?: number;
  /** How often the signaling hub checks liveness (default 500 ms). */
  livenessMs?: number;
  /**
   * Give every peer its own in-memory state store (kept per peer id across crashes and restarts, like a data
   * directory), so durable and replicated actors can be simulated.
   */
  stores?: boolean;
  /** Subscription bounds of every peer (defaults: `DEFAULT_SUBSCRIPTION_LIMITS`). */
  subscriptions?: Partial<SubscriptionLimits>;
  /**
   * Wraps each peer's memory transport (every incarnation gets a fresh one), e.g. to model a transport whose
   * behaviour differs from the memory one in a way a test needs.
   */
  transport?: (peerId: string, memory: MemoryTransport) => Transport;
  /** Extra mesh options applied to every peer. */
  mesh?: Partial<Omit<MeshOptions, 'peerId' | 'capabilities' | 'transport' | 'signaling' | 'clock' | 'random' | 'actors'>>;
}

/** A running simulation. */
export interface Simulation {
  readonly seed: number;
  readonly clock: SimulatedClock;
  readonly network: MemoryNetwork;
  readonly hub: MemorySignalingHub;
  readonly random: Random;
  /** Live peers by id. */
  readonly peers: ReadonlyMap<string, Mesh>;
  /** Starts a peer and waits until it has joined. */
  addPeer(id: string, capabilities: readonly string[], options?: { weight?: number; incarnation?: number }): Promise<Mesh>;
  /** Closes a peer gracefully (deactivates its actors, leaves the room). */
  removePeer(id: string): Promise<void>;
  /** Kills a peer: no goodbye; the hub notices through liveness. */
  crashPeer(id: string): Promise<void>;
  /** Partitions peers (and the signaling hub, named `signaling`). */
  partition(...groups: ReadonlyArray<readonly string[]>): void;
  heal(): void;
  /** Advances simulated time. */
  advance(ms: number): Promise<void>;
  /** Advances until every live peer has the hub's latest view (or throws after `maxMs`). */
  converge(maxMs?: number): Promise<void>;
  /** Throws if, among peers at the same view, one actor is active on two peers. */
  assertSingleActivation(): void;
  /** The state store of a peer (with `stores: true`), kept across its crashes and restarts. */
  store(id: string): MemoryStateStore | undefined;
  /** Closes everything. */
  close(): Promise<void>;
}

const ROOM = 'sim';

/** Creates a simulation; add peers with `addPeer`. */
export function createSimulation(options: SimulationOptions): Simulation {
  const clock = new SimulatedClock();
  const random = seededRandom(options.seed);
  const network = new MemoryNetwork({
    clock,
    random,
    latencyMs: options.latencyMs ?? [1, 5],
    lossRate: options.lossRate ?? 0,
    detectMs: options.detectMs ?? 3000,
    ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
  });
  const hub = new MemorySignalingHub({ clock, network, livenessMs: options.livenessMs ?? 500, latencyMs: 1 });
  const peers = new Map<string, Mesh>();
  const incarnations = new Map<string, number>();
  const stores = new Map<string, MemoryStateStore>();

  const storeFor = (id: string): MemoryStateStore => {
    let store = stores.get(id);
    if (store === undefined) stores.set(id, (store = new MemoryStateStore({ name: `memory:${id}` })));
    return store;
  };

  const sim: Simulation = {
    seed: options.seed,
    clock,
    network,
    hub,
    random,
    peers,
    async addPeer(id, capabilities, peerOptions = {}) {
      if (peers.has(id)) throw meshError('InvalidArgument', `peer ${id} already running`);
      const incarnation = peerOptions.incarnation ?? (incarnations.get(id) ?? 0) + 1;
      incarnations.set(id, incarnation);
      const starting = Mesh.start({
        ...resolveParts({
          ...options.mesh,
          peerId: id,
          incarnation,
          kind: 'edge',
          capabilities,
          actors: options.actors,
          transport: options.transport === undefined ? network.createTransport(id) : options.transport(id, network.createTransport(id)),
          signaling: hub.client(ROOM),
          clock,
          random,
          ...(options.stores === true ? { store: storeFor(id) } : {}),
          ...(peerOptions.weight === undefined ? {} : { weight: peerOptions.weight }),
        }),
        ...(options.subscriptions === undefined ? {} : { subscriptions: options.subscriptions }),
      });
      let mesh: Mesh | undefined;
      void starting.then((m) => (mesh = m));
      const ok = await clock.advanceUntil(() => mesh !== undefined, 10_000, 1);
      if (!ok || mesh === undefined) throw meshError('Timeout', `peer ${id} did not join within 10 s of simulated time (seed ${options.seed})`);
      peers.set(id, mesh);
      return mesh;
    },
    async removePeer(id) {
      const mesh = peers.get(id);
      if (mesh === undefined) return;
      peers.delete(id);
      let done = false;
      void mesh.close().then(() => (done = true));
      await clock.advanceUntil(() => done, 10_000, 1);
    },
    async crashPeer(id) {
      const mesh = peers.get(id);
      if (mesh === undefined) return;
      peers.delete(id);
      await mesh._crash();
    },
    partition(...groups) {
      network.partition(...groups);
    },
    heal() {
      network.heal();
    },
    advance(ms) {
      return clock.advance(ms);
    },
    async converge(maxMs = 30_000) {
      const ok = await clock.advanceUntil(() => {
        const latest = hub.view(ROOM);
        const ids = new Set(latest.peers.map((p) => p.id));
        if (ids.size !== peers.size) return false;
        for (const [id, mesh] of peers) if (!ids.has(id) || mesh.view !== latest.version) return false;
        return true;
      }, maxMs, 5);
      if (!ok) {
        const views = [...peers].map(([id, m]) => `${id}@${m.view}`).join(', ');
        throw meshError('Timeout', `room did not converge within ${maxMs} ms (seed ${options.seed}); hub view ${hub.view(ROOM).version}, peers: ${views}`);
      }
    },
    assertSingleActivation() {
      const seen = new Map<string, { peer: string; view: number }[]>();
      for (const [id, mesh] of peers) {
        for (const a of mesh.activeActors()) {
          const key = addressKey(a);
          const list = seen.get(key) ?? [];
          list.push({ peer: id, view: mesh.view });
          seen.set(key, list);
        }
      }
      for (const [key, list] of seen) {
        const byView = new Map<number, string[]>();
        for (const e of list) byView.set(e.view, [...(byView.get(e.view) ?? []), e.peer]);
        for (const [view, ps] of byView) {
          if (ps.length > 1) throw new Error(`actor ${key} active on ${ps.join(', ')} in view ${view} (seed ${options.seed})`);
        }
      }
    },
    store(id) {
      return stores.get(id);
    },
    async close() {
      for (const id of [...peers.keys()]) await sim.removePeer(id);
      hub.close();
    },
  };
  return sim;
}

function addressKey(a: ActorAddress): string {
  return `${a.capability}/${a.type}/${a.id}`;
}
