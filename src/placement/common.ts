/** Argument checks shared by the built-in strategies, so they reject the same inputs with the same errors. */

import { meshError } from '../errors.js';

/** Throws `InvalidArgument` unless `shard` is an integer in [0, 2^32). */
export function checkShard(shard: number): void {
  if (!Number.isInteger(shard) || shard < 0 || shard > 0xffff_ffff) {
    throw meshError('InvalidArgument', `shard must be an integer in [0, 2^32), got ${String(shard)}`, {
      details: { shard },
    });
  }
}

/**
 * How many entries a preference list over `n` peers holds: `n` when `count` is omitted, else `min(count, n)`.
 * `count` must be a non-negative integer; anything else throws `InvalidArgument`.
 */
export function resolveCount(count: number | undefined, n: number): number {
  if (count === undefined) return n;
  if (!Number.isInteger(count) || count < 0) {
    throw meshError('InvalidArgument', `count must be a non-negative integer, got ${String(count)}`, {
      details: { count },
    });
  }
  return count < n ? count : n;
}

/** The error for a peer id that appears twice in one `peers` list (a caller bug). */
export function duplicatePeer(id: string): Error {
  return meshError('InvalidArgument', `duplicate peer id in placement input: ${id}`, { details: { peerId: id } });
}
