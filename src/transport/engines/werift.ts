/**
 * The werift engine (pure TypeScript WebRTC for Node). Node-only and loaded with a dynamic import; only
 * `node.ts` and `default.ts` reach this file.
 *
 * Every werift quirk measured on our machines (shared/WEBRTC-NOTES.md) is hidden here:
 * - werift always queries a STUN server and falls back to a public Google host when none is configured (a ~5 s
 *   stall per side where DNS is black-holed). Unless the caller configured a STUN server, we give it a dead local
 *   port (`stun:127.0.0.1:9`) with a short `iceStunGatherTimeout`, so it never contacts a public host.
 * - werift skips the loopback interface: `iceAdditionalHostAddresses: ['127.0.0.1']`; and for loopback-only
 *   configurations `iceUseIpv6: false` plus a candidate-pair filter, so every packet goes 127.0.0.1 to 127.0.0.1.
 * - one UDP packet per small message overflows the kernel's default 208 KiB receive buffer: {@link RtcEngine.tune}
 *   raises the ICE sockets' buffers to 4 MiB once a connection is up (best effort, through werift internals).
 * - queued sends get quadratically slower: `maxBufferedMessages` caps what the transport hands to werift.
 * - `dc.onbufferedamountlow = fn` never fires: the transport uses `addEventListener('bufferedamountlow')`, and
 *   this adapter also makes the property work.
 * - sending more than 64 KiB in one message throws: `maxMessageSize` is 64 KiB.
 * - an `'error'` event without a listener would throw (werift's EventTarget is a Node EventEmitter): a no-op
 *   listener is attached to every channel.
 * - `Uint8Array` payloads are passed as zero-copy `Buffer` views (werift copies non-Buffer input).
 */
import type { RtcDataChannelLike, RtcEngine, RtcPeerConnectionConstructor, RtcPeerConnectionLike } from './types.js';

/** werift's default (and our) largest message. */
export const WERIFT_MAX_MESSAGE_SIZE = 64 * 1024;
/** Messages handed to werift at most at once (a few dozen; more makes werift's own queue quadratic). */
export const WERIFT_MAX_BUFFERED_MESSAGES = 32;
/** UDP socket buffer size requested for werift's ICE sockets. */
export const WERIFT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** The STUN URL used when none is configured: a local port nobody answers on. */
export const WERIFT_DEAD_STUN_URL = 'stun:127.0.0.1:9';

/** Options of {@link weriftEngine}. */
export interface WeriftEngineOptions {
  /**
   * STUN URL used when the transport's `iceServers` have none (default {@link WERIFT_DEAD_STUN_URL}: no
   * server-reflexive candidates, no traffic leaves the host). Point it at a real STUN responder (for example the
   * signaling server's) on real networks.
   */
  fallbackStunUrl?: string;
  /** Seconds werift waits for a STUN answer while gathering (default 0.02 with the dead port, else werift's 5). */
  stunGatherTimeoutSec?: number;
  /** See {@link RtcEngine.maxBufferedMessages} (default {@link WERIFT_MAX_BUFFERED_MESSAGES}). */
  maxBufferedMessages?: number;
  /** UDP socket buffer size to request (default {@link WERIFT_SOCKET_BUFFER_BYTES}; 0 leaves them alone). */
  socketBufferBytes?: number;
  /** Extra werift configuration, merged last. */
  configuration?: Record<string, unknown>;
}

/** Loads werift and returns it as an engine with its quirks handled. */
export async function weriftEngine(options: WeriftEngineOptions = {}): Promise<RtcEngine> {
  const mod = (await import('werift')) as unknown as { RTCPeerConnection: new (config: Record<string, unknown>) => object };
  const Base = mod.RTCPeerConnection;
  if (typeof Base !== 'function') throw new Error('werift has no RTCPeerConnection');
  const socketBytes = options.socketBufferBytes ?? WERIFT_SOCKET_BUFFER_BYTES;

  // A constructor function returning the patched werift instance: `new WeriftPeerConnection(config)` works.
  const WeriftPeerConnection = function WeriftPeerConnection(config: Record<string, unknown>): object {
    const pc = new Base(config) as RtcPeerConnectionLike & Record<string, unknown>;
    const createDataChannel = pc.createDataChannel.bind(pc);
    pc.createDataChannel = (label, init) => patchChannel(createDataChannel(label, init));
    return pc;
  } as unknown as RtcPeerConnectionConstructor;

  const extra = options.configuration ?? {};
  return {
    name: 'werift',
    RTCPeerConnection: WeriftPeerConnection,
    maxMessageSize: WERIFT_MAX_MESSAGE_SIZE,
    maxBufferedMessages: options.maxBufferedMessages ?? WERIFT_MAX_BUFFERED_MESSAGES,
    configure: (input) => {
      const servers = input.iceServers.map((s) => ({ ...s }));
      const hasStun = servers.some((s) => urlsOf(s).some((u) => u.startsWith('stun:') || u.startsWith('stuns:')));
      const fallback = options.fallbackStunUrl ?? WERIFT_DEAD_STUN_URL;
      const timeout = options.stunGatherTimeoutSec ?? (hasStun || options.fallbackStunUrl !== undefined ? undefined : 0.02);
      return {
        // werift takes the first STUN URL it finds; put ours first only when the caller gave none.
        iceServers: hasStun ? servers : [{ urls: fallback }, ...servers],
        ...(timeout === undefined ? {} : { iceStunGatherTimeout: timeout }),
        iceAdditionalHostAddresses: ['127.0.0.1'],
        // Loopback only: werift also pairs its sockets on other interfaces with the peer's 127.0.0.1 candidates
        // (the traffic stays on the host, but not on 127.0.0.1); only loopback pairs are checked.
        ...(input.loopbackOnly ? { iceUseIpv6: false, iceFilterCandidatePair: loopbackPairOnly } : {}),
        maxMessageSize: WERIFT_MAX_MESSAGE_SIZE,
        ...extra,
      };
    },
    tune: (pc) => {
      if (socketBytes > 0) raiseSocketBuffers(pc, socketBytes);
    },
  };
}

function loopbackPairOnly(pair: unknown): boolean {
  try {
    const p = pair as { localCandidate: { host?: unknown }; remoteCandidate: { host?: unknown } };
    return p.localCandidate.host === '127.0.0.1' && p.remoteCandidate.host === '127.0.0.1';
  } catch {
    return false;
  }
}

function urlsOf(server: RTCIceServer): string[] {
  return Array.isArray(server.urls) ? server.urls : [server.urls];
}

interface WeriftChannelInternals {
  send(data: unknown): void;
  addEventListener(type: string, fn: (...args: unknown[]) => void): void;
  removeEventListener(type: string, fn: (...args: unknown[]) => void): void;
}

function patchChannel(dc: RtcDataChannelLike): RtcDataChannelLike {
  const ch = dc as unknown as WeriftChannelInternals & Record<string, unknown>;
  // An 'error' emitted without listeners would throw out of werift's internals.
  ch.addEventListener('error', () => {});
  // Zero-copy Buffer views: werift copies anything that is not a Buffer.
  const send = ch.send.bind(ch);
  ch.send = (data: unknown): void => {
    if (data instanceof Uint8Array && !Buffer.isBuffer(data)) {
      send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    } else {
      send(data);
    }
  };
  // Make the `onbufferedamountlow` property work (werift never calls it).
  let handler: ((...args: unknown[]) => void) | null = null;
  Object.defineProperty(ch, 'onbufferedamountlow', {
    configurable: true,
    enumerable: true,
    get: () => handler,
    set: (fn: unknown) => {
      if (handler !== null) ch.removeEventListener('bufferedamountlow', handler);
      handler = typeof fn === 'function' ? (fn as (...args: unknown[]) => void) : null;
      if (handler !== null) ch.addEventListener('bufferedamountlow', handler);
    },
  });
  return dc;
}

interface UdpSocketLike {
  setRecvBufferSize(size: number): void;
  setSendBufferSize(size: number): void;
}

const tuned = new WeakSet<object>();

/** Raises the buffers of werift's ICE UDP sockets (`pc.iceTransports[].connection.protocols[].transport.socket`). */
function raiseSocketBuffers(pc: RtcPeerConnectionLike, bytes: number): void {
  try {
    const transports = (pc as unknown as { iceTransports?: unknown }).iceTransports;
    if (!Array.isArray(transports)) return;
    for (const t of transports) {
      const protocols = (t as { connection?: { protocols?: unknown } }).connection?.protocols;
      if (!Array.isArray(protocols)) continue;
      for (const p of protocols) {
        const socket = (p as { transport?: { socket?: unknown } }).transport?.socket as Partial<UdpSocketLike> | undefined;
        if (socket === undefined || socket === null || tuned.has(socket)) continue;
        if (typeof socket.setRecvBufferSize !== 'function' || typeof socket.setSendBufferSize !== 'function') continue;
        try {
          socket.setRecvBufferSize(bytes);
          socket.setSendBufferSize(bytes);
          tuned.add(socket);
        } catch {
          // Unbound or closed socket, or a kernel limit: keep the default buffers.
        }
      }
    }
  } catch {
    // werift internals changed: tuning is best effort.
  }
}
