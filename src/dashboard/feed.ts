/**
 * The actor activity feed: activations and deactivations from every peer, turned into what a person wants to
 * read ("spawned on A", "passivated on B", "moved A -> B"). Pure data: no DOM, no timers; the caller passes the
 * time.
 *
 * A move is an actor stopping on one peer because it no longer owns it (`not-owner`, or `shutdown` when its peer
 * leaves) and starting on another within {@link ActivityFeedOptions.moveWindowMs}. Reports from different peers
 * arrive in any order, so the two halves are matched whichever comes first. A peer that left never reports its
 * half: the caller then says where the actor came from (`from`, the shard's owner before the view change).
 */
import type { ActorAddress, DeactivationReason } from '../monitoring/events.js';

/** One actor lifecycle event, from any peer. */
export type ActorActivity =
  | {
      readonly what: 'activated';
      readonly peerId: string;
      readonly address: ActorAddress;
      /** The peer that owned the actor's shard before the last view change, when the caller knows it moved. */
      readonly from?: string;
    }
  | { readonly what: 'deactivated'; readonly peerId: string; readonly address: ActorAddress; readonly reason: DeactivationReason }
  | { readonly what: 'activation-failed'; readonly peerId: string; readonly address: ActorAddress };

/** What a feed line says. */
export type ActivityKind = 'spawned' | 'passivated' | 'stopped' | 'moved' | 'failed';

/** One line of the feed (mutable only by the feed: a `stopped` line becomes `moved` when the other half arrives). */
export interface ActivityEntry {
  /** Increases with every new line. */
  readonly seq: number;
  /** When the feed first saw it (the caller's clock). */
  at: number;
  kind: ActivityKind;
  readonly address: ActorAddress;
  /** Where it happened; for a move, the new owner. */
  peerId: string;
  /** For a move: the previous owner. */
  from?: string;
  /** For `stopped` and `passivated`: why. */
  reason?: DeactivationReason;
}

/** Options of {@link ActivityFeed}. */
export interface ActivityFeedOptions {
  /** Lines kept (default 200). */
  readonly maxEntries?: number;
  /** How far apart a stop and a start may be to count as one move (default 10,000 ms). */
  readonly moveWindowMs?: number;
  /** Keys remembered to drop duplicates (default 2000). */
  readonly maxKeys?: number;
}

/** Formats an actor address as `capability/type/id`. */
export function formatAddress(a: ActorAddress): string {
  return `${a.capability}/${a.type}/${a.id}`;
}

const isHandOff = (reason: DeactivationReason | undefined): boolean => reason === 'not-owner' || reason === 'shutdown';

/** A bounded, newest-first feed of actor activity. */
export class ActivityFeed {
  readonly #entries: ActivityEntry[] = [];
  readonly #max: number;
  readonly #window: number;
  readonly #maxKeys: number;
  readonly #keys = new Set<string>();
  #seq = 0;
  #version = 0;

  constructor(options: ActivityFeedOptions = {}) {
    this.#max = options.maxEntries ?? 200;
    this.#window = options.moveWindowMs ?? 10_000;
    this.#maxKeys = options.maxKeys ?? 2000;
  }

  /** Lines, newest first. */
  get entries(): readonly ActivityEntry[] {
    return this.#entries;
  }

  /** Grows with every change (to know when to redraw). */
  get version(): number {
    return this.#version;
  }

  /**
   * Adds one event seen at `now`. `key`, when given, identifies the event across sources (an event reported
   * twice is added once). Returns the line it created or changed, or undefined for a duplicate.
   */
  add(activity: ActorActivity, now: number, key?: string): ActivityEntry | undefined {
    if (key !== undefined) {
      if (this.#keys.has(key)) return undefined;
      this.#keys.add(key);
      if (this.#keys.size > this.#maxKeys) this.#keys.delete(this.#keys.values().next().value as string);
    }
    this.#version++;
    const { address, peerId } = activity;
    if (activity.what === 'activated') {
      const stop = this.#recent(now, (e) => e.kind === 'stopped' && isHandOff(e.reason) && e.peerId !== peerId && sameAddress(e.address, address));
      if (stop !== undefined) {
        stop.kind = 'moved';
        stop.from = stop.peerId;
        stop.peerId = peerId;
        stop.at = now;
        delete stop.reason;
        this.#raise(stop);
        return stop;
      }
      if (activity.from !== undefined && activity.from !== peerId) return this.#push({ kind: 'moved', address, peerId, from: activity.from }, now);
      return this.#push({ kind: 'spawned', address, peerId }, now);
    }
    if (activity.what === 'activation-failed') return this.#push({ kind: 'failed', address, peerId }, now);
    if (isHandOff(activity.reason)) {
      // The other half of a move already known from the activation: nothing new to say.
      const known = this.#recent(now, (e) => e.kind === 'moved' && e.from === peerId && sameAddress(e.address, address));
      if (known !== undefined) return known;
      const start = this.#recent(now, (e) => e.kind === 'spawned' && e.peerId !== peerId && sameAddress(e.address, address));
      if (start !== undefined) {
        start.kind = 'moved';
        start.from = peerId;
        start.at = now;
        this.#raise(start);
        return start;
      }
      return this.#push({ kind: 'stopped', address, peerId, reason: activity.reason }, now);
    }
    return this.#push({ kind: activity.reason === 'idle' ? 'passivated' : 'stopped', address, peerId, reason: activity.reason }, now);
  }

  /** Counts of lines per kind (for the feed's header). */
  counts(): Record<ActivityKind, number> {
    const c: Record<ActivityKind, number> = { spawned: 0, passivated: 0, stopped: 0, moved: 0, failed: 0 };
    for (const e of this.#entries) c[e.kind]++;
    return c;
  }

  #recent(now: number, match: (e: ActivityEntry) => boolean): ActivityEntry | undefined {
    for (const e of this.#entries) {
      if (now - e.at > this.#window) break;
      if (match(e)) return e;
    }
    return undefined;
  }

  /** Moves a changed line to the top, so the feed stays newest first. */
  #raise(entry: ActivityEntry): void {
    const i = this.#entries.indexOf(entry);
    if (i > 0) {
      this.#entries.splice(i, 1);
      this.#entries.unshift(entry);
    }
  }

  #push(fields: Omit<ActivityEntry, 'seq' | 'at'>, now: number): ActivityEntry {
    const entry: ActivityEntry = { seq: ++this.#seq, at: now, ...fields };
    this.#entries.unshift(entry);
    if (this.#entries.length > this.#max) this.#entries.length = this.#max;
    return entry;
  }
}

function sameAddress(a: ActorAddress, b: ActorAddress): boolean {
  return a.id === b.id && a.type === b.type && a.capability === b.capability;
}
