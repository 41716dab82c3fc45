/**
 * Subscriptions, subscriber side. `mesh.subscribe(address, listener)` keeps one registration per actor on this
 * peer, whatever the number of local listeners, at the actor's current owner, and keeps it there:
 *
 * - A registration is `(owner, subId)`; the owner answers with its activation's stream id and last sequence
 *   number, and every event carries `(subId, seq)`. Events of a stale registration are refused (the mesh then
 *   tells their sender to drop it).
 * - Ownership moves: after a view change the old owner deactivates the actor and sends an end notice after its
 *   last event; the subscriber then subscribes at the new owner, saying where it stopped, and the new owner
 *   replays what it still holds (a ring of recent events). If the old owner is gone (crash, link loss, no notice
 *   within `handoffTimeoutMs`), the subscriber moves on without the notice.
 * - Gaps are reported, never hidden: a jump in sequence numbers, events of the new activation older than its
 *   ring, the missing tail of the old stream (known from its end notice, or from the stream tail the new owner
 *   loaded with a replicated actor's state) all go to `onError` as `EventsLost` with `details.count`; when the
 *   loss cannot be counted (the owner of an unreplicated actor crashed) `details.count` is null.
 * - Bounded: events that arrive before their registration is confirmed wait in a buffer of at most
 *   `maxPendingEvents` (more are dropped and reported as lost); retries back off up to 5 s.
 */
import type { Clock, Timer } from '../clock/clock.js';
import { isMeshError, meshError, type MeshError, type MeshErrorCode } from '../errors.js';
import type { ActorAddress } from '../monitoring/events.js';
import type { SubscriptionLimits } from './host.js';
import type { SubscribeReply } from './protocol.js';

/** What the subscriber side needs from its mesh. */
export interface SubscriberDeps {
  readonly clock: Clock;
  readonly limits: SubscriptionLimits;
  /** The owner of `address` in the current view (undefined: no live peer serves its capability). */
  ownerOf(address: ActorAddress): string | undefined;
  /** Whether `peer` is in the current view. */
  inView(peer: string): boolean;
  /** The current view version. */
  view(): number;
  /**
   * Registers `subId` at `owner` (this peer or a remote one); exactly one of `onReply` / `onError` is called later,
   * synchronously when the answer arrives (so events that follow the answer find the registration confirmed).
   */
  subscribe(
    owner: string,
    address: ActorAddress,
    subId: number,
    resumeStream: string,
    resumeSeq: number,
    onReply: (reply: SubscribeReply) => void,
    onError: (error: MeshError) => void,
  ): void;
  /** Tells `owner` to drop registration `subId` (best effort). */
  unsubscribe(owner: string, subId: number): void;
}

/** Options of one subscription. */
export interface SubscribeOptions {
  /**
   * Receives what goes wrong, typed: `EventsLost` (with `details.count`, null when unknown), `NoPeersForCapability`
   * (the subscription waits for a peer), `SubscriptionOverflow` or `TooManySubscribers` or `UnknownActorType`
   * (the subscription is over), `Closed` (the mesh closed), and other errors of a subscribe attempt that is retried.
   */
  onError?: (error: MeshError) => void;
}

interface ListenerRec {
  readonly listener: (event: never) => void;
  readonly onError: ((error: MeshError) => void) | undefined;
}

const State = { Idle: 0, Subscribing: 1, Active: 2 } as const;
type State = (typeof State)[keyof typeof State];

interface Entry {
  readonly address: ActorAddress;
  readonly key: string;
  readonly listeners: Set<ListenerRec>;
  state: State;
  /** The registration in flight or active (0: none). */
  subId: number;
  /** Its owner. */
  owner: string | undefined;
  /** Stream of the last active registration ('' before the first one). */
  stream: string;
  /** Last sequence number delivered from `stream`. */
  seq: number;
  /** Earlier streams followed, oldest first, with the last sequence number received from each (bounded). */
  readonly trail: Array<readonly [string, number]>;
  /** How the last registration ended: its last sequence number, or undefined when unknown. */
  ended: { readonly stream: string; readonly lastSeq: number | undefined } | undefined;
  /** Events that arrived for `subId` before its reply. */
  buffer: Array<readonly [number, unknown]> | undefined;
  /** An end notice that arrived for `subId` before its reply (its last sequence number). */
  endAfterReply: number | undefined;
  attempts: number;
  /** A retry, or the wait for the old owner's end notice. */
  timer: Timer | undefined;
  handoff: boolean;
  noPeersReported: boolean;
}

const TERMINAL: ReadonlySet<MeshErrorCode> = new Set<MeshErrorCode>(['UnknownActorType', 'TooManySubscribers', 'InvalidArgument', 'SubscriptionOverflow']);
const ROUTING: ReadonlySet<MeshErrorCode> = new Set<MeshErrorCode>(['NotOwner', 'PeerUnavailable', 'Timeout', 'ConnectionFailed', 'Closed', 'RetriesExhausted']);
const MAX_BACKOFF_MS = 5000;
/** Earlier streams remembered per subscription, for loss accounting across several moves. */
const TRAIL = 8;
/** The stream id of `NO_EARLIER_STREAM` (host.ts): the new owner found no stored state of the actor. */
const NO_EARLIER_STREAM_ID = '-';

/** The subscriptions of one peer (subscriber side). See the module documentation. */
export class Subscriptions {
  readonly #deps: SubscriberDeps;
  readonly #entries = new Map<string, Entry>();
  readonly #bySubId = new Map<number, Entry>();
  #nextSubId = 0;
  #closed = false;

  constructor(deps: SubscriberDeps) {
    this.#deps = deps;
  }

  /** Number of subscribed actors (not listeners). */
  get size(): number {
    return this.#entries.size;
  }

  /** Adds a listener for the events of `address`; returns its unsubscribe function (idempotent). */
  subscribe<E>(address: ActorAddress, listener: (event: E) => void, options: SubscribeOptions = {}): () => void {
    validateAddress(address);
    if (typeof listener !== 'function') throw meshError('InvalidArgument', 'listener must be a function');
    if (this.#closed) throw meshError('Closed', 'the mesh is closed');
    const { capability, type, id } = address;
    const key = `${capability.length}:${capability}${type.length}:${type}${id}`;
    let entry = this.#entries.get(key);
    const rec: ListenerRec = { listener: listener as (event: never) => void, onError: options.onError };
    if (entry === undefined) {
      entry = {
        address: { capability, type, id },
        key,
        listeners: new Set([rec]),
        state: State.Idle,
        subId: 0,
        owner: undefined,
        stream: '',
        seq: 0,
        trail: [],
        ended: undefined,
        buffer: undefined,
        endAfterReply: undefined,
        attempts: 0,
        timer: undefined,
        handoff: false,
        noPeersReported: false,
      };
      this.#entries.set(key, entry);
      this.#attach(entry);
    } else {
      entry.listeners.add(rec);
    }
    const e = entry;
    return () => {
      if (!e.listeners.delete(rec) || e.listeners.size > 0) return;
      this.#remove(e, true);
    };
  }

  /** An event frame arrived. Returns false when it belongs to no current registration (the sender should drop it). */
  onEvent(from: string, subId: number, seq: number, event: unknown): boolean {
    const entry = this.#bySubId.get(subId);
    if (entry === undefined || entry.owner !== from) return false;
    if (entry.state === State.Subscribing) {
      const buffer = (entry.buffer ??= []);
      if (buffer.length < this.#deps.limits.maxPendingEvents) buffer.push([seq, event]);
      return true;
    }
    this.#deliver(entry, seq, event);
    return true;
  }

  /** An owner ended registration `subId` after event `lastSeq`. */
  onEnd(from: string, subId: number, lastSeq: number, reason: string): void {
    const entry = this.#bySubId.get(subId);
    if (entry === undefined || entry.owner !== from) return;
    if (reason === 'overflow') {
      this.#report(entry, meshError('SubscriptionOverflow', `the owner of ${fmt(entry.address)} dropped this subscriber: it fell more than ${this.#deps.limits.maxPendingEvents} events behind`, {
        details: { ...entry.address, peerId: from },
      }));
      this.#remove(entry, false);
      return;
    }
    if (entry.state === State.Subscribing) {
      entry.endAfterReply = lastSeq;
      return;
    }
    this.#detach(entry, lastSeq);
    this.#attach(entry);
  }

  /** The view changed: follow actors whose owner moved, retry waiting subscriptions. */
  onViewChange(): void {
    if (this.#closed) return;
    for (const entry of [...this.#entries.values()]) {
      if (entry.state === State.Idle) {
        if (!entry.handoff) this.#attach(entry);
        continue;
      }
      if (entry.state !== State.Active) continue;
      const owner = this.#deps.ownerOf(entry.address);
      if (owner === entry.owner) {
        if (entry.handoff) this.#cancelHandoff(entry);
        continue;
      }
      if (entry.owner === undefined || !this.#deps.inView(entry.owner)) {
        // The old owner is gone: whatever it sent after our last event is lost unless the new owner knows.
        this.#detach(entry, undefined);
        this.#attach(entry);
      } else if (!entry.handoff) {
        // The old owner deactivates the actor and sends its end notice after its last event; wait for it.
        entry.handoff = true;
        entry.timer = this.#deps.clock.setTimeout(() => {
          entry.timer = undefined;
          entry.handoff = false;
          if (entry.state !== State.Active || this.#closed) return;
          this.#detach(entry, undefined);
          this.#attach(entry);
        }, this.#deps.limits.handoffTimeoutMs);
      }
    }
  }

  /** The link to `peer` went down (or it restarted): its registrations are gone. */
  onPeerDown(peer: string): void {
    if (this.#closed) return;
    for (const entry of [...this.#entries.values()]) {
      if (entry.state !== State.Active || entry.owner !== peer) continue;
      this.#detach(entry, undefined);
      // The view may still name the same owner (a link blip); retry after a pause, or at the next view.
      this.#retryLater(entry);
    }
  }

  /** Ends every subscription: `notify` reports `Closed` to the listeners' `onError` (a graceful close). */
  close(notify: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of [...this.#entries.values()]) {
      if (notify) this.#report(entry, meshError('Closed', `the mesh closed; the subscription to ${fmt(entry.address)} ended`));
      this.#remove(entry, notify);
    }
  }

  // ---------------------------------------------------------------- internals

  #attach(entry: Entry): void {
    this.#cancelTimer(entry);
    if (this.#closed || !this.#entries.has(entry.key)) return;
    const owner = this.#deps.ownerOf(entry.address);
    if (owner === undefined) {
      entry.state = State.Idle;
      if (!entry.noPeersReported) {
        entry.noPeersReported = true;
        this.#report(entry, meshError('NoPeersForCapability', `no live peer serves capability ${JSON.stringify(entry.address.capability)}; the subscription waits for one`, {
          details: { capability: entry.address.capability, view: this.#deps.view() },
        }));
      }
      return;
    }
    entry.noPeersReported = false;
    const subId = ++this.#nextSubId;
    entry.subId = subId;
    entry.owner = owner;
    entry.state = State.Subscribing;
    entry.buffer = undefined;
    entry.endAfterReply = undefined;
    this.#bySubId.set(subId, entry);
    try {
      this.#deps.subscribe(
        owner,
        entry.address,
        subId,
        entry.stream,
        entry.seq,
        (reply) => this.#onReply(entry, subId, owner, reply),
        (error) => this.#onFailure(entry, subId, error),
      );
    } catch (error) {
      this.#onFailure(entry, subId, error);
    }
  }

  #onReply(entry: Entry, subId: number, owner: string, reply: SubscribeReply): void {
    if (entry.subId !== subId || entry.state !== State.Subscribing || !this.#entries.has(entry.key)) {
      // Too late (unsubscribed, or replaced): the owner must forget it.
      if (this.#bySubId.get(subId) === undefined) this.#deps.unsubscribe(owner, subId);
      return;
    }
    const [stream, , prevStream, prevSeq, from] = reply;
    let lost = 0;
    let unknown = false;
    if (entry.stream === '') {
      // A new subscription starts now.
      entry.stream = stream;
      entry.seq = from - 1;
    } else if (stream === entry.stream) {
      // Back at the same activation: it replays from `from`; anything between is lost.
      if (from > entry.seq + 1) {
        lost += from - entry.seq - 1;
        entry.seq = from - 1;
      }
    } else {
      // A new activation. The old stream's tail: from its end notice, or from what the new owner loaded.
      // `prevStream` '-': the new owner found no stored state, so no activation since ours ran a message.
      // `prevStream` naming a stream we followed earlier: the newest stored state is from there, so the streams we
      // followed after it stored no write and released no event (unless we received some: then we cannot tell).
      const earlier = prevStream === entry.stream ? -1 : entry.trail.findIndex(([s]) => s === prevStream);
      const fromEarlier = earlier >= 0 && entry.seq === 0 && entry.trail.slice(earlier + 1).every(([, seq]) => seq === 0);
      let tail = entry.ended?.stream === entry.stream ? entry.ended.lastSeq : undefined;
      if (prevStream === entry.stream) tail = Math.max(tail ?? 0, prevSeq);
      else if (prevStream === NO_EARLIER_STREAM_ID) tail ??= entry.seq;
      else if (fromEarlier) {
        tail = entry.seq;
        lost += Math.max(0, prevSeq - entry.trail[earlier]![1]);
      }
      if (tail === undefined) unknown = true;
      else lost += Math.max(0, tail - entry.seq);
      // An activation we never heard from came in between.
      if (prevStream !== '' && prevStream !== NO_EARLIER_STREAM_ID && prevStream !== entry.stream && !fromEarlier) unknown = true;
      entry.trail.push([entry.stream, entry.seq]);
      if (entry.trail.length > TRAIL) entry.trail.shift();
      // This activation's events older than its replay ring.
      lost += from - 1;
      entry.stream = stream;
      entry.seq = from - 1;
    }
    entry.state = State.Active;
    entry.ended = undefined;
    entry.attempts = 0;
    if (lost > 0 || unknown) this.#lost(entry, unknown ? null : lost);
    const buffer = entry.buffer;
    entry.buffer = undefined;
    if (buffer !== undefined) {
      if (buffer.length >= this.#deps.limits.maxPendingEvents) this.#lost(entry, null);
      for (const [seq, event] of buffer) if (entry.state === State.Active && entry.subId === subId) this.#deliver(entry, seq, event);
    }
    const end = entry.endAfterReply;
    entry.endAfterReply = undefined;
    if (end !== undefined && entry.state === State.Active && entry.subId === subId) {
      this.#detach(entry, end);
      this.#attach(entry);
    }
  }

  #onFailure(entry: Entry, subId: number, error: unknown): void {
    if (entry.subId !== subId || entry.state !== State.Subscribing) return;
    this.#bySubId.delete(subId);
    entry.subId = 0;
    entry.state = State.Idle;
    entry.buffer = undefined;
    entry.endAfterReply = undefined;
    if (this.#closed || !this.#entries.has(entry.key)) return;
    const err = isMeshError(error) ? error : meshError('HandlerFailed', `subscribe failed: ${describe(error)}`, { cause: error });
    if (TERMINAL.has(err.code)) {
      this.#report(entry, err);
      this.#remove(entry, false);
      return;
    }
    if (!ROUTING.has(err.code)) this.#report(entry, err); // e.g. ActivationFailed, StorageError: retried
    // Retry after a pause; a view change (what a NotOwner or a lost peer usually waits for) retries sooner.
    this.#retryLater(entry);
  }

  #retryLater(entry: Entry): void {
    this.#cancelTimer(entry);
    entry.state = State.Idle;
    const delay = Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(entry.attempts, 10));
    entry.attempts++;
    entry.timer = this.#deps.clock.setTimeout(() => {
      entry.timer = undefined;
      if (entry.state === State.Idle) this.#attach(entry);
    }, delay);
  }

  #deliver(entry: Entry, seq: number, event: unknown): void {
    if (seq <= entry.seq) return; // a replay of something already delivered
    if (seq > entry.seq + 1) this.#lost(entry, seq - entry.seq - 1);
    entry.seq = seq;
    for (const rec of [...entry.listeners]) {
      try {
        rec.listener(event as never);
      } catch {
        // A throwing listener does not stop the others or the subscription.
      }
    }
  }

  /** Ends the current registration; `lastSeq`: the owner's last event when known (an end notice). */
  #detach(entry: Entry, lastSeq: number | undefined): void {
    this.#cancelTimer(entry);
    if (entry.subId !== 0) this.#bySubId.delete(entry.subId);
    const owner = entry.owner;
    // Without an end notice the owner may still hold the registration (a handoff timeout, a link blip).
    if (lastSeq === undefined && entry.state === State.Active && owner !== undefined && this.#deps.inView(owner)) this.#deps.unsubscribe(owner, entry.subId);
    if (entry.stream !== '') entry.ended = { stream: entry.stream, lastSeq };
    entry.subId = 0;
    entry.state = State.Idle;
    entry.buffer = undefined;
  }

  #remove(entry: Entry, tellOwner: boolean): void {
    this.#cancelTimer(entry);
    this.#entries.delete(entry.key);
    if (entry.subId !== 0) {
      this.#bySubId.delete(entry.subId);
      if (tellOwner && entry.owner !== undefined && entry.state !== State.Idle) this.#deps.unsubscribe(entry.owner, entry.subId);
    }
    entry.state = State.Idle;
    entry.listeners.clear();
  }

  #cancelTimer(entry: Entry): void {
    entry.timer?.cancel();
    entry.timer = undefined;
    entry.handoff = false;
  }

  #cancelHandoff(entry: Entry): void {
    this.#cancelTimer(entry);
  }

  #lost(entry: Entry, count: number | null): void {
    this.#report(
      entry,
      meshError('EventsLost', count === null ? `events of ${fmt(entry.address)} may have been lost (its owner went away)` : `${count} events of ${fmt(entry.address)} were lost`, {
        details: { ...entry.address, count },
      }),
    );
  }

  #report(entry: Entry, error: MeshError): void {
    for (const rec of [...entry.listeners]) {
      try {
        rec.onError?.(error);
      } catch {
        // A throwing error listener changes nothing.
      }
    }
  }
}

function validateAddress(a: ActorAddress): void {
  if (a === null || typeof a !== 'object') throw meshError('InvalidArgument', 'address must be { capability, type, id }');
  for (const field of ['capability', 'type', 'id'] as const) {
    const v = a[field];
    if (typeof v !== 'string' || v.length === 0) throw meshError('InvalidArgument', `address.${field} must be a non-empty string`);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function fmt(a: ActorAddress): string {
  return `${a.capability}/${a.type}/${a.id}`;
}
