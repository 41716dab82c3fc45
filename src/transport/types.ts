/**
 * The transport contract: deliver opaque binary frames to a peer, in order, and report peers going up and down.
 * Implementations: `MemoryTransport` (simulation), `WebRtcTransport` (RTCPeerConnection data channels).
 * One contract suite (`src/testing/contracts/transport.ts`) runs against every implementation.
 */

import type { MeshError } from '../errors.js';

/** Receives the failure of a frame queued with {@link Transport.post}. */
export interface SendListener {
  /** The frame could not be sent: refused at once, or its link went down (or never came up) before it left. */
  sendFailed(error: MeshError): void;
}

/** Why a peer link went down. */
export type PeerDownReason = 'closed' | 'timeout' | 'failed' | 'local-close';

/** Handlers a transport reports to. Set once, before the first send. */
export interface TransportHandlers {
  /** A frame from `from`, in the order `from` sent it. The buffer may be reused after the call returns. */
  onFrame(from: string, frame: Uint8Array): void;
  /** A link to `peerId` is open (after a lazy connect or an incoming connection). */
  onPeerUp?(peerId: string): void;
  /** A link to `peerId` went away; frames queued for it were dropped. */
  onPeerDown?(peerId: string, reason: PeerDownReason): void;
}

/** Point-to-point, ordered, reliable frame delivery. */
export interface Transport {
  /** This peer's id. */
  readonly localPeerId: string;
  /** The largest frame `send` accepts; larger frames are refused with `MessageTooLarge`. */
  readonly maxFrameSize: number;
  /** Registers the handlers. Calling it twice replaces the previous handlers. */
  setHandlers(handlers: TransportHandlers): void;
  /**
   * Queues `frame` for `peerId`, connecting lazily if needed. Resolves once the frame is accepted below the
   * high-water mark (so awaiting it is backpressure); rejects with a `TransportError` (`MessageTooLarge`,
   * `PeerUnavailable`, `Closed`). Frames to one peer are delivered in the order of `send` calls.
   */
  send(peerId: string, frame: Uint8Array): Promise<void>;
  /**
   * Optional, for hot paths: queues `frame` like `send` (same order, same limits) without creating a promise.
   * A failure goes to `listener.sendFailed` (possibly synchronously), or is dropped without a listener (the layer
   * above still learns of a lost link from `onPeerDown`).
   */
  post?(peerId: string, frame: Uint8Array, listener?: SendListener): void;
  /**
   * Optional: the measured round-trip time to `peerId` in ms, when the transport can tell (undefined otherwise).
   * `WebRtcTransport` measures it with its heartbeats.
   */
  rtt?(peerId: string): number | undefined;
  /** Drops the link to one peer (if any); `onPeerDown` fires with `local-close`. */
  disconnect(peerId: string): void;
  /** Closes every link and refuses further sends. */
  close(): Promise<void>;
}
