/** What every peer knows about every other peer of its room. */

/** Where a peer runs. */
export type PeerKind = 'browser' | 'edge';

/** One peer of a room, as announced through signaling. */
export interface PeerInfo {
  /** Stable identity (kept across reloads and restarts). */
  readonly id: string;
  /** Bumped every time the same id joins again; a higher incarnation replaces a lower one. */
  readonly incarnation: number;
  readonly kind: PeerKind;
  /** Relative share of shards this peer should own under weighted strategies (default 1). */
  readonly weight: number;
  /** Capabilities this peer serves, sorted, without duplicates. */
  readonly capabilities: readonly string[];
}

/** A complete, versioned membership view. Versions only grow. */
export interface ViewSnapshot {
  readonly version: number;
  readonly peers: readonly PeerInfo[];
}
