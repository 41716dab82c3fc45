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
import { shardFor } from '../placement/hash.js';
import type { PlacementStrategy } from '../placement/types.js';
import type { Random } from '../random.js';
import type { SignalingClient } from '../signaling/types.js';
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
import { ActorHost, Status, fmt, newerRecord, type Activation, type Envelope } from './host.js';
import { asFrame, Kind, type CallFrame, type CastFrame, type FetchFrame, type Frame, type MirrorFrame } from './protocol.js';
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
}

interface Pending {
  resolve(reply: unknown): void;
  reject(error: MeshError): void;
  readonly owner: string;
  timer: Timer | undefined;
}

/** A request waiting for its Reply or Error frame (a class: no closures allocated per call). */
class PendingRequest implements Pending {
  timer: Timer | undefined = undefined;
  signal: AbortSignal | undefined = undefined;
  abortListener: (() => void) | undefined = undefined;
  settle: (reply: unknown) => void = noop;
  fail: (error: MeshError) => void = noop;

  constructor(
    private readonly table: Map<number, Pending>,
    private readonly rid: number,
    readonly owner: string,
  ) {}

  resolve(reply: unknown): void {
    this.#cleanup();
    this.settle(reply);
  }

  reject(error: MeshError): void {
    this.#cleanup();
    this.fail(error);
  }

  #cleanup(): void {
    this.table.delete(this.rid);
    this.timer?.cancel();
    if (this.abortListener !== undefined) this.signal?.removeEventListener('abort', this.abortListener);
  }
}

function noop(): void {}

interface OwnerCache {
  version: number;
  owners: Array<string | undefined>;
}

const MAX_CAST_HOPS = 3;
/** How long a mirror or a fetch may take before it counts as failed. */
const REPLICATION_TIMEOUT_MS = 3000;

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
  readonly #pending = new Map<number, Pending>();
  #rid = 0;
  #keySeq = 0;
  #closed = false;
  readonly #viewWaiters = new Set<{ version: number; resolve: () => void }>();
  #callsServed = 0;
  #framesDropped = 0;

  private constructor(parts: MeshParts) {
    this.#parts = parts;
    this.peerId = parts.peerId;
    this.#clock = parts.clock;
    this.#codec = parts.codec;
    this.#emitter = new Emitter(() => parts.clock.now());
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
      replication: parts.transport === undefined ? undefined : { load: (a) => this.#loadNewest(a), mirror: (a, r) => this.#mirror(a, r) },
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
        if (!this.#closed) this.table.applyView(view);
      },
      onSignal: (from, data) => this.#onSignal?.(from, data),
    });
    await signaling.join(this.#self);
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
      if (act === undefined && typeof id === 'string' && id.length > 0 && typeof capability === 'string' && this.#host.hasType(type)) {
        if (this.#ownerOf(capability, shardFor(id, this.#parts.shardCount)) === this.peerId) {
          act = this.#host.activate(request);
          if (act.failure !== undefined) return Promise.reject(act.failure);
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
      peers: this.table.peers.length,
      activeActors: this.#host.size,
      pendingCalls: this.#pending.size,
      callsServed: this.#callsServed,
      framesDropped: this.#framesDropped,
    };
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

  /** Deactivates every actor, leaves the room, closes the transport. Pending calls reject with `Closed`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Leave first, so the others route to this peer's successors; then hand over: drain every actor (its
    // commits and mirrors finish while the transport is still open) and send queued callers on with NotOwner.
    await this.#parts.signaling?.leave();
    await this.#host.close();
    for (const [rid, p] of this.#pending) {
      this.#pending.delete(rid);
      p.timer?.cancel();
      p.reject(meshError('Closed', `peer ${this.peerId} closed`));
    }
    await this.#parts.transport?.close();
    if (this.#parts.ownsStore === true) await this.#parts.store?.close();
  }

  /**
   * @internal Simulates a crash for tests: stops at once with no goodbye, no `onDeactivate`, no leave.
   * Peers notice through the transport and signaling liveness, as they would notice a killed process.
   */
  async _crash(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#host.abandon();
    for (const [rid, p] of this.#pending) {
      this.#pending.delete(rid);
      p.timer?.cancel();
      p.reject(meshError('Closed', `peer ${this.peerId} crashed`));
    }
    (this.#parts.signaling as { kill?: () => void } | undefined)?.kill?.();
    await this.#parts.transport?.close();
    if (this.#parts.ownsStore === true) await this.#parts.store?.close();
  }

  // ---------------------------------------------------------------- routing

  async #callRouted(request: CallRequest, options: CallOptions | undefined): Promise<CallResult> {
    validateRequest(request);
    if (this.#closed) throw meshError('Closed', `peer ${this.peerId} is closed`);
    const timeoutMs = options?.timeoutMs ?? this.#parts.defaultTimeoutMs;
    if (!(timeoutMs > 0)) throw meshError('InvalidArgument', 'timeoutMs must be > 0');
    const signal = options?.signal;
    if (signal?.aborted) throw aborted(request);
    const started = this.#clock.now();
    const deadline = started + timeoutMs;
    let key = options?.idempotencyKey;
    const retry = options?.retry ?? key !== undefined;
    const { capability, type, id } = request;
    let attempts = 0;
    let target = '';
    try {
      for (;;) {
        attempts++;
        target = this.#ownerOrThrow(capability, id);
        try {
          // A key only matters when the call may be retried; otherwise '' spares the owner its dedupe work.
          if (retry) key ??= `${this.peerId}:${this.#parts.incarnation}:${++this.#keySeq}`;
          const reply =
            target === this.peerId
              ? await this.#callLocal(request, key, deadline, signal)
              : await this.#callRemote(target, request, key ?? '', deadline, signal);
          if (target === this.peerId) this.#callsServed++;
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
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode(frame);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const pending = new PendingRequest(this.#pending, rid, peer);
    const promise = new Promise<unknown>((resolve, reject) => {
      pending.settle = resolve;
      pending.fail = reject;
    });
    this.#pending.set(rid, pending);
    pending.timer = this.#clock.setTimeout(() => pending.reject(onTimeout()), ttl);
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
      bytes = this.#codec.encode(frame);
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
    let frame: Frame;
    try {
      frame = asFrame(this.#codec.decode(bytes));
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
        void this.#serveMirror(from, frame);
        return;
      case Kind.Fetch:
        void this.#serveFetch(from, frame);
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
    const address = { capability, type, id };
    const fail = (error: MeshError): void => this.#reply(from, [Kind.Error, rid, errorToWire(error), this.table.version]);
    if (this.#closed || !this.#owns(capability, id)) {
      fail(meshError('NotOwner', `peer ${this.peerId} does not own ${fmt(address)} in view ${this.table.version}`, { details: { view: this.table.version } }));
      return;
    }
    const env: Envelope = {
      op,
      arg,
      resolve: (reply) => {
        this.#callsServed++;
        this.#reply(from, [Kind.Reply, rid, reply ?? null]);
      },
      reject: fail,
      cancelled: false,
      deadline: this.#clock.now() + ttl,
      key: key === '' ? undefined : key,
    };
    try {
      this.#host.deliver(address, env);
    } catch (error) {
      fail(asMeshError(error, 'HandlerFailed', this.peerId));
    }
  }

  // ---------------------------------------------------------------- replication

  /** Copies a committed record to the actor's standby (the second peer of its preference list). */
  async #mirror(address: ActorAddress, record: StateRecord): Promise<void> {
    const standby = this.preferenceList(address.capability, address.id, 2)[1];
    if (standby === undefined || standby === this.peerId) return;
    const rid = ++this.#rid;
    const frame: MirrorFrame = [Kind.Mirror, rid, stateKey(address), record];
    await this.#request(standby, rid, frame, this.#parts.replicationTimeoutMs ?? REPLICATION_TIMEOUT_MS, () =>
      meshError('PeerUnavailable', `standby ${standby} did not acknowledge ${fmt(address)}`, { details: { peerId: standby } }),
    );
  }

  /** The newest record of `address` held by the other peers of its preference list. */
  async #loadNewest(address: ActorAddress): Promise<StateRecord | undefined> {
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
    for (const r of results) {
      if (r.status === 'fulfilled' && r.value !== null && typeof r.value === 'object' && newerRecord(r.value as StateRecord, newest)) newest = r.value as StateRecord;
    }
    return newest;
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
      this.#reply(from, [Kind.Reply, rid, record ?? null]);
    } catch (error) {
      this.#reply(from, [Kind.Error, rid, errorToWire(asMeshError(error, 'HandlerFailed', this.peerId)), this.table.version]);
    }
  }

  #serveCast(from: string, f: CastFrame): void {
    const [, capability, type, id, op, arg, , hops] = f;
    const address = { capability, type, id };
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

  #reply(to: string, frame: Frame): void {
    const transport = this.#parts.transport;
    if (transport === undefined) return;
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode(frame);
    } catch (error) {
      bytes = this.#codec.encode([Kind.Error, frame[1] as number, errorToWire(asMeshError(error, 'CodecError', this.peerId)), this.table.version]);
    }
    transport.send(to, bytes).catch(() => {
      // The caller is gone; its own timeout or peer-down handling settles the call.
    });
  }

  #owns(capability: string, id: string): boolean {
    return this.#capabilities.has(capability) && this.#ownerOf(capability, shardFor(id, this.#parts.shardCount)) === this.peerId;
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
        env.reject(meshError('NotOwner', `peer ${this.peerId} no longer serves ${fmt(address)}`, { details: { view: this.table.version } }));
      } else if (!this.#closed) {
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
        this.#emitter.emit('peer:join', { peerId: change.peer.id, kind: change.peer.kind, capabilities: change.peer.capabilities, view: change.version });
        return;
      case 'leave':
        this.#emitter.emit('peer:leave', { peerId: change.peer.id, view: change.version });
        this.#failPendingTo(change.peer.id, 'left the room');
        // A link to a departed peer is dead or about to be: a returning peer gets a fresh connection.
        this.#parts.transport?.disconnect(change.peer.id);
        return;
      case 'update':
        if (change.peer.incarnation !== change.previous.incarnation) {
          // Same id, new process: whatever was in flight to the old one is lost, and its link is stale.
          this.#failPendingTo(change.peer.id, 'restarted');
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
    this.#emitter.emit('view:changed', { version, previous, peers: this.table.peers.length });
    // Actors whose shard moved away in this view stop here, so no actor is active on two peers in one view.
    for (const act of this.#host.list()) {
      if ((act.status === Status.Active || act.status === Status.Activating) && !this.#owns(act.address.capability, act.address.id)) {
        void this.#host.deactivate(act, 'not-owner');
      }
    }
    this.#host.remirror();
    for (const w of [...this.#viewWaiters]) if (version >= w.version) w.resolve();
  }

  #onPeerDown(peerId: string): void {
    this.#failPendingTo(peerId, 'connection lost');
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

