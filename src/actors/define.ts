/**
 * Actor definitions. An actor type is a set of named handlers over a piece of state:
 *
 * ```ts
 * const Counter = defineActor({
 *   type: 'counter',
 *   initialState: () => ({ count: 0 }),
 *   handlers: {
 *     add: (state, by: number) => (state.count += by),
 *     get: (state) => state.count,
 *   },
 * });
 * ```
 *
 * Handlers run one at a time per actor (its mailbox is FIFO). They may mutate `state` in place or replace it
 * with `ctx.state = next`; they may be async. What a handler returns is the reply.
 */
import { meshError } from '../errors.js';
import type { ActorAddress } from '../monitoring/events.js';

/** What a handler can reach besides its state. */
export interface ActorContext<S = unknown> {
  /** The actor's address. */
  readonly address: ActorAddress;
  /** The id of the peer the actor is active on. */
  readonly peerId: string;
  /** The actor's state; assign to replace it. */
  state: S;
  /** The mesh this actor lives in, to call or cast to other actors. */
  readonly mesh: MeshCaller;
  /**
   * Sends `event` to every current subscriber of this actor (see `mesh.subscribe`), in publication order. Events
   * published by a handler leave when the handler's message is done; for durable actors, only once the state the
   * handler wrote is committed (and mirrored), like its reply, so an event never describes a rolled-back write.
   * The event must be encodable by the mesh codec (it is sent to remote subscribers as is, and handed to local
   * ones by reference). Throws `SubscriptionOverflow` when more than the mesh's `maxPendingEvents` events of this
   * actor are waiting to be delivered.
   */
  publish(event: unknown): void;
}

/** The calling half of a mesh, as seen from inside an actor. */
export interface MeshCaller {
  call<R = unknown>(request: CallRequest, options?: CallOptions): Promise<CallResult<R>>;
  cast(request: CallRequest): void;
}

/** A message for one actor: which handler (`op`) with which argument. */
export interface ActorPayload {
  readonly op: string;
  readonly arg?: unknown;
}

/** Where a call goes and what it carries. */
export interface CallRequest {
  readonly capability: string;
  readonly type: string;
  readonly id: string;
  readonly payload: ActorPayload;
}

/** Per-call options. */
export interface CallOptions {
  /** Deadline for the whole call, retries included (default: the mesh's `defaultTimeoutMs`). */
  readonly timeoutMs?: number;
  /** Aborts the call; it then rejects with an `Aborted` error. */
  readonly signal?: AbortSignal;
  /** Key that identifies this logical call across retries (generated when omitted). */
  readonly idempotencyKey?: string;
  /**
   * Retry on another owner when the owner is lost mid-call (`PeerUnavailable`), with the same idempotency key,
   * within the deadline. Durable actors answer a retry of a call they already ran from their dedupe table, so
   * the effect happens once; in-memory actors have no such table, so a retry may run twice. Default: `true`
   * when `idempotencyKey` is given, else `false`.
   */
  readonly retry?: boolean;
}

/** What a call resolves with. */
export interface CallResult<R = unknown> {
  /** The handler's return value. */
  readonly reply: R;
  /** The peer that served the call. */
  readonly peerId: string;
}

/** A handler: `(state, arg, ctx) => reply`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler<S> = (state: S, arg: any, ctx: ActorContext<S>) => unknown;

/** The handlers of an actor type. */
export type Handlers<S> = Record<string, Handler<S>>;

/** The argument type of handler `K`. */
export type ArgOf<H, K extends keyof H> = H[K] extends (state: never, arg: infer A, ...rest: never[]) => unknown
  ? unknown extends A
    ? undefined
    : A
  : never;

/** The reply type of handler `K`. */
export type ReplyOf<H, K extends keyof H> = H[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** Any actor definition, whatever its state and handler types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyActorDefinition = ActorDefinition<any, any>;

/** What `defineActor` takes. */
export interface ActorSpec<S, H extends Handlers<S>> {
  /** The actor type name, unique within a mesh. */
  readonly type: string;
  /** The state of a freshly activated actor. */
  readonly initialState: (id: string) => S;
  /** The message handlers. */
  readonly handlers: H;
  /** Runs after the state is loaded, before the first message. A throw fails the activation. */
  readonly onActivate?: (ctx: ActorContext<S>) => void | Promise<void>;
  /** Runs before the actor is passivated or moved. */
  readonly onDeactivate?: (ctx: ActorContext<S>) => void | Promise<void>;
  /** Passivate after this long without messages (default: the mesh's `idleTimeoutMs`). */
  readonly idleTimeoutMs?: number;
  /** Most messages queued for one actor; more are refused with `MailboxFull` (default 10,000). */
  readonly mailboxLimit?: number;
  /**
   * Where the state lives. `'replicated'` (the default when the mesh has a state store): committed locally and
   * mirrored to the standby (the second peer of the preference list) before the reply leaves; a new owner
   * loads the newest copy held by the peers of the preference list. `'local'`: committed locally only.
   * `'memory'`: never stored.
   */
  readonly durability?: Durability;
}

/** How an actor type's state is kept. */
export type Durability = 'memory' | 'local' | 'replicated';

/** A checked actor definition. */
export interface ActorDefinition<S = unknown, H extends Handlers<S> = Handlers<S>> extends ActorSpec<S, H> {
  readonly kind: 'meshrtc.actor';
}

const TYPE_RE = /^[A-Za-z0-9._:-]{1,64}$/;

/** Checks and freezes an actor definition. */
export function defineActor<S, H extends Handlers<S>>(spec: ActorSpec<S, H>): ActorDefinition<S, H> {
  if (typeof spec.type !== 'string' || !TYPE_RE.test(spec.type)) {
    throw meshError('InvalidArgument', `actor type ${JSON.stringify(spec.type)} must match ${TYPE_RE}`);
  }
  if (typeof spec.initialState !== 'function') throw meshError('InvalidArgument', `actor ${spec.type}: initialState must be a function`);
  if (spec.handlers === null || typeof spec.handlers !== 'object') throw meshError('InvalidArgument', `actor ${spec.type}: handlers must be an object`);
  for (const [name, fn] of Object.entries(spec.handlers)) {
    if (typeof fn !== 'function') throw meshError('InvalidArgument', `actor ${spec.type}: handler ${name} is not a function`);
  }
  if (spec.idleTimeoutMs !== undefined && !(spec.idleTimeoutMs > 0)) throw meshError('InvalidArgument', `actor ${spec.type}: idleTimeoutMs must be > 0`);
  if (spec.durability !== undefined && spec.durability !== 'memory' && spec.durability !== 'local' && spec.durability !== 'replicated') {
    throw meshError('InvalidArgument', `actor ${spec.type}: durability must be 'memory', 'local' or 'replicated'`);
  }
  if (spec.mailboxLimit !== undefined && !(Number.isInteger(spec.mailboxLimit) && spec.mailboxLimit > 0)) {
    throw meshError('InvalidArgument', `actor ${spec.type}: mailboxLimit must be a positive integer`);
  }
  // Own-property lookup only: a payload op such as "toString" must never reach Object.prototype.
  const handlers = Object.freeze(Object.assign(Object.create(null) as H, spec.handlers));
  return Object.freeze({ ...spec, handlers, kind: 'meshrtc.actor' as const });
}
