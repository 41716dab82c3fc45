/**
 * Request-id bookkeeping on the call path.
 *
 * - {@link ReplayWindow}: replay protection for served calls: the request ids a peer recently used, so a call
 *   frame delivered again (same sender, same request id: a replay by a faulty or hostile peer) is dropped instead
 *   of running its handler a second time. Request ids are per caller and never reused while its link is up; a link
 *   that goes down forgets the sender's ids (a restarted caller numbers from 1 again on its new link). Bounded: at
 *   most `capacity` ids per sender (the oldest are forgotten first), and only for peers with a link.
 * - {@link IdMap} and {@link IdSet} (built on it): a map and a set of request ids, for tables that churn once per call (requests
 *   waiting for their reply; the ids of a replay window).
 *
 * Why not a `Map` or `Set` for those: V8 replaces the backing table of a hash table that sees one insert and one
 * delete per call every few hundred calls, and (as far as measurements show) a retired table keeps its entries and a
 * link to its successor. Once one table of that chain is in the old generation, every later table, and every value
 * that was ever in one, is reachable from it through the write barrier's remembered set, so it survives young-
 * generation collections and is promoted, until a full collection. Measured on the caller with 256 calls in flight
 * over node-datachannel: 2.2 MB promoted at every scavenge (5-6 ms pauses, every ~55 ms) with a `Map` of pending
 * requests; 0.2 MB surviving, nothing promoted, 1.5-2 ms pauses with {@link IdMap}.
 */

/** Largest request id (ids are non-negative safe integers). */
const MAX_ID = Number.MAX_SAFE_INTEGER;
const EMPTY = -1;
const TWO_32 = 0x100000000;

/** A random odd multiplier for a table's hash. */
function newMultiplier(): number {
  return ((Math.random() * TWO_32) | 1) >>> 0;
}

/** Home slot of `id` in a table of `2^(32 - shift)` slots: the high bits of a 53-bit id folded into the low 32, then multiply-shift. */
function homeOf(id: number, multiplier: number, shift: number): number {
  const folded = (id >>> 0) ^ (id >= TWO_32 ? Math.floor(id / TWO_32) : 0);
  return Math.imul(folded, multiplier) >>> shift;
}

/** Slots for `capacity` entries at a load of at most 1/2 (a power of two, at least 16). */
function slotsFor(capacity: number): number {
  if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  let slots = 16;
  while (slots < capacity * 2) slots *= 2;
  return slots;
}

function checkId(id: number): void {
  if (!(id >= 0 && id <= MAX_ID && Number.isInteger(id))) throw new RangeError(`id must be a non-negative safe integer, got ${id}`);
}

/** Whether the entry at slot `j`, whose home is `home`, must stay when slot `hole` empties (home cyclically in (hole, j]). */
function stays(hole: number, j: number, home: number): boolean {
  return hole <= j ? hole < home && home <= j : hole < home || home <= j;
}

/**
 * A map from request ids (integers in `[0, 2^53 - 1]`) to values: open addressing with linear probing and
 * backward-shift deletion in two flat arrays, so inserting and deleting allocate nothing, and no retired table ever
 * points at live entries (see the module documentation). The multiplicative hash uses a random odd multiplier per
 * table, so a peer choosing ids cannot aim them at one probe chain. Load stays at or below 1/2; the table doubles
 * when full and never shrinks (it is sized by the most entries held at once).
 */
export class IdMap<V> {
  #keys: Float64Array;
  #values: Array<V | undefined>;
  #mask: number;
  #shift: number;
  readonly #multiplier = newMultiplier();
  #size = 0;

  /** `capacity`: entries held before the first growth. */
  constructor(capacity = 8) {
    const slots = slotsFor(capacity);
    this.#keys = new Float64Array(slots).fill(EMPTY);
    this.#values = new Array<V | undefined>(slots).fill(undefined);
    this.#mask = slots - 1;
    this.#shift = 32 - Math.log2(slots);
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** The value of `id`, or undefined. */
  get(id: number): V | undefined {
    const i = this.#find(id);
    return i < 0 ? undefined : this.#values[i];
  }

  /** Whether `id` is held. */
  has(id: number): boolean {
    return this.#find(id) >= 0;
  }

  /** Sets the value of `id` (a non-negative safe integer; anything else throws a `RangeError`). */
  set(id: number, value: V): this {
    checkId(id);
    const keys = this.#keys;
    const mask = this.#mask;
    let i = this.#home(id);
    for (;;) {
      const k = keys[i]!;
      if (k === id) {
        this.#values[i] = value;
        return this;
      }
      if (k === EMPTY) break;
      i = (i + 1) & mask;
    }
    if ((this.#size + 1) * 2 > keys.length) {
      this.#grow();
      return this.set(id, value);
    }
    keys[i] = id;
    this.#values[i] = value;
    this.#size++;
    return this;
  }

  /** Removes `id`; whether it was held. */
  delete(id: number): boolean {
    let hole = this.#find(id);
    if (hole < 0) return false;
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    // Backward-shift deletion: pull later entries of the probe chain into the hole when their home slot allows it,
    // so no tombstones are needed and lookups stop at the first empty slot.
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const k = keys[j]!;
      if (k === EMPTY) break;
      if (stays(hole, j, this.#home(k))) continue;
      keys[hole] = k;
      values[hole] = values[j];
      hole = j;
    }
    keys[hole] = EMPTY;
    values[hole] = undefined;
    this.#size--;
    return true;
  }

  /**
   * The values held, in ascending id order (for request ids, the order they were issued in: what a `Map` filled as
   * they were issued iterates, whatever the table's random hash), from a snapshot of the ids taken now, each looked
   * up again when reached: entries deleted meanwhile are skipped (as with a `Map`), entries added meanwhile are not
   * visited.
   */
  *values(): IterableIterator<V> {
    const ids: number[] = [];
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) ids.push(keys[i]!);
    ids.sort((a, b) => a - b);
    for (const id of ids) {
      const i = this.#find(id);
      if (i >= 0) yield this.#values[i] as V;
    }
  }

  /** Removes every entry (the table keeps its size). */
  clear(): void {
    this.#keys.fill(EMPTY);
    this.#values.fill(undefined);
    this.#size = 0;
  }

  /** Slot of `id`, or -1. */
  #find(id: number): number {
    const keys = this.#keys;
    const mask = this.#mask;
    for (let i = this.#home(id); ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === id) return i;
      if (k === EMPTY) return -1;
    }
  }

  #home(id: number): number {
    return homeOf(id, this.#multiplier, this.#shift);
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    const slots = keys.length * 2;
    this.#keys = new Float64Array(slots).fill(EMPTY);
    this.#values = new Array<V | undefined>(slots).fill(undefined);
    this.#mask = slots - 1;
    this.#shift = 32 - Math.log2(slots);
    this.#size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.set(keys[i]!, values[i] as V);
    // The old array may be in the old generation: leave it pointing at nothing (see the module documentation).
    values.fill(undefined);
  }
}

/** A set of request ids: an {@link IdMap} whose values are all `true`, with a fixed capacity. */
export class IdSet {
  readonly #ids: IdMap<true>;
  readonly #capacity: number;

  /** `capacity`: the most ids held at once (adding more throws a `RangeError`). */
  constructor(capacity: number) {
    // Sized for `capacity`, the map never grows.
    this.#ids = new IdMap<true>(capacity);
    this.#capacity = capacity;
  }

  /** Ids held. */
  get size(): number {
    return this.#ids.size;
  }

  /** Whether `id` is held. */
  has(id: number): boolean {
    return this.#ids.has(id);
  }

  /** Adds `id` (a non-negative safe integer); false when it was held already. */
  add(id: number): boolean {
    const ids = this.#ids;
    const before = ids.size;
    if (before === this.#capacity) {
      checkId(id);
      if (ids.has(id)) return false;
      throw new RangeError(`IdSet full (${this.#capacity} ids)`);
    }
    ids.set(id, true);
    return ids.size > before;
  }

  /** Removes `id`; whether it was held. */
  delete(id: number): boolean {
    return this.#ids.delete(id);
  }
}

/** Recently seen request ids of one sender: membership in an {@link IdSet}, age order in a ring. */
interface SenderIds {
  readonly seen: IdSet;
  readonly ring: Float64Array;
  next: number;
}

/** Recently seen request ids per sending peer. */
export class ReplayWindow {
  readonly #capacity: number;
  readonly #senders = new Map<string, SenderIds>();

  /** `capacity`: ids remembered per sender (default 1024). */
  constructor(capacity = 1024) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#capacity = capacity;
  }

  /** Records `rid` from `from`; false when it was seen already (a replay). */
  admit(from: string, rid: number): boolean {
    let s = this.#senders.get(from);
    if (s === undefined) {
      s = { seen: new IdSet(this.#capacity), ring: new Float64Array(this.#capacity).fill(EMPTY), next: 0 };
      this.#senders.set(from, s);
    }
    const seen = s.seen;
    if (seen.has(rid)) return false;
    const evicted = s.ring[s.next]!;
    if (evicted !== EMPTY) seen.delete(evicted);
    s.ring[s.next] = rid;
    s.next = s.next + 1 === this.#capacity ? 0 : s.next + 1;
    seen.add(rid);
    return true;
  }

  /** Forgets the ids of `from` (its link went down). */
  forget(from: string): void {
    this.#senders.delete(from);
  }

  /** Senders tracked (for tests). */
  get senders(): number {
    return this.#senders.size;
  }
}
