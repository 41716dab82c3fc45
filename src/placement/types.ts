/** Placement contracts: pure functions from (shard, capability, live peers) to an ordered preference list. */

/** The part of a peer that placement looks at. */
export interface PlacementPeer {
  readonly id: string;
  /** Relative weight (> 0); strategies that ignore weights may skip it. */
  readonly weight: number;
}

/**
 * A placement strategy. Implementations must be pure and deterministic: the same arguments give the same list
 * in every runtime, whatever the order of `peers`.
 */
export interface PlacementStrategy {
  /** A short name, shown on the dashboard and in benchmark output. */
  readonly name: string;
  /**
   * The ordered preference list for a shard: `[owner, standby, ...]`, at most `count` distinct peer ids
   * (all peers when `count` is omitted). Empty when `peers` is empty.
   */
  preferenceList(shard: number, capability: string, peers: readonly PlacementPeer[], count?: number): string[];
}
