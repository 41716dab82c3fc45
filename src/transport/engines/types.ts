/**
 * The WebRTC engine seam. `WebRtcTransport` only talks to the small structural subset of the standard
 * `RTCPeerConnection` / `RTCDataChannel` API declared here, so the native browser API, node-datachannel's
 * polyfill, werift, or any injected constructor (trystero's `rtcPolyfill` style) plug in the same way.
 * Runtime-neutral: nothing here imports an engine.
 */

/** An ICE candidate as carried in signals (the `RTCIceCandidateInit` subset every engine accepts). */
export interface RtcIceCandidateLike {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

/** A session description (`RTCSessionDescriptionInit` subset). */
export interface RtcSessionDescriptionLike {
  readonly type: string;
  readonly sdp?: string | undefined;
}

/** The `RTCDataChannel` subset the transport uses. */
export interface RtcDataChannelLike {
  readonly readyState: string;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  binaryType?: string;
  send(data: Uint8Array): void;
  close(): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}

/** The `RTCPeerConnection` subset the transport uses. */
export interface RtcPeerConnectionLike {
  readonly connectionState?: string;
  readonly localDescription: RtcSessionDescriptionLike | null;
  readonly sctp?: { readonly maxMessageSize?: number | null } | null;
  createDataChannel(label: string, init: { negotiated: boolean; id: number; ordered: boolean }): RtcDataChannelLike;
  createOffer(): Promise<RtcSessionDescriptionLike>;
  createAnswer(): Promise<RtcSessionDescriptionLike>;
  setLocalDescription(description?: RtcSessionDescriptionLike): Promise<unknown>;
  setRemoteDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<unknown>;
  addIceCandidate(candidate: RtcIceCandidateLike): Promise<unknown>;
  addEventListener(type: string, listener: (event: never) => void): void;
  close(): unknown;
}

/** A constructor of peer connections (the standard `RTCPeerConnection` or a compatible polyfill). */
export type RtcPeerConnectionConstructor = new (configuration: Record<string, unknown>) => RtcPeerConnectionLike;

/** What the transport asks an engine to configure. */
export interface RtcEngineConfigInput {
  /** STUN/TURN servers from the transport options (possibly empty). */
  iceServers: readonly RTCIceServer[];
  /** Test configuration: only 127.0.0.1 candidates are used. */
  loopbackOnly: boolean;
}

/**
 * A WebRTC implementation plus the knowledge of its quirks. Build one with {@link createRtcEngine}, or use the
 * adapters in this folder (`browserEngine`, `loadNodeEngine`, `weriftEngine`, `nodeDatachannelEngine`).
 */
export interface RtcEngine {
  /** A short name for logs and stats (`'browser'`, `'node-datachannel'`, `'werift'`, ...). */
  readonly name: string;
  /** The peer connection constructor. */
  readonly RTCPeerConnection: RtcPeerConnectionConstructor;
  /** Builds the constructor argument (default: `{ iceServers }`). */
  configure?(input: RtcEngineConfigInput): Record<string, unknown>;
  /** The largest message this engine can send, whatever the peer advertises (default: no engine limit). */
  readonly maxMessageSize?: number;
  /**
   * How many messages may sit inside the engine's own send queue; the rest wait in the transport's queue
   * (default: unlimited, only the byte high-water mark applies). werift needs a small cap.
   */
  readonly maxBufferedMessages?: number;
  /** Engine-specific tuning once a connection is open (e.g. raising socket buffers). Must not throw. */
  tune?(pc: RtcPeerConnectionLike): void;
  /**
   * Process-wide teardown, for process shutdown only: releases everything the engine holds, including
   * connections of other transports in the same process. Optional; the transport never calls it.
   */
  shutdown?(): Promise<void>;
}

/** Options of {@link createRtcEngine}. */
export interface CreateRtcEngineOptions {
  /** Engine name (default `'custom'`). */
  name?: string;
  /** Extra constructor configuration merged over `{ iceServers }`. */
  configuration?: Record<string, unknown>;
  /** See {@link RtcEngine.maxMessageSize}. */
  maxMessageSize?: number;
  /** See {@link RtcEngine.maxBufferedMessages}. */
  maxBufferedMessages?: number;
}

/**
 * Wraps an injected `RTCPeerConnection` constructor (for example from a polyfill or a test double) as an engine.
 * The constructor must follow the standard API (`addEventListener`, promise-based negotiation).
 */
export function createRtcEngine(RTCPeerConnection: unknown, options: CreateRtcEngineOptions = {}): RtcEngine {
  if (typeof RTCPeerConnection !== 'function') {
    throw new TypeError('createRtcEngine: RTCPeerConnection must be a constructor');
  }
  const extra = options.configuration ?? {};
  return {
    name: options.name ?? 'custom',
    RTCPeerConnection: RTCPeerConnection as RtcPeerConnectionConstructor,
    configure: (input) => ({ iceServers: [...input.iceServers], ...extra }),
    ...(options.maxMessageSize === undefined ? {} : { maxMessageSize: options.maxMessageSize }),
    ...(options.maxBufferedMessages === undefined ? {} : { maxBufferedMessages: options.maxBufferedMessages }),
  };
}

/** True when `value` looks like an {@link RtcEngine}. */
export function isRtcEngine(value: unknown): value is RtcEngine {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { name?: unknown }).name === 'string' &&
    typeof (value as { RTCPeerConnection?: unknown }).RTCPeerConnection === 'function'
  );
}
