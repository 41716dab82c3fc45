/**
 * The shard map, as pure functions: which peer owns each of the shards of a capability in the current view.
 *
 * The mesh answers "who owns actor id X" (`mesh.ownerOf`) with its own strategy and location cache. To ask it
 * about every shard, {@link shardRepresentatives} finds one id per shard once (ids `s0`, `s1`, ... until every
 * shard has one; about 35,000 hashes for 4096 shards). The grid then always agrees with real routing, whatever
 * strategy the mesh uses.
 */

/** One id per shard: `ids[shard]` hashes to `shard`. */
export function shardRepresentatives(shardOf: (id: string) => number, shardCount: number): string[] {
  if (!Number.isInteger(shardCount) || shardCount <= 0) throw new RangeError('shardCount must be a positive integer');
  const ids = new Array<string>(shardCount);
  let missing = shardCount;
  // Coupon collector: about n ln n draws; the bound only guards against a shardOf that never covers every shard.
  const limit = Math.max(1000, Math.ceil(shardCount * Math.log(shardCount + 1) * 8));
  for (let i = 0; missing > 0; i++) {
    if (i > limit) throw new RangeError(`shardOf does not reach every one of ${shardCount} shards`);
    const id = `s${i}`;
    const shard = shardOf(id);
    if (!Number.isInteger(shard) || shard < 0 || shard >= shardCount) throw new RangeError(`shardOf(${id}) = ${shard} is outside 0..${shardCount - 1}`);
    if (ids[shard] === undefined) {
      ids[shard] = id;
      missing--;
    }
  }
  return ids;
}

/** The owner of every shard (undefined where no peer serves the capability). */
export function shardOwners(representatives: readonly string[], ownerOf: (id: string) => string | undefined): Array<string | undefined> {
  return representatives.map((id) => ownerOf(id));
}

/** How many shards each peer owns, in descending order of count (ties by peer id). */
export function ownerCounts(owners: ReadonlyArray<string | undefined>): Array<{ peerId: string; shards: number }> {
  const counts = new Map<string, number>();
  for (const o of owners) if (o !== undefined) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].map(([peerId, shards]) => ({ peerId, shards })).sort((a, b) => b.shards - a.shards || (a.peerId < b.peerId ? -1 : 1));
}

/** The shards whose owner differs between two maps (of the same length; a longer map's extra shards count). */
export function changedShards(previous: ReadonlyArray<string | undefined>, next: ReadonlyArray<string | undefined>): number[] {
  const changed: number[] = [];
  const n = Math.max(previous.length, next.length);
  for (let s = 0; s < n; s++) if (previous[s] !== next[s]) changed.push(s);
  return changed;
}

/** The side of the square grid that shows `shardCount` shards (64 for 4096). */
export function gridSide(shardCount: number): number {
  return Math.ceil(Math.sqrt(shardCount));
}
