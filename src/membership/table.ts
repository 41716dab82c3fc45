/**
 * The capability table: who is alive, with which capabilities, in which view. Every peer of a room holds one;
 * they agree because they apply the same versioned views from signaling. Local edits (`upsert`, `remove`,
 * `registerCapabilities`) also bump the version, for single-process use and tests.
 *
 * Cost: a room of n peers sends every peer a full view on every change, so applying a view must cost each peer
 * O(changes), not O(n) allocations and sorts. {@link CapabilityTable.applyView} takes the first of:
 * - the view's `delta` (a `ViewDelta`, which the in-memory hub sends), when the table holds exactly the view
 *   it starts from: only the changed peers are looked at;
 * - a walk of the view beside the table's own order (signaling lists a room by arrival, so kept peers stay in
 *   order and new ones come last): a few comparisons per unchanged peer, no allocation;
 * - a lookup of every peer (any order), and for a view that lists an id twice, the original full rebuild.
 * Only new and changed peers are normalised (and records are shared between the tables of one process); the
 * sorted peer list and the per-capability lists are patched (a copy and a splice per change, no sort), and a
 * capability whose peers did not change keeps its array. Events and contents are those of a full rebuild
 * (`table.property.test.ts` checks it against one).
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

/**
 * Whether `normalizePeer(raw)` would give a record equal to `held` (same id), decided without allocating:
 * equal scalar fields and a capability list equal element by element. When `held` is normalised (its list is
 * sorted, unique and valid), normalising `raw` would then give an equal record; when `held` is a copy of what was
 * announced earlier (see {@link normalizeShared}), `raw` still announces the same.
 */
function unchanged(raw: PeerInfo, held: PeerInfo): boolean {
  if (raw === held) return true;
  if (raw.incarnation !== held.incarnation || raw.kind !== held.kind || raw.weight !== held.weight) return false;
  const rc = raw.capabilities;
  const hc = held.capabilities;
  if (rc === hc) return true;
  if (!Array.isArray(rc) || rc.length !== hc.length) return false;
  for (let i = 0; i < hc.length; i++) if (rc[i] !== hc[i]) return false;
  return true;
}

/**
 * Normalised records by the announced object they came from, shared by every table of this process: the
 * in-memory signaling hub hands the same object to every peer of a simulated room, so a thousand tables hold
 * one frozen record per peer instead of a thousand copies. Each hit is checked against a copy of the announced
 * fields, so an announced object mutated after use is normalised again.
 */
const shared = new WeakMap<object, { readonly peer: PeerInfo; readonly announced: PeerInfo }>();

/** {@link normalizePeer} through the {@link shared} cache. */
function normalizeShared(raw: PeerInfo): PeerInfo {
  if (typeof raw !== 'object' || raw === null) return normalizePeer(raw);
  const hit = shared.get(raw);
  if (hit !== undefined && hit.announced.id === raw.id && unchanged(raw, hit.announced)) return hit.peer;
  const peer = normalizePeer(raw);
  const announced: PeerInfo = { ...peer, capabilities: Array.from(raw.capabilities) };
  shared.set(raw, { peer, announced });
  return peer;
}

/** Orders peers by id in plain UTF-16 code-unit order (the order of {@link CapabilityTable.peers}). */
function byId(a: PeerInfo, b: PeerInfo): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The index of the first peer of `list` (sorted by id) whose id is not below `id`. */
function lowerBound(list: readonly PeerInfo[], id: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Up to this many edits, {@link patchSorted} copies the list and splices; beyond, it merges. */
const SPLICE_EDITS = 16;

/**
 * A list sorted by id, patched: entries whose id is in `remove` go, entries whose id is in `replace` are
 * swapped for the new record, and `insert` (sorted by id, ids absent from `base`) is merged in. A few edits
 * cost a copy and one binary search and splice each (memory moves, no string comparisons over the list); many
 * cost one merge.
 */
function patchSorted(
  base: readonly PeerInfo[],
  remove: ReadonlySet<string> | undefined,
  replace: ReadonlyMap<string, PeerInfo> | undefined,
  insert: readonly PeerInfo[],
): readonly PeerInfo[] {
  const edits = (remove?.size ?? 0) + (replace?.size ?? 0) + insert.length;
  if (edits <= SPLICE_EDITS) {
    // Spread, not slice: V8's slice of a frozen array takes a slow path (about 80 times slower at 1,000 peers).
    const out = [...base];
    if (replace !== undefined) {
      for (const [id, peer] of replace) {
        const at = lowerBound(base, id);
        if (base[at]?.id === id) out[at] = peer;
      }
    }
    // Removals and insertions from the end, so the positions found in `base` stay valid in `out`.
    const at: number[] = [];
    if (remove !== undefined) {
      for (const id of remove) {
        const i = lowerBound(base, id);
        if (base[i]?.id === id) at.push(i);
      }
    }
    at.sort((x, y) => y - x);
    let r = 0;
    for (let k = insert.length - 1; k >= 0 || r < at.length; ) {
      const ins = k >= 0 ? lowerBound(base, insert[k]!.id) : -1;
      const del = r < at.length ? at[r]! : -1;
      // At one position, the removal (of base[del]) goes before the insertion (which lands before base[del]).
      if (del >= ins) {
        out.splice(del, 1);
        r++;
      } else {
        out.splice(ins, 0, insert[k]!);
        k--;
      }
    }
    return Object.freeze(out);
  }
  const out: PeerInfo[] = [];
  let j = 0;
  for (const p of base) {
    if (remove?.has(p.id) === true) continue;
    while (j < insert.length && insert[j]!.id < p.id) out.push(insert[j++]!);
    out.push(replace?.get(p.id) ?? p);
  }
  while (j < insert.length) out.push(insert[j++]!);
  return Object.freeze(out);
}

/** A peer whose record changed (same id). */
interface Update {
  readonly previous: PeerInfo;
  readonly peer: PeerInfo;
}

/** A join or an update found by a view diff, in view order. */
type DiffChange = { readonly kind: 'join'; readonly peer: PeerInfo } | { readonly kind: 'update'; readonly peer: PeerInfo; readonly previous: PeerInfo };

/** What applying a view changes. Computed before anything is changed, so an invalid view changes nothing. */
interface ViewDiff {
  /** Peers gone, in the table's order. */
  readonly leaves: readonly PeerInfo[];
  /** New peers, in view order. */
  readonly joins: readonly PeerInfo[];
  readonly updates: readonly Update[];
  /** Joins and updates in view order (the order of their events). */
  readonly changes: readonly DiffChange[];
  /** Whether the view lists the kept peers in the table's order, then the new ones: the map is patched in place. */
  readonly inOrder: boolean;
}

/** The edits one change makes to the peer list of one capability. */
interface CapabilityEdit {
  remove: Set<string> | undefined;
  replace: Map<string, PeerInfo> | undefined;
  readonly insert: PeerInfo[];
}

/** The versioned capability table of one peer. */
export class CapabilityTable {
  #version = 0;
  /**
   * Live peers by id. Iteration order is the order of the last view (kept peers in place, new ones last), then
   * local additions: leave events follow it, and views from signaling usually keep it, which the diffs use.
   */
  readonly #peers = new Map<string, PeerInfo>();
  readonly #listeners = new Set<(change: TableChange) => void>();
  /**
   * Per-capability peer lists sorted by id; built on first use, then patched by every change. A capability every
   * peer serves shares the array of {@link #all}.
   */
  #byCapability: Map<string, readonly PeerInfo[]> | undefined;
  /** Every peer sorted by id; built on first use, then patched by every change. */
  #all: readonly PeerInfo[] | undefined;
  /** The version of the view the table holds exactly (set by `applyView`; -1 after a local edit). */
  #viewVersion = 0;

  /** The current view version (0 before the first change). */
  get version(): number {
    return this.#version;
  }

  /** How many live peers the table holds (O(1); `peers.length` without building the sorted list). */
  get size(): number {
    return this.#peers.size;
  }

  /** Every live peer, sorted by id. The array is frozen and stays the same until the next change. */
  get peers(): readonly PeerInfo[] {
    this.#all ??= Object.freeze([...this.#peers.values()].sort(byId));
    return this.#all;
  }

  /** One peer by id. */
  peer(id: string): PeerInfo | undefined {
    return this.#peers.get(id);
  }

  /**
   * The live peers that serve `capability`, sorted by id. The array is frozen, and stays the same array across
   * views that do not change which peers serve `capability` or their records.
   */
  peersFor(capability: string): readonly PeerInfo[] {
    if (this.#byCapability === undefined) {
      const all = this.peers;
      const index = new Map<string, readonly PeerInfo[]>();
      const lists = new Map<string, PeerInfo[]>();
      for (const p of all) {
        for (const c of p.capabilities) {
          let list = lists.get(c);
          if (list === undefined) lists.set(c, (list = []));
          list.push(p);
        }
      }
      for (const [c, list] of lists) index.set(c, list.length === all.length ? all : Object.freeze(list));
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
    this.#viewVersion = -1;
    this.#peers.set(next.id, next);
    if (previous === undefined) {
      this.#patch([], [next], []);
      this.#emit({ type: 'join', peer: next, version: this.#version });
    } else {
      this.#patch([], [], [{ previous, peer: next }]);
      this.#emit({ type: 'update', peer: next, previous, version: this.#version });
    }
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
    this.#viewVersion = -1;
    this.#peers.delete(peerId);
    this.#patch([peer], [], []);
    this.#emit({ type: 'leave', peer, version: this.#version });
    this.#emit({ type: 'view', version: this.#version, previous: old });
    return true;
  }

  /**
   * Applies a complete view from signaling if it is newer than the current one; returns whether it was applied.
   * Emits join/leave/update for the differences (leaves first, in the order the table held the peers, then joins
   * and updates in the view's order), then one `view` change. An invalid peer anywhere in the view throws
   * `InvalidArgument` and leaves the table as it was.
   *
   * Cost, for n peers and k changes: O(k) with a usable `view.delta`; else a few comparisons per unchanged
   * peer (a walk beside the table's own order when the view keeps it, as signaling does; else one map lookup
   * each). Only new and changed peers are normalised, and the sorted lists are patched (a copy and k splices),
   * not rebuilt.
   */
  applyView(view: ViewSnapshot): boolean {
    if (!(view.version > this.#version)) return false;
    const diff = this.#diffFromDelta(view) ?? this.#diffInOrder(view) ?? this.#diffByLookup(view);
    if (diff === undefined) return this.#applyRebuilding(view);
    const peers = this.#peers;
    const version = view.version;
    const old = this.#version;
    this.#version = version;
    this.#viewVersion = version;
    for (const p of diff.leaves) peers.delete(p.id);
    // Replacing a record keeps its place in the map.
    for (const u of diff.updates) peers.set(u.peer.id, u.peer);
    if (diff.inOrder) {
      // New peers go last: the map is in the view's order, as a rebuild would leave it.
      for (const p of diff.joins) peers.set(p.id, p);
    } else {
      const joined = new Map(diff.joins.map((p) => [p.id, p]));
      const order = view.peers.map((raw) => peers.get(raw.id) ?? joined.get(raw.id)!);
      peers.clear();
      for (const p of order) peers.set(p.id, p);
    }
    this.#patch(diff.leaves, diff.joins, diff.updates);
    for (const p of diff.leaves) this.#emit({ type: 'leave', peer: p, version });
    for (const c of diff.changes) {
      this.#emit(c.kind === 'join' ? { type: 'join', peer: c.peer, version } : { type: 'update', peer: c.peer, previous: c.previous, version });
    }
    this.#emit({ type: 'view', version, previous: old });
    return true;
  }

  /** The current view as a snapshot. */
  snapshot(): ViewSnapshot {
    return { version: this.#version, peers: this.peers };
  }

  /**
   * The differences to `view` from its `delta` (a `ViewDelta`), in O(changes), when the table holds exactly the
   * view the delta starts from (applied from signaling, no local edit since). Undefined when there is no usable
   * delta or it does not add up (a left id the table does not hold, an id twice, sizes that differ, new peers that
   * are not last in the view): the other diffs decide.
   */
  #diffFromDelta(view: ViewSnapshot): ViewDiff | undefined {
    const delta = view.delta;
    if (delta === undefined || delta.from !== this.#version || this.#viewVersion !== this.#version) return undefined;
    const peers = this.#peers;
    let gone: PeerInfo[] = [];
    for (const id of delta.left) {
      const p = peers.get(id);
      if (p === undefined) return undefined;
      gone.push(p);
    }
    const goneIds = gone.length > 1 ? new Set(delta.left) : undefined;
    if (goneIds !== undefined) {
      if (goneIds.size !== gone.length) return undefined;
      // Leave events follow the table's order.
      gone = [];
      for (const p of peers.values()) if (goneIds.has(p.id)) gone.push(p);
    }
    const joins: PeerInfo[] = [];
    const updates: Update[] = [];
    const changes: DiffChange[] = [];
    const seen = delta.changed.length > 1 ? new Set<string>() : undefined;
    for (const raw of delta.changed) {
      if (seen !== undefined) {
        if (seen.has(raw.id)) return undefined;
        seen.add(raw.id);
      }
      const held = peers.get(raw.id);
      if (held === undefined) {
        const next = normalizeShared(raw);
        joins.push(next);
        changes.push({ kind: 'join', peer: next });
        continue;
      }
      if (gone.includes(held)) return undefined;
      if (unchanged(raw, held)) continue;
      const next = normalizeShared(raw);
      if (samePeer(held, next)) continue;
      updates.push({ previous: held, peer: next });
      changes.push({ kind: 'update', peer: next, previous: held });
    }
    const n = view.peers.length;
    if (peers.size - gone.length + joins.length !== n) return undefined;
    for (let k = 0; k < joins.length; k++) if (view.peers[n - joins.length + k]?.id !== joins[k]!.id) return undefined;
    return { leaves: gone, joins, updates, changes, inOrder: true };
  }

  /**
   * The differences to `view` when it lists the peers it keeps in the table's order, followed by the new ones (how
   * signaling servers list a room: by arrival). Walks the view beside the table's map, so an unchanged peer costs
   * an id and a few field comparisons. Undefined when the view does not have that shape (the lookup diff decides).
   */
  #diffInOrder(view: ViewSnapshot): ViewDiff | undefined {
    const peers = this.#peers;
    const cur = view.peers;
    const leaves: PeerInfo[] = [];
    const updates: Update[] = [];
    const changes: DiffChange[] = [];
    const walk = peers.values();
    let step = walk.next();
    let j = 0;
    while (step.done !== true && j < cur.length) {
      const raw = cur[j]!;
      const held = step.value;
      step = walk.next();
      if (raw.id !== held.id) {
        // A new peer before kept ones: not this shape. Else `held` left, if `raw` comes later in the map (if it
        // came earlier, the walk runs to the end and the tail below finds `raw` held: not this shape either).
        if (!peers.has(raw.id)) return undefined;
        leaves.push(held);
        continue;
      }
      j++;
      if (unchanged(raw, held)) continue;
      const next = normalizeShared(raw);
      if (samePeer(held, next)) continue;
      updates.push({ previous: held, peer: next });
      changes.push({ kind: 'update', peer: next, previous: held });
    }
    while (step.done !== true) {
      leaves.push(step.value);
      step = walk.next();
    }
    const joins: PeerInfo[] = [];
    const joined = cur.length - j > 1 ? new Set<string>() : undefined;
    for (; j < cur.length; j++) {
      const raw = cur[j]!;
      // A held peer after the new ones, or an id twice: not this shape.
      if (peers.has(raw.id)) return undefined;
      if (joined !== undefined) {
        if (joined.has(raw.id)) return undefined;
        joined.add(raw.id);
      }
      const next = normalizeShared(raw);
      joins.push(next);
      changes.push({ kind: 'join', peer: next });
    }
    return { leaves, joins, updates, changes, inOrder: true };
  }

  /**
   * The differences to `view` by looking each of its peers up: any order. Undefined when the view lists an id
   * twice (a malformed view, left to {@link #applyRebuilding}).
   */
  #diffByLookup(view: ViewSnapshot): ViewDiff | undefined {
    const peers = this.#peers;
    const rank = new Map<string, number>();
    for (const id of peers.keys()) rank.set(id, rank.size);
    const seen = new Set<string>();
    const leaves: PeerInfo[] = [];
    const joins: PeerInfo[] = [];
    const updates: Update[] = [];
    const changes: DiffChange[] = [];
    let lastRank = -1;
    let inOrder = true;
    for (const raw of view.peers) {
      if (seen.has(raw.id)) return undefined;
      seen.add(raw.id);
      const held = peers.get(raw.id);
      if (held !== undefined) {
        const r = rank.get(raw.id)!;
        if (r < lastRank || joins.length > 0) inOrder = false;
        lastRank = r;
        if (unchanged(raw, held)) continue;
        const next = normalizeShared(raw);
        if (samePeer(held, next)) continue;
        updates.push({ previous: held, peer: next });
        changes.push({ kind: 'update', peer: next, previous: held });
      } else {
        const next = normalizeShared(raw);
        joins.push(next);
        changes.push({ kind: 'join', peer: next });
      }
    }
    for (const p of peers.values()) if (!seen.has(p.id)) leaves.push(p);
    return { leaves, joins, updates, changes, inOrder };
  }

  /**
   * {@link applyView} by normalising every peer and rebuilding the table: for views that list an id twice (the
   * last record wins, at the position of the first).
   */
  #applyRebuilding(view: ViewSnapshot): boolean {
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
    this.#viewVersion = view.version;
    this.#peers.clear();
    for (const [id, peer] of next) this.#peers.set(id, peer);
    this.#byCapability = undefined;
    this.#all = undefined;
    for (const c of changes) this.#emit(c);
    this.#emit({ type: 'view', version: this.#version, previous: old });
    return true;
  }

  /**
   * Brings the derived lists (when built) up to date with a change: O(list length) per touched list, and lists
   * of capabilities no changed peer serves (or served) stay as they are. A touched list that ends up as long as
   * {@link #all} is `#all` (no copy: with one capability served by every peer, one list serves both).
   */
  #patch(leaves: readonly PeerInfo[], joins: readonly PeerInfo[], updates: readonly Update[]): void {
    if (leaves.length === 0 && joins.length === 0 && updates.length === 0) return;
    const all = this.#all;
    if (all === undefined) {
      this.#byCapability = undefined;
      return;
    }
    const gone = leaves.length === 0 ? undefined : new Set(leaves.map((p) => p.id));
    const sortedJoins = joins.length <= 1 ? joins : [...joins].sort(byId);
    const replaced = updates.length === 0 ? undefined : new Map(updates.map((u) => [u.peer.id, u.peer]));
    const nextAll = patchSorted(all, gone, replaced, sortedJoins);
    this.#all = nextAll;
    const index = this.#byCapability;
    if (index === undefined) return;
    const edits = new Map<string, CapabilityEdit>();
    const edit = (c: string): CapabilityEdit => {
      let e = edits.get(c);
      if (e === undefined) edits.set(c, (e = { remove: undefined, replace: undefined, insert: [] }));
      return e;
    };
    for (const p of leaves) for (const c of p.capabilities) (edit(c).remove ??= new Set()).add(p.id);
    for (const p of sortedJoins) for (const c of p.capabilities) edit(c).insert.push(p);
    for (const { previous, peer } of updates) {
      for (const c of previous.capabilities) {
        if (peer.capabilities.includes(c)) (edit(c).replace ??= new Map()).set(peer.id, peer);
        else (edit(c).remove ??= new Set()).add(peer.id);
      }
      for (const c of peer.capabilities) if (!previous.capabilities.includes(c)) edit(c).insert.push(peer);
    }
    for (const [c, e] of edits) {
      const base = index.get(c) ?? EMPTY;
      const length = base.length - (e.remove?.size ?? 0) + e.insert.length;
      if (length === 0) {
        index.delete(c);
      } else if (length === nextAll.length) {
        // A subset of every peer, sorted the same way, as long as every peer: every peer.
        index.set(c, nextAll);
      } else {
        if (e.insert.length > 1) e.insert.sort(byId);
        index.set(c, patchSorted(base, e.remove, e.replace, e.insert));
      }
    }
  }

  #emit(change: TableChange): void {
    for (const l of this.#listeners) l(change);
  }
}
