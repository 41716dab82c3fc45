/**
 * The actors that are active on this peer. Each activation is a small state machine
 * (activating -> active -> deactivating -> gone; a failed activation goes straight to gone, so the next message
 * starts a fresh one) with its own FIFO mailbox: one message at a time per actor, and a slow actor never stalls
 * another. Idle actors are passivated by a sweep that runs on the injected clock.
 */
import type { Clock, Timer } from '../clock/clock.js';
import { meshError, MeshError } from '../errors.js';
import type { ActorAddress, DeactivationReason, Emitter } from '../monitoring/events.js';
import type { DedupeEntry, StateRecord, StateStore } from '../persistence/types.js';
import { murmur3_32 } from '../placement/hash.js';
import { msgpackCodec } from '../codec/msgpack.js';
import { stateKey } from '../persistence/keys.js';
import type { ActorContext, ActorDefinition, AnyActorDefinition, Handler, MeshCaller } from './define.js';

/** Activation states. */
export const Status = { Activating: 0, Active: 1, Deactivating: 2, Gone: 3 } as const;
/** One activation state. */
export type Status = (typeof Status)[keyof typeof Status];

/** One message waiting in (or delivered through) a mailbox. */
export interface Envelope {
  readonly op: string;
  readonly arg: unknown;
  /** Receives the reply; absent for casts. */
  readonly resolve: ((reply: unknown) => void) | undefined;
  /** Receives the error; for casts, errors go to the `handler:error` event only. */
  readonly reject: ((error: MeshError) => void) | undefined;
  /** Set by the caller when it stopped waiting (timeout, abort): the handler is then not run. */
  cancelled: boolean;
  /** Clock time after which the message is dropped unrun (its caller has given up). */
  readonly deadline: number | undefined;
  /** The call's idempotency key (durable actors keep a bounded table of keys and replies). */
  readonly key?: string | undefined;
}

/** Most idempotency entries kept per durable actor (oldest dropped first). */
export const DEDUPE_LIMIT = 256;

/** One actor active (or activating, or deactivating) on this peer. */
export class Activation implements ActorContext<unknown> {
  readonly address: ActorAddress;
  readonly peerId: string;
  readonly mesh: MeshCaller;
  readonly def: ActorDefinition<unknown>;
  state: unknown = undefined;
  status: Status = Status.Activating as Status;
  /** A handler is running. */
  busy = false;
  /** Messages waiting; allocated on first need. */
  queue: Envelope[] | undefined = undefined;
  /** Sweep tick of the last message. */
  lastTick: number;
  /** Why a deactivation was requested. */
  reason: DeactivationReason = 'idle';
  /** Why the activation failed, once it has. */
  failure: MeshError | undefined = undefined;
  /** Whether the state is persisted (durability `local` with a store). */
  durable = false;
  /** Version of the last committed record (0: never stored). */
  version = 0;
  /** Recent idempotency keys with their payload hash and reply, stored and mirrored with the state. */
  dedupe: DedupeEntry[] = [];
  /** Whether committed records are also mirrored to the standby. */
  replicated = false;
  /** The last record known stored (and, for replicated actors, mirrored): what a failed write rolls back to. */
  committed: StateRecord | undefined = undefined;
  /** Resolved when the activation is gone (see `ActorHost.release`). */
  goneResolve: (() => void) | undefined = undefined;
  gone: Promise<void> | undefined = undefined;

  constructor(address: ActorAddress, def: ActorDefinition<unknown>, host: ActorHost, tick: number) {
    this.address = address;
    this.def = def;
    this.peerId = host.peerId;
    this.mesh = host.mesh;
    this.lastTick = tick;
  }
}

/** Options of an {@link ActorHost}. */
export interface ActorHostOptions {
  peerId: string;
  mesh: MeshCaller;
  clock: Clock;
  emitter: Emitter;
  definitions: readonly AnyActorDefinition[];
  idleTimeoutMs: number;
  mailboxLimit: number;
  /** Where durable actors keep their state; none: every actor is in memory only. */
  store?: StateStore | undefined;
  /** The current view version, written into every record as its epoch. */
  epoch?: () => number;
  /** Standby mirroring for `replicated` actors (without it they behave as `local`). */
  replication?: Replication | undefined;
}

/** How a host reaches the other copies of a replicated actor (provided by the mesh). */
export interface Replication {
  /** The newest record held by the other peers of the actor's preference list (undefined: none). */
  load(address: ActorAddress): Promise<StateRecord | undefined>;
  /** Copies a committed record to the actor's standby; resolves on its acknowledgement (at once without one). */
  mirror(address: ActorAddress, record: StateRecord): Promise<void>;
}

/** Whether record `a` is newer than `b` (epoch first, then version). */
export function newerRecord(a: StateRecord | undefined, b: StateRecord | undefined): boolean {
  if (a === undefined) return false;
  if (b === undefined) return true;
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.version > b.version);
}

/** Replies (and errors) of durable actors, released once the state they depend on is committed. */
interface CommitGroup {
  /** Actor, state snapshot at the time the group was sealed. */
  /** Each actor of the group with the outcomes waiting on its write. */
  readonly acts: Map<Activation, Array<(error: MeshError | undefined) => void>>;
}

type TypeMap = Map<string, Activation>;

/** The registry and scheduler of this peer's activations. */
export class ActorHost {
  readonly peerId: string;
  readonly mesh: MeshCaller;
  readonly #clock: Clock;
  readonly #emitter: Emitter;
  readonly #defs = new Map<string, ActorDefinition<unknown>>();
  readonly #defaultIdleMs: number;
  readonly #mailboxLimit: number;
  /** capability -> type -> id -> activation. Nested maps avoid building a key string per message. */
  readonly #actors = new Map<string, Map<string, TypeMap>>();
  #count = 0;
  #tick = 0;
  readonly #sweepMs: number;
  #sweeper: Timer | undefined;
  readonly #store: StateStore | undefined;
  readonly #epoch: () => number;
  readonly #replication: Replication | undefined;
  /** The group collecting this tick's durable writes, and the chain of commits in flight (in order). */
  #group: CommitGroup | undefined;
  #commits: Promise<void> = Promise.resolve();

  constructor(options: ActorHostOptions) {
    this.peerId = options.peerId;
    this.mesh = options.mesh;
    this.#clock = options.clock;
    this.#emitter = options.emitter;
    this.#defaultIdleMs = options.idleTimeoutMs;
    this.#mailboxLimit = options.mailboxLimit;
    this.#store = options.store;
    this.#epoch = options.epoch ?? (() => 0);
    this.#replication = options.replication;
    let minIdle = options.idleTimeoutMs;
    for (const def of options.definitions as ReadonlyArray<ActorDefinition<unknown>>) {
      if (this.#defs.has(def.type)) throw meshError('InvalidArgument', `actor type ${def.type} defined twice`);
      this.#defs.set(def.type, def);
      if (def.idleTimeoutMs !== undefined) minIdle = Math.min(minIdle, def.idleTimeoutMs);
    }
    this.#sweepMs = Math.min(1000, Math.max(5, Math.floor(minIdle / 4)));
  }

  /** Number of activations (any state but gone). */
  get size(): number {
    return this.#count;
  }

  /** The actor types this host can run. */
  get types(): string[] {
    return [...this.#defs.keys()];
  }

  /** Whether this host has a definition for `type`. */
  hasType(type: string): boolean {
    return this.#defs.has(type);
  }

  /** The activation of an address, if any. */
  get(capability: string, type: string, id: string): Activation | undefined {
    return this.#actors.get(capability)?.get(type)?.get(id);
  }

  /** Every activation (a snapshot). */
  list(): Activation[] {
    const out: Activation[] = [];
    for (const types of this.#actors.values()) for (const ids of types.values()) for (const a of ids.values()) out.push(a);
    return out;
  }

  /**
   * Runs a message on an idle, active actor right now. Returns the reply, or a promise of it when the handler
   * is async. The caller must have checked `act.status === Active && !act.busy && act.queue` empty.
   */
  invokeNow(act: Activation, op: string, arg: unknown): unknown {
    const handler = act.def.handlers[op] as Handler<unknown> | undefined;
    if (handler === undefined) throw unknownHandler(act, op);
    act.lastTick = this.#tick;
    act.busy = true;
    let result: unknown;
    try {
      result = handler(act.state, arg, act);
    } catch (error) {
      act.busy = false;
      this.#drain(act);
      throw this.#handlerFailed(act, error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (reply) => {
          act.busy = false;
          this.#drain(act);
          return reply;
        },
        (error: unknown) => {
          act.busy = false;
          this.#drain(act);
          throw this.#handlerFailed(act, error);
        },
      );
    }
    act.busy = false;
    if (act.queue !== undefined && act.queue.length > 0) this.#drain(act);
    return result;
  }

  /**
   * Delivers a message to an actor, activating it first if needed. The envelope's resolve/reject receive the
   * outcome. Throws synchronously (typed) for an unknown type or a full mailbox.
   */
  deliver(address: ActorAddress, env: Envelope): void {
    let act = this.get(address.capability, address.type, address.id);
    if (act === undefined || act.status === Status.Gone) act = this.#activate(address);
    const limit = act.def.mailboxLimit ?? this.#mailboxLimit;
    if (act.queue === undefined) act.queue = [];
    if (act.queue.length >= limit) {
      throw meshError('MailboxFull', `mailbox of ${fmt(address)} is full (${limit} messages)`, { details: { limit } });
    }
    act.queue.push(env);
    act.lastTick = this.#tick;
    if (act.status === Status.Active && !act.busy) this.#drain(act);
  }

  /** Starts deactivating an actor (idle, moved, shutdown). Queued messages are re-delivered after it is gone. */
  deactivate(act: Activation, reason: DeactivationReason): Promise<void> {
    if (act.status === Status.Deactivating || act.status === Status.Gone) return Promise.resolve();
    act.reason = reason;
    if (act.status === Status.Activating) {
      // Let the activation finish first; then deactivate.
      act.status = Status.Deactivating;
      return Promise.resolve();
    }
    act.status = Status.Deactivating;
    return this.#whenIdle(act).then(() => this.#finishDeactivate(act));
  }

  /** Starts the idle sweep. */
  start(): void {
    this.#sweeper ??= this.#clock.setInterval(() => this.#sweep(), this.#sweepMs);
  }

  /** Stops the sweep and forgets every activation without running `onDeactivate` (a simulated crash). */
  abandon(): void {
    this.#sweeper?.cancel();
    this.#sweeper = undefined;
    for (const act of this.list()) {
      act.status = Status.Gone;
      act.queue = undefined;
    }
    this.#actors.clear();
    this.#count = 0;
  }

  /** Deactivates everything and stops the sweep. */
  async close(): Promise<void> {
    this.#sweeper?.cancel();
    this.#sweeper = undefined;
    await Promise.all(this.list().map((a) => this.deactivate(a, 'shutdown')));
  }

  /**
   * Starts an activation (the caller checked there is none). With a synchronous `initialState` and no async
   * `onActivate` it is active on return; if it failed, its status is `Gone` and `failure` says why.
   */
  activate(address: ActorAddress): Activation {
    return this.#activate(address);
  }

  #activate(address: ActorAddress): Activation {
    const def = this.#defs.get(address.type);
    if (def === undefined) throw meshError('UnknownActorType', `no actor type ${JSON.stringify(address.type)} on peer ${this.peerId}`, { details: { type: address.type } });
    const act = new Activation({ capability: address.capability, type: address.type, id: address.id }, def, this, this.#tick);
    let types = this.#actors.get(address.capability);
    if (types === undefined) this.#actors.set(address.capability, (types = new Map()));
    let ids = types.get(address.type);
    if (ids === undefined) types.set(address.type, (ids = new Map()));
    ids.set(address.id, act);
    this.#count++;
    const started = this.#emitter.has('actor:activated') ? this.#clock.now() : 0;
    let pending: void | Promise<void>;
    const store = this.#store;
    const durability = def.durability ?? 'replicated';
    if (store !== undefined && durability !== 'memory') {
      act.durable = true;
      const replication = durability === 'replicated' ? this.#replication : undefined;
      act.replicated = replication !== undefined;
      const key = stateKey(act.address);
      // Load before onActivate; after a commit failure the state on disk is the truth again. A replicated actor
      // takes the newest copy among this peer and the others of its preference list (the old owner on a join,
      // the standby after a crash), and keeps it locally before serving.
      pending = this.#commits
        .then(async () => {
          let record = await store.get(key);
          if (replication !== undefined) {
            const remote = await replication.load(act.address);
            if (newerRecord(remote, record)) {
              await store.put(key, remote!);
              record = remote;
            }
            // The current standby may never have held this actor (a new peer, or the old one crashed).
            if (record !== undefined) replication.mirror(act.address, record).catch(() => {});
          }
          return record;
        })
        .then((record) => {
          act.state = record === undefined ? def.initialState(address.id) : record.state;
          act.version = record?.version ?? 0;
          act.dedupe = record?.dedupe === undefined ? [] : [...record.dedupe];
          act.committed = record;
          return def.onActivate?.(act);
        });
    } else {
      try {
        act.state = def.initialState(address.id);
        pending = def.onActivate?.(act);
      } catch (error) {
        this.#activationFailed(act, error);
        return act;
      }
    }
    if (isThenable(pending)) {
      Promise.resolve(pending).then(
        () => this.#activated(act, started),
        (error: unknown) => this.#activationFailed(act, error),
      );
    } else {
      this.#activated(act, started);
    }
    return act;
  }

  #activated(act: Activation, started: number): void {
    const deactivateRequested = act.status === Status.Deactivating;
    act.status = Status.Active;
    if (this.#emitter.has('actor:activated')) {
      this.#emitter.emit('actor:activated', { address: act.address, peerId: this.peerId, durationMs: this.#clock.now() - started });
    }
    if (deactivateRequested) void this.deactivate(act, act.reason);
    else this.#drain(act);
  }

  #activationFailed(act: Activation, cause: unknown): void {
    this.#remove(act);
    const error = meshError('ActivationFailed', `activation of ${fmt(act.address)} failed: ${describe(cause)}`, { cause });
    act.failure = error;
    this.#emitter.emit('actor:activation-failed', { address: act.address, peerId: this.peerId, error });
    const queued = act.queue ?? [];
    act.queue = undefined;
    for (const env of queued) env.reject?.(error);
  }

  /** Runs queued messages one at a time until the queue is empty or a handler goes async. */
  #drain(act: Activation): void {
    const queue = act.queue;
    while (queue !== undefined && queue.length > 0 && act.status === Status.Active && !act.busy) {
      const env = queue.shift()!;
      if (env.cancelled) continue;
      if (env.deadline !== undefined && this.#clock.now() > env.deadline) {
        this.#fail(act, env, meshError('Timeout', `call to ${fmt(act.address)} expired in the mailbox`));
        continue;
      }
      const handler = act.def.handlers[env.op] as Handler<unknown> | undefined;
      if (handler === undefined) {
        this.#fail(act, env, unknownHandler(act, env.op));
        continue;
      }
      let hash: string | undefined;
      if (act.durable && env.key !== undefined) {
        hash = payloadHash(env.op, env.arg);
        const seen = act.dedupe.find((d) => d.key === env.key);
        if (seen !== undefined) {
          // A retry of a call that already ran: its stored reply, without running the handler again.
          if (seen.hash === hash) this.#settle(act, env, seen.reply, undefined);
          else this.#settle(act, env, undefined, meshError('Conflict', `idempotency key ${env.key} was used with a different payload`, { details: { key: env.key } }));
          continue;
        }
      }
      act.busy = true;
      let result: unknown;
      try {
        result = handler(act.state, env.arg, act);
      } catch (error) {
        act.busy = false;
        this.#settle(act, env, undefined, this.#handlerFailed(act, error));
        continue;
      }
      if (isThenable(result)) {
        Promise.resolve(result).then(
          (reply) => {
            act.busy = false;
            this.#settle(act, env, reply, undefined);
            this.#drain(act);
          },
          (error: unknown) => {
            act.busy = false;
            this.#settle(act, env, undefined, this.#handlerFailed(act, error));
            this.#drain(act);
          },
        );
        return;
      }
      act.busy = false;
      this.#settle(act, env, result, undefined);
    }
    if (!act.busy) this.#idleWaiters.get(act)?.();
  }

  /**
   * Delivers a handler's outcome. In-memory actors: at once. Durable actors: the state after the message joins
   * this tick's commit group, and the outcome leaves only once that group is committed (the output gate); a
   * failed commit turns every outcome of the group into the commit's error and drops the actors' in-memory
   * state, so nothing unacknowledged survives and nothing unstored is acknowledged.
   */
  #settle(act: Activation, env: Envelope, reply: unknown, error: MeshError | undefined): void {
    if (act.durable && env.key !== undefined && error === undefined && !act.dedupe.some((d) => d.key === env.key)) {
      act.dedupe.push({ key: env.key, hash: payloadHash(env.op, env.arg), reply, at: this.#clock.now() });
      if (act.dedupe.length > DEDUPE_LIMIT) act.dedupe.splice(0, act.dedupe.length - DEDUPE_LIMIT);
    }
    if (!act.durable) {
      if (error === undefined) env.resolve?.(reply);
      else this.#fail(act, env, error);
      return;
    }
    let group = this.#group;
    if (group === undefined) {
      group = this.#group = { acts: new Map() };
      queueMicrotask(() => this.#seal());
    }
    let releases = group.acts.get(act);
    if (releases === undefined) group.acts.set(act, (releases = []));
    releases.push((commitError) => {
      const e = commitError ?? error;
      if (e === undefined) env.resolve?.(reply);
      else this.#fail(act, env, e);
    });
  }

  /** Seals this tick's group (snapshotting each actor's state now) and commits it after the groups before it. */
  #seal(): void {
    const group = this.#group;
    this.#group = undefined;
    if (group === undefined) return;
    const ops: Array<{ type: 'put'; key: string; record: { state: unknown; version: number; epoch: number; dedupe: DedupeEntry[] } }> = [];
    const epoch = this.#epoch();
    let snapshotError: MeshError | undefined;
    for (const act of group.acts.keys()) {
      try {
        ops.push({
          type: 'put',
          key: stateKey(act.address),
          record: { state: structuredClone(act.state), version: act.version + 1, epoch, dedupe: structuredClone(act.dedupe) },
        });
      } catch (cause) {
        snapshotError = meshError('InvalidArgument', `state of ${fmt(act.address)} cannot be stored: ${describe(cause)}`, { cause });
      }
    }
    const store = this.#store!;
    this.#commits = this.#commits.then(async () => {
      let failure: MeshError | undefined = snapshotError;
      const actFailures = new Map<Activation, MeshError>();
      if (failure === undefined) {
        try {
          await store.batch(ops);
        } catch (error) {
          failure = error instanceof MeshError ? error : meshError('StorageError', `commit failed: ${describe(error)}`, { cause: error });
        }
      }
      if (failure === undefined) {
        let i = 0;
        const mirrored: Array<[Activation, StateRecord, Promise<void>]> = [];
        // Mirror failures are per actor: the other actors of the group are stored and mirrored.
        for (const act of group.acts.keys()) {
          const op = ops[i++]!;
          act.version = op.record.version;
          if (act.replicated) mirrored.push([act, op.record, this.#replication!.mirror(act.address, op.record)]);
          else act.committed = op.record;
        }
        if (mirrored.length > 0) {
          // The output gate: replies wait for the standby's acknowledgement too. Not mirrored means not written:
          // a failed mirror rolls the local record back to the last mirrored one and drops the activation, so
          // the caller's retry runs once, on whichever peer owns the actor then.
          const results = await Promise.allSettled(mirrored.map((m) => m[2]));
          for (let k = 0; k < mirrored.length; k++) {
            const [act, record] = mirrored[k]!;
            const r = results[k]!;
            if (r.status === 'fulfilled') {
              act.committed = record;
              continue;
            }
            actFailures.set(act, r.reason instanceof MeshError ? r.reason : meshError('PeerUnavailable', `mirror failed: ${describe(r.reason)}`, { cause: r.reason }));
            const key = stateKey(act.address);
            try {
              if (act.committed === undefined) await store.delete(key);
              else await store.put(key, act.committed, { expectEpochAtMost: false });
            } catch {
              // The store failed too; the activation is dropped below either way.
            }
            this.#discard(act);
          }
        }
      } else {
        // Memory is ahead of the store: forget these activations; the next message reloads the stored state.
        for (const act of group.acts.keys()) this.#discard(act);
      }
      for (const [act, releases] of group.acts) {
        const error = failure ?? actFailures.get(act);
        for (const release of releases) release(error);
      }
    });
  }

  /** Drops an activation without saving or running onDeactivate; its queued messages are re-routed. */
  #discard(act: Activation): void {
    if (act.status === Status.Gone) return;
    this.#remove(act);
    this.#emitter.emit('actor:deactivated', { address: act.address, peerId: this.peerId, reason: 'storage-failed' });
    const queued = act.queue ?? [];
    act.queue = undefined;
    if (queued.length > 0) this.#onOrphans?.(act.address, queued);
  }

  /** Resolves once every commit started so far has finished. */
  flushed(): Promise<void> {
    if (this.#group !== undefined) this.#seal();
    return this.#commits;
  }

  readonly #idleWaiters = new Map<Activation, () => void>();

  #whenIdle(act: Activation): Promise<void> {
    if (!act.busy) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idleWaiters.set(act, () => {
        this.#idleWaiters.delete(act);
        resolve();
      });
    });
  }

  async #finishDeactivate(act: Activation): Promise<void> {
    if (act.durable) await this.flushed();
    try {
      await act.def.onDeactivate?.(act);
    } catch (error) {
      this.#emitter.emit('handler:error', { address: act.address, peerId: this.peerId, error: this.#handlerFailed(act, error) });
    }
    this.#remove(act);
    this.#emitter.emit('actor:deactivated', { address: act.address, peerId: this.peerId, reason: act.reason });
    const queued = act.queue ?? [];
    act.queue = undefined;
    if (queued.length > 0) this.#onOrphans?.(act.address, queued);
  }

  #onOrphans: ((address: ActorAddress, envelopes: Envelope[]) => void) | undefined;

  /**
   * Sets who receives messages that were queued on an actor when it was deactivated: the mesh re-routes them
   * (to a fresh activation here, or to the new owner).
   */
  onOrphans(fn: (address: ActorAddress, envelopes: Envelope[]) => void): void {
    this.#onOrphans = fn;
  }

  /**
   * Sends the last mirrored record of every active replicated actor to its current standby (after a view
   * change the standby may be a new peer: it gets a full copy now, not at the next write). Best effort; stale
   * or repeated copies are fenced or idempotent at the standby.
   */
  remirror(): void {
    const replication = this.#replication;
    if (replication === undefined) return;
    for (const act of this.list()) {
      if (act.replicated && act.status === Status.Active && act.committed !== undefined) {
        replication.mirror(act.address, act.committed).catch(() => {
          // The next write mirrors again, with the same output gate.
        });
      }
    }
  }

  /**
   * Gives up an actor here (its shard moved): deactivates it if active, then waits until it is gone and every
   * commit (and mirror) started so far has finished. The new owner calls this through a fetch before loading.
   */
  async release(address: ActorAddress): Promise<void> {
    const act = this.get(address.capability, address.type, address.id);
    if (act !== undefined && act.status !== Status.Gone) {
      act.gone ??= new Promise<void>((resolve) => (act.goneResolve = resolve));
      void this.deactivate(act, 'not-owner');
      await act.gone;
    }
    await this.flushed();
  }

  #remove(act: Activation): void {
    act.status = Status.Gone;
    act.goneResolve?.();
    const ids = this.#actors.get(act.address.capability)?.get(act.address.type);
    if (ids?.get(act.address.id) === act) {
      ids.delete(act.address.id);
      this.#count--;
    }
  }

  #fail(act: Activation, env: Envelope, error: MeshError): void {
    if (env.reject !== undefined) env.reject(error);
    else this.#emitter.emit('handler:error', { address: act.address, peerId: this.peerId, error });
  }

  #handlerFailed(act: Activation, error: unknown): MeshError {
    if (error instanceof MeshError) return error;
    const err = meshError('HandlerFailed', `handler of ${fmt(act.address)} threw: ${describe(error)}`, { cause: error });
    if (this.#emitter.has('handler:error')) this.#emitter.emit('handler:error', { address: act.address, peerId: this.peerId, error: err });
    return err;
  }

  #sweep(): void {
    this.#tick++;
    const now = this.#tick;
    for (const types of this.#actors.values()) {
      for (const ids of types.values()) {
        for (const act of ids.values()) {
          if (act.status !== Status.Active || act.busy || (act.queue !== undefined && act.queue.length > 0)) continue;
          const idleMs = (now - act.lastTick) * this.#sweepMs;
          if (idleMs >= (act.def.idleTimeoutMs ?? this.#defaultIdleMs)) void this.deactivate(act, 'idle');
        }
      }
    }
  }
}

/** A 64-bit hash (two MurmurHash3 seeds) of a call's op and encoded argument, to tell retries from key reuse. */
export function payloadHash(op: string, arg: unknown): string {
  let bytes: Uint8Array;
  try {
    bytes = msgpackCodec.encode([op, arg ?? null]);
  } catch {
    return `unencodable:${op}`;
  }
  let text = '';
  for (let i = 0; i < bytes.length; i += 4096) text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return `${murmur3_32(text, 0).toString(16)}${murmur3_32(text, 0x9747b28c).toString(16)}:${bytes.length}`;
}

function unknownHandler(act: Activation, op: string): MeshError {
  return meshError('UnknownHandler', `actor type ${act.address.type} has no handler ${JSON.stringify(op)}`, { details: { op } });
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Formats an address for messages. */
export function fmt(a: ActorAddress): string {
  return `${a.capability}/${a.type}/${a.id}`;
}
