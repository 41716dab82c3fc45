/**
 * Modulo placement (the Elixir Mesh rule, kept for parity and for comparison in benchmarks).
 *
 * Algorithm: sort the peer ids by plain UTF-16 code-unit order (JavaScript's `<` on strings, not
 * `localeCompare`), giving `sorted[0..n)`. The owner of `shard` is `sorted[shard % n]`; the rest of the
 * preference list follows in ring order: `sorted[(shard + 1) % n]`, `sorted[(shard + 2) % n]`, ...
 *
 * Weights are ignored (every peer gets `floor` or `ceil` of `shardCount / n` shards whatever its weight, and
 * weights are not validated), and so is the capability. Balance is perfect, but a join or leave changes `n`
 * and so reassigns most shards; see the join/leave figures printed by `placement.test.ts`.
 */

import { checkShard, duplicatePeer, resolveCount } from './common.js';
import type { PlacementPeer, PlacementStrategy } from './types.js';

/** The modulo strategy (name `'modulo'`). */
export const moduloStrategy: PlacementStrategy = {
  name: 'modulo',

  preferenceList(shard: number, _capability: string, peers: readonly PlacementPeer[], count?: number): string[] {
    checkShard(shard);
    const n = peers.length;
    const want = resolveCount(count, n);
    if (n === 0) return [];

    const ids: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) ids[i] = peers[i]!.id;
    // The default sort compares strings by UTF-16 code units, which is exactly the documented order.
    ids.sort();
    for (let i = 1; i < n; i++) if (ids[i] === ids[i - 1]) throw duplicatePeer(ids[i]!);

    const start = shard % n;
    const out: string[] = new Array<string>(want);
    for (let r = 0; r < want; r++) out[r] = ids[(start + r) % n]!;
    return out;
  },
};
