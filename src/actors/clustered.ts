/**
 * Clustered functions: `mesh.clustered(name, fn, { capability, key? })` returns a function with the same
 * arguments that runs on a peer of the room serving `capability` and having registered `name`:
 *
 * - with `key(...args)`, on the owner of that key's shard (the first peer of its preference list that has the
 *   function): calls with one key always meet on one peer while the view holds (affinity);
 * - without, on the capable peer with the fewest calls this peer has in flight to it (ties broken by the mesh's
 *   seeded `Random`).
 *
 * Every call carries an idempotency key (the caller's, or a generated one), reused on retries. When the executing
 * peer is lost mid-call, the call is retried on another peer with the same key, within its deadline. The executor
 * keeps a bounded table of completed calls by key (same key and arguments: the stored result, the function does not
 * run again; same key and other arguments: `Conflict`), and joins a retry to a run still in progress. With
 * `replicas: n > 1` the record is also copied to the next `n - 1` peers of the key's preference list before the
 * result leaves, so a retry after the executor's loss is still answered from the table. Inside the function,
 * `this.idempotencyKey` (or {@link clusteredContext}) lets side effects be deduplicated as well, e.g. by passing
 * it to a durable actor's call: then an acknowledged effect is never applied twice, whatever the retries.
 *
 * Calls travel as ordinary call frames addressed to the reserved actor type {@link CLUSTERED_TYPE}; the mesh hands
 * them to the {@link ClusteredRegistry} of the receiving peer instead of an actor mailbox (no ownership check:
 * the caller picked the peer). A call to a function no capable peer registered fails with `UnknownFunction`.
 */
import type { Clock, Timer } from '../clock/clock.js';
import { isMeshError, meshError, MeshError } from '../errors.js';
import { randomId, type Random } from '../random.js';
import type { CallRequest, MeshCaller } from './define.js';
import { payloadHash } from './host.js';

/** The reserved actor type clustered-function calls are addressed to. */
export const CLUSTERED_TYPE = 'meshrtc.fn';

/** Default bounds of a peer's table of completed clustered calls. */
export const DEFAULT_DEDUPE_LIMITS: DedupeLimits = Object.freeze({ maxEntries: 4096, maxBytes: 32 * 1024 * 1024, ttlMs: 10 * 60_000 });

/** Most clustered calls one peer runs at once (all functions together); more are refused with `MailboxFull`. */
export const MAX_RUNNING_CLUSTERED_CALLS = 4096;

const NAME_RE = /^[A-Za-z0-9._:/-]{1,128}$/;

/** Options of `mesh.clustered`. */
export interface ClusteredOptions<A extends unknown[] = unknown[]> {
  /** Only peers serving this capability run the function. */
  readonly capability: string;
  /**
   * Affinity: the key of a call, from its arguments. The call runs on the owner of the key's shard under
   * `capability` (the next peer of its preference list when the owner lacks the function or is lost). Omitted:
   * calls spread over the capable peers by load.
   */
  readonly key?: (...args: A) => string;
  /**
   * Peers holding the record of a completed call (default 1: the executor only). With `n > 1` the record is
   * copied to the next `n - 1` peers of the key's preference list (the idempotency key's, for calls without
   * `key`) before the result leaves, so a retry after the executor's loss is answered from the table too.
   */
  readonly replicas?: number;
  /** Deadline of a call, retries included (default: the mesh's `defaultTimeoutMs`). */
  readonly timeoutMs?: number;
  /** Keep completed calls by idempotency key (default true). `false`: every call runs the function. */
  readonly dedupe?: boolean;
}

/** Per-call options of {@link ClusteredFunction.invoke}. */
export interface ClusteredCallOptions {
  /** Deadline of this call, retries included (default: the function's `timeoutMs`, else the mesh's). */
  readonly timeoutMs?: number;
  /** Aborts the call (it rejects with `Aborted`; the executor may still finish it). */
  readonly signal?: AbortSignal;
  /** Identifies the logical call across retries, including a caller's own retries later (default: generated). */
  readonly idempotencyKey?: string;
  /** Run on this peer only: no placement, no failover (it must have the function). */
  readonly peer?: string;
}

/** What {@link ClusteredFunction.invoke} resolves with. */
export interface ClusteredResult<R> {
  /** The function's return value. */
  readonly result: R;
  /** The peer that ran it (or that answered from its table of completed calls). */
  readonly peerId: string;
  /** True when the result came from the table of completed calls (the function did not run for this call). */
  readonly replayed: boolean;
  /** Peers tried, this one included. */
  readonly attempts: number;
  /** The idempotency key the call carried. */
  readonly idempotencyKey: string;
}

/** What a clustered function sees as `this` (and through {@link clusteredContext}). */
export interface ClusteredContext {
  /** The function's registered name. */
  readonly name: string;
  /** The call's idempotency key: the same on every retry of one logical call. */
  readonly idempotencyKey: string;
  /** The peer running the function. */
  readonly peerId: string;
  /** The peer that called it. */
  readonly callerId: string;
  /** Which attempt of the call this is (1 on the first peer tried). */
  readonly attempt: number;
  /** Fires when the call's deadline passes (the caller has given up by then). */
  readonly signal: AbortSignal;
  /** The mesh, to call actors (e.g. with `idempotencyKey` so side effects happen once). */
  readonly mesh: MeshCaller;
}

/** The function registered with `mesh.clustered`. */
export type ClusteredFn<A extends unknown[], R> = (this: ClusteredContext, ...args: A) => R;

/** A clustered function: call it like the function it wraps; it runs somewhere in the room. */
export interface ClusteredFunction<A extends unknown[], R> {
  (...args: A): Promise<Awaited<R>>;
  /** The registered name (the same on every peer). */
  readonly functionName: string;
  /** The capability its executors serve. */
  readonly capability: string;
  /** Calls it with options; resolves the result with where it ran. */
  invoke(args: A, options?: ClusteredCallOptions): Promise<ClusteredResult<Awaited<R>>>;
  /** Stops serving it on this peer (calls from here still work while other peers serve it). */
  unregister(): void;
}

/** Bounds of a table of completed calls. */
export interface DedupeLimits {
  /** Most records kept (the oldest go first). */
  readonly maxEntries: number;
  /** Most bytes of stored results kept (estimated; the oldest go first). */
  readonly maxBytes: number;
  /** How long a record is kept. */
  readonly ttlMs: number;
}

/** What a {@link ClusteredRegistry} needs from its mesh. */
export interface ClusteredHost {
  readonly peerId: string;
  readonly clock: Clock;
  readonly random: Random;
  /** Handed to functions as `this.mesh`. */
  readonly caller: MeshCaller;
  readonly defaultTimeoutMs: number;
  readonly maxAttempts: number;
  /** The current view version. */
  view(): number;
  /** Live peers serving `capability` (ids, sorted). */
  peersFor(capability: string): readonly string[];
  preferenceList(capability: string, id: string, count?: number): string[];
  /** Sends a call frame to `peer` and resolves its reply (`PeerUnavailable` when the peer is lost). */
  callPeer(peer: string, request: CallRequest, key: string, deadline: number, signal: AbortSignal | undefined): Promise<unknown>;
  waitForView(version: number, maxMs: number): Promise<boolean>;
  closed(): boolean;
}

/** A function registered on this peer, as the registry keeps it. */
export interface ClusteredRegistration {
  readonly name: string;
  readonly capability: string;
  readonly fn: ClusteredFn<unknown[], unknown>;
  readonly keyOf: ((...args: unknown[]) => string) | undefined;
  readonly replicas: number;
  readonly timeoutMs: number | undefined;
  readonly dedupe: boolean;
}

/** The error a peer answers for a function it does not have. */
export function unknownFunction(peerId: string, name: string, capability: string): MeshError {
  return meshError('UnknownFunction', `peer ${peerId} has no clustered function ${JSON.stringify(name)} (capability ${JSON.stringify(capability)})`, {
    details: { function: name, capability, peerId },
  });
}

let current: ClusteredContext | undefined;

/**
 * The context of the clustered call being started, for code that cannot use `this` (class methods decorated with
 * {@link clustered}). Valid synchronously at the start of the function, before its first `await`: read it first.
 */
export function clusteredContext(): ClusteredContext {
  if (current === undefined) throw meshError('InvalidArgument', 'clusteredContext() is only available at the start of a clustered function, before its first await');
  return current;
}

/**
 * The clustered functions of one peer: those it serves, and the calls it makes (load per executor, retries).
 * Created by the mesh on first use.
 */
export class ClusteredRegistry {
  readonly #host: ClusteredHost;
  readonly #fns = new Map<string, ClusteredRegistration>();
  /** Calls this peer has in flight, per executing peer: the load `pick` balances. */
  readonly #inFlight = new Map<string, number>();
  readonly #done: DedupeTable<unknown>;
  readonly #keyPrefix: string;
  #keySeq = 0;
  #running = 0;
  readonly #closers = new Set<() => void>();

  constructor(host: ClusteredHost, limits: DedupeLimits = DEFAULT_DEDUPE_LIMITS) {
    this.#host = host;
    this.#done = new DedupeTable(host.clock, limits);
    this.#keyPrefix = `${host.peerId}.${randomId(host.random, 8)}`;
  }

  /** Registers `fn` under `name` on this peer and returns its callable. */
  register<A extends unknown[], R>(name: string, fn: ClusteredFn<A, R>, options: ClusteredOptions<A>): ClusteredFunction<A, R> {
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw meshError('InvalidArgument', `clustered function name ${JSON.stringify(name)} must match ${NAME_RE}`);
    if (typeof fn !== 'function') throw meshError('InvalidArgument', `clustered function ${name}: fn must be a function`);
    if (options === null || typeof options !== 'object') throw meshError('InvalidArgument', `clustered function ${name}: options { capability } are required`);
    const { capability } = options;
    if (typeof capability !== 'string' || capability.length === 0 || capability.length > 64) {
      throw meshError('InvalidArgument', `clustered function ${name}: capability must be 1 to 64 characters`);
    }
    if (options.key !== undefined && typeof options.key !== 'function') throw meshError('InvalidArgument', `clustered function ${name}: key must be a function`);
    const replicas = options.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 8) throw meshError('InvalidArgument', `clustered function ${name}: replicas must be an integer from 1 to 8`);
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) throw meshError('InvalidArgument', `clustered function ${name}: timeoutMs must be > 0`);
    if (this.#fns.has(name)) throw meshError('InvalidArgument', `clustered function ${name} is already registered on peer ${this.#host.peerId}`);
    if (this.#host.closed()) throw meshError('Closed', `peer ${this.#host.peerId} is closed`);
    const reg: ClusteredRegistration = {
      name,
      capability,
      fn: fn as unknown as ClusteredFn<unknown[], unknown>,
      keyOf: options.key as ((...args: unknown[]) => string) | undefined,
      replicas,
      timeoutMs: options.timeoutMs,
      dedupe: options.dedupe !== false,
    };
    this.#fns.set(name, reg);
    const invoke = (args: A, callOptions?: ClusteredCallOptions): Promise<ClusteredResult<Awaited<R>>> =>
      this.invoke(reg, args as unknown[], callOptions) as Promise<ClusteredResult<Awaited<R>>>;
    const callable = (async (...args: A) => (await invoke(args)).result) as ClusteredFunction<A, R>;
    Object.defineProperties(callable, {
      functionName: { value: name, enumerable: true },
      capability: { value: capability, enumerable: true },
      invoke: { value: invoke },
      unregister: {
        value: () => {
          if (this.#fns.get(name) === reg) this.#fns.delete(name);
        },
      },
    });
    return callable;
  }

  /** Calls a registered function (see {@link ClusteredFunction.invoke}). */
  async invoke(reg: ClusteredRegistration, args: unknown[], options: ClusteredCallOptions = {}): Promise<ClusteredResult<unknown>> {
    const host = this.#host;
    if (host.closed()) throw meshError('Closed', `peer ${host.peerId} is closed`);
    const timeoutMs = options.timeoutMs ?? reg.timeoutMs ?? host.defaultTimeoutMs;
    if (!(timeoutMs > 0)) throw meshError('InvalidArgument', 'timeoutMs must be > 0');
    const signal = options.signal;
    if (signal?.aborted) throw aborted(reg.name);
    const key = options.idempotencyKey ?? `${this.#keyPrefix}:${++this.#keySeq}`;
    if (typeof key !== 'string' || key.length === 0 || key.length > 256) throw meshError('InvalidArgument', 'idempotencyKey must be 1 to 256 characters');
    let placement: string | undefined;
    if (options.peer === undefined && reg.keyOf !== undefined) {
      const k = reg.keyOf(...args);
      if (typeof k !== 'string' || k.length === 0) throw meshError('InvalidArgument', `clustered function ${reg.name}: key() must return a non-empty string`);
      placement = k;
    }
    const started = host.clock.now();
    const deadline = started + timeoutMs;
    const excluded = new Set<string>();
    const unknownAt = new Set<string>();
    let attempts = 0;
    let lastError: MeshError | undefined;
    for (;;) {
      if (signal?.aborted) throw aborted(reg.name);
      if (host.clock.now() >= deadline) {
        throw meshError('Timeout', `clustered call ${reg.name} timed out after ${attempts} attempts`, { cause: lastError, details: { deadline, attempts } });
      }
      const target = options.peer ?? this.#pick(reg.capability, placement, excluded);
      if (target === undefined) {
        const capable = host.peersFor(reg.capability);
        if (capable.length === 0) {
          throw meshError('NoPeersForCapability', `no live peer serves capability ${JSON.stringify(reg.capability)} (clustered function ${reg.name})`, {
            details: { capability: reg.capability, function: reg.name, view: host.view() },
          });
        }
        if (capable.every((p) => unknownAt.has(p))) {
          throw meshError('UnknownFunction', `no peer serving capability ${JSON.stringify(reg.capability)} registered clustered function ${JSON.stringify(reg.name)} (asked ${capable.join(', ')})`, {
            details: { function: reg.name, capability: reg.capability, peers: [...capable] },
          });
        }
        // Every other capable peer was lost during this call: wait for the view that removes them.
        if (attempts >= host.maxAttempts) throw exhausted(reg.name, attempts, lastError);
        await host.waitForView(host.view() + 1, Math.min(deadline - host.clock.now(), 50 * 2 ** attempts));
        for (const p of excluded) if (!unknownAt.has(p)) excluded.delete(p);
        continue;
      }
      attempts++;
      this.#inFlight.set(target, (this.#inFlight.get(target) ?? 0) + 1);
      try {
        const request: CallRequest = {
          capability: reg.capability,
          type: CLUSTERED_TYPE,
          id: reg.name,
          payload: { op: 'call', arg: [args, attempts, placement ?? null, reg.replicas, options.idempotencyKey !== undefined || attempts > 1] },
        };
        const reply = target === host.peerId ? await this.#local(reg, request.payload.arg, key, deadline, signal) : await host.callPeer(target, request, key, deadline, signal);
        if (!Array.isArray(reply) || reply.length < 2) throw meshError('ProtocolError', `malformed clustered reply from ${target}`, { details: { peerId: target } });
        return { result: reply[2] === 1 ? undefined : reply[0], peerId: target, replayed: reply[1] === true, attempts, idempotencyKey: key };
      } catch (error) {
        if (!isMeshError(error)) throw error;
        lastError = error;
        const remote = error.details['remotePeer'];
        if (error.code === 'UnknownFunction' && error.details['function'] === reg.name && error.details['peerId'] === target) {
          if (options.peer !== undefined) throw error;
          unknownAt.add(target);
          excluded.add(target);
          continue;
        }
        // Lost mid-call (or closing: NotOwner): the same key goes to another peer.
        const lost = (error.code === 'PeerUnavailable' && remote === undefined && target !== host.peerId) || (error.code === 'NotOwner' && error.details['function'] === reg.name);
        if (!lost || options.peer !== undefined) throw error;
        excluded.add(target);
        if (attempts >= host.maxAttempts) throw exhausted(reg.name, attempts, error);
      } finally {
        const n = (this.#inFlight.get(target) ?? 1) - 1;
        if (n <= 0) this.#inFlight.delete(target);
        else this.#inFlight.set(target, n);
      }
    }
  }

  /** Runs a call on this peer, bounded by its deadline and signal like a remote one. */
  #local(reg: ClusteredRegistration, arg: unknown, key: string, deadline: number, signal: AbortSignal | undefined): Promise<unknown> {
    const clock = this.#host.clock;
    return new Promise<unknown>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const timer = clock.setTimeout(() => {
        done();
        reject(meshError('Timeout', `clustered call ${reg.name} timed out`, { details: { deadline } }));
      }, Math.max(0, deadline - clock.now()));
      const done = (): void => {
        timer.cancel();
        if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      };
      if (signal !== undefined) {
        onAbort = () => {
          done();
          reject(aborted(reg.name));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.serve(this.#host.peerId, reg.capability, reg.name, 'call', arg, key, deadline).then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          done();
          reject(e);
        },
      );
    });
  }

  /** Names of the functions registered on this peer (sorted). */
  names(): string[] {
    return [...this.#fns.keys()].sort();
  }

  /** The calls this peer has in flight per executing peer. */
  inFlight(): ReadonlyMap<string, number> {
    return new Map(this.#inFlight);
  }

  /** Where a call goes: the key's owner (first non-excluded peer of its preference list), else the least loaded. */
  #pick(capability: string, placement: string | undefined, excluded: ReadonlySet<string>): string | undefined {
    const host = this.#host;
    if (placement !== undefined) {
      for (const p of host.preferenceList(capability, placement)) if (!excluded.has(p)) return p;
      return undefined;
    }
    let best: string[] = [];
    let least = Number.POSITIVE_INFINITY;
    for (const p of host.peersFor(capability)) {
      if (excluded.has(p)) continue;
      const n = this.#inFlight.get(p) ?? 0;
      if (n < least) {
        least = n;
        best = [p];
      } else if (n === least) best.push(p);
    }
    if (best.length <= 1) return best[0];
    return best[Math.floor(host.random.next() * best.length)];
  }

  /**
   * Serves one clustered request addressed to this peer (from the mesh's call path, or from this peer itself):
   * `call` runs a function, `remember` stores a record sent by an executor, `recall` looks one up.
   */
  async serve(from: string, capability: string, name: string, op: string, arg: unknown, key: string | undefined, deadline: number): Promise<unknown> {
    const host = this.#host;
    if (host.closed()) {
      throw meshError('NotOwner', `peer ${host.peerId} is closing`, { details: { function: name, view: host.view() } });
    }
    switch (op) {
      case 'call':
        return this.#serveCall(from, capability, name, arg, key, deadline);
      case 'remember': {
        if (!Array.isArray(arg) || typeof arg[0] !== 'string' || typeof arg[1] !== 'string') throw meshError('InvalidArgument', 'malformed remember request');
        if (this.#done.peek(`${name}\u0000${arg[0]}`) === undefined) this.#done.put(`${name}\u0000${arg[0]}`, arg[1], arg[3] === 1 ? undefined : arg[2], approxSize(arg[2]));
        return null;
      }
      case 'recall': {
        if (!Array.isArray(arg) || typeof arg[0] !== 'string') throw meshError('InvalidArgument', 'malformed recall request');
        const e = this.#done.peek(`${name}\u0000${arg[0]}`);
        return e === undefined || e.state !== 'done' ? null : [e.hash, e.value ?? null, e.value === undefined ? 1 : 0];
      }
      default:
        throw meshError('InvalidArgument', `unknown clustered operation ${JSON.stringify(op)}`);
    }
  }

  async #serveCall(from: string, capability: string, name: string, arg: unknown, key: string | undefined, deadline: number): Promise<unknown> {
    const host = this.#host;
    const reg = this.#fns.get(name);
    if (reg === undefined || reg.capability !== capability) throw unknownFunction(host.peerId, name, capability);
    if (!Array.isArray(arg) || !Array.isArray(arg[0]) || typeof arg[1] !== 'number') throw meshError('InvalidArgument', `malformed call of clustered function ${name}`);
    const [args, attempt, placement, , check] = arg as [unknown[], number, string | null, number, boolean];
    const replicas = reg.replicas;
    const callKey = key ?? `${from}:${host.clock.now()}:${++this.#keySeq}`;
    const tableKey = `${name}\u0000${callKey}`;
    let hash = '';
    if (reg.dedupe && key !== undefined) {
      hash = payloadHash(name, args);
      const seen = this.#done.peek(tableKey);
      if (seen !== undefined) {
        if (seen.hash !== hash) throw conflict(name, key);
        return answer(seen.state === 'done' ? seen.value : await seen.promise, true);
      }
      if (check && replicas > 1) {
        const found = await this.#recall(reg, key, placement ?? key, replicas, deadline);
        if (found !== undefined) {
          if (found[0] !== hash) throw conflict(name, key);
          this.#done.put(tableKey, hash, found[1], approxSize(found[1]));
          return answer(found[1], true);
        }
        const again = this.#done.peek(tableKey);
        if (again !== undefined) return answer(again.state === 'done' ? again.value : await again.promise, true);
      }
    }
    if (this.#running >= MAX_RUNNING_CLUSTERED_CALLS) {
      throw meshError('MailboxFull', `peer ${host.peerId} already runs ${MAX_RUNNING_CLUSTERED_CALLS} clustered calls`, { details: { function: name } });
    }
    const run = reg.dedupe && key !== undefined ? this.#done.begin(tableKey, hash) : undefined;
    this.#running++;
    const controller = new AbortController();
    const timer: Timer = host.clock.setTimeout(() => controller.abort(meshError('Timeout', `clustered call ${name} passed its deadline`)), Math.max(0, deadline - host.clock.now()));
    const ctx: ClusteredContext = {
      name,
      idempotencyKey: callKey,
      peerId: host.peerId,
      callerId: from,
      attempt: typeof attempt === 'number' ? attempt : 1,
      signal: controller.signal,
      mesh: host.caller,
    };
    let value: unknown;
    try {
      const previous = current;
      current = ctx;
      let out: unknown;
      try {
        out = reg.fn.apply(ctx, args);
      } finally {
        current = previous;
      }
      value = await out;
    } catch (error) {
      const failure = handlerFailed(name, error);
      run?.reject(failure);
      throw failure;
    } finally {
      this.#running--;
      timer.cancel();
    }
    if (run !== undefined) {
      const size = approxSize(value);
      run.resolve(value, size);
      if (replicas > 1) await this.#mirror(reg, callKey, hash, value, placement ?? callKey, replicas, deadline);
    }
    return answer(value, false);
  }

  /** Copies a completed call's record to the next peers of the key's preference list (best effort, awaited). */
  async #mirror(reg: ClusteredRegistration, key: string, hash: string, value: unknown, placement: string, replicas: number, deadline: number): Promise<void> {
    const host = this.#host;
    const homes = host.preferenceList(reg.capability, placement, replicas + 1).filter((p) => p !== host.peerId).slice(0, replicas - 1);
    const until = Math.min(deadline, host.clock.now() + 3000);
    await Promise.allSettled(
      homes.map((peer) =>
        host.callPeer(peer, { capability: reg.capability, type: CLUSTERED_TYPE, id: reg.name, payload: { op: 'remember', arg: [key, hash, value ?? null, value === undefined ? 1 : 0] } }, key, until, undefined),
      ),
    );
  }

  /** Asks the other peers of the key's preference list for a record of `key`. */
  async #recall(reg: ClusteredRegistration, key: string, placement: string, replicas: number, deadline: number): Promise<[string, unknown] | undefined> {
    const host = this.#host;
    const homes = host.preferenceList(reg.capability, placement, replicas + 1).filter((p) => p !== host.peerId);
    const until = Math.min(deadline, host.clock.now() + 3000);
    const answers = await Promise.allSettled(
      homes.map((peer) => host.callPeer(peer, { capability: reg.capability, type: CLUSTERED_TYPE, id: reg.name, payload: { op: 'recall', arg: [key] } }, key, until, undefined)),
    );
    for (const a of answers) {
      if (a.status === 'fulfilled' && Array.isArray(a.value) && typeof a.value[0] === 'string') return [a.value[0], a.value[2] === 1 ? undefined : a.value[1]];
    }
    return undefined;
  }

  /** Runs `fn` when the mesh closes (used by layers built on clustered functions, e.g. HTTP streams). */
  onClose(fn: () => void): () => void {
    this.#closers.add(fn);
    return () => this.#closers.delete(fn);
  }

  /** Stops serving: registered functions are dropped, close hooks run. */
  close(): void {
    this.#fns.clear();
    for (const fn of [...this.#closers]) {
      try {
        fn();
      } catch {
        // a close hook must not stop the others
      }
    }
    this.#closers.clear();
  }

  /** Records kept and their estimated bytes (for tests and stats). */
  get dedupe(): { entries: number; bytes: number } {
    return { entries: this.#done.size, bytes: this.#done.bytes };
  }
}

/** One record of a {@link DedupeTable}: a run in progress, or a completed one with its value. */
export type DedupeEntry<V> =
  | { readonly state: 'running'; readonly hash: string; readonly promise: Promise<V>; readonly at: number }
  | { readonly state: 'done'; readonly hash: string; readonly value: V; readonly size: number; readonly at: number };

/**
 * Completed (and running) calls by key, bounded in entries, estimated bytes and age (oldest first out). A running
 * entry holds a promise that later callers with the same key await; a failed run leaves no record.
 */
export class DedupeTable<V> {
  readonly #clock: Clock;
  readonly #limits: DedupeLimits;
  readonly #entries = new Map<string, DedupeEntry<V>>();
  #bytes = 0;

  constructor(clock: Clock, limits: DedupeLimits = DEFAULT_DEDUPE_LIMITS) {
    if (!(limits.maxEntries >= 1 && limits.maxBytes >= 0 && limits.ttlMs > 0)) throw meshError('InvalidArgument', 'dedupe limits must be positive');
    this.#clock = clock;
    this.#limits = limits;
  }

  /** The record of `key`, unless expired. */
  peek(key: string): DedupeEntry<V> | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.state === 'done' && this.#clock.now() - e.at > this.#limits.ttlMs) {
      this.#remove(key, e);
      return undefined;
    }
    return e;
  }

  /** Starts a run of `key`: later lookups await it until `resolve` (stored) or `reject` (forgotten). */
  begin(key: string, hash: string): { resolve(value: V, size: number): void; reject(error: unknown): void } {
    let resolve!: (v: V) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<V>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // nobody may be waiting
    const entry: DedupeEntry<V> = { state: 'running', hash, promise, at: this.#clock.now() };
    this.#set(key, entry);
    return {
      resolve: (value, size) => {
        if (this.#entries.get(key) === entry) this.put(key, hash, value, size);
        resolve(value);
      },
      reject: (error) => {
        if (this.#entries.get(key) === entry) this.#remove(key, entry);
        reject(error);
      },
    };
  }

  /** Stores a completed record (a value larger than the byte bound is not stored). */
  put(key: string, hash: string, value: V, size: number): void {
    const old = this.#entries.get(key);
    if (old !== undefined) this.#remove(key, old);
    if (size > this.#limits.maxBytes) return;
    this.#set(key, { state: 'done', hash, value, size, at: this.#clock.now() });
  }

  /** Forgets `key`. */
  delete(key: string): void {
    const e = this.#entries.get(key);
    if (e !== undefined) this.#remove(key, e);
  }

  /** Records kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** Estimated bytes of the stored values. */
  get bytes(): number {
    return this.#bytes;
  }

  #set(key: string, entry: DedupeEntry<V>): void {
    this.#entries.set(key, entry);
    if (entry.state === 'done') this.#bytes += entry.size;
    const now = this.#clock.now();
    for (const [k, e] of this.#entries) {
      const expired = e.state === 'done' && now - e.at > this.#limits.ttlMs;
      if (!expired && this.#entries.size <= this.#limits.maxEntries && this.#bytes <= this.#limits.maxBytes) break;
      if (k === key) continue;
      this.#remove(k, e);
    }
  }

  #remove(key: string, e: DedupeEntry<V>): void {
    this.#entries.delete(key);
    if (e.state === 'done') this.#bytes -= e.size;
  }
}

/** A rough size in bytes of a value as stored (strings, binary, nested arrays and objects); bounded work. */
export function approxSize(value: unknown, depth = 0): number {
  if (value === null || value === undefined) return 1;
  switch (typeof value) {
    case 'string':
      return 8 + value.length * 2;
    case 'number':
    case 'bigint':
      return 8;
    case 'boolean':
      return 1;
    case 'object': {
      if (ArrayBuffer.isView(value)) return 8 + value.byteLength;
      if (value instanceof ArrayBuffer) return 8 + value.byteLength;
      if (depth > 32) return 64;
      let n = 16;
      if (Array.isArray(value)) for (const v of value) n += approxSize(v, depth + 1);
      else for (const [k, v] of Object.entries(value)) n += 8 + k.length * 2 + approxSize(v, depth + 1);
      return n;
    }
    default:
      return 8;
  }
}

/** A clustered reply: `[result, replayed]`, or `[null, replayed, 1]` for an undefined result (kept apart from null). */
function answer(value: unknown, replayed: boolean): unknown[] {
  return value === undefined ? [null, replayed, 1] : [value, replayed];
}

function handlerFailed(name: string, error: unknown): MeshError {
  // Codes the caller reads as "this executor cannot run it" would make it retry elsewhere: wrap them.
  if (error instanceof MeshError && error.code !== 'PeerUnavailable' && error.code !== 'NotOwner' && error.code !== 'UnknownFunction') return error;
  return meshError('HandlerFailed', `clustered function ${name} threw: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
    details: { function: name, ...(error instanceof MeshError ? { innerCode: error.code } : {}) },
  });
}

function conflict(name: string, key: string): MeshError {
  return meshError('Conflict', `idempotency key ${key} was used with other arguments for clustered function ${name}`, { details: { key, function: name } });
}

function aborted(name: string): MeshError {
  return meshError('Aborted', `clustered call ${name} was aborted`);
}

function exhausted(name: string, attempts: number, cause: MeshError | undefined): MeshError {
  return meshError('RetriesExhausted', `clustered call ${name} failed on ${attempts} peers`, { cause, details: { attempts } });
}

/** A decorated method of an instance, waiting for {@link bindClustered}. */
interface PendingMethod {
  readonly name: string;
  readonly method: (...args: unknown[]) => unknown;
  readonly options: ClusteredOptions<never[]>;
}

const pendingMethods = new WeakMap<object, PendingMethod[]>();
const boundMethods = new WeakMap<object, Map<string, ClusteredFunction<unknown[], unknown>>>();

/** Options of the {@link clustered} decorator: {@link ClusteredOptions} plus the name (default: the method's). */
export type ClusteredMethodOptions<A extends unknown[]> = ClusteredOptions<A> & { readonly name?: string };

/** The part of a mesh {@link bindClustered} uses. */
export interface ClusteredMesh {
  clustered<A extends unknown[], R>(name: string, fn: ClusteredFn<A, R>, options: ClusteredOptions<A>): ClusteredFunction<A, R>;
}

/**
 * TC39 method decorator: the method becomes a clustered function once the instance is bound to a mesh with
 * {@link bindClustered} (every peer binds its own instance; the peers serving `capability` run the calls).
 * Inside, `this` is the instance; the call's context is {@link clusteredContext}. Needs a toolchain that
 * implements standard decorators (TypeScript 5, esbuild/tsx).
 *
 * ```ts
 * class Reports {
 *   @clustered({ capability: 'reports', key: (user: string) => user })
 *   async build(user: string): Promise<string> { ... }
 * }
 * const reports = bindClustered(new Reports(), mesh);
 * await reports.build('ada'); // runs on the owner of 'ada' among the peers serving 'reports'
 * ```
 */
export function clustered<This extends object, A extends unknown[], R>(options: ClusteredMethodOptions<A>) {
  return function decorate(
    method: (this: This, ...args: A) => R,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
  ): (this: This, ...args: A) => Promise<Awaited<R>> {
    if (context.kind !== 'method' || context.static || context.private) throw meshError('InvalidArgument', '@clustered decorates public instance methods');
    const name = options.name ?? String(context.name);
    context.addInitializer(function (this: This) {
      const list = pendingMethods.get(this) ?? [];
      list.push({ name, method: method as (...args: unknown[]) => unknown, options: options as unknown as ClusteredOptions<never[]> });
      pendingMethods.set(this, list);
    });
    return function (this: This, ...args: A): Promise<Awaited<R>> {
      const fn = boundMethods.get(this)?.get(name);
      if (fn === undefined) return Promise.reject(meshError('InvalidArgument', `bind the instance to a mesh first: bindClustered(instance, mesh) (method ${name})`));
      return fn(...args) as Promise<Awaited<R>>;
    };
  };
}

/** Registers every `@clustered` method of `instance` on `mesh`; returns the instance (its methods now run in the room). */
export function bindClustered<T extends object>(instance: T, mesh: ClusteredMesh): T {
  const pending = pendingMethods.get(instance);
  if (pending === undefined || pending.length === 0) throw meshError('InvalidArgument', 'the instance has no @clustered methods');
  if (boundMethods.has(instance)) throw meshError('InvalidArgument', 'the instance is bound to a mesh already');
  const fns = new Map<string, ClusteredFunction<unknown[], unknown>>();
  for (const p of pending) {
    const method = p.method;
    fns.set(p.name, mesh.clustered<unknown[], unknown>(p.name, function (...args) {
      return method.apply(instance, args);
    }, p.options as unknown as ClusteredOptions<unknown[]>));
  }
  boundMethods.set(instance, fns);
  return instance;
}
