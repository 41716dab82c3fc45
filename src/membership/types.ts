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

/**
 * What changed from one view to the next, as the sender of a view knows it. A hint: with it, a table that holds
 * exactly view `from` applies the view in O(changes) instead of comparing every peer.
 */
export interface ViewDelta {
  /** The version of the view this one follows. */
  readonly from: number;
  /**
   * The peers of this view that are new or re-announced since `from`, in the order of `peers`. Every other peer
   * of `peers` is listed, with the same record, in view `from`, and in the same relative order; new peers come
   * after all the peers kept from `from`.
   */
  readonly changed: readonly PeerInfo[];
  /** The ids of the peers of view `from` that are not in this view. */
  readonly left: readonly string[];
}

/** A complete, versioned membership view. Versions only grow. */
export interface ViewSnapshot {
  readonly version: number;
  readonly peers: readonly PeerInfo[];
  /** Optional: how this view differs from an earlier one (see {@link ViewDelta}); `peers` stays complete. */
  readonly delta?: ViewDelta;
}
