/**
 * Placement: which peer owns a shard, and who stands by. Pure functions of their arguments, no I/O and no
 * runtime-specific APIs, so a browser tab and a Node.js peer compute the same answer from the same view.
 *
 * - `shardFor(id)`: MurmurHash3 x86_32 of the id's UTF-8 bytes, masked to 4096 shards (`./hash.ts`), with
 *   published vectors in `./vectors.ts`.
 * - `rendezvousStrategy` (default): weighted highest-random-weight (`./rendezvous.ts`).
 * - `moduloStrategy`: sorted peers, owner = `sorted[shard % n]` (`./modulo.ts`).
 * - Custom strategies implement {@link PlacementStrategy} and work with {@link ownerOf} the same way.
 */

import { meshError } from '../errors.js';
import { moduloStrategy } from './modulo.js';
import { rendezvousStrategy } from './rendezvous.js';
import type { PlacementPeer, PlacementStrategy } from './types.js';

export type { PlacementPeer, PlacementStrategy } from './types.js';
export { DEFAULT_SHARD_COUNT, MAX_SHARD_COUNT, murmur3_32, shardFor } from './hash.js';
export { SHARD_TEST_VECTORS } from './vectors.js';
export { rendezvousScore, rendezvousSeed, rendezvousStrategy, unitLog } from './rendezvous.js';
export { moduloStrategy } from './modulo.js';

/** The names of the built-in strategies. */
export type StrategyName = 'rendezvous' | 'modulo';

/** The built-in strategy with the given name; an unknown name (from untyped callers) throws `InvalidArgument`. */
export function strategyByName(name: StrategyName): PlacementStrategy {
  switch (name) {
    case 'rendezvous':
      return rendezvousStrategy;
    case 'modulo':
      return moduloStrategy;
    default:
      throw meshError('InvalidArgument', `unknown placement strategy: ${String(name)}`, { details: { name } });
  }
}

/** The owner of a shard under `strategy` (the first entry of its preference list), or undefined with no peers. */
export function ownerOf(
  strategy: PlacementStrategy,
  shard: number,
  capability: string,
  peers: readonly PlacementPeer[],
): string | undefined {
  return strategy.preferenceList(shard, capability, peers, 1)[0];
}
