/**
 * Replay protection for served calls: the request ids a peer recently used, so a call frame delivered again
 * (same sender, same request id: a replay by a faulty or hostile peer) is dropped instead of running its handler
 * a second time. Request ids are per caller and never reused while its link is up; a link that goes down
 * forgets the sender's ids (a restarted caller numbers from 1 again on its new link).
 *
 * Bounded: at most `capacity` ids per sender (the oldest are forgotten first), and only for peers with a link.
 */

/** Recently seen request ids per sending peer. */
export class ReplayWindow {
  readonly #capacity: number;
  readonly #senders = new Map<string, { readonly seen: Set<number>; readonly ring: Float64Array; next: number }>();

  /** `capacity`: ids remembered per sender (default 1024). */
  constructor(capacity = 1024) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#capacity = capacity;
  }

  /** Records `rid` from `from`; false when it was seen already (a replay). */
  admit(from: string, rid: number): boolean {
    let s = this.#senders.get(from);
    if (s === undefined) {
      s = { seen: new Set(), ring: new Float64Array(this.#capacity).fill(-1), next: 0 };
      this.#senders.set(from, s);
    }
    if (s.seen.has(rid)) return false;
    const evicted = s.ring[s.next]!;
    if (evicted >= 0) s.seen.delete(evicted);
    s.ring[s.next] = rid;
    s.next = (s.next + 1) % this.#capacity;
    s.seen.add(rid);
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
