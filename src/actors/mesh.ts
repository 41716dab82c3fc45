/**
 * The mesh runtime of one peer: routes calls and casts to the owner of each actor's shard, serves the calls
 * this peer owns, and follows membership views. It is assembled from contracts (Transport, SignalingClient,
 * PlacementStrategy, Codec, Clock, Random), so the same code runs in simulation and on WebRTC.
 */
import type { Clock, Timer } from '../clock/clock.js';
import type { Codec } from '../codec/types.js';
import { errorFromWire, errorToWire, isMeshError, meshError, MeshError } from '../errors.js';
import { CapabilityTable, normalizeCapabilities, type TableChange } from '../membership/table.js';
import type { PeerInfo, PeerKind } from '../membership/types.js';
import { Emitter, type ActorAddress, type Listener, type MeshEvent, type MeshEventName } from '../monitoring/events.js';
import { StatsCollector, type PeerStatsReport, type StatsWindow } from '../monitoring/stats.js';
import { shardFor } from '../placement/hash.js';
import type { PlacementStrategy } from '../placement/types.js';
import type { Random } from '../random.js';
import type { SignalingClient, SignalingStatus } from '../signaling/types.js';
import type { Transport } from '../transport/types.js';
import type { StateStore } from '../persistence/types.js';
import type {
  ActorDefinition,
  AnyActorDefinition,
  ArgOf,
  CallOptions,
  CallRequest,
  CallResult,
  Handlers,
  MeshCaller,
  ReplyOf,
} from './define.js';
import {
  ActorHost,
  DEFAULT_SUBSCRIPTION_LIMITS,
  Status,
  fmt,
  newerRecord,
  type Activation,
  type Envelope,
  type EventWire,
  type SubscriptionLimits,
} from './host.js';
import {
  asFetchReply,
  asSubscribeReply,
  Kind,
  type CallFrame,
  type CastFrame,
  type EventFrame,
  type FetchFrame,
  type Frame,
  type MirrorFrame,
  type StreamTail,
  type SubscribeFrame,
  type SubscribeReply,
} from './protocol.js';
import { IdMap, ReplayWindow } from './replay.js';
import { decodeFrame, encodeFrame } from './wire.js';
import { Subscriptions, type SubscribeOptions } from './subscriptions.js';
import { RoomStats } from './room-stats.js';
import { CLUSTERED_TYPE, ClusteredRegistry, unknownFunction, type ClusteredFn, type ClusteredFunction, type ClusteredOptions } from './clustered.js';
import { parseStateKey, stateKey } from '../persistence/keys.js';
import type { StateRecord } from '../persistence/types.js';

/** Everything a {@link Mesh} is built from. `createMesh` fills these in from friendlier options. */
export interface MeshParts {
  peerId: string;
  incarnation: number;
  kind: PeerKind;
  weight: number;
  capabilities: readonly string[];
  actors: readonly AnyActorDefinition[];
  /** Omitted: a single-peer mesh (every call is local). */
  transport?: Transport | undefined;
  /** Omitted: membership is local (this peer only, or edited through `table`). */
  signaling?: SignalingClient | undefined;
  strategy: PlacementStrategy;
  shardCount: number;
  clock: Clock;
  random: Random;
  codec: Codec;
  defaultTimeoutMs: number;
  maxAttempts: number;
  idleTimeoutMs: number;
  mailboxLimit: number;
  /** Where durable actors keep their state (none: every actor is in memory only). */
  store?: StateStore | undefined;
  /** Close `store` when the mesh closes (it was opened for this mesh). */
  ownsStore?: boolean;
  /** How long a mirror to the standby or a fetch from a peer may take (default 3000 ms). */
  replicationTimeoutMs?: number;
  /** Bounds of subscriptions (defaults: {@link DEFAULT_SUBSCRIPTION_LIMITS}). */
  subscriptions?: Partial<SubscriptionLimits> | undefined;
}

/** A typed handle on one actor. */
export interface ActorRef<H> {
  readonly address: ActorAddress;
  /** Calls handler `op`; resolves with its reply. */
  call<K extends keyof H & string>(op: K, arg?: ArgOf<H, K>, options?: CallOptions): Promise<ReplyOf<H, K>>;
  /** Sends to handler `op` without waiting. */
  cast<K extends keyof H & string>(op: K, arg?: ArgOf<H, K>): void;
}

/** Counters of one peer. */
export interface MeshStats {
  readonly peerId: string;
  readonly view: number;
  readonly peers: number;
  readonly activeActors: number;
  readonly pendingCalls: number;
  readonly callsServed: number;
  readonly framesDropped: number;
  /** Actors this peer is subscribed to (one registration each, whatever the number of local listeners). */
  readonly subscriptions: number;
  /** Subscriptions registered on the actors active here (by this and other peers). */
  readonly subscribers: number;
  /** Peers this peer pushes stats reports to (see `watchRoom`). */
  readonly statsWatchers: number;
}

/**
 * A request waiting for its Reply or Error frame. No timer of its own: the mesh's deadline sweeper (one timer,
 * armed for the earliest deadline) times it out.
 */
interface Pending {
  resolve(reply: unknown): void;
  reject(error: MeshError): void;
  /** Rejects with this request's timeout error (called by the sweeper once `deadline` has passed). */
  timeout(): void;
  readonly owner: string;
  readonly deadline: number;
}

/** A request waiting for its Reply or Error frame (a class: no closures allocated per call). */
class PendingRequest implements Pending {
  signal: AbortSignal | undefined = undefined;
  abortListener: (() => void) | undefined = undefined;
  settle: (reply: unknown) => void = noop;
  fail: (error: MeshError) => void = noop;

  constructor(
    private readonly table: IdMap<Pending>,
    private readonly rid: number,
    readonly owner: string,
    readonly deadline: number,
    private readonly onTimeout: () => MeshError,
  ) {}

  resolve(reply: unknown): void {
    this.#cleanup();
    this.settle(reply);
  }

  reject(error: MeshError): void {
    this.#cleanup();
    this.fail(error);
  }

  timeout(): void {
    this.reject(this.onTimeout());
  }

  #cleanup(): void {
    this.table.delete(this.rid);
    if (this.abortListener !== undefined) this.signal?.removeEventListener('abort', this.abortListener);
  }
}

function noop(): void {}

/** What a {@link RemoteCall} needs from its mesh (one object per mesh, so a call allocates no closures). */
interface FastCallContext {
  readonly table: IdMap<Pending>;
  readonly stats: StatsCollector;
  readonly clock: Clock;
  /** Continues a call whose first attempt was answered NotOwner on the general path (waits, retries). */
  resume(call: RemoteCall, error: MeshError): void;
}

/**
 * A remote call on the fast path (no options, remote owner): it resolves the caller's promise with the
 * {@link CallResult} itself, with no async function, no per-call timer and no closures.
 */
class RemoteCall implements Pending {
  resolveFn: (result: CallResult) => void = noop;
  rejectFn: (error: unknown) => void = noop;

  constructor(
    private readonly ctx: FastCallContext,
    readonly rid: number,
    readonly owner: string,
    readonly request: CallRequest,
    readonly started: number,
    readonly deadline: number,
  ) {}

  resolve(reply: unknown): void {
    const ctx = this.ctx;
    ctx.table.delete(this.rid);
    ctx.stats.recordCall(this.owner, ctx.clock.now() - this.started);
    this.resolveFn({ reply, peerId: this.owner });
  }

  reject(error: MeshError): void {
    this.ctx.table.delete(this.rid);
    if (error.code === 'NotOwner') {
      this.ctx.resume(this, error);
      return;
    }
    this.ctx.stats.recordCall(this.owner, undefined);
    this.rejectFn(error);
  }

  timeout(): void {
    this.reject(timeout(this.request, this.deadline));
  }

  /** The transport refused the frame (the link is gone, or it never came up). */
  sendFailed(error: unknown): void {
    if (this.ctx.table.get(this.rid) === this) this.reject(asMeshError(error, 'PeerUnavailable', this.owner));
  }
}

/** How a {@link ServedCall} answers (one object per mesh). */
interface ServeContext {
  replied(to: string, rid: number, reply: unknown): void;
  failed(to: string, rid: number, error: MeshError): void;
}

/** A call from another peer, as a mailbox envelope whose outcome goes back as a frame (no closures per call). */
class ServedCall implements Envelope {
  cancelled = false;

  constructor(
    private readonly ctx: ServeContext,
    readonly from: string,
    readonly rid: number,
    readonly op: string,
    readonly arg: unknown,
    readonly deadline: number,
    readonly key: string | undefined,
  ) {}

  resolve(reply: unknown): void {
    this.ctx.replied(this.from, this.rid, reply);
  }

  reject(error: MeshError): void {
    this.ctx.failed(this.from, this.rid, error);
  }
}

/** Where `captureResolvers` puts the next promise's resolvers (a shared executor allocates no closure per call). */
let resolversTarget: { resolveFn: (value: never) => void; rejectFn: (error: unknown) => void } | undefined;

function captureResolvers(resolve: (value: never) => void, reject: (error: unknown) => void): void {
  resolversTarget!.resolveFn = resolve;
  resolversTarget!.rejectFn = reject;
  resolversTarget = undefined;
}

interface OwnerCache {
  version: number;
  owners: Array<string | undefined>;
}

const MAX_CAST_HOPS = 3;
/** Stream tails kept for the next owner of an actor (oldest forgotten first). */
const MAX_TAILS = 4096;
/** How long a mirror or a fetch may take before it counts as failed. */
const REPLICATION_TIMEOUT_MS = 3000;
/** Standbys a committed record is sent to, at most, when they leave the view before acknowledging it. */
const MIRROR_ATTEMPTS = 3;
/** After losing the link to a standby, how long to wait for the view that removes it before failing the mirror. */
const STANDBY_LOSS_VIEW_MS = 1000;
/** Departed peers remembered (so nothing is sent to them until they return); the oldest are forgotten first. */
const MAX_DEPARTED = 4096;
/** How long a graceful close may take in all, by default; each step is cut at its share (see `Mesh.close`). */
export const DEFAULT_CLOSE_TIMEOUT_MS = 4000;
/** Longest wait for the view that shows this peer without capabilities (the hand-off view) during a close. */
const HANDOFF_VIEW_MS = 1000;
/** After the hand-off view, how long no request may have arrived before a closing peer leaves (at least). */
const LINGER_QUIET_MS = 100;
/** ... and at most, however busy. */
const LINGER_MAX_MS = 600;
/** Casts held by a closing peer until the hand-off view names their new owners (more are dropped). */
const MAX_HELD_CASTS = 10_000;

/** The steps of a graceful close, in order (see `Mesh.close`). */
export type CloseStep = 'drain' | 'handoff' | 'linger' | 'leave' | 'transport' | 'store';

/** One peer of a mesh. Create it with `createMesh` (or `Mesh.start` from parts). */
export class Mesh implements MeshCaller {
  readonly peerId: string;
  /** The capability table this peer routes by. */
  readonly table = new CapabilityTable();
  readonly #parts: MeshParts;
  readonly #clock: Clock;
  readonly #codec: Codec;
  readonly #emitter: Emitter;
  readonly #host: ActorHost;
  #self: PeerInfo;
  #capabilities: Set<string>;
  readonly #owners = new Map<string, OwnerCache>();
  readonly #pending = new IdMap<Pending>();
  /** The deadline sweeper: one timer for every pending request, armed for the earliest deadline. */
  #sweepTimer: Timer | undefined;
  #sweepAt = Number.POSITIVE_INFINITY;
  readonly #fast: FastCallContext;
  readonly #serve: ServeContext = {
    replied: (to, rid, reply) => {
      this.#callsServed++;
      this.#reply(to, [Kind.Reply, rid, reply ?? null]);
    },
    // The frame's view is what a refused caller waits for: a leaving peer's refusal names the view after this one.
    failed: (to, rid, error) => this.#reply(to, [Kind.Error, rid, errorToWire(error), refusalView(error, this.table.version)]),
  };
  #rid = 0;
  #keySeq = 0;
  #closed = false;
  /** The graceful close in progress (or done). */
  #closing: Promise<void> | undefined;
  /** This peer left the room (or crashed): views are no longer applied. */
  #left = false;
  /** While closing: the view at which this peer was seen without capabilities (its shards have new owners). */
  #handoffView: number | undefined;
  /** Resolves the wait for the hand-off view. */
  #onHandoff: (() => void) | undefined;
  /** While closing: when the last request (call, cast, mirror, fetch, subscribe) arrived. */
  #lastRequestAt = 0;
  /** While closing: casts received for actors this peer is giving up, routed on once the hand-off view is in. */
  #heldCasts: Array<{ capability: string; type: string; id: string; op: string; arg: unknown; hops: number }> | undefined;
  readonly #viewWaiters = new Set<{ version: number; resolve: () => void }>();
  /**
   * Peers that left the view (and have not come back, nor sent a frame since). Nothing is sent to them: a frame
   * to a peer that is not in the room makes a connection-oriented transport (WebRTC) dial it, and that dial is not
   * refused, it only times out (10 s), holding every frame queued behind it, those to the peer's next incarnation
   * included. (A frame from such a peer shows a link to it is up again: it is then answered.)
   */
  readonly #departed = new Set<string>();
  #callsServed = 0;
  #framesDropped = 0;
  /** Request ids of calls recently served per peer: a replayed call frame is dropped, not run twice. */
  readonly #replays = new ReplayWindow();
  readonly #limits: SubscriptionLimits;
  readonly #subs: Subscriptions;
  /** Where the event streams of actors ended, by state key, with the record they belong to. */
  readonly #tails = new Map<string, StreamTail>();
  readonly #stats = new StatsCollector();
  /** The window of `peerStats()`. */
  #statsWindow: StatsWindow;
  readonly #room: RoomStats;
  /** Clustered functions served by and called from this peer (created on first use). */
  #clustered: ClusteredRegistry | undefined;
  /** Clustered requests being served here (a close waits for them). */
  readonly #servingClustered = new Set<Promise<void>>();

  private constructor(parts: MeshParts) {
    this.#parts = parts;
    this.peerId = parts.peerId;
    this.#clock = parts.clock;
    this.#codec = parts.codec;
    this.#limits = resolveLimits(parts.subscriptions);
    this.#subs = new Subscriptions({
      clock: parts.clock,
      limits: this.#limits,
      ownerOf: (a) => this.#ownerOf(a.capability, shardFor(a.id, parts.shardCount)),
      inView: (peer) => this.table.peer(peer) !== undefined,
      view: () => this.table.version,
      subscribe: (owner, address, subId, stream, seq, onReply, onError) => this.#subscribeAt(owner, address, subId, stream, seq, onReply, onError),
      unsubscribe: (owner, subId) => {
        if (owner === this.peerId) this.#host.unsubscribe(owner, subId);
        else this.#sendFrame(owner, [Kind.Unsubscribe, subId]);
      },
    });
    this.#emitter = new Emitter(() => parts.clock.now());
    this.#statsWindow = this.#stats.window(parts.clock.now());
    this.#room = new RoomStats({
      clock: parts.clock,
      emitter: this.#emitter,
      collector: this.#stats,
      report: (window) => this.#report(window),
      otherPeers: () => this.table.peers.filter((p) => p.id !== this.peerId).map((p) => p.id),
      inView: (peer) => this.table.peer(peer) !== undefined,
      send: (to, frame) => this.#sendFrame(to, frame),
      dropped: (from, reason) => this.#dropped(from, reason),
    });
    this.#fast = {
      table: this.#pending,
      stats: this.#stats,
      clock: parts.clock,
      resume: (call, error) => {
        this.#callRouted(call.request, undefined, { started: call.started, target: call.owner, error }).then(call.resolveFn, call.rejectFn);
      },
    };
    this.#capabilities = new Set(normalizeCapabilities(parts.capabilities));
    this.#self = {
      id: parts.peerId,
      incarnation: parts.incarnation,
      kind: parts.kind,
      weight: parts.weight,
      capabilities: [...this.#capabilities],
    };
    this.#host = new ActorHost({
      peerId: parts.peerId,
      mesh: this,
      clock: parts.clock,
      emitter: this.#emitter,
      definitions: parts.actors,
      idleTimeoutMs: parts.idleTimeoutMs,
      mailboxLimit: parts.mailboxLimit,
      store: parts.store,
      epoch: () => this.table.version,
      replication:
        parts.transport === undefined
          ? undefined
          : {
              load: (a) => this.#loadNewest(a),
              localTail: (a, r) => this.#tailFor(stateKey(a), r),
              mirror: (a, r, tail) => this.#mirror(a, r, tail),
            },
      events: this.#eventWire(),
      limits: this.#limits,
      streamPrefix: `${parts.peerId}/${parts.incarnation}`,
    });
    this.#host.onOrphans((address, envs) => this.#reroute(address, envs));
    this.table.onChange((c) => this.#onTableChange(c));
  }

  /** Starts a peer: attaches the transport, joins signaling (waiting for the first view with this peer in it). */
  static async start(parts: MeshParts, beforeJoin?: (mesh: Mesh) => void): Promise<Mesh> {
    const mesh = new Mesh(parts);
    beforeJoin?.(mesh);
    await mesh.#start();
    return mesh;
  }

  async #start(): Promise<void> {
    const { transport, signaling } = this.#parts;
    transport?.setHandlers({
      onFrame: (from, frame) => this.#onFrame(from, frame),
      onPeerDown: (peerId) => this.#onPeerDown(peerId),
    });
    this.#host.start();
    if (signaling === undefined) {
      this.table.upsert(this.#self);
      return;
    }
    signaling.setHandlers({
      onView: (view) => {
        // A closing peer follows views until it leaves: it hands its shards over through one.
        if (!this.#left) this.table.applyView(view);
      },
      onSignal: (from, data) => this.#onSignal?.(from, data),
      onStatus: (status) => {
        if (!this.#closed) this.#emitter.emit('signaling:status', { status });
      },
    });
    await signaling.join(this.#self);
  }

  /**
   * State of the signaling connection: `open`, `connecting` (reconnecting: peers already connected keep
   * calling each other meanwhile) or `closed`; `undefined` for a mesh without signaling. Changes are
   * emitted as `signaling:status` events.
   */
  get signalingStatus(): SignalingStatus | undefined {
    return this.#parts.signaling?.status;
  }

  /** Set by the WebRTC wiring: where relayed connection-setup messages go. */
  #onSignal: ((from: string, data: unknown) => void) | undefined;

  /** @internal Routes relayed signaling messages (SDP, ICE) to the transport. */
  _setSignalHandler(fn: (from: string, data: unknown) => void): void {
    this.#onSignal = fn;
  }

  /** The transport this peer talks through (undefined for a single-peer mesh), for introspection. */
  get transport(): Transport | undefined {
    return this.#parts.transport;
  }

  /** The capabilities this peer serves. */
  get capabilities(): readonly string[] {
    return this.#self.capabilities;
  }

  /** The current view version. */
  get view(): number {
    return this.table.version;
  }

  // ---------------------------------------------------------------- public API

  /**
   * Calls an actor and resolves with its reply and the id of the peer that served it. The first call
   * activates the actor on the owner of its shard. Rejects with a typed {@link MeshError}: `NoPeersForCapability`
   * at once when no live peer serves the capability, `Timeout`, `Aborted`, `HandlerFailed`, `UnknownActorType`,
   * `UnknownHandler`, `PeerUnavailable`, `RetriesExhausted`, ...
   */
  call<R = unknown>(request: CallRequest, options?: CallOptions): Promise<CallResult<R>> {
    // Fast path: the actor is (or can be made) active here, is idle, and nobody watches call events.
    const payload = request.payload;
    if (options === undefined && payload !== undefined && payload !== null && !this.#closed && !this.#emitter.has('call:completed')) {
      const { capability, type, id } = request;
      let act = this.#host.get(capability, type, id);
      if (act === undefined && typeof id === 'string' && id.length > 0 && typeof capability === 'string' && capability.length > 0) {
        const owner = this.#ownerOf(capability, shardFor(id, this.#parts.shardCount));
        if (owner === this.peerId) {
          if (this.#host.hasType(type)) {
            act = this.#host.activate(request);
            if (act.failure !== undefined) return Promise.reject(act.failure);
          }
        } else if (owner !== undefined && typeof type === 'string' && type.length > 0 && typeof payload.op === 'string' && payload.op.length > 0) {
          return this.#callRemoteFast(request, owner) as Promise<CallResult<R>>;
        }
      }
      if (act !== undefined && act.status === Status.Active && !act.durable && !act.busy && (act.queue === undefined || act.queue.length === 0)) {
        let reply: unknown;
        try {
          reply = this.#host.invokeNow(act, payload.op, payload.arg);
        } catch (error) {
          return Promise.reject(error as Error);
        }
        this.#callsServed++;
        this.#stats.selfCalls++;
        if (reply instanceof Promise) return reply.then((r: unknown) => ({ reply: r as R, peerId: this.peerId }));
        return Promise.resolve({ reply: reply as R, peerId: this.peerId });
      }
    }
    return this.#callRouted(request, options) as Promise<CallResult<R>>;
  }

  /**
   * Sends a message to an actor without waiting for it to run. Never blocks on the remote actor. Throws at once
   * (typed) for an invalid request or a capability with no live peer; later failures are reported as
   * `cast:failed` events.
   */
  cast(request: CallRequest): void {
    validateRequest(request);
    this.#castRouted(request.capability, request.type, request.id, request.payload.op, request.payload.arg, 0);
  }

  /**
   * Registers a clustered function on this peer and returns a function with the same arguments that runs it
   * somewhere in the room: on a peer serving `options.capability` that registered `name` too (every peer runs
   * the same registration; the capable ones serve it). With `options.key`, on the owner of the key's shard;
   * without, on the least loaded capable peer. A call whose executor is lost is retried on another peer with the
   * same idempotency key within its deadline. See `src/actors/clustered.ts`.
   */
  clustered<A extends unknown[], R>(name: string, fn: ClusteredFn<A, R>, options: ClusteredOptions<A>): ClusteredFunction<A, R> {
    return this._clusteredRegistry().register(name, fn, options);
  }

  /** @internal The clustered-function registry of this peer (created on first use). */
  _clusteredRegistry(): ClusteredRegistry {
    this.#clustered ??= new ClusteredRegistry({
      peerId: this.peerId,
      clock: this.#clock,
      random: this.#parts.random,
      caller: this,
      defaultTimeoutMs: this.#parts.defaultTimeoutMs,
      maxAttempts: this.#parts.maxAttempts,
      view: () => this.table.version,
      peersFor: (capability) => this.table.peersFor(capability).map((p) => p.id),
      preferenceList: (capability, id, count) => this.preferenceList(capability, id, count),
      callPeer: (peer, request, key, deadline, signal) => this.#callRemote(peer, request, key, deadline, signal),
      waitForView: (version, maxMs) => this.waitForView(version, maxMs),
      closed: () => this.#closed,
    });
    return this.#clustered;
  }

  /** A typed handle on the actor `def` with id `id` under `capability`. */
  ref<S, H extends Handlers<S>>(def: ActorDefinition<S, H>, at: { capability: string; id: string }): ActorRef<H> {
    const address: ActorAddress = { capability: at.capability, type: def.type, id: at.id };
    return {
      address,
      call: async (op, arg, options) =>
        (await this.call({ ...address, payload: { op, arg } }, options)).reply as ReplyOf<H, typeof op>,
      cast: (op, arg) => this.cast({ ...address, payload: { op, arg } }),
    };
  }

  /**
   * Listens to the events an actor publishes (`ctx.publish`); returns the unsubscribe function. Subscribing does
   * not need the actor's capability; it activates the actor if needed, like a call. Events arrive in publication
   * order; every listener of this peer for one actor shares one registration at the owner. The subscription
   * follows the actor when it moves (a join, a leave, the owner's crash) and reports what it could not deliver:
   * `options.onError` receives `EventsLost` (`details.count`, null when unknown), `SubscriptionOverflow` (this
   * peer fell too far behind; the subscription is over), `TooManySubscribers` / `UnknownActorType` (over),
   * `NoPeersForCapability` (it waits for a peer) and `Closed`. Throws `InvalidArgument` for a malformed address
   * and `Closed` after `close()`.
   */
  subscribe<E = unknown>(address: ActorAddress, listener: (event: E) => void, options?: SubscribeOptions): () => void {
    return this.#subs.subscribe(address, listener, options);
  }

  /** The peer that owns `id` under `capability` in the current view, or undefined when no peer has it. */
  ownerOf(capability: string, id: string): string | undefined {
    return this.#ownerOf(capability, shardFor(id, this.#parts.shardCount));
  }

  /** The ordered preference list `[owner, standby, ...]` of `id` under `capability` in the current view. */
  preferenceList(capability: string, id: string, count?: number): string[] {
    const peers = this.table.peersFor(capability);
    return this.#parts.strategy.preferenceList(shardFor(id, this.#parts.shardCount), capability, peers, count);
  }

  /** The shard of an actor id. */
  shardOf(id: string): number {
    return shardFor(id, this.#parts.shardCount);
  }

  /** Replaces the capabilities this peer serves; a new view follows. */
  registerCapabilities(capabilities: readonly string[]): void {
    const caps = normalizeCapabilities(capabilities);
    this.#capabilities = new Set(caps);
    this.#self = { ...this.#self, capabilities: caps };
    if (this.#parts.signaling === undefined) this.table.upsert(this.#self);
    else this.#parts.signaling.updateCapabilities(caps);
  }

  /** Subscribes to one event; returns the unsubscribe function. */
  on<K extends MeshEventName>(name: K, listener: Listener<K>): () => void {
    return this.#emitter.on(name, listener);
  }

  /** Subscribes to every event (the inspection stream); returns the unsubscribe function. */
  inspect(listener: (event: MeshEvent) => void): () => void {
    return this.#emitter.inspect(listener);
  }

  /** The addresses of the actors active on this peer. */
  activeActors(): ActorAddress[] {
    return this.#host
      .list()
      .filter((a) => a.status === Status.Active || a.status === Status.Activating)
      .map((a) => a.address);
  }

  /** Counters of this peer. */
  stats(): MeshStats {
    return {
      peerId: this.peerId,
      view: this.table.version,
      peers: this.table.size,
      activeActors: this.#host.size,
      pendingCalls: this.#pending.size,
      callsServed: this.#callsServed,
      framesDropped: this.#framesDropped,
      subscriptions: this.#subs.size,
      subscribers: this.#host.subscriptions,
      statsWatchers: this.#room.watchers,
    };
  }

  /**
   * A compact report of this peer (the same shape peers share with `watchRoom`). Rates, latencies and actor
   * events cover the interval since the previous `peerStats()` call. Actor events are collected only while the
   * room is watched (by `watchRoom` here, or by another peer).
   */
  peerStats(): PeerStatsReport {
    return this.#report(this.#statsWindow);
  }

  /**
   * Watches the whole room: asks every peer in the view (and each peer that joins) to push its
   * {@link PeerStatsReport} to this peer every `intervalMs` (default 1000, at least 100, at most 60,000) over the
   * mesh, and reports this peer's own at the same pace. Returns the function that stops watching; the reports stop
   * when the last watcher of this peer stops (or when this peer leaves). Several watchers share one stream at the
   * shortest interval asked. Each listener gets every report, its own peer's included.
   */
  watchRoom(listener: (stats: PeerStatsReport) => void, options: { intervalMs?: number } = {}): () => void {
    return this.#room.watch(listener, options.intervalMs ?? 1000);
  }

  /** Resolves once this peer's view version is at least `version` (or after `maxMs`, returning false). */
  waitForView(version: number, maxMs = 5000): Promise<boolean> {
    if (this.table.version >= version) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        version,
        resolve: () => {
          timer.cancel();
          this.#viewWaiters.delete(waiter);
          resolve(true);
        },
      };
      const timer = this.#clock.setTimeout(() => {
        this.#viewWaiters.delete(waiter);
        resolve(false);
      }, maxMs);
      this.#viewWaiters.add(waiter);
    });
  }

  /**
   * Leaves the room gracefully, handing this peer's actors over without failing a call, in bounded time
   * (`timeoutMs`, default {@link DEFAULT_CLOSE_TIMEOUT_MS}; a step that overruns its share is cut and reported
   * as a `close:step` event with `ok: false`):
   *
   * 1. `drain`: calls that arrive from now on are refused with a retryable `NotOwner` naming the next view (callers
   *    wait for it and retry at the new owner, with the same idempotency key); calls already running finish, and
   *    their commits, mirrors to the standby and replies go out while every link is still up; calls still queued
   *    are refused the same way. Every actor is deactivated.
   * 2. `handoff`: this peer announces that it serves no capability and waits for that view: the others now route
   *    to the successors (the standbys, which hold every acknowledged write), while this peer is still in the
   *    room and its links stay up, so nothing in flight to it is failed as lost.
   * 3. `linger`: it keeps answering what was sent to it before the others saw that view (refusals, mirror and
   *    fetch replies), until no request arrived for a moment.
   * 4. `leave`, then `transport` (links close last) and `store`.
   *
   * This peer's own pending calls reject with `Closed`; calls made after `close()` started reject with `Closed`.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#closed) return Promise.resolve(); // crashed
    this.#closing = this.#close(options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    const clock = this.#clock;
    const end = clock.now() + Math.max(0, timeoutMs);
    /** Time left before `end`, keeping `reserve` ms for the steps after this one. */
    const budget = (cap: number, reserve: number): number => Math.max(0, Math.min(cap, end - reserve - clock.now()));
    this.#closed = true;
    this.#heldCasts = [];
    this.#lastRequestAt = clock.now();
    this.#clustered?.close();
    this.#subs.close(true);
    this.#room.stop(true);
    const { signaling, transport } = this.#parts;
    // 1. Drain while every link is up (the others still route to this peer, which refuses anything new).
    await this.#closeStep('drain', Promise.all([this.#host.close(), ...this.#servingClustered]), budget(timeoutMs, Math.min(1000, timeoutMs / 4)));
    // 2. Hand over: the view without this peer's capabilities routes every caller to the successors.
    if (signaling !== undefined && transport !== undefined && this.#self.capabilities.length > 0) {
      this.#capabilities = new Set();
      this.#self = { ...this.#self, capabilities: [] };
      const handedOff = new Promise<void>((resolve) => (this.#onHandoff = resolve));
      try {
        signaling.updateCapabilities([]);
        this.#checkHandoff();
      } catch {
        this.#onHandoff = undefined; // signaling is gone: the others learn of this peer's departure by its leave
      }
      if (this.#onHandoff !== undefined || this.#handoffView !== undefined) {
        await this.#closeStep('handoff', handedOff, budget(HANDOFF_VIEW_MS, 600));
        this.#onHandoff = undefined;
        // Casts that came in meanwhile go to their new owners.
        for (const c of this.#heldCasts.splice(0)) {
          try {
            this.#castRouted(c.capability, c.type, c.id, c.op, c.arg, c.hops + 1);
          } catch (error) {
            this.#emitter.emit('cast:failed', { address: { capability: c.capability, type: c.type, id: c.id }, error: error as Error });
          }
        }
        // 3. Answer what is still in flight to this peer (sent before the others saw the hand-off view).
        await this.#closeStep('linger', this.#linger(budget(LINGER_MAX_MS, 400)), Number.POSITIVE_INFINITY);
      }
    }
    this.#heldCasts = undefined;
    // 4. Leave, then close the links (last: replies and refusals above are already out).
    this.#left = true;
    if (signaling !== undefined) await this.#closeStep('leave', signaling.leave(), Math.max(100, budget(500, 200)));
    this.#stopSweeper();
    for (const p of [...this.#pending.values()]) p.reject(meshError('Closed', `peer ${this.peerId} closed`));
    if (transport !== undefined) await this.#closeStep('transport', transport.close(), Math.max(100, budget(1000, 0)));
    if (this.#parts.ownsStore === true && this.#parts.store !== undefined) await this.#closeStep('store', this.#parts.store.close(), Math.max(200, budget(1000, 0)));
  }

  /** Waits for one step of a close, at most `maxMs`; reports it (`close:step`), cut short or not. Never throws. */
  async #closeStep(step: CloseStep, work: Promise<unknown>, maxMs: number): Promise<void> {
    const started = this.#clock.now();
    let timer: Timer | undefined;
    let ok = true;
    const bounded = Number.isFinite(maxMs)
      ? new Promise<void>((resolve) => {
          timer = this.#clock.setTimeout(() => {
            ok = false;
            resolve();
          }, maxMs);
        })
      : undefined;
    const done = work.then(
      () => undefined,
      () => undefined,
    );
    await (bounded === undefined ? done : Promise.race([done, bounded]));
    timer?.cancel();
    this.#emitter.emit('close:step', { peerId: this.peerId, step, durationMs: this.#clock.now() - started, ok });
  }

  /** During a close: resolves the hand-off wait once this peer's table shows it without capabilities. */
  #checkHandoff(): void {
    if (this.#handoffView !== undefined || !this.#closed || this.#left) return;
    const me = this.table.peer(this.peerId);
    if (me === undefined || me.capabilities.length > 0 || me.incarnation !== this.#self.incarnation) return;
    this.#handoffView = this.table.version;
    const resolve = this.#onHandoff;
    this.#onHandoff = undefined;
    resolve?.();
  }

  /** Waits until no request arrived for a moment ({@link LINGER_QUIET_MS}, more on slow links), at most `maxMs`. */
  async #linger(maxMs: number): Promise<void> {
    const clock = this.#clock;
    const until = clock.now() + maxMs;
    let rtt = 0;
    const transport = this.#parts.transport;
    if (transport?.rtt !== undefined) {
      for (const p of this.table.peers) if (p.id !== this.peerId) rtt = Math.max(rtt, transport.rtt(p.id) ?? 0);
    }
    const quiet = Math.min(LINGER_MAX_MS, Math.max(LINGER_QUIET_MS, 2 * rtt + 20));
    this.#lastRequestAt = Math.max(this.#lastRequestAt, clock.now() - quiet / 2);
    for (;;) {
      const now = clock.now();
      const wait = Math.min(this.#lastRequestAt + quiet - now, until - now);
      if (wait <= 0) return;
      await this.#sleep(wait);
    }
  }

  /** While closing: the view a refused caller should wait for (the hand-off view, or the next one). */
  #refusalView(): number {
    return this.#handoffView ?? this.table.version + 1;
  }

  /**
   * @internal Simulates a crash for tests: stops at once with no goodbye, no `onDeactivate`, no leave.
   * Peers notice through the transport and signaling liveness, as they would notice a killed process.
   */
  async _crash(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#left = true;
    this.#clustered?.close();
    this.#subs.close(false);
    this.#room.stop(false);
    this.#host.abandon();
    this.#stopSweeper();
    for (const p of [...this.#pending.values()]) p.reject(meshError('Closed', `peer ${this.peerId} crashed`));
    (this.#parts.signaling as { kill?: () => void } | undefined)?.kill?.();
    await this.#parts.transport?.close();
    if (this.#parts.ownsStore === true) await this.#parts.store?.close();
  }

  // ---------------------------------------------------------------- routing

  /** The fast path of a remote call without options: see {@link RemoteCall}. */
  #callRemoteFast(request: CallRequest, owner: string): Promise<CallResult> {
    const transport = this.#parts.transport;
    if (transport === undefined) return this.#callRouted(request, undefined);
    const rid = ++this.#rid;
    const ttl = this.#parts.defaultTimeoutMs;
    const now = this.#clock.now();
    const payload = request.payload;
    const frame: CallFrame = [Kind.Call, rid, request.capability, request.type, request.id, payload.op, payload.arg ?? null, this.table.version, '', ttl];
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame, this.#codec);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const call = new RemoteCall(this.#fast, rid, owner, request, now, now + ttl);
    resolversTarget = call as RemoteCall & { resolveFn: (value: never) => void };
    const promise = new Promise<CallResult>(captureResolvers);
    this.#track(rid, call);
    if (transport.post !== undefined) transport.post(owner, bytes, call);
    else transport.send(owner, bytes).then(undefined, (error: unknown) => call.sendFailed(error));
    return promise;
  }

  /**
   * Routes a call: picks the owner, calls it (here or remotely), retries when the owner answers NotOwner (or, for
   * calls that may be retried, when it is lost). `resume`: continue a fast-path call whose first attempt at
   * `target` was refused with `error`.
   */
  async #callRouted(request: CallRequest, options: CallOptions | undefined, resume?: { started: number; target: string; error: MeshError }): Promise<CallResult> {
    validateRequest(request);
    if (this.#closed) throw meshError('Closed', `peer ${this.peerId} is closed`);
    const timeoutMs = options?.timeoutMs ?? this.#parts.defaultTimeoutMs;
    if (!(timeoutMs > 0)) throw meshError('InvalidArgument', 'timeoutMs must be > 0');
    const signal = options?.signal;
    if (signal?.aborted) throw aborted(request);
    const started = resume?.started ?? this.#clock.now();
    const deadline = started + timeoutMs;
    let key = options?.idempotencyKey;
    const retry = options?.retry ?? key !== undefined;
    const { capability, type, id } = request;
    let attempts = resume === undefined ? 0 : 1;
    let target = resume?.target ?? '';
    let refused: MeshError | undefined = resume?.error;
    try {
      for (;;) {
        if (refused === undefined) {
          attempts++;
          target = this.#ownerOrThrow(capability, id);
        }
        try {
          if (refused !== undefined) {
            const e = refused;
            refused = undefined;
            throw e;
          }
          // A key only matters when the call may be retried; otherwise '' spares the owner its dedupe work.
          if (retry) key ??= `${this.peerId}:${this.#parts.incarnation}:${++this.#keySeq}`;
          const reply =
            target === this.peerId
              ? await this.#callLocal(request, key, deadline, signal)
              : await this.#callRemote(target, request, key ?? '', deadline, signal);
          if (target === this.peerId) this.#callsServed++;
          this.#stats.recordCall(target, this.#clock.now() - started);
          this.#completed(request, target, started, attempts, undefined);
          return { reply, peerId: target };
        } catch (error) {
          if (isMeshError(error, 'PeerUnavailable') && retry && attempts < this.#parts.maxAttempts && this.#clock.now() < deadline) {
            // The owner went away mid-call. Same idempotency key: a durable actor that already ran it answers
            // from its dedupe table instead of running it twice.
            await this.#afterPeerLoss(attempts, deadline, signal, request);
            continue;
          }
          if (!isMeshError(error, 'NotOwner')) throw error;
          if (attempts >= this.#parts.maxAttempts || this.#clock.now() >= deadline) {
            throw meshError('RetriesExhausted', `no owner of ${fmt(request)} accepted the call after ${attempts} attempts`, {
              cause: error,
              details: { attempts },
            });
          }
          await this.#afterNotOwner(error, attempts, deadline, signal, request);
        }
      }
    } catch (error) {
      if (target !== '') this.#stats.recordCall(target, undefined);
      this.#completed(request, target, started, attempts, error);
      throw error;
    }
  }

  #completed(address: ActorAddress, target: string, started: number, attempts: number, error: unknown): void {
    if (!this.#emitter.has('call:completed')) return;
    const base = { address: { capability: address.capability, type: address.type, id: address.id }, target, durationMs: this.#clock.now() - started, attempts };
    this.#emitter.emit('call:completed', error === undefined ? { ...base, ok: true } : { ...base, ok: false, code: isMeshError(error) ? error.code : 'HandlerFailed' });
  }

  /** After a NotOwner: wait for the owner's newer view, or back off briefly when the owner is behind. */
  async #afterNotOwner(error: MeshError, attempts: number, deadline: number, signal: AbortSignal | undefined, request: CallRequest): Promise<void> {
    const theirs = typeof error.details['view'] === 'number' ? error.details['view'] : 0;
    const left = deadline - this.#clock.now();
    if (theirs > this.table.version) await this.waitForView(theirs, Math.min(left, 1000));
    else await this.#sleep(Math.min(left, 5 * 2 ** attempts));
    if (signal?.aborted) throw aborted(request);
  }

  /** After losing the owner: wait for the view that removes it (the standby then owns the shard), or back off. */
  async #afterPeerLoss(attempts: number, deadline: number, signal: AbortSignal | undefined, request: CallRequest): Promise<void> {
    const left = deadline - this.#clock.now();
    await this.waitForView(this.table.version + 1, Math.min(left, 50 * 2 ** attempts));
    if (signal?.aborted) throw aborted(request);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  #callLocal(request: CallRequest, key: string | undefined, deadline: number, signal: AbortSignal | undefined): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      let timer: Timer | undefined;
      let onAbort: (() => void) | undefined;
      const done = (): void => {
        settled = true;
        timer?.cancel();
        if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      };
      const env: Envelope = {
        op: request.payload.op,
        arg: request.payload.arg,
        resolve: (reply) => {
          if (settled) return;
          done();
          resolve(reply);
        },
        reject: (error) => {
          if (settled) return;
          done();
          reject(error);
        },
        cancelled: false,
        deadline,
        key,
      };
      this.#host.deliver(request, env);
      if (settled) return;
      timer = this.#clock.setTimeout(() => {
        env.cancelled = true;
        env.reject!(timeout(request, deadline));
      }, deadline - this.#clock.now());
      if (signal !== undefined) {
        onAbort = () => {
          env.cancelled = true;
          env.reject!(aborted(request));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  #callRemote(owner: string, request: CallRequest, key: string, deadline: number, signal: AbortSignal | undefined): Promise<unknown> {
    const rid = ++this.#rid;
    const ttl = Math.max(1, Math.ceil(deadline - this.#clock.now()));
    const frame: CallFrame = [Kind.Call, rid, request.capability, request.type, request.id, request.payload.op, request.payload.arg ?? null, this.table.version, key, ttl];
    return this.#request(owner, rid, frame, ttl, () => timeout(request, deadline), signal, () => aborted(request));
  }

  /** Sends a request frame carrying `rid` and waits for its Reply or Error frame from `peer`. */
  #request(
    peer: string,
    rid: number,
    frame: Frame,
    ttl: number,
    onTimeout: () => MeshError,
    signal?: AbortSignal,
    onAbort?: () => MeshError,
  ): Promise<unknown> {
    const transport = this.#parts.transport;
    if (transport === undefined) return Promise.reject(meshError('PeerUnavailable', `no transport to reach ${peer}`));
    if (this.#departed.has(peer)) return Promise.reject(departedError(peer));
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame, this.#codec);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const pending = new PendingRequest(this.#pending, rid, peer, this.#clock.now() + ttl, onTimeout);
    const promise = new Promise<unknown>((resolve, reject) => {
      pending.settle = resolve;
      pending.fail = reject;
    });
    this.#track(rid, pending);
    if (signal !== undefined && onAbort !== undefined) {
      pending.signal = signal;
      pending.abortListener = () => pending.reject(onAbort());
      signal.addEventListener('abort', pending.abortListener, { once: true });
    }
    transport.send(peer, bytes).then(undefined, (error: unknown) => {
      if (this.#pending.get(rid) === pending) pending.reject(asMeshError(error, 'PeerUnavailable', peer));
    });
    return promise;
  }

  /** Like {@link #request}, with callbacks instead of a promise (called synchronously when the answer arrives). */
  #requestWith(
    peer: string,
    rid: number,
    frame: Frame,
    ttl: number,
    onTimeout: () => MeshError,
    settle: (reply: unknown) => void,
    fail: (error: MeshError) => void,
  ): void {
    const transport = this.#parts.transport;
    if (transport === undefined) return fail(meshError('PeerUnavailable', `no transport to reach ${peer}`));
    if (this.#departed.has(peer)) return fail(departedError(peer));
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame, this.#codec);
    } catch (error) {
      return fail(asMeshError(error, 'CodecError', this.peerId));
    }
    const pending = new PendingRequest(this.#pending, rid, peer, this.#clock.now() + ttl, onTimeout);
    pending.settle = settle;
    pending.fail = fail;
    this.#track(rid, pending);
    transport.send(peer, bytes).then(undefined, (error: unknown) => {
      if (this.#pending.get(rid) === pending) pending.reject(asMeshError(error, 'PeerUnavailable', peer));
    });
  }

  /** Registers a pending request and makes sure the sweeper wakes up by its deadline. */
  #track(rid: number, p: Pending): void {
    this.#pending.set(rid, p);
    if (p.deadline < this.#sweepAt) this.#armSweeper(p.deadline);
  }

  #armSweeper(at: number): void {
    this.#sweepTimer?.cancel();
    this.#sweepAt = at;
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), Math.max(0, at - this.#clock.now()));
  }

  /** Times out every request past its deadline, then sleeps until the earliest remaining deadline. */
  #sweep(): void {
    this.#sweepTimer = undefined;
    this.#sweepAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const p of this.#pending.values()) {
      if (p.deadline <= now) p.timeout();
      else if (p.deadline < next) next = p.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armSweeper(Math.max(next, now + 1));
  }

  #stopSweeper(): void {
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;
    this.#sweepAt = Number.POSITIVE_INFINITY;
  }

  #castRouted(capability: string, type: string, id: string, op: string, arg: unknown, hops: number): void {
    const owner = this.#ownerOrThrow(capability, id);
    const address = { capability, type, id };
    if (owner === this.peerId) {
      try {
        this.#host.deliver(address, { op, arg, resolve: undefined, reject: undefined, cancelled: false, deadline: undefined });
      } catch (error) {
        this.#emitter.emit('cast:failed', { address, error: error as Error });
      }
      return;
    }
    const transport = this.#parts.transport;
    if (transport === undefined) return;
    const frame: CastFrame = [Kind.Cast, capability, type, id, op, arg ?? null, this.table.version, hops];
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame, this.#codec);
    } catch (error) {
      throw error;
    }
    transport.send(owner, bytes).catch((error: unknown) => {
      this.#emitter.emit('cast:failed', { address, error: asMeshError(error, 'PeerUnavailable', owner) });
    });
  }

  #ownerOrThrow(capability: string, id: string): string {
    const owner = this.#ownerOf(capability, shardFor(id, this.#parts.shardCount));
    if (owner === undefined) {
      throw meshError('NoPeersForCapability', `no live peer serves capability ${JSON.stringify(capability)}`, {
        details: { capability, view: this.table.version },
      });
    }
    return owner;
  }

  /** The location cache: owners per shard, per capability, computed on demand and dropped on view change. */
  #ownerOf(capability: string, shard: number): string | undefined {
    let cache = this.#owners.get(capability);
    if (cache === undefined || cache.version !== this.table.version) {
      cache = { version: this.table.version, owners: [] };
      this.#owners.set(capability, cache);
    }
    let owner = cache.owners[shard];
    if (owner === undefined) {
      const peers = this.table.peersFor(capability);
      if (peers.length === 0) return undefined;
      owner = this.#parts.strategy.preferenceList(shard, capability, peers, 1)[0];
      cache.owners[shard] = owner;
    }
    return owner;
  }

  // ---------------------------------------------------------------- serving

  #onFrame(from: string, bytes: Uint8Array): void {
    // A frame from a peer that left the view: it is alive (a partition healed) and a link to it is up again, so
    // answering it dials no one.
    if (this.#departed.size > 0) this.#departed.delete(from);
    let frame: Frame;
    try {
      frame = decodeFrame(bytes, this.#codec);
    } catch (error) {
      this.#dropped(from, error instanceof Error ? error.message : String(error));
      return;
    }
    switch (frame[0]) {
      case Kind.Call:
        this.#serveCall(from, frame);
        return;
      case Kind.Cast:
        this.#serveCast(from, frame);
        return;
      case Kind.Mirror:
        if (this.#closed) this.#lastRequestAt = this.#clock.now();
        void this.#serveMirror(from, frame);
        return;
      case Kind.Fetch:
        if (this.#closed) this.#lastRequestAt = this.#clock.now();
        void this.#serveFetch(from, frame);
        return;
      case Kind.Subscribe:
        this.#serveSubscribe(from, frame);
        return;
      case Kind.Event:
        // An event of a registration this peer no longer has: tell the sender to drop it.
        if (!this.#subs.onEvent(from, frame[1], frame[2], frame[3])) this.#sendFrame(from, [Kind.Unsubscribe, frame[1]]);
        return;
      case Kind.Unsubscribe:
        this.#host.unsubscribe(from, frame[1]);
        return;
      case Kind.SubEnd:
        this.#subs.onEnd(from, frame[1], frame[2], frame[3]);
        return;
      case Kind.StatsWatch:
        this.#room.onWatch(from, frame[1]);
        return;
      case Kind.StatsUnwatch:
        this.#room.onUnwatch(from);
        return;
      case Kind.StatsReport:
        this.#room.onReport(from, frame[1]);
        return;
      case Kind.Reply: {
        const p = this.#pending.get(frame[1]);
        if (p === undefined || p.owner !== from) this.#dropped(from, 'reply to an unknown request');
        else p.resolve(frame[2]);
        return;
      }
      case Kind.Error: {
        const p = this.#pending.get(frame[1]);
        if (p === undefined || p.owner !== from) {
          this.#dropped(from, 'error for an unknown request');
          return;
        }
        const err = errorFromWire(frame[2], from);
        p.reject(err.code === 'NotOwner' ? meshError('NotOwner', err.message, { details: { ...err.details, view: frame[3] } }) : err);
        return;
      }
    }
  }

  #dropped(from: string, reason: string): void {
    this.#framesDropped++;
    this.#emitter.emit('protocol:dropped', { from, reason });
  }

  #serveCall(from: string, f: CallFrame): void {
    const [, rid, capability, type, id, op, arg, , key, ttl] = f;
    if (!this.#replays.admit(from, rid)) {
      this.#dropped(from, `replayed request id ${rid}`);
      return;
    }
    if (this.#closed) this.#lastRequestAt = this.#clock.now();
    if (type === CLUSTERED_TYPE) {
      // A closing peer's registry refuses with a NotOwner of its own (the caller picks another peer).
      this.#serveClustered(from, rid, capability, id, op, arg, key, ttl);
      return;
    }
    if (this.#closed) {
      // Closing: nothing new starts here. Retryable: the caller waits for the view that names the successor.
      this.#serve.failed(from, rid, this.#closingRefusal({ capability, type, id }));
      return;
    }
    if (!this.#owns(capability, id)) {
      const where = fmt({ capability, type, id });
      this.#serve.failed(from, rid, meshError('NotOwner', `peer ${this.peerId} does not own ${where} in view ${this.table.version}`, { details: { view: this.table.version } }));
      return;
    }
    const env = new ServedCall(this.#serve, from, rid, op, arg, this.#clock.now() + ttl, key === '' ? undefined : key);
    try {
      this.#host.deliverTo(capability, type, id, env);
    } catch (error) {
      env.reject(asMeshError(error, 'HandlerFailed', this.peerId));
    }
  }

  /** A clustered-function request (see `clustered.ts`): served by the registry, not an actor mailbox. */
  #serveClustered(from: string, rid: number, capability: string, name: string, op: string, arg: unknown, key: string, ttl: number): void {
    const registry = this.#clustered;
    if (registry === undefined) {
      this.#serve.failed(from, rid, unknownFunction(this.peerId, name, capability));
      return;
    }
    const served = registry.serve(from, capability, name, op, arg, key === '' ? undefined : key, this.#clock.now() + ttl).then(
      (reply) => this.#serve.replied(from, rid, reply),
      (error: unknown) => this.#serve.failed(from, rid, asMeshError(error, 'HandlerFailed', this.peerId)),
    );
    // A close drains these too (their replies leave before the links close).
    this.#servingClustered.add(served);
    void served.finally(() => this.#servingClustered.delete(served));
  }

  // ---------------------------------------------------------------- replication

  /**
   * Copies a committed record to the actor's standby (the second peer of its preference list). When the standby
   * is lost before acknowledging (its link fails and the view removes it, or shows it restarted, within
   * {@link STANDBY_LOSS_VIEW_MS}), and this peer still owns the actor, the copy goes to the standby of the new view
   * instead (at most {@link MIRROR_ATTEMPTS} copies in all): the write is then acknowledged once a live standby holds
   * it, rather than failed because the old standby died. A standby that does not answer in time fails the mirror.
   */
  async #mirror(address: ActorAddress, record: StateRecord, tail?: StreamTail): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const [owner, standby] = this.preferenceList(address.capability, address.id, 2);
      if (standby === undefined || standby === this.peerId) return;
      const incarnation = this.table.peer(standby)?.incarnation;
      const rid = ++this.#rid;
      const frame: MirrorFrame = tail === undefined ? [Kind.Mirror, rid, stateKey(address), record] : [Kind.Mirror, rid, stateKey(address), record, tail];
      try {
        await this.#request(standby, rid, frame, this.#parts.replicationTimeoutMs ?? REPLICATION_TIMEOUT_MS, () =>
          meshError('PeerUnavailable', `standby ${standby} did not acknowledge ${fmt(address)}`, { details: { peerId: standby } }),
        );
        return;
      } catch (error) {
        if (!isMeshError(error, 'PeerUnavailable') || attempt >= MIRROR_ATTEMPTS || this.#closed || owner !== this.peerId) throw error;
        // The link may go down before the view removes the peer: wait for that view (briefly).
        const gone = (): boolean => this.table.peer(standby)?.incarnation !== incarnation;
        const until = this.#clock.now() + STANDBY_LOSS_VIEW_MS;
        while (!gone() && !this.#closed && this.#clock.now() < until) await this.waitForView(this.table.version + 1, until - this.#clock.now());
        if (!gone() || this.#closed || this.preferenceList(address.capability, address.id, 1)[0] !== this.peerId) throw error;
      }
    }
  }

  /** The newest record of `address` held by the other peers of its preference list, with its stream tail. */
  async #loadNewest(address: ActorAddress): Promise<{ record: StateRecord | undefined; tail: StreamTail | undefined }> {
    const key = stateKey(address);
    const peers = this.preferenceList(address.capability, address.id, 3).filter((p) => p !== this.peerId);
    const results = await Promise.allSettled(
      peers.map((peer) => {
        const rid = ++this.#rid;
        const frame: FetchFrame = [Kind.Fetch, rid, key, this.table.version];
        return this.#request(peer, rid, frame, this.#parts.replicationTimeoutMs ?? REPLICATION_TIMEOUT_MS, () => meshError('Timeout', `fetch of ${key} from ${peer} timed out`));
      }),
    );
    let newest: StateRecord | undefined;
    let tail: StreamTail | undefined;
    for (const r of results) {
      if (r.status !== 'fulfilled') continue;
      const { record, tail: t } = asFetchReply(r.value);
      if (record !== null && typeof record === 'object' && newerRecord(record as StateRecord, newest)) {
        newest = record as StateRecord;
        tail = t !== undefined && t[2] === newest.epoch && t[3] === newest.version ? t : undefined;
      }
    }
    return { record: newest, tail };
  }

  /** Remembers where an actor's event stream stood with a record (bounded: the oldest entries go first). */
  #rememberTail(key: string, tail: StreamTail): void {
    this.#tails.delete(key);
    this.#tails.set(key, tail);
    if (this.#tails.size > MAX_TAILS) this.#tails.delete(this.#tails.keys().next().value!);
  }

  /** The stream tail kept for `key` if it belongs to `record`. */
  #tailFor(key: string, record: StateRecord | undefined): StreamTail | undefined {
    const t = this.#tails.get(key);
    return t !== undefined && record !== undefined && t[2] === record.epoch && t[3] === record.version ? t : undefined;
  }

  async #serveMirror(from: string, f: MirrorFrame): Promise<void> {
    const [, rid, key, record] = f;
    const fail = (error: MeshError): void => this.#reply(from, [Kind.Error, rid, errorToWire(error), this.table.version]);
    const store = this.#parts.store;
    if (store === undefined) return fail(meshError('StorageError', `peer ${this.peerId} has no state store`));
    try {
      const address = parseStateKey(key);
      const act = this.#host.get(address.capability, address.type, address.id);
      if (act !== undefined && act.status !== Status.Gone) {
        // This peer serves the actor itself: a mirror from another peer comes from an owner with an old view.
        return fail(meshError('StaleEpoch', `peer ${this.peerId} owns ${key}; refusing a mirror from ${from}`, { details: { key } }));
      }
      await store.put(key, record as StateRecord);
      if (f.length === 5) this.#rememberTail(key, f[4]);
      this.#reply(from, [Kind.Reply, rid, null]);
    } catch (error) {
      fail(asMeshError(error, 'HandlerFailed', this.peerId));
    }
  }

  async #serveFetch(from: string, f: FetchFrame): Promise<void> {
    const [, rid, key, view] = f;
    const store = this.#parts.store;
    try {
      // Answer in a view at least as new as the asker's, after letting go of the actor if it moved away, so
      // every write it acknowledged here is in the record returned.
      if (view > this.table.version) await this.waitForView(view, this.#parts.replicationTimeoutMs ?? REPLICATION_TIMEOUT_MS);
      const address = parseStateKey(key);
      if (!this.#owns(address.capability, address.id)) await this.#host.release(address);
      const record = store === undefined ? undefined : await store.get(key);
      this.#reply(from, [Kind.Reply, rid, [record ?? null, this.#tailFor(key, record) ?? null]]);
    } catch (error) {
      this.#reply(from, [Kind.Error, rid, errorToWire(asMeshError(error, 'HandlerFailed', this.peerId)), this.table.version]);
    }
  }

  #serveCast(from: string, f: CastFrame): void {
    const [, capability, type, id, op, arg, , hops] = f;
    const address = { capability, type, id };
    if (this.#closed) {
      this.#lastRequestAt = this.#clock.now();
      this.#holdCast(address, op, arg, hops);
      return;
    }
    if (this.#owns(capability, id)) {
      try {
        this.#host.deliver(address, { op, arg, resolve: undefined, reject: undefined, cancelled: false, deadline: undefined });
      } catch (error) {
        this.#emitter.emit('cast:failed', { address, error: error as Error });
      }
      return;
    }
    if (hops >= MAX_CAST_HOPS) {
      this.#dropped(from, `cast to ${fmt(address)} exceeded ${MAX_CAST_HOPS} hops`);
      return;
    }
    try {
      this.#castRouted(capability, type, id, op, arg, hops + 1);
    } catch (error) {
      this.#emitter.emit('cast:failed', { address, error: error as Error });
    }
  }

  // ---------------------------------------------------------------- subscriptions

  #serveSubscribe(from: string, f: SubscribeFrame): void {
    const [, rid, capability, type, id, subId, , resumeStream, resumeSeq] = f;
    const address = { capability, type, id };
    const fail = (error: MeshError): void => this.#reply(from, [Kind.Error, rid, errorToWire(error), refusalView(error, this.table.version)]);
    if (this.#closed) {
      this.#lastRequestAt = this.#clock.now();
      fail(this.#closingRefusal(address));
      return;
    }
    if (!this.#owns(capability, id)) {
      fail(meshError('NotOwner', `peer ${this.peerId} does not own ${fmt(address)} in view ${this.table.version}`, { details: { view: this.table.version } }));
      return;
    }
    const env: Envelope = {
      op: '',
      arg: undefined,
      resolve: (reply) => this.#reply(from, [Kind.Reply, rid, reply]),
      reject: fail,
      cancelled: false,
      deadline: this.#clock.now() + this.#parts.defaultTimeoutMs,
      sub: { peer: from, subId, resumeStream, resumeSeq },
    };
    try {
      this.#host.deliver(address, env);
    } catch (error) {
      fail(asMeshError(error, 'HandlerFailed', this.peerId));
    }
  }

  /** Registers subscription `subId` at `owner`: through the mailbox here, or with a Subscribe frame. */
  #subscribeAt(
    owner: string,
    address: ActorAddress,
    subId: number,
    resumeStream: string,
    resumeSeq: number,
    onReply: (reply: SubscribeReply) => void,
    onError: (error: MeshError) => void,
  ): void {
    const ttl = this.#parts.defaultTimeoutMs;
    const timedOut = (): MeshError => meshError('Timeout', `subscribe to ${fmt(address)} at ${owner} timed out`, { details: { timeoutMs: ttl } });
    if (owner === this.peerId) {
      let settled = false;
      const env: Envelope = {
        op: '',
        arg: undefined,
        resolve: (reply) => {
          if (settled) return;
          settled = true;
          timer.cancel();
          onReply(reply as SubscribeReply);
        },
        reject: (error) => {
          if (settled) return;
          settled = true;
          timer.cancel();
          onError(error);
        },
        cancelled: false,
        deadline: this.#clock.now() + ttl,
        sub: { peer: this.peerId, subId, resumeStream, resumeSeq },
      };
      const timer = this.#clock.setTimeout(() => {
        env.cancelled = true;
        env.reject!(timedOut());
      }, ttl);
      try {
        this.#host.deliver(address, env);
      } catch (error) {
        env.reject!(asMeshError(error, 'HandlerFailed', this.peerId));
      }
      return;
    }
    const rid = ++this.#rid;
    const frame: SubscribeFrame = [Kind.Subscribe, rid, address.capability, address.type, address.id, subId, this.table.version, resumeStream, resumeSeq];
    this.#requestWith(
      owner,
      rid,
      frame,
      ttl,
      timedOut,
      (value) => {
        const reply = asSubscribeReply(value);
        if (reply === undefined) onError(meshError('ProtocolError', `malformed subscribe reply from ${owner}`, { details: { peerId: owner } }));
        else onReply(reply);
      },
      onError,
    );
  }

  /** How the host sends events and end notices: straight to this peer's subscriptions, or as frames. */
  #eventWire(): EventWire {
    return {
      event: (peer, subId, seq, event) => {
        if (peer === this.peerId) {
          if (!this.#subs.onEvent(peer, subId, seq, event)) this.#host.unsubscribe(peer, subId);
          return undefined;
        }
        const transport = this.#parts.transport;
        if (transport === undefined) return undefined;
        if (this.#departed.has(peer)) return Promise.reject(departedError(peer));
        const frame: EventFrame = [Kind.Event, subId, seq, event ?? null];
        return transport.send(peer, encodeFrame(frame, this.#codec));
      },
      end: (peer, subId, lastSeq, reason) => {
        if (peer === this.peerId) this.#subs.onEnd(peer, subId, lastSeq, reason);
        else this.#sendFrame(peer, [Kind.SubEnd, subId, lastSeq, reason]);
      },
      tail: (address, tail) => this.#rememberTail(stateKey(address), tail),
    };
  }

  /** Sends a frame that expects no answer; failures are dropped (the peer's loss is reported elsewhere). */
  #sendFrame(to: string, frame: Frame): void {
    const transport = this.#parts.transport;
    if (transport === undefined || to === this.peerId) return;
    if (this.#departed.has(to)) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame, this.#codec);
    } catch {
      return;
    }
    if (transport.post !== undefined) transport.post(to, bytes);
    else transport.send(to, bytes).catch(noop);
  }

  #reply(to: string, frame: Frame): void {
    const transport = this.#parts.transport;
    // A departed caller is gone with its request (see `#departed`).
    if (transport === undefined || this.#departed.has(to)) return;
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(frame, this.#codec);
    } catch (error) {
      bytes = encodeFrame([Kind.Error, frame[1] as number, errorToWire(asMeshError(error, 'CodecError', this.peerId)), this.table.version], this.#codec);
    }
    // A failure means the caller is gone; its own timeout or peer-down handling settles the call.
    if (transport.post !== undefined) transport.post(to, bytes);
    else transport.send(to, bytes).catch(noop);
  }

  #owns(capability: string, id: string): boolean {
    return this.#capabilities.has(capability) && this.#ownerOf(capability, shardFor(id, this.#parts.shardCount)) === this.peerId;
  }

  /** The refusal of a closing peer: `NotOwner` naming the view to wait for (the one without this peer's shards). */
  #closingRefusal(address: ActorAddress): MeshError {
    const view = this.#refusalView();
    return meshError('NotOwner', `peer ${this.peerId} is leaving; ${fmt(address)} moves in view ${view}`, { details: { view, leaving: true } });
  }

  /** While closing: keeps a cast until the hand-off view names its new owner (dropped after the close). */
  #holdCast(address: ActorAddress, op: string, arg: unknown, hops: number): void {
    const held = this.#heldCasts;
    if (held !== undefined && held.length < MAX_HELD_CASTS && hops < MAX_CAST_HOPS) {
      held.push({ capability: address.capability, type: address.type, id: address.id, op, arg, hops });
    } else {
      this.#dropped(this.peerId, `cast to ${fmt(address)} dropped: peer ${this.peerId} is closing`);
    }
  }

  /** Messages queued on an actor that went away: run them here if we still own it, else send callers back. */
  #reroute(address: ActorAddress, envs: Envelope[]): void {
    const owned = !this.#closed && this.#owns(address.capability, address.id);
    for (const env of envs) {
      if (env.cancelled) continue;
      if (owned) {
        try {
          this.#host.deliver(address, env);
        } catch (error) {
          env.reject?.(asMeshError(error, 'HandlerFailed', this.peerId));
        }
      } else if (env.reject !== undefined) {
        // Retryable: the caller finds the next owner (after a graceful leave, the successor).
        env.reject(
          this.#closed
            ? this.#closingRefusal(address)
            : meshError('NotOwner', `peer ${this.peerId} no longer serves ${fmt(address)}`, { details: { view: this.table.version } }),
        );
      } else if (this.#closed) {
        this.#holdCast(address, env.op, env.arg, 0);
      } else {
        try {
          this.#castRouted(address.capability, address.type, address.id, env.op, env.arg, 1);
        } catch (error) {
          this.#emitter.emit('cast:failed', { address, error: error as Error });
        }
      }
    }
  }

  // ---------------------------------------------------------------- membership

  #onTableChange(change: TableChange): void {
    switch (change.type) {
      case 'join':
        if (this.#departed.delete(change.peer.id)) {
          // A returning peer (same id, new process): any link to its id belongs to the old one. Drop it before
          // anything is sent to the new one, so that gets a fresh connection instead of queueing behind it.
          this.#parts.transport?.disconnect(change.peer.id);
        }
        this.#emitter.emit('peer:join', { peerId: change.peer.id, kind: change.peer.kind, capabilities: change.peer.capabilities, view: change.version });
        return;
      case 'leave':
        this.#emitter.emit('peer:leave', { peerId: change.peer.id, view: change.version });
        this.#failPendingTo(change.peer.id, 'left the room');
        this.#host.dropSubscriber(change.peer.id);
        this.#room.onPeerGone(change.peer.id, true);
        // A link to a departed peer is dead or about to be: a returning peer gets a fresh connection. Late
        // replies (to requests it sent before it died) are not sent at all: see `#departed`.
        this.#departed.add(change.peer.id);
        if (this.#departed.size > MAX_DEPARTED) this.#departed.delete(this.#departed.values().next().value!);
        this.#parts.transport?.disconnect(change.peer.id);
        return;
      case 'update':
        if (change.peer.incarnation !== change.previous.incarnation) {
          // Same id, new process: whatever was in flight to the old one is lost, and its link is stale.
          this.#failPendingTo(change.peer.id, 'restarted');
          this.#host.dropSubscriber(change.peer.id);
          this.#subs.onPeerDown(change.peer.id);
          this.#room.onPeerGone(change.peer.id, true);
          this.#parts.transport?.disconnect(change.peer.id);
        }
        this.#emitter.emit('peer:update', { peerId: change.peer.id, capabilities: change.peer.capabilities, view: change.version });
        return;
      case 'view':
        this.#onViewChanged(change.version, change.previous);
        return;
    }
  }

  #onViewChanged(version: number, previous: number): void {
    this.#owners.clear();
    this.#emitter.emit('view:changed', { version, previous, peers: this.table.size });
    // Actors whose shard moved away in this view stop here, so no actor is active on two peers in one view.
    for (const act of this.#host.list()) {
      if ((act.status === Status.Active || act.status === Status.Activating) && !this.#owns(act.address.capability, act.address.id)) {
        void this.#host.deactivate(act, 'not-owner');
      }
    }
    this.#host.remirror();
    for (const w of [...this.#viewWaiters]) if (version >= w.version) w.resolve();
    if (this.#closed) this.#checkHandoff();
    this.#subs.onViewChange();
    this.#room.onViewChange();
  }

  #onPeerDown(peerId: string): void {
    this.#failPendingTo(peerId, 'connection lost');
    this.#replays.forget(peerId);
    this.#host.dropSubscriber(peerId);
    this.#subs.onPeerDown(peerId);
    // Its watch lease goes; a live watcher renews it.
    this.#room.onPeerGone(peerId, false);
  }

  // ---------------------------------------------------------------- room stats

  /** This peer's report over `window` (then moved to now). */
  #report(window: StatsWindow): PeerStatsReport {
    const now = this.#clock.now();
    const byType: Record<string, number> = {};
    let active = 0;
    for (const act of this.#host.list()) {
      if (act.status !== Status.Active && act.status !== Status.Activating) continue;
      active++;
      byType[act.address.type] = (byType[act.address.type] ?? 0) + 1;
    }
    const rtt: Record<string, number> = {};
    const transport = this.#parts.transport;
    if (transport?.rtt !== undefined) {
      for (const p of this.table.peers) {
        if (p.id === this.peerId) continue;
        const ms = transport.rtt(p.id);
        if (ms !== undefined) rtt[p.id] = Math.round(ms * 100) / 100;
      }
    }
    return {
      peerId: this.peerId,
      kind: this.#self.kind,
      capabilities: [...this.#self.capabilities],
      at: now,
      view: this.table.version,
      actorsActive: active,
      actorsByType: byType,
      callsServed: this.#callsServed,
      ...this.#stats.measure(window, now, this.peerId),
      rttMs: rtt,
    };
  }

  #failPendingTo(peerId: string, why: string): void {
    for (const p of [...this.#pending.values()]) {
      if (p.owner === peerId) p.reject(meshError('PeerUnavailable', `peer ${peerId} ${why} before replying`, { details: { peerId } }));
    }
  }

  /** @internal For tests: the activation record of an address. */
  _activation(address: ActorAddress): Activation | undefined {
    return this.#host.get(address.capability, address.type, address.id);
  }
}

function resolveLimits(given: Partial<SubscriptionLimits> | undefined): SubscriptionLimits {
  const limits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...given };
  for (const [name, v] of Object.entries(limits)) {
    const min = name === 'replayEvents' ? 0 : 1;
    if (!Number.isInteger(v) || v < min) throw meshError('InvalidArgument', `subscriptions.${name} must be an integer >= ${min}`);
  }
  return limits;
}

function validateRequest(r: CallRequest): void {
  if (r === null || typeof r !== 'object') throw meshError('InvalidArgument', 'request must be an object');
  for (const field of ['capability', 'type', 'id'] as const) {
    const v = r[field];
    if (typeof v !== 'string' || v.length === 0) throw meshError('InvalidArgument', `request.${field} must be a non-empty string`);
  }
  if (r.payload === null || typeof r.payload !== 'object' || typeof r.payload.op !== 'string' || r.payload.op.length === 0) {
    throw meshError('InvalidArgument', 'request.payload must be { op: string, arg?: unknown }');
  }
}

/** The view an Error frame carries: a NotOwner's own (a leaving peer names the next view), else this peer's. */
function refusalView(error: MeshError, current: number): number {
  const view = error.code === 'NotOwner' ? error.details['view'] : undefined;
  return typeof view === 'number' && Number.isSafeInteger(view) && view > current ? view : current;
}

/** A request to a peer that left the view (it is not sent: see `Mesh.#departed`). */
function departedError(peer: string): MeshError {
  return meshError('PeerUnavailable', `peer ${peer} left the room`, { details: { peerId: peer } });
}

function timeout(a: ActorAddress, deadline: number): MeshError {
  return meshError('Timeout', `call to ${fmt(a)} timed out`, { details: { deadline } });
}

function aborted(a: ActorAddress): MeshError {
  return meshError('Aborted', `call to ${fmt(a)} was aborted`);
}

function asMeshError(error: unknown, code: 'PeerUnavailable' | 'HandlerFailed' | 'CodecError', peer: string): MeshError {
  if (error instanceof MeshError) return error;
  return meshError(code, `${code === 'PeerUnavailable' ? `peer ${peer} unreachable` : 'failed'}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

