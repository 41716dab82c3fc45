/**
 * The typed event map of a mesh and a tiny emitter. Every observable thing a peer does is an event here; logs,
 * metrics, tests and the dashboard all read the same stream (`mesh.on(...)` or `mesh.inspect(...)`).
 */

/** The address of an actor. */
export interface ActorAddress {
  readonly capability: string;
  readonly type: string;
  readonly id: string;
}

/** Why an actor stopped being active on a peer. */
export type DeactivationReason = 'idle' | 'not-owner' | 'shutdown' | 'activation-failed' | 'storage-failed';

/** Every event a mesh emits, by name. */
export interface MeshEventMap {
  'peer:join': { peerId: string; kind: string; capabilities: readonly string[]; view: number };
  'peer:leave': { peerId: string; view: number };
  'peer:update': { peerId: string; capabilities: readonly string[]; view: number };
  'view:changed': { version: number; previous: number; peers: number };
  'actor:activated': { address: ActorAddress; peerId: string; durationMs: number };
  'actor:activation-failed': { address: ActorAddress; peerId: string; error: Error };
  'actor:deactivated': { address: ActorAddress; peerId: string; reason: DeactivationReason };
  'call:completed': {
    address: ActorAddress;
    /** The peer that served (or last tried to serve) the call. */
    target: string;
    durationMs: number;
    ok: boolean;
    /** Error code when `ok` is false. */
    code?: string;
    attempts: number;
  };
  'cast:failed': { address: ActorAddress; error: Error };
  'handler:error': { address: ActorAddress; peerId: string; error: Error };
  'protocol:dropped': { from: string; reason: string };
  /** The signaling connection changed state (`open` again after `connecting` means it reconnected). */
  'signaling:status': { status: 'connecting' | 'open' | 'closed' };
  /**
   * One step of a graceful close finished (`drain`, `handoff`, `linger`, `leave`, `transport`, `store`; see
   * `Mesh.close`); `ok: false` when it overran its share of the close's time and was cut short.
   */
  'close:step': { peerId: string; step: string; durationMs: number; ok: boolean };
}

/** An event name. */
export type MeshEventName = keyof MeshEventMap;

/** One event as delivered to `inspect` listeners. */
export type MeshEvent = { [K in MeshEventName]: { type: K; at: number; data: MeshEventMap[K] } }[MeshEventName];

/** A listener for one event. */
export type Listener<K extends MeshEventName> = (data: MeshEventMap[K]) => void;

/**
 * A typed emitter. Listener errors are caught and reported to `onListenerError` so one bad listener cannot break
 * the mesh. `has(name)` lets hot paths skip building an event nobody listens to.
 */
export class Emitter {
  readonly #listeners = new Map<MeshEventName, Set<(data: never) => void>>();
  readonly #inspectors = new Set<(event: MeshEvent) => void>();
  readonly #now: () => number;
  readonly #onListenerError: (error: unknown) => void;

  constructor(now: () => number, onListenerError: (error: unknown) => void = () => {}) {
    this.#now = now;
    this.#onListenerError = onListenerError;
  }

  /** Subscribes to one event; returns the unsubscribe function. */
  on<K extends MeshEventName>(name: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener as (data: never) => void);
    return () => {
      set.delete(listener as (data: never) => void);
      if (set.size === 0) this.#listeners.delete(name);
    };
  }

  /** Subscribes to every event (the inspection stream); returns the unsubscribe function. */
  inspect(listener: (event: MeshEvent) => void): () => void {
    this.#inspectors.add(listener);
    return () => this.#inspectors.delete(listener);
  }

  /** True when someone listens to `name` (directly or through `inspect`). */
  has(name: MeshEventName): boolean {
    return this.#inspectors.size > 0 || this.#listeners.has(name);
  }

  /** Delivers an event to its listeners and the inspectors. */
  emit<K extends MeshEventName>(name: K, data: MeshEventMap[K]): void {
    const set = this.#listeners.get(name);
    if (set !== undefined) {
      for (const listener of set) {
        try {
          (listener as Listener<K>)(data);
        } catch (error) {
          this.#onListenerError(error);
        }
      }
    }
    if (this.#inspectors.size > 0) {
      const event = { type: name, at: this.#now(), data } as MeshEvent;
      for (const inspector of this.#inspectors) {
        try {
          inspector(event);
        } catch (error) {
          this.#onListenerError(error);
        }
      }
    }
  }
}
