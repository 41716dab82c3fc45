/**
 * The actors that are active on this peer. Each activation is a small state machine
 * (activating -> active -> deactivating -> gone; a failed activation goes straight to gone, so the next message
 * starts a fresh one) with its own FIFO mailbox: one message at a time per actor, and a slow actor never stalls
 * another. Idle actors are passivated by a sweep that runs on the injected clock (an actor with subscribers is
 * never idle).
 *
 * Subscriptions, owner side: every activation is an event stream with an id (`streamId`) and a sequence number
 * per event. `ctx.publish` collects events in an outbox that leaves with the message's outcome (after the commit
 * for durable actors); each event is numbered, kept in a small replay ring, and sent to every subscriber. When
 * the activation goes away, each subscriber gets an end notice with the last sequence number, so it can resume
 * at the next owner and tell whether it missed anything.
 */
import type { Clock, Timer } from '../clock/clock.js';
import { meshError, MeshError } from '../errors.js';
import type { ActorAddress, DeactivationReason, Emitter } from '../monitoring/events.js';
import type { DedupeEntry, StateRecord, StateStore } from '../persistence/types.js';
import { murmur3_32 } from '../placement/hash.js';
import { msgpackCodec } from '../codec/msgpack.js';
import { stateKey } from '../persistence/keys.js';
import type { ActorContext, ActorDefinition, AnyActorDefinition, Handler, MeshCaller } from './define.js';
import type { StreamTail, SubscribeReply } from './protocol.js';

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
  /** Set for a subscription request: registered in mailbox order; `resolve` receives a {@link SubscribeReply}. */
  readonly sub?: SubscribeRequest | undefined;
}

/** A subscription request, delivered through the actor's mailbox. */
export interface SubscribeRequest {
  /** The subscribing peer. */
  readonly peer: string;
  /** The subscriber's id of this registration (echoed in every event). */
  readonly subId: number;
  /** The stream the subscriber last heard from ('' for a new subscription). */
  readonly resumeStream: string;
  /** The last sequence number it received from `resumeStream`. */
  readonly resumeSeq: number;
}

/** Why an owner ended a subscription (sent to the subscriber). */
export type SubEndReason = 'moved' | 'overflow';

/** Bounds of subscriptions. */
export interface SubscriptionLimits {
  /** Most subscriber peers per actor; more are refused with `TooManySubscribers` (default 1024). */
  readonly maxSubscribersPerActor: number;
  /**
   * Most events waiting per subscriber (not yet accepted by the transport) before the owner drops it with
   * `SubscriptionOverflow`; also the most events an actor may have waiting for its commit (default 1024).
   */
  readonly maxPendingEvents: number;
  /** Recent events each activation keeps, to replay to a subscriber that comes back or arrives after a move (default 64). */
  readonly replayEvents: number;
  /**
   * Subscriber side: after a view change moves an actor, how long to wait for the old owner's end notice (which
   * follows its last events) before subscribing at the new owner anyway (default 5000 ms).
   */
  readonly handoffTimeoutMs: number;
}

/**
 * The `prevTail` of an activation that found no stored record of its actor anywhere: no earlier activation handled
 * a message. Its stream id `-` never names a real stream (those are `peerId/incarnation/n`).
 */
export const NO_EARLIER_STREAM: StreamTail = ['-', 0, 0, 0];

/** Default {@link SubscriptionLimits}. */
export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = { maxSubscribersPerActor: 1024, maxPendingEvents: 1024, replayEvents: 64, handoffTimeoutMs: 5000 };

/** How a host sends subscription traffic (provided by the mesh). */
export interface EventWire {
  /**
   * Sends one event to subscriber `peer` / `subId`. Returns a promise that settles once the transport accepted
   * the frame (a remote subscriber; rejects when the link is gone), or undefined (a local subscriber, served at
   * once). Throws synchronously when the event cannot be encoded.
   */
  event(peer: string, subId: number, seq: number, event: unknown): Promise<void> | undefined;
  /** Tells subscriber `peer` / `subId` that its registration ended after event `lastSeq`. */
  end(peer: string, subId: number, lastSeq: number, reason: SubEndReason): void;
  /** Remembers where an activation's stream ended with its last record (answered to the next owner's fetch). */
  tail(address: ActorAddress, tail: StreamTail): void;
}

/** One subscriber of one activation. */
interface Subscriber {
  readonly subId: number;
  /** Events handed to the transport and not yet accepted. */
  pending: number;
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
  /** This activation's event stream id (unique per activation). */
  readonly streamId: string;
  /** Sequence number of the last event sent out. */
  eventSeq = 0;
  /** Subscribers by peer id (allocated on the first one). */
  subscribers: Map<string, Subscriber> | undefined = undefined;
  /** Events published by the running handler, not yet released. */
  outbox: unknown[] | undefined = undefined;
  /** Events released from the outbox that wait for their commit. */
  awaiting = 0;
  /** The last events sent, `[seq, event]`, oldest first (for replays). */
  recent: Array<readonly [number, unknown]> | undefined = undefined;
  /** Where the previous activation's stream ended, when the loaded record says so. */
  prevTail: StreamTail | undefined = undefined;
  readonly #host: ActorHost;

  constructor(address: ActorAddress, def: ActorDefinition<unknown>, host: ActorHost, tick: number, streamId: string) {
    this.address = address;
    this.def = def;
    this.peerId = host.peerId;
    this.mesh = host.mesh;
    this.lastTick = tick;
    this.streamId = streamId;
    this.#host = host;
  }

  /** Sends `event` to this actor's subscribers (see {@link ActorContext.publish}). */
  publish(event: unknown): void {
    this.#host.publish(this, event);
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
  /** Where subscription events go (none: events are numbered and kept for replay only). */
  events?: EventWire | undefined;
  /** Subscription bounds (default {@link DEFAULT_SUBSCRIPTION_LIMITS}). */
  limits?: SubscriptionLimits | undefined;
  /** Prefix of stream ids, unique per peer incarnation (default: the peer id). */
  streamPrefix?: string | undefined;
}

/** How a host reaches the other copies of a replicated actor (provided by the mesh). */
export interface Replication {
  /**
   * The newest record held by the other peers of the actor's preference list (undefined: none), with the stream
   * tail that came with it, if any.
   */
  load(address: ActorAddress): Promise<{ record: StateRecord | undefined; tail: StreamTail | undefined }>;
  /** The stream tail this peer keeps for `address` if it belongs to `record` (same epoch and version). */
  localTail(address: ActorAddress, record: StateRecord): StreamTail | undefined;
  /**
   * Copies a committed record (and where the actor's event stream stood with it) to the actor's standby;
   * resolves on its acknowledgement (at once without one).
   */
  mirror(address: ActorAddress, record: StateRecord, tail?: StreamTail): Promise<void>;
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
  /** Events each actor published in this group (released with its outcomes once committed). */
  readonly events: Map<Activation, number>;
  /** The state keys of `acts`, in the same order. */
  readonly keys: string[];
  /** The same keys, for lookups. */
  readonly keySet: Set<string>;
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
  /** The group collecting this tick's durable writes. */
  #group: CommitGroup | undefined;
  /**
   * The last commit (store write, then mirror, then release of the outcomes) of each actor in flight, by state key.
   * Commits of one actor run in order, each after the previous one settled (a failed mirror rolls back before the
   * next write); commits of different actors do not wait for each other, so a slow standby delays only the
   * actors it mirrors.
   */
  readonly #lastCommit = new Map<string, Promise<void>>();
  /** Every commit in flight (for `flushed`). */
  readonly #inflight = new Set<Promise<void>>();
  readonly #events: EventWire | undefined;
  readonly #limits: SubscriptionLimits;
  readonly #streamPrefix: string;
  #streams = 0;
  /** Subscriptions by subscriber peer, then subscription id: the activation each one is registered on. */
  readonly #subsByPeer = new Map<string, Map<number, Activation>>();

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
    this.#events = options.events;
    this.#limits = options.limits ?? DEFAULT_SUBSCRIPTION_LIMITS;
    this.#streamPrefix = options.streamPrefix ?? options.peerId;
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
      if (act.outbox !== undefined) this.#flushOutbox(act);
      this.#drain(act);
      throw this.#handlerFailed(act, error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (reply) => {
          act.busy = false;
          if (act.outbox !== undefined) this.#flushOutbox(act);
          this.#drain(act);
          return reply;
        },
        (error: unknown) => {
          act.busy = false;
          if (act.outbox !== undefined) this.#flushOutbox(act);
          this.#drain(act);
          throw this.#handlerFailed(act, error);
        },
      );
    }
    act.busy = false;
    if (act.outbox !== undefined) this.#flushOutbox(act);
    if (act.queue !== undefined && act.queue.length > 0) this.#drain(act);
    return result;
  }

  /**
   * Delivers a message to an actor, activating it first if needed. The envelope's resolve/reject receive the
   * outcome. Throws synchronously (typed) for an unknown type or a full mailbox.
   */
  deliver(address: ActorAddress, env: Envelope): void {
    this.deliverTo(address.capability, address.type, address.id, env);
  }

  /** {@link deliver} with the address in parts (spares an address object per message). */
  deliverTo(capability: string, type: string, id: string, env: Envelope): void {
    let act = this.get(capability, type, id);
    if (act === undefined || act.status === Status.Gone) act = this.#activate({ capability, type, id });
    const limit = act.def.mailboxLimit ?? this.#mailboxLimit;
    if (act.queue === undefined) act.queue = [];
    if (act.queue.length >= limit) {
      throw meshError('MailboxFull', `mailbox of ${fmt(act.address)} is full (${limit} messages)`, { details: { limit } });
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
      act.subscribers = undefined;
    }
    this.#actors.clear();
    this.#subsByPeer.clear();
    this.#count = 0;
  }

  /**
   * Deactivates everything and stops the sweep. Resolves once every activation is gone (an activating one
   * finishes first, then goes) and every commit started so far, with its mirror, has finished: the replies of
   * the messages that ran are out, and queued messages were handed to the orphan handler.
   */
  async close(): Promise<void> {
    this.#sweeper?.cancel();
    this.#sweeper = undefined;
    await Promise.all(this.list().map((act) => (act.status === Status.Gone ? undefined : this.#deactivateAndWait(act, 'shutdown'))));
    await this.flushed();
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
    const act = new Activation({ capability: address.capability, type: address.type, id: address.id }, def, this, this.#tick, `${this.#streamPrefix}/${++this.#streams}`);
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
      pending = this.#settled(key)
        .then(async () => {
          let record = await store.get(key);
          if (replication !== undefined) {
            const remote = await replication.load(act.address);
            if (newerRecord(remote.record, record)) {
              await store.put(key, remote.record!);
              record = remote.record;
              act.prevTail = remote.tail;
            } else if (record !== undefined) {
              act.prevTail = replication.localTail(act.address, record);
            }
            // The current standby may never have held this actor (a new peer, or the old one crashed).
            if (record !== undefined) replication.mirror(act.address, record, act.prevTail).catch(() => {});
            // No copy anywhere: no earlier activation ran a message, so none published anything a subscriber missed.
            else act.prevTail = NO_EARLIER_STREAM;
          }
          return record;
        })
        .then((record) => {
          // A copy: handlers mutate the state in place, and `committed` (what a failed write rolls back to, what
          // is re-mirrored) must keep the stored value, not the unacknowledged one.
          act.state = record === undefined ? def.initialState(address.id) : structuredClone(record.state);
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
    // Events published by onActivate leave now (there is no message outcome to wait for).
    if (act.outbox !== undefined) this.#flushOutbox(act);
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
    // One clock read per drain (messages that expire while this drain runs its handlers still run).
    let now = -1;
    while (queue !== undefined && queue.length > 0 && act.status === Status.Active && !act.busy) {
      const env = queue.shift()!;
      if (env.cancelled) continue;
      if (env.deadline !== undefined && (now < 0 ? (now = this.#clock.now()) : now) > env.deadline) {
        this.#fail(act, env, meshError('Timeout', `call to ${fmt(act.address)} expired in the mailbox`));
        continue;
      }
      if (env.sub !== undefined) {
        this.#register(act, env, env.sub);
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
      if (act.outbox !== undefined) this.#flushOutbox(act);
      if (error === undefined) env.resolve?.(reply);
      else this.#fail(act, env, error);
      return;
    }
    let group = this.#group;
    if (group === undefined) {
      group = this.#group = { acts: new Map(), events: new Map(), keys: [], keySet: new Set() };
      queueMicrotask(() => this.#seal());
    }
    let releases = group.acts.get(act);
    if (releases === undefined) {
      group.acts.set(act, (releases = []));
      const key = stateKey(act.address);
      group.keys.push(key);
      group.keySet.add(key);
    }
    // Events leave with the outcome, once the state they describe is committed; a failed commit drops them.
    const events = act.outbox;
    act.outbox = undefined;
    if (events !== undefined) {
      act.awaiting += events.length;
      group.events.set(act, (group.events.get(act) ?? 0) + events.length);
    }
    releases.push((commitError) => {
      if (events !== undefined) {
        act.awaiting -= events.length;
        if (commitError === undefined) this.#emitEvents(act, events);
      }
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
    const keys = group.keys;
    let k = 0;
    for (const act of group.acts.keys()) {
      const key = keys[k++]!;
      try {
        ops.push({
          type: 'put',
          key,
          record: { state: structuredClone(act.state), version: act.version + 1, epoch, dedupe: structuredClone(act.dedupe) },
        });
      } catch (cause) {
        snapshotError = meshError('InvalidArgument', `state of ${fmt(act.address)} cannot be stored: ${describe(cause)}`, { cause });
      }
    }
    const store = this.#store!;
    const before: Promise<void>[] = [];
    for (const key of keys) {
      const last = this.#lastCommit.get(key);
      if (last !== undefined) before.push(last);
    }
    // One store write for the group, after the previous commit of each of its actors.
    const written = (before.length === 0 ? Promise.resolve() : Promise.all(before)).then(async (): Promise<MeshError | undefined> => {
      if (snapshotError !== undefined) return snapshotError;
      try {
        await store.batch(ops);
        return undefined;
      } catch (error) {
        return error instanceof MeshError ? error : meshError('StorageError', `commit failed: ${describe(error)}`, { cause: error });
      }
    });
    let i = 0;
    for (const [act, releases] of group.acts) {
      const key = keys[i]!;
      const op = ops[i++];
      // Then each actor on its own: its mirror, then its outcomes (a slow standby holds up only its actors).
      const committed = written.then(async (failure) => {
        if (failure !== undefined || op === undefined) {
          // Memory is ahead of the store: forget this activation; the next message reloads the stored state.
          this.#discard(act);
          for (const release of releases) release(failure);
          return;
        }
        act.version = op.record.version;
        const record = op.record;
        if (!act.replicated) {
          act.committed = record;
          for (const release of releases) release(undefined);
          return;
        }
        // The output gate: replies wait for the standby's acknowledgement too. Not mirrored means not written:
        // a failed mirror rolls the local record back to the last mirrored one and drops the activation, so
        // the caller's retry runs once, on whichever peer owns the actor then.
        try {
          await this.#replication!.mirror(act.address, record, this.#tailOf(act, record, group.events.get(act) ?? 0));
        } catch (reason) {
          const error = reason instanceof MeshError ? reason : meshError('PeerUnavailable', `mirror failed: ${describe(reason)}`, { cause: reason });
          try {
            if (act.committed === undefined) await store.delete(key);
            else await store.put(key, act.committed, { expectEpochAtMost: false });
          } catch {
            // The store failed too; the activation is dropped below either way.
          }
          this.#discard(act);
          for (const release of releases) release(error);
          return;
        }
        act.committed = record;
        for (const release of releases) release(undefined);
      });
      // Never rejects (the next commit of this actor waits for it).
      const done = committed.then(undefined, (error: unknown) => {
        this.#emitter.emit('handler:error', { address: act.address, peerId: this.peerId, error: error instanceof Error ? error : new Error(String(error)) });
      });
      this.#lastCommit.set(key, done);
      this.#inflight.add(done);
      void done.then(() => {
        this.#inflight.delete(done);
        if (this.#lastCommit.get(key) === done) this.#lastCommit.delete(key);
      });
    }
  }

  /** Resolves once every commit of the actor with state key `key` started so far has finished. */
  #settled(key: string): Promise<void> {
    if (this.#group?.keySet.has(key) === true) this.#seal();
    return this.#lastCommit.get(key) ?? Promise.resolve();
  }

  /** Drops an activation without saving or running onDeactivate; its queued messages are re-routed. */
  #discard(act: Activation): void {
    if (act.status === Status.Gone) return;
    this.#remove(act);
    this.#endStream(act);
    this.#emitter.emit('actor:deactivated', { address: act.address, peerId: this.peerId, reason: 'storage-failed' });
    const queued = act.queue ?? [];
    act.queue = undefined;
    if (queued.length > 0) this.#onOrphans?.(act.address, queued);
  }

  /** Resolves once every commit started so far has finished. */
  flushed(): Promise<void> {
    if (this.#group !== undefined) this.#seal();
    return this.#inflight.size === 0 ? Promise.resolve() : Promise.all([...this.#inflight]).then(() => undefined);
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
    if (act.durable) await this.#settled(stateKey(act.address));
    try {
      await act.def.onDeactivate?.(act);
    } catch (error) {
      this.#emitter.emit('handler:error', { address: act.address, peerId: this.peerId, error: this.#handlerFailed(act, error) });
    }
    if (act.outbox !== undefined) this.#flushOutbox(act);
    this.#remove(act);
    this.#endStream(act);
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
        replication.mirror(act.address, act.committed, this.#tailOf(act, act.committed, 0)).catch(() => {
          // The next write mirrors again, with the same output gate.
        });
      }
    }
  }

  /**
   * Gives up an actor here (its shard moved): deactivates it if active, then waits until it is gone and every
   * commit (and mirror) of it started so far has finished. The new owner calls this through a fetch before loading.
   */
  async release(address: ActorAddress): Promise<void> {
    const act = this.get(address.capability, address.type, address.id);
    if (act !== undefined && act.status !== Status.Gone) await this.#deactivateAndWait(act, 'not-owner');
    await this.#settled(stateKey(address));
  }

  /** Deactivates `act` and resolves once it is gone (an activating one finishes first, then goes). */
  #deactivateAndWait(act: Activation, reason: DeactivationReason): Promise<void> {
    act.gone ??= new Promise<void>((resolve) => (act.goneResolve = resolve));
    void this.deactivate(act, reason);
    return act.gone;
  }

  // ---------------------------------------------------------------- subscriptions (owner side)

  /** `ctx.publish`: queues an event in the actor's outbox (sent with the message's outcome, or now outside one). */
  publish(act: Activation, event: unknown): void {
    if (act.status === Status.Gone) return;
    const waiting = (act.outbox?.length ?? 0) + act.awaiting;
    if (waiting >= this.#limits.maxPendingEvents) {
      throw meshError('SubscriptionOverflow', `${fmt(act.address)} has ${waiting} events waiting for delivery (limit ${this.#limits.maxPendingEvents})`, {
        details: { limit: this.#limits.maxPendingEvents },
      });
    }
    (act.outbox ??= []).push(event);
    // Outside a message (a timer, onDeactivate): nothing to wait for.
    if (!act.busy && act.status !== Status.Activating) this.#flushOutbox(act);
  }

  /** Removes subscription `subId` of `peer` (an unsubscribe); unknown ids are ignored. */
  unsubscribe(peer: string, subId: number): void {
    const byId = this.#subsByPeer.get(peer);
    const act = byId?.get(subId);
    if (byId === undefined || act === undefined) return;
    byId.delete(subId);
    if (byId.size === 0) this.#subsByPeer.delete(peer);
    if (act.subscribers?.get(peer)?.subId === subId) act.subscribers.delete(peer);
  }

  /** Forgets every subscription of `peer` (it left the view, restarted, or its link went down). */
  dropSubscriber(peer: string): void {
    const byId = this.#subsByPeer.get(peer);
    if (byId === undefined) return;
    this.#subsByPeer.delete(peer);
    for (const [subId, act] of byId) if (act.subscribers?.get(peer)?.subId === subId) act.subscribers.delete(peer);
  }

  /** Subscriptions registered on this peer's activations (for stats). */
  get subscriptions(): number {
    let n = 0;
    for (const byId of this.#subsByPeer.values()) n += byId.size;
    return n;
  }

  /** Registers a subscriber (in mailbox order), answers it, then replays what it missed from the ring. */
  #register(act: Activation, env: Envelope, sub: SubscribeRequest): void {
    let subs = act.subscribers;
    const existing = subs?.get(sub.peer);
    if (existing === undefined && subs !== undefined && subs.size >= this.#limits.maxSubscribersPerActor) {
      this.#fail(
        act,
        env,
        meshError('TooManySubscribers', `${fmt(act.address)} already has ${subs.size} subscribers`, { details: { limit: this.#limits.maxSubscribersPerActor } }),
      );
      return;
    }
    if (existing !== undefined) this.#unindex(sub.peer, existing.subId);
    const entry: Subscriber = { subId: sub.subId, pending: 0 };
    (subs ??= act.subscribers = new Map()).set(sub.peer, entry);
    let byId = this.#subsByPeer.get(sub.peer);
    if (byId === undefined) this.#subsByPeer.set(sub.peer, (byId = new Map()));
    byId.set(sub.subId, act);
    // Replay: a returning subscriber gets what this activation published after the last event it received here;
    // one coming from another activation gets this activation's events from the start, as far as the ring goes.
    let from = act.eventSeq + 1;
    const recent = act.recent;
    if (sub.resumeStream !== '' && recent !== undefined && recent.length > 0) {
      const after = sub.resumeStream === act.streamId ? sub.resumeSeq : 0;
      if (after < act.eventSeq) from = Math.max(after + 1, recent[0]![0]);
    }
    const prev = act.prevTail;
    const reply: SubscribeReply = [act.streamId, act.eventSeq, prev?.[0] ?? '', prev?.[1] ?? 0, from];
    env.resolve?.(reply);
    if (recent !== undefined && from <= act.eventSeq) {
      for (const [seq, event] of recent) {
        if (seq >= from && act.subscribers?.get(sub.peer) === entry) this.#sendEvent(act, sub.peer, entry, seq, event);
      }
    }
  }

  #unindex(peer: string, subId: number): void {
    const byId = this.#subsByPeer.get(peer);
    if (byId === undefined) return;
    byId.delete(subId);
    if (byId.size === 0) this.#subsByPeer.delete(peer);
  }

  #flushOutbox(act: Activation): void {
    const events = act.outbox;
    act.outbox = undefined;
    if (events !== undefined) this.#emitEvents(act, events);
  }

  /** Numbers events, keeps them in the replay ring, and sends them to every subscriber. */
  #emitEvents(act: Activation, events: readonly unknown[]): void {
    const ringSize = this.#limits.replayEvents;
    for (const event of events) {
      const seq = ++act.eventSeq;
      if (ringSize > 0) {
        const ring = (act.recent ??= []);
        ring.push([seq, event]);
        if (ring.length > ringSize) ring.shift();
      }
      const subs = act.subscribers;
      if (subs === undefined || subs.size === 0) continue;
      for (const [peer, entry] of subs) this.#sendEvent(act, peer, entry, seq, event);
    }
  }

  #sendEvent(act: Activation, peer: string, entry: Subscriber, seq: number, event: unknown): void {
    const wire = this.#events;
    if (wire === undefined) return;
    let sent: Promise<void> | undefined;
    try {
      sent = wire.event(peer, entry.subId, seq, event);
    } catch (error) {
      // Unencodable: the subscriber sees the gap in sequence numbers (EventsLost); the developer sees this.
      this.#emitter.emit('handler:error', { address: act.address, peerId: this.peerId, error: this.#handlerFailed(act, error) });
      return;
    }
    if (sent === undefined) return;
    if (++entry.pending > this.#limits.maxPendingEvents) {
      // A subscriber that cannot keep up is dropped (its memory is bounded), and told why.
      act.subscribers?.delete(peer);
      this.#unindex(peer, entry.subId);
      wire.end(peer, entry.subId, act.eventSeq, 'overflow');
      return;
    }
    sent.then(
      () => void entry.pending--,
      () => {
        // The link went away: the subscriber notices too and subscribes again.
        if (act.subscribers?.get(peer) === entry) {
          act.subscribers.delete(peer);
          this.#unindex(peer, entry.subId);
        }
      },
    );
  }

  /** The activation is gone: tells each subscriber where its stream ended, and keeps the tail for the next owner. */
  #endStream(act: Activation): void {
    const subs = act.subscribers;
    act.subscribers = undefined;
    act.recent = undefined;
    const wire = this.#events;
    if (wire === undefined) return;
    if (act.committed !== undefined && (act.eventSeq > 0 || (subs !== undefined && subs.size > 0))) {
      wire.tail(act.address, [act.streamId, act.eventSeq, act.committed.epoch, act.committed.version]);
    }
    if (subs === undefined) return;
    for (const [peer, entry] of subs) {
      this.#unindex(peer, entry.subId);
      wire.end(peer, entry.subId, act.eventSeq, 'moved');
    }
  }

  /** The stream tail that goes with `record` (mirrored), counting `releasing` events released with it. */
  #tailOf(act: Activation, record: StateRecord, releasing: number): StreamTail | undefined {
    const seq = act.eventSeq + releasing;
    // Only streams someone may ask about: with events, or with subscribers (who then learn that none were missed).
    if (seq === 0 && (act.subscribers === undefined || act.subscribers.size === 0)) return undefined;
    return [act.streamId, seq, record.epoch, record.version];
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
          if (act.subscribers !== undefined && act.subscribers.size > 0) continue; // subscribed: in use
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
