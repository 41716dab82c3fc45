/**
 * Weighted rendezvous (highest-random-weight) placement, the default strategy.
 *
 * Algorithm, for a shard `shard` (an integer in [0, 2^32)), a capability string and the live peers:
 *
 * 1. `seed = murmur3_32(capability, shard)`: one hash per call (see `./hash.ts` for murmur3_32).
 * 2. For each peer: `h = murmur3_32(peer.id, seed)`, a uint32, mapped to `u = (h + 0.5) / 2^32`, which lies
 *    strictly inside (0, 1).
 * 3. `score = weight / -ln(u)` (Schindler & Resch's weighted rendezvous: with independent uniform `u`, peer `i`
 *    has the highest score with probability `weight_i / sum(weights)`). `ln` is {@link unitLog}, a fixed
 *    polynomial evaluated with IEEE-754 `+ - * /` only, so the score is bit-identical in every JavaScript
 *    engine (`Math.log` is only "implementation-approximated" by the spec). Weights must be finite and > 0.
 * 4. Order by score, highest first; equal scores (only possible for different weights, or a 32-bit hash
 *    collision) by peer id, smaller first (plain UTF-16 code-unit order). Return the first `count` ids.
 *
 * Properties that follow: the order does not depend on the order of `peers`; removing a peer only moves the
 * shards it owned (each to its own standby); adding a peer only moves shards to the new peer, about
 * `weight_new / sum(weights)` of them.
 *
 * Cost: one murmur3 of each peer id plus a short polynomial. `count` 1 and 2 are a single linear scan with no
 * sorting and no per-peer allocation (the scores live in module-level scratch arrays that grow to the largest
 * peer count seen, which is safe because nothing here can re-enter); larger counts sort peer indices.
 */

import { meshError } from '../errors.js';
import { checkShard, duplicatePeer, resolveCount } from './common.js';
import { murmur3_32 } from './hash.js';
import type { PlacementPeer, PlacementStrategy } from './types.js';

const LN2 = 0.6931471805599453;
const SQRT2 = 1.4142135623730951;

/** `INV_POW2[e + 1] = 2^-e` for e in [-1, 31], exact. */
const INV_POW2 = (() => {
  const t = new Float64Array(33);
  let v = 2;
  for (let i = 0; i < 33; i++) {
    t[i] = v;
    v *= 0.5;
  }
  return t;
})();

/**
 * `ln(u)` for `u = (h + 0.5) / 2^32`, `h` a uint32: always strictly negative, within a few ulps of the true
 * value, and strictly increasing in `h`. Range reduction `u = m * 2^e` with `m` in [sqrt(1/2), sqrt(2)] (exact,
 * from the bit length of `h`), then `ln(m) = 2 atanh(s)`, `s = (m - 1) / (m + 1)`, `|s| <= 0.1716`, summed
 * as `2s (1 + s^2/3 + s^4/5 + ... + s^22/23)` in Horner form (truncation error below 1e-18).
 */
export function unitLog(h: number): number {
  const x = h + 0.5; // exact: h < 2^32
  let e = h === 0 ? -1 : 31 - Math.clz32(h); // 2^e <= x < 2^(e+1)
  let m = x * INV_POW2[e + 1]!; // in [1, 2), exact
  if (m > SQRT2) {
    m *= 0.5;
    e += 1;
  }
  const s = (m - 1) / (m + 1);
  const z = s * s;
  let p = 1 / 23;
  p = 1 / 21 + z * p;
  p = 1 / 19 + z * p;
  p = 1 / 17 + z * p;
  p = 1 / 15 + z * p;
  p = 1 / 13 + z * p;
  p = 1 / 11 + z * p;
  p = 1 / 9 + z * p;
  p = 1 / 7 + z * p;
  p = 1 / 5 + z * p;
  p = 1 / 3 + z * p;
  p = 1 + z * p;
  return (e - 32) * LN2 + 2 * s * p;
}

/** The per-call seed of the peer hashes: `murmur3_32(capability, shard)`. */
export function rendezvousSeed(shard: number, capability: string): number {
  return murmur3_32(capability, shard);
}

/**
 * A peer's rendezvous score for a shard: `weight / -unitLog(murmur3_32(peerId, seed))`, where `seed` is
 * {@link rendezvousSeed}. Exposed for diagnostics and for reimplementations to check themselves against.
 */
export function rendezvousScore(peerId: string, weight: number, seed: number): number {
  return weight / -unitLog(murmur3_32(peerId, seed));
}

// Scratch space, grown on demand and reused across calls.
let scores = new Float64Array(16);
let hashes = new Uint32Array(16);
let table = new Int32Array(32); // open-addressing set of peer indices keyed by hash, for duplicate detection

function checkWeight(peer: PlacementPeer): void {
  const w = peer.weight;
  if (typeof w !== 'number' || !(w > 0) || w === Infinity) {
    throw meshError('InvalidArgument', `peer weight must be a finite number > 0, got ${String(w)} for ${peer.id}`, {
      details: { peerId: peer.id, weight: w },
    });
  }
}

/** The weighted rendezvous strategy (name `'rendezvous'`). */
export const rendezvousStrategy: PlacementStrategy = {
  name: 'rendezvous',

  preferenceList(shard: number, capability: string, peers: readonly PlacementPeer[], count?: number): string[] {
    checkShard(shard);
    const n = peers.length;
    const want = resolveCount(count, n);
    if (n === 0) return [];

    if (scores.length < n) {
      let size = scores.length;
      while (size < n) size *= 2;
      scores = new Float64Array(size);
      hashes = new Uint32Array(size);
      table = new Int32Array(size * 2);
    }
    let mask = 1;
    while (mask < 2 * n) mask <<= 1;
    mask -= 1;
    table.fill(-1, 0, mask + 1);

    const seed = murmur3_32(capability, shard);
    // Best and second best so far (indices into peers), kept only when want <= 2.
    let first = -1;
    let second = -1;
    for (let i = 0; i < n; i++) {
      const peer = peers[i]!;
      checkWeight(peer);
      const id = peer.id;
      const h = murmur3_32(id, seed);

      // Duplicate check: the same id always has the same hash, so only equal hashes need a string compare.
      let slot = h & mask;
      for (let j = table[slot]!; j !== -1; j = table[slot]!) {
        if (hashes[j] === h && peers[j]!.id === id) throw duplicatePeer(id);
        slot = (slot + 1) & mask;
      }
      table[slot] = i;
      hashes[i] = h;

      const score = peer.weight / -unitLog(h);
      scores[i] = score;
      if (want <= 2) {
        if (first === -1 || beats(score, id, scores[first]!, peers[first]!.id)) {
          second = first;
          first = i;
        } else if (second === -1 || beats(score, id, scores[second]!, peers[second]!.id)) {
          second = i;
        }
      }
    }

    if (want === 0) return [];
    if (want === 1) return [peers[first]!.id];
    if (want === 2) return [peers[first]!.id, peers[second]!.id];

    const order: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const s = scores;
    order.sort((a, b) => {
      const sa = s[a]!;
      const sb = s[b]!;
      if (sa !== sb) return sa > sb ? -1 : 1;
      const ia = peers[a]!.id;
      const ib = peers[b]!.id;
      return ia < ib ? -1 : ia > ib ? 1 : 0;
    });
    const out: string[] = new Array<string>(want);
    for (let r = 0; r < want; r++) out[r] = peers[order[r]!]!.id;
    return out;
  },
};

/** True when (score a, id a) ranks before (score b, id b): higher score, then smaller id. */
function beats(sa: number, ida: string, sb: number, idb: string): boolean {
  return sa > sb || (sa === sb && ida < idb);
}
