/**
 * The capability table: who is alive, with which capabilities, in which view. Every peer of a room holds one;
 * they agree because they apply the same versioned views from signaling. Local edits (`upsert`, `remove`,
 * `registerCapabilities`) also bump the version, for single-process use and tests.
 */
import { meshError } from '../errors.js';
import type { PeerInfo, ViewSnapshot } from './types.js';

/** One change to the table. */
export type TableChange =
  | { readonly type: 'join'; readonly peer: PeerInfo; readonly version: number }
  | { readonly type: 'leave'; readonly peer: PeerInfo; readonly version: number }
  | { readonly type: 'update'; readonly peer: PeerInfo; readonly previous: PeerInfo; readonly version: number }
  | { readonly type: 'view'; readonly version: number; readonly previous: number };

const EMPTY: readonly PeerInfo[] = Object.freeze([]);

/** Normalises a capability list: sorted, unique, each a non-empty string of at most 64 characters. */
export function normalizeCapabilities(capabilities: readonly string[]): string[] {
  for (const c of capabilities) {
    if (typeof c !== 'string' || c.length === 0 || c.length > 64) {
      throw meshError('InvalidArgument', `invalid capability ${JSON.stringify(c)}: 1 to 64 characters`);
    }
  }
  return [...new Set(capabilities)].sort();
}

/** Checks and normalises a peer record. */
export function normalizePeer(peer: PeerInfo): PeerInfo {
  if (typeof peer.id !== 'string' || peer.id.length === 0) throw meshError('InvalidArgument', 'peer id must be a non-empty string');
  if (!Number.isSafeInteger(peer.incarnation) || peer.incarnation < 0) {
    throw meshError('InvalidArgument', `peer ${peer.id}: incarnation must be a non-negative integer`);
  }
  if (!(Number.isFinite(peer.weight) && peer.weight > 0)) throw meshError('InvalidArgument', `peer ${peer.id}: weight must be > 0`);
  if (peer.kind !== 'browser' && peer.kind !== 'edge') throw meshError('InvalidArgument', `peer ${peer.id}: kind must be browser or edge`);
  return Object.freeze({
    id: peer.id,
    incarnation: peer.incarnation,
    kind: peer.kind,
    weight: peer.weight,
    capabilities: Object.freeze(normalizeCapabilities(peer.capabilities)),
  });
}

function samePeer(a: PeerInfo, b: PeerInfo): boolean {
  return (
    a.incarnation === b.incarnation &&
    a.kind === b.kind &&
    a.weight === b.weight &&
    a.capabilities.length === b.capabilities.length &&
    a.capabilities.every((c, i) => c === b.capabilities[i])
  );
}

/** The versioned capability table of one peer. */
export class CapabilityTable {
  #version = 0;
  readonly #peers = new Map<string, PeerInfo>();
  readonly #listeners = new Set<(change: TableChange) => void>();
  #byCapability: Map<string, readonly PeerInfo[]> | undefined;
  #all: readonly PeerInfo[] | undefined;

  /** The current view version (0 before the first change). */
  get version(): number {
    return this.#version;
  }

  /** Every live peer, sorted by id. */
  get peers(): readonly PeerInfo[] {
    this.#all ??= Object.freeze([...this.#peers.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    return this.#all;
  }

  /** One peer by id. */
  peer(id: string): PeerInfo | undefined {
    return this.#peers.get(id);
  }

  /** The live peers that serve `capability`, sorted by id. The array is cached until the next change. */
  peersFor(capability: string): readonly PeerInfo[] {
    if (this.#byCapability === undefined) {
      const index = new Map<string, PeerInfo[]>();
      for (const p of this.peers) {
        for (const c of p.capabilities) {
          let list = index.get(c);
          if (list === undefined) index.set(c, (list = []));
          list.push(p);
        }
      }
      this.#byCapability = index;
    }
    return this.#byCapability.get(capability) ?? EMPTY;
  }

  /** Every capability with the ids of the peers serving it. */
  capabilities(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const p of this.peers) {
      for (const c of p.capabilities) {
        const list = out.get(c);
        if (list === undefined) out.set(c, [p.id]);
        else list.push(p.id);
      }
    }
    return out;
  }

  /** Listens to changes; returns the unsubscribe function. */
  onChange(listener: (change: TableChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds or replaces a peer (a local change: bumps the version). */
  upsert(peer: PeerInfo): void {
    const next = normalizePeer(peer);
    const previous = this.#peers.get(next.id);
    if (previous !== undefined && samePeer(previous, next)) return;
    const old = this.#version;
    this.#version++;
    this.#peers.set(next.id, next);
    this.#invalidate();
    this.#emit(previous === undefined ? { type: 'join', peer: next, version: this.#version } : { type: 'update', peer: next, previous, version: this.#version });
    this.#emit({ type: 'view', version: this.#version, previous: old });
  }

  /** Replaces the capabilities a peer serves (a local change: bumps the version). */
  registerCapabilities(peerId: string, capabilities: readonly string[]): void {
    const peer = this.#peers.get(peerId);
    if (peer === undefined) throw meshError('InvalidArgument', `unknown peer ${peerId}`);
    this.upsert({ ...peer, capabilities });
  }

  /** Removes a peer (a local change: bumps the version). Returns whether it was present. */
  remove(peerId: string): boolean {
    const peer = this.#peers.get(peerId);
    if (peer === undefined) return false;
    const old = this.#version;
    this.#version++;
    this.#peers.delete(peerId);
    this.#invalidate();
    this.#emit({ type: 'leave', peer, version: this.#version });
    this.#emit({ type: 'view', version: this.#version, previous: old });
    return true;
  }

  /**
   * Applies a complete view from signaling if it is newer than the current one; returns whether it was applied.
   * Emits join/leave/update for the differences, then one `view` change.
   */
  applyView(view: ViewSnapshot): boolean {
    if (!(view.version > this.#version)) return false;
    const next = new Map<string, PeerInfo>();
    for (const p of view.peers) next.set(p.id, normalizePeer(p));
    const changes: TableChange[] = [];
    for (const [id, peer] of this.#peers) {
      if (!next.has(id)) changes.push({ type: 'leave', peer, version: view.version });
    }
    for (const [id, peer] of next) {
      const previous = this.#peers.get(id);
      if (previous === undefined) changes.push({ type: 'join', peer, version: view.version });
      else if (!samePeer(previous, peer)) changes.push({ type: 'update', peer, previous, version: view.version });
    }
    const old = this.#version;
    this.#version = view.version;
    this.#peers.clear();
    for (const [id, peer] of next) this.#peers.set(id, peer);
    this.#invalidate();
    for (const c of changes) this.#emit(c);
    this.#emit({ type: 'view', version: this.#version, previous: old });
    return true;
  }

  /** The current view as a snapshot. */
  snapshot(): ViewSnapshot {
    return { version: this.#version, peers: this.peers };
  }

  #invalidate(): void {
    this.#byCapability = undefined;
    this.#all = undefined;
  }

  #emit(change: TableChange): void {
    for (const l of this.#listeners) l(change);
  }
}
