/**
 * The signaling client contract: join a room, announce this peer, receive versioned membership views, and relay
 * opaque connection-setup messages (SDP, ICE) to other peers of the room.
 * Implementations: `MemorySignaling` (simulation) and `WebSocketSignaling` (the real server).
 */
import type { PeerInfo, ViewSnapshot } from '../membership/types.js';

/** Connection state of a signaling client. */
export type SignalingStatus = 'connecting' | 'open' | 'closed';

/** Handlers a signaling client reports to. */
export interface SignalingHandlers {
  /** A new membership view (version strictly greater than any before it on this connection). */
  onView(view: ViewSnapshot): void;
  /** A relayed setup message from another peer of the room. */
  onSignal?(from: string, data: unknown): void;
  /** Connection state changes. */
  onStatus?(status: SignalingStatus): void;
}

/** A client of one room. */
export interface SignalingClient {
  /** Registers handlers; signals that arrived earlier are buffered and delivered now. */
  setHandlers(handlers: SignalingHandlers): void;
  /** Connects and announces `self`; resolves once the first view that contains `self` arrived. */
  join(self: PeerInfo): Promise<void>;
  /** Replaces this peer's announced capabilities (a new view follows). */
  updateCapabilities(capabilities: readonly string[]): void;
  /** Relays `data` to peer `to` of the same room. Best effort: dropped while disconnected. */
  signal(to: string, data: unknown): void;
  /** Leaves the room and closes the connection. */
  leave(): Promise<void>;
  /** The current connection state. */
  readonly status: SignalingStatus;
}
