/**
 * `WebRtcTransport`: the {@link Transport} over WebRTC data channels.
 *
 * - One `RTCPeerConnection` per peer pair, opened lazily on the first `send`. Glare-free: the peer with the lower
 *   id (JavaScript string order) always makes the offer; the higher one asks for an offer with a
 *   `connect-request` signal (see `webrtc-signals.ts`).
 * - One ordered, reliable data channel, pre-negotiated (`negotiated: true, id: 0`). Both sides send a `Hello`
 *   record first; a link is up (and `onPeerUp` fires) only after the peer's hello arrived, so a connection that
 *   dies during setup is retried instead of reported.
 * - Trickle ICE. The offerer holds its own candidates until the answer is applied: otherwise the answerer's first
 *   connectivity checks reach the offerer before it knows the answerer's credentials, and libdatachannel then
 *   waits for a retransmission (measured: ~1 s instead of ~60 ms per connection).
 * - Setup has a timeout (`connectTimeoutMs`) and bounded retries with jittered exponential backoff, driven by the
 *   side that has frames waiting. When retries are exhausted, waiting sends reject with `ConnectionFailed`.
 * - A dial to a peer that is not in the room fails at once rather than after `connectTimeoutMs`: when signaling
 *   refuses a signal (the server's `unknown-peer`, fed in with {@link WebRtcTransport.handleSignalRefused}), an
 *   attempt that has not heard from that peer yet ends, its waiting sends reject with `PeerUnavailable`, and the
 *   next send dials again.
 * - Restarts: every signal carries the sender's instance id. An offerer whose offer is pending and that gets a
 *   connect-request from an instance it has not seen makes sure that instance gets an offer (the pending one may
 *   have gone to a dead process): the same offer again for a first contact (harmless when the offer and the
 *   request merely crossed: the peer drops the copy as stale), a new session for a known peer's new instance.
 *   Offer and request sequence numbers count per transport, not per link, so they keep growing when a link is
 *   forgotten (`disconnect`) and made again while the peer still remembers the old one.
 * - Frames are coalesced per peer per tick and chunked (`framing.ts`). Sends queue in this transport; only up to
 *   `highWaterMark` bytes (and the engine's `maxBufferedMessages`) are handed to the engine, the rest waits for
 *   `bufferedamountlow` (via `addEventListener`). A send resolves once its last byte was handed to the engine, so
 *   awaiting sends is backpressure and nothing ever hits the engine's "send queue is full".
 * - Heartbeats: a `Ping` record goes out every `heartbeatIntervalMs`; a link from which nothing arrived for
 *   `heartbeatTimeoutMs` is declared down (`onPeerDown(peer, 'timeout')`) and its waiting sends reject with
 *   `PeerUnavailable`. The next send connects again.
 * - Round-trip time: each ping carries the sender's clock, and echoes the peer's last ping with how long it was
 *   held, so `rtt(peer)` (a moving average) needs no synchronised clocks. Older peers send empty pings; those
 *   are accepted and simply measure nothing.
 * - Teardown closes whole connections, never a channel on its own (with node-datachannel that can leak a native
 *   handle that keeps the process alive). Frames already handed to the engine of a link that goes down may be
 *   lost; `onPeerDown` reports the link loss to the layer above.
 * - Every timer goes through the injected {@link Clock}; `close()` cancels them and closes every connection.
 */
import { systemClock, type Clock, type Timer } from '../clock/clock.js';
import { isMeshError, meshError, type MeshError } from '../errors.js';
import { cryptoRandom, randomId, type Random } from '../random.js';
import { browserEngine, hasNativeWebRtc } from './engines/browser.js';
import {
  createRtcEngine,
  isRtcEngine,
  type RtcDataChannelLike,
  type RtcEngine,
  type RtcIceCandidateLike,
  type RtcPeerConnectionLike,
} from './engines/types.js';
import { Queue } from './framing-queue.js';
import {
  encodeControlMessage,
  FrameDecoder,
  FrameEncoder,
  MAX_CONTROL_BYTES,
  MIN_MESSAGE_SIZE,
  RecordKind,
  type ControlKind,
  type DecoderSink,
} from './framing.js';
import type { PeerDownReason, SendListener, Transport, TransportHandlers } from './types.js';
import { parseSignal, SIGNAL_VERSION, type WebRtcSignal } from './webrtc-signals.js';

/** Default largest frame: 16 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;
/** Default data-channel message size: 16 KiB, safe with every engine. */
export const DEFAULT_CHUNK_SIZE = 16 * 1024;
/** Largest configurable message size (Chromium's send limit). */
export const MAX_CHUNK_SIZE = 256 * 1024;
/** Default bytes handed to the engine before sends wait: 1 MiB. */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/** Longest peer id accepted. */
export const MAX_PEER_ID_LENGTH = 256;

/** Options of {@link WebRtcTransport}. */
export interface WebRtcTransportOptions {
  /** This peer's id (non-empty, at most {@link MAX_PEER_ID_LENGTH} characters). */
  localPeerId: string;
  /** Relays a setup message to peer `to` (the mesh wires this to its signaling client). Must not throw. */
  signal: (to: string, data: unknown) => void;
  /**
   * The WebRTC engine: an {@link RtcEngine}, a promise of one (e.g. `loadNodeEngine()`), or a bare
   * `RTCPeerConnection` constructor. Default: the runtime's native `RTCPeerConnection`; on Node pass
   * `loadNodeEngine()` (exported by the package's Node entry, whose `createMesh` does it for you).
   */
  rtc?: RtcEngine | Promise<RtcEngine> | (new (...args: never[]) => unknown);
  /** STUN/TURN servers (default none: host candidates only). */
  iceServers?: RTCIceServer[];
  /** Source of time and timers (default: the system clock). */
  clock?: Clock;
  /** Randomness for instance ids and backoff jitter (default: the platform CSPRNG). */
  random?: Random;
  /** Largest frame sent or accepted (default 16 MiB). */
  maxFrameSize?: number;
  /** Largest data-channel message (default 16 KiB; clamped to what the engine and the peer support). */
  chunkSize?: number;
  /** Bytes handed to the engine per peer before sends wait (default 1 MiB). */
  highWaterMark?: number;
  /** Time allowed for one connection attempt (default 10 s). */
  connectTimeoutMs?: number;
  /** Attempts after the first before waiting sends fail with `ConnectionFailed` (default 3). */
  connectRetries?: number;
  /** A ping (which also measures the round trip) goes out this often (default 1 s). */
  heartbeatIntervalMs?: number;
  /** A peer from which nothing arrived for this long is declared down (default 3 s). */
  heartbeatTimeoutMs?: number;
  /** Test configuration: use only 127.0.0.1 ICE candidates (local and remote). */
  loopbackOnly?: boolean;
  /** Diagnostics: malformed signals, protocol errors, throwing handlers, failed attempts. Must not throw. */
  onError?: (error: MeshError) => void;
}

/** Connection state of one peer link. */
export type WebRtcLinkState = 'idle' | 'backoff' | 'requesting' | 'connecting' | 'open';

/** Introspection of one peer link. */
export interface WebRtcPeerStats {
  peerId: string;
  state: WebRtcLinkState;
  /** Frames waiting in this transport (not yet completely handed to the engine). */
  queuedFrames: number;
  /** Bytes of those frames not handed to the engine yet. */
  queuedBytes: number;
  /** The data channel's `bufferedAmount` (bytes inside the engine). */
  engineBufferedBytes: number;
  /** Messages inside the engine (estimated from `bufferedAmount`). */
  engineBufferedMessages: number;
  /** Connection attempts of the current need (0 once open). */
  attempts: number;
}

/** Counters and per-peer state of a {@link WebRtcTransport}. */
export interface WebRtcTransportStats {
  engine: string | undefined;
  signalsReceived: number;
  /** Malformed or misdirected signals (counted and dropped). */
  signalsDropped: number;
  /** Well-formed signals for sessions that no longer exist (normal during reconnects). */
  signalsStale: number;
  /** Signals signaling could not deliver (the peer is not in the room), see `handleSignalRefused`. */
  signalsRefused: number;
  connectAttempts: number;
  connectFailures: number;
  sessionsOpened: number;
  protocolErrors: number;
  handlerErrors: number;
  framesSent: number;
  framesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  peers: WebRtcPeerStats[];
}

type Counters = Omit<WebRtcTransportStats, 'engine' | 'peers'>;

/** What waits on a queued frame: the resolvers of a `send` promise, a `post` listener, or nothing. */
interface SendTag {
  sent?(): void;
  sendFailed?(error: MeshError): void;
}

interface Link {
  readonly peerId: string;
  /** Whether this side makes the offers. */
  readonly offerer: boolean;
  state: WebRtcLinkState;
  readonly encoder: FrameEncoder<SendTag | undefined>;
  session: Session | undefined;
  attempts: number;
  attemptTimer: Timer | undefined;
  retryTimer: Timer | undefined;
  flushScheduled: boolean;
  /** The peer's transport instance as last seen in its signals. */
  remoteInst: string | undefined;
  /** Offerer side: highest connect-request id already covered. */
  servedRid: number;
  /** Answerer side: id of the last connect-request sent. */
  requestCounter: number;
  /** Offerer side: sequence of the last offer made. */
  offerSeq: number;
  /** Answerer side: sequence of the last offer accepted. */
  lastOfferSeq: number;
  /** A signal from the peer arrived during the current attempt (so a signaling refusal for it is stale). */
  peerSeen: boolean;
}

interface Session {
  readonly sid: string;
  readonly role: 'offerer' | 'answerer';
  pc: RtcPeerConnectionLike | undefined;
  /** Offerer: the offer as signalled (kept to send it again to a peer instance that cannot have seen it). */
  offerSignal: WebRtcSignal | undefined;
  dc: RtcDataChannelLike | undefined;
  remoteSet: boolean;
  answerReceived: boolean;
  /** Remote candidates waiting for the remote description. */
  remoteCandidates: RtcIceCandidateLike[];
  /** Offerer: own candidates held until the answer is applied (`undefined` once released). */
  heldCandidates: RtcIceCandidateLike[] | undefined;
  helloSent: boolean;
  helloReceived: boolean;
  established: boolean;
  closed: boolean;
  readonly decoder: FrameDecoder;
  /** Where the decoder delivers (made on the first message: one per session, not one per message). */
  sink: DecoderSink | undefined;
  /** A fatal problem found while decoding (acted on after the message). */
  fatal: MeshError | undefined;
  byeReceived: boolean;
  lastReceived: number;
  lastSent: number;
  /** The peer's last ping: its clock value, and when it arrived here (-1: none yet). */
  peerPingSentAt: number;
  peerPingArrivedAt: number;
  /** Smoothed round-trip time in ms (undefined until measured). */
  rttMs: number | undefined;
  pingTimer: Timer | undefined;
  livenessTimer: Timer | undefined;
  lowWaterTimer: Timer | undefined;
  waitingLow: boolean;
  /** Sizes of messages handed to the engine and not known to be drained, oldest first. */
  readonly inEngine: Queue<number>;
  inEngineBytes: number;
  maxBufferedMessages: number;
}

const MAX_QUEUED_REMOTE_CANDIDATES = 64;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2000;
const LOW_WATER_POLL_MS = 250;
const CLOSE_GRACE_MS = 2000;
const CHANNEL_CLOSE_WAIT_MS = 1000;
const RESOLVED = Promise.resolve();
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** The {@link Transport} over WebRTC data channels. See the module documentation for the protocol. */
export class WebRtcTransport implements Transport {
  /** This peer's id. */
  readonly localPeerId: string;
  /** The largest frame `send` accepts and the largest frame accepted from a peer. */
  readonly maxFrameSize: number;
  /** A random id of this transport instance, sent in signals so peers can tell restarts apart. */
  readonly instanceId: string;

  readonly #signal: (to: string, data: unknown) => void;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #iceServers: readonly RTCIceServer[];
  readonly #chunkSize: number;
  readonly #highWaterMark: number;
  readonly #connectTimeoutMs: number;
  readonly #connectRetries: number;
  readonly #heartbeatIntervalMs: number;
  readonly #heartbeatTimeoutMs: number;
  readonly #loopbackOnly: boolean;
  readonly #onError: ((error: MeshError) => void) | undefined;
  readonly #rtcOption: WebRtcTransportOptions['rtc'];
  #engine: RtcEngine | undefined;
  #enginePromise: Promise<RtcEngine> | undefined;
  #handlers: TransportHandlers | undefined;
  readonly #links = new Map<string, Link>();
  #closed = false;
  #closePromise: Promise<void> | undefined;
  readonly #closing = new Set<Promise<unknown>>();
  /** Connection closes waiting for the peer's close; `close()` runs them at once. */
  readonly #pendingCloses = new Set<() => void>();
  /**
   * Last offer sequence and connect-request id used, over all links: they must grow per instance (the peer drops
   * what is not newer), including across a link that was forgotten and made again.
   */
  #lastOfferSeq = 0;
  #lastRequestId = 0;
  readonly #counters: Counters = {
    signalsReceived: 0,
    signalsDropped: 0,
    signalsStale: 0,
    signalsRefused: 0,
    connectAttempts: 0,
    connectFailures: 0,
    sessionsOpened: 0,
    protocolErrors: 0,
    handlerErrors: 0,
    framesSent: 0,
    framesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
  };

  /** Creates the transport; nothing connects before the first `send` or incoming signal. */
  constructor(options: WebRtcTransportOptions) {
    if (typeof options.localPeerId !== 'string' || !validPeerId(options.localPeerId)) {
      throw meshError('InvalidArgument', `invalid localPeerId ${JSON.stringify(options.localPeerId)}`);
    }
    if (typeof options.signal !== 'function') throw meshError('InvalidArgument', 'signal must be a function');
    this.localPeerId = options.localPeerId;
    this.#signal = options.signal;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? cryptoRandom;
    this.instanceId = randomId(this.#random, 12);
    this.#iceServers = [...(options.iceServers ?? [])];
    this.maxFrameSize = intOption('maxFrameSize', options.maxFrameSize, DEFAULT_MAX_FRAME_SIZE, 0, 0xffffffff);
    this.#chunkSize = intOption('chunkSize', options.chunkSize, DEFAULT_CHUNK_SIZE, MIN_MESSAGE_SIZE, MAX_CHUNK_SIZE);
    this.#highWaterMark = intOption('highWaterMark', options.highWaterMark, DEFAULT_HIGH_WATER_MARK, MIN_MESSAGE_SIZE, 2 ** 30);
    this.#connectTimeoutMs = intOption('connectTimeoutMs', options.connectTimeoutMs, 10_000, 1, 2 ** 31);
    this.#connectRetries = intOption('connectRetries', options.connectRetries, 3, 0, 100);
    this.#heartbeatIntervalMs = intOption('heartbeatIntervalMs', options.heartbeatIntervalMs, 1000, 1, 2 ** 31);
    this.#heartbeatTimeoutMs = intOption('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 3000, 1, 2 ** 31);
    this.#loopbackOnly = options.loopbackOnly ?? false;
    this.#onError = options.onError;
    this.#rtcOption = options.rtc;
    // A promised engine is already loading: observe it now, so a failure is never an unhandled rejection.
    if (options.rtc instanceof Promise) void this.#loadEngine();
  }

  /** Registers the handlers (replacing earlier ones). */
  setHandlers(handlers: TransportHandlers): void {
    this.#handlers = handlers;
  }

  /**
   * Queues `frame` for `peerId`, connecting first if needed. Resolves once the frame's last byte was handed to
   * the engine below the high-water mark; the frame must not be modified before that. Rejects with
   * `MessageTooLarge`, `PeerUnavailable` (link went down), `ConnectionFailed` (setup retries exhausted), `Closed`
   * or `InvalidArgument`. A frame already handed to the engine when its link goes down may be lost: the layer
   * above learns it from `onPeerDown`.
   */
  send(peerId: string, frame: Uint8Array): Promise<void> {
    const refused = this.#refuse(peerId, frame);
    if (refused !== undefined) return Promise.reject(refused);
    const link = this.#link(peerId);
    return new Promise<void>((resolve, reject) => this.#queue(link, frame, { sent: resolve, sendFailed: reject }));
  }

  /**
   * Queues `frame` like {@link send}, without a promise: for frames nobody waits on (replies, events) or whose
   * failure a `listener` handles. `listener.sendFailed` gets the error `send` would reject with (synchronously
   * when the frame is refused at once).
   */
  post(peerId: string, frame: Uint8Array, listener?: SendListener): void {
    const refused = this.#refuse(peerId, frame);
    if (refused !== undefined) {
      listener?.sendFailed(refused);
      return;
    }
    this.#queue(this.#link(peerId), frame, listener);
  }

  /** Why a frame cannot be queued at all (undefined: it can). */
  #refuse(peerId: string, frame: Uint8Array): MeshError | undefined {
    if (this.#closed) return closedError(this.localPeerId);
    if (typeof peerId !== 'string' || !validPeerId(peerId) || peerId === this.localPeerId) {
      return meshError('PeerUnavailable', `cannot send to peer ${JSON.stringify(String(peerId)).slice(0, 300)}`, {
        details: { peerId: String(peerId).slice(0, MAX_PEER_ID_LENGTH) },
      });
    }
    if (!(frame instanceof Uint8Array)) return meshError('InvalidArgument', 'frame must be a Uint8Array');
    if (frame.byteLength > this.maxFrameSize) {
      return meshError('MessageTooLarge', `frame of ${frame.byteLength} bytes exceeds maxFrameSize ${this.maxFrameSize}`, {
        details: { size: frame.byteLength, limit: this.maxFrameSize, peerId },
      });
    }
    return undefined;
  }

  #queue(link: Link, frame: Uint8Array, tag: SendTag | undefined): void {
    link.encoder.pushFrame(frame, tag);
    if (link.state === 'open') this.#scheduleFlush(link);
    else if (link.state === 'idle') this.#startAttempt(link);
  }

  /**
   * Drops the link to `peerId` and forgets it: waiting sends reject with `PeerUnavailable`; `onPeerDown(peer,
   * 'local-close')` fires if it was up.
   */
  disconnect(peerId: string): void {
    const link = this.#links.get(peerId);
    if (link === undefined) return;
    const err = meshError('PeerUnavailable', `link to ${peerId} was disconnected locally`, { details: { peerId } });
    if (link.state === 'open') this.#linkDown(link, 'local-close', err);
    else this.#abandon(link, err);
    // Forget the link (a returning peer gets a fresh one): otherwise every peer that ever came and went would stay
    // in the map.
    this.#forgetIfIdle(link);
  }

  /** Closes every link (peers see `onPeerDown(..., 'closed')`), rejects waiting sends with `Closed`, refuses further sends. */
  close(): Promise<void> {
    if (this.#closePromise !== undefined) return this.#closePromise;
    this.#closed = true;
    const err = closedError(this.localPeerId);
    for (const link of [...this.#links.values()]) {
      if (link.state === 'open') this.#linkDown(link, 'local-close', err);
      else this.#abandon(link, err);
    }
    this.#links.clear();
    for (const closePc of [...this.#pendingCloses]) closePc();
    this.#closePromise = this.#awaitClosing();
    return this.#closePromise;
  }

  /**
   * Feeds a setup message relayed from peer `from`. Malformed, misdirected and stale signals are counted
   * (`stats().signalsDropped` / `signalsStale`) and dropped; this method never throws.
   */
  handleSignal(from: string, data: unknown): void {
    try {
      this.#counters.signalsReceived++;
      if (this.#closed) return;
      if (typeof from !== 'string' || !validPeerId(from) || from === this.localPeerId) {
        this.#dropSignal(`signal from invalid peer id ${JSON.stringify(String(from)).slice(0, 80)}`);
        return;
      }
      const parsed = parseSignal(data);
      if (!parsed.ok) {
        this.#dropSignal(`malformed signal from ${from}: ${parsed.reason}`);
        return;
      }
      this.#onSignal(from, parsed.signal);
    } catch (err) {
      this.#dropSignal(`signal from ${String(from).slice(0, 80)} failed: ${describe(err)}`);
    }
  }

  /**
   * Tells the transport that signaling could not deliver a signal to `peerId` because that peer is not in the
   * room (the signaling server's `unknown-peer` error; `cause` is kept as the rejection's cause). A connection
   * attempt to it that has not heard from the peer yet fails at once instead of waiting for `connectTimeoutMs`:
   * its waiting sends reject with `PeerUnavailable`, the link goes idle (and is forgotten), and the next send
   * dials again. Open links and attempts the peer already answered are left alone (the refusal is for an older
   * signal); so are links waiting to retry (the retry's own signal gets refused in turn). Never throws.
   */
  handleSignalRefused(peerId: string, cause?: unknown): void {
    try {
      this.#counters.signalsRefused++;
      if (this.#closed || typeof peerId !== 'string') return;
      const link = this.#links.get(peerId);
      if (link === undefined || (link.state !== 'requesting' && link.state !== 'connecting') || link.peerSeen) return;
      this.#counters.connectFailures++;
      this.#abandon(link, unavailable(peerId, 'signaling reports it is not in the room', cause));
      // Forget the link, as `disconnect` does.
      this.#forgetIfIdle(link);
    } catch (err) {
      this.#report(meshError('ProtocolError', `signal refusal for ${String(peerId).slice(0, 80)} failed: ${describe(err)}`, { cause: err }));
    }
  }

  /** Drops `link` from the map, unless a send (from a failure handler) already reused it. */
  #forgetIfIdle(link: Link): void {
    if (this.#links.get(link.peerId) === link && link.state === 'idle' && link.session === undefined && link.encoder.isEmpty) this.#links.delete(link.peerId);
  }

  /** Counters and per-peer state, for tests, metrics and the dashboard. */
  stats(): WebRtcTransportStats {
    const peers: WebRtcPeerStats[] = [];
    for (const link of this.#links.values()) {
      const s = link.session;
      let engineBufferedBytes = 0;
      let engineBufferedMessages = 0;
      if (s !== undefined && s.dc !== undefined && !s.closed) {
        this.#reconcile(s);
        engineBufferedBytes = s.dc.bufferedAmount;
        engineBufferedMessages = s.inEngine.length;
      }
      peers.push({
        peerId: link.peerId,
        state: link.state,
        queuedFrames: link.encoder.pendingFrames,
        queuedBytes: link.encoder.pendingBytes,
        engineBufferedBytes,
        engineBufferedMessages,
        attempts: link.attempts,
      });
    }
    return { engine: this.#engine?.name, ...this.#counters, peers };
  }

  // ---------------------------------------------------------------- links and attempts

  #link(peerId: string): Link {
    let link = this.#links.get(peerId);
    if (link === undefined) {
      link = {
        peerId,
        offerer: this.localPeerId < peerId,
        state: 'idle',
        encoder: new FrameEncoder<SendTag | undefined>(this.#chunkSize),
        session: undefined,
        attempts: 0,
        attemptTimer: undefined,
        retryTimer: undefined,
        flushScheduled: false,
        remoteInst: undefined,
        servedRid: 0,
        requestCounter: 0,
        offerSeq: 0,
        lastOfferSeq: 0,
        peerSeen: false,
      };
      this.#links.set(peerId, link);
    }
    return link;
  }

  /** Starts a connection attempt from `idle`/`backoff`. */
  #startAttempt(link: Link): void {
    if (this.#closed) return;
    link.retryTimer?.cancel();
    link.retryTimer = undefined;
    link.attempts++;
    link.peerSeen = false;
    this.#counters.connectAttempts++;
    this.#armAttemptTimer(link);
    if (link.offerer) {
      this.#offer(link);
    } else {
      link.state = 'requesting';
      link.requestCounter = ++this.#lastRequestId;
      this.#send(link.peerId, { v: SIGNAL_VERSION, k: 'connect-request', inst: this.instanceId, rid: link.requestCounter });
    }
  }

  #armAttemptTimer(link: Link): void {
    link.attemptTimer?.cancel();
    link.attemptTimer = this.#clock.setTimeout(() => {
      link.attemptTimer = undefined;
      if (link.state === 'requesting' || link.state === 'connecting') {
        this.#attemptFailed(
          link,
          meshError('ConnectionFailed', `connection to ${link.peerId} not established within ${this.#connectTimeoutMs} ms`, {
            details: { peerId: link.peerId, timeoutMs: this.#connectTimeoutMs },
          }),
        );
      }
    }, this.#connectTimeoutMs);
  }

  /** A connection attempt (never established) failed: retry if frames wait, else go idle. */
  #attemptFailed(link: Link, cause: MeshError, initiatedLocally = true): void {
    if (this.#closed) return;
    this.#counters.connectFailures++;
    link.attemptTimer?.cancel();
    link.attemptTimer = undefined;
    if (link.session !== undefined) this.#closeSession(link, link.session, initiatedLocally);
    const need = link.encoder.pendingFrames > 0;
    if (need && link.attempts <= this.#connectRetries) {
      link.state = 'backoff';
      const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (link.attempts - 1));
      const delay = exp * (0.5 + this.#random.next() / 2);
      link.retryTimer = this.#clock.setTimeout(() => {
        link.retryTimer = undefined;
        if (link.state === 'backoff') this.#startAttempt(link);
      }, delay);
      return;
    }
    const attempts = link.attempts;
    link.state = 'idle';
    link.attempts = 0;
    if (need) {
      this.#report(cause);
      const err = meshError('ConnectionFailed', `could not connect to ${link.peerId} after ${attempts} attempt(s): ${cause.message}`, {
        cause,
        details: { peerId: link.peerId, attempts },
      });
      for (const p of link.encoder.clear()) p?.sendFailed?.(err);
    }
  }

  /** Cancels whatever a not-open link is doing, rejecting its waiting sends with `err`. */
  #abandon(link: Link, err: MeshError): void {
    link.attemptTimer?.cancel();
    link.attemptTimer = undefined;
    link.retryTimer?.cancel();
    link.retryTimer = undefined;
    if (link.session !== undefined) this.#closeSession(link, link.session, true);
    link.state = 'idle';
    link.attempts = 0;
    for (const p of link.encoder.clear()) p?.sendFailed?.(err);
  }

  /** An open link went down. */
  #linkDown(link: Link, reason: PeerDownReason, err: MeshError): void {
    const s = link.session;
    if (s !== undefined) this.#closeSession(link, s, reason !== 'closed');
    link.state = 'idle';
    link.attempts = 0;
    link.attemptTimer?.cancel();
    link.attemptTimer = undefined;
    for (const p of link.encoder.clear()) p?.sendFailed?.(err);
    if (reason !== 'local-close') this.#report(err);
    try {
      this.#handlers?.onPeerDown?.(link.peerId, reason);
    } catch (e) {
      this.#handlerFailed('onPeerDown', link.peerId, e);
    }
  }

  /** A session ended (remote close, failure, protocol error): open links go down, attempts fail. */
  #sessionEnded(link: Link, s: Session, reason: PeerDownReason, err: MeshError): void {
    if (s.closed || link.session !== s) return;
    if (s.established) this.#linkDown(link, reason, err);
    else this.#attemptFailed(link, err, reason !== 'closed');
  }

  // ---------------------------------------------------------------- signals

  #send(to: string, signal: WebRtcSignal): void {
    try {
      this.#signal(to, signal);
    } catch (err) {
      this.#report(meshError('SignalingError', `signal to ${to} failed: ${describe(err)}`, { cause: err, details: { peerId: to } }));
    }
  }

  #dropSignal(message: string): void {
    this.#counters.signalsDropped++;
    this.#report(meshError('ProtocolError', message));
  }

  #onSignal(from: string, sig: WebRtcSignal): void {
    switch (sig.k) {
      case 'connect-request':
        return this.#onConnectRequest(from, sig.inst, sig.rid);
      case 'offer':
        return this.#onOffer(from, sig.inst, sig.seq, sig.sid, sig.sdp);
      case 'answer':
        return this.#onAnswer(from, sig.inst, sig.rid, sig.sid, sig.sdp);
      case 'candidate':
        return this.#onCandidate(from, sig.sid, { candidate: sig.candidate, sdpMid: sig.sdpMid, sdpMLineIndex: sig.sdpMLineIndex });
      case 'bye':
        return this.#onBye(from, sig.sid);
    }
  }

  #onConnectRequest(from: string, inst: string, rid: number): void {
    if (!(this.localPeerId < from)) {
      this.#dropSignal(`connect-request from ${from}, which makes the offers itself`);
      return;
    }
    const link = this.#link(from);
    let restarted = false;
    let firstContact = false;
    if (link.remoteInst !== inst) {
      restarted = link.remoteInst !== undefined;
      firstContact = !restarted;
      link.remoteInst = inst;
      link.servedRid = 0;
    }
    if (rid <= link.servedRid) {
      this.#counters.signalsStale++;
      link.peerSeen = true;
      return;
    }
    link.servedRid = rid;
    switch (link.state) {
      case 'idle':
      case 'backoff':
        this.#startAttempt(link);
        break;
      case 'connecting': {
        // Our offer is on its way and serves the request, unless this instance of the peer cannot have seen it.
        const s = link.session;
        if (restarted) {
          // A new instance of a peer we knew: whatever the old one had is gone. New session, new offer.
          if (s !== undefined) this.#closeSession(link, s, true);
          this.#offer(link);
        } else if (firstContact && s !== undefined && s.role === 'offerer' && !s.answerReceived && s.offerSignal !== undefined) {
          // First word from this peer while our offer is out: it may have gone to an earlier process of the same
          // id (dead, or refused by signaling), or merely crossed this request. Send it again: in the first case
          // this instance answers it; in the second it drops the copy as stale. (Not sent yet: it will reach it.)
          this.#send(link.peerId, s.offerSignal);
        }
        break;
      }
      case 'open':
        // The peer has no link but we think we do: ours is stale.
        this.#linkDown(link, 'closed', unavailable(from, 'peer asked for a new connection'));
        // onPeerDown may have sent already, which started an attempt.
        if ((link.state as WebRtcLinkState) === 'idle') this.#startAttempt(link);
        break;
      case 'requesting':
        break;
    }
    // After #startAttempt, which starts a new attempt unseen.
    link.peerSeen = true;
  }

  #onOffer(from: string, inst: string, seq: number, sid: string, sdp: string): void {
    if (!(from < this.localPeerId)) {
      this.#dropSignal(`offer from ${from}, which should ask for an offer instead`);
      return;
    }
    const link = this.#link(from);
    link.peerSeen = true;
    if (link.remoteInst !== inst) {
      link.remoteInst = inst;
      link.lastOfferSeq = 0;
    }
    if (seq <= link.lastOfferSeq) {
      this.#counters.signalsStale++;
      return;
    }
    link.lastOfferSeq = seq;
    if (link.state === 'open') this.#linkDown(link, 'closed', unavailable(from, 'peer opened a new connection'));
    if (link.session !== undefined) this.#closeSession(link, link.session, true);
    link.retryTimer?.cancel();
    link.retryTimer = undefined;
    if (link.state !== 'requesting' && link.state !== 'connecting') this.#armAttemptTimer(link);
    link.state = 'connecting';
    const s = this.#newSession(sid, 'answerer');
    link.session = s;
    // Again: a send from onPeerDown above may have started an attempt of its own.
    link.peerSeen = true;
    void this.#runAnswerer(link, s, sdp);
  }

  #onAnswer(from: string, inst: string, rid: number, sid: string, sdp: string): void {
    const link = this.#links.get(from);
    const s = link?.session;
    if (link === undefined || s === undefined || s.sid !== sid || s.role !== 'offerer' || s.answerReceived) {
      this.#counters.signalsStale++;
      return;
    }
    link.peerSeen = true;
    if (link.remoteInst !== inst) {
      link.remoteInst = inst;
      link.servedRid = rid;
    } else {
      link.servedRid = Math.max(link.servedRid, rid);
    }
    void this.#applyAnswer(link, s, sdp);
  }

  #onCandidate(from: string, sid: string, candidate: RtcIceCandidateLike): void {
    const link = this.#links.get(from);
    const s = link?.session;
    if (link === undefined || s === undefined || s.sid !== sid || s.closed) {
      this.#counters.signalsStale++;
      return;
    }
    link.peerSeen = true;
    const normalized = normalizeCandidate(candidate);
    if (normalized === undefined || (this.#loopbackOnly && !isLoopbackCandidate(normalized.candidate))) return;
    if (!s.remoteSet) {
      if (s.remoteCandidates.length < MAX_QUEUED_REMOTE_CANDIDATES) s.remoteCandidates.push(normalized);
      else this.#dropSignal(`too many early candidates from ${from}`);
      return;
    }
    this.#addRemoteCandidate(link, s, normalized);
  }

  #onBye(from: string, sid: string): void {
    const link = this.#links.get(from);
    const s = link?.session;
    if (link === undefined || s === undefined || s.sid !== sid) {
      this.#counters.signalsStale++;
      return;
    }
    this.#sessionEnded(link, s, 'closed', unavailable(from, 'peer closed the connection'));
  }


  // ---------------------------------------------------------------- sessions

  #newSession(sid: string, role: Session['role']): Session {
    return {
      sid,
      role,
      pc: undefined,
      dc: undefined,
      offerSignal: undefined,
      remoteSet: false,
      answerReceived: false,
      remoteCandidates: [],
      heldCandidates: role === 'offerer' ? [] : undefined,
      helloSent: false,
      helloReceived: false,
      established: false,
      closed: false,
      decoder: new FrameDecoder({ maxFrameSize: this.maxFrameSize }),
      sink: undefined,
      fatal: undefined,
      byeReceived: false,
      lastReceived: 0,
      lastSent: 0,
      peerPingSentAt: -1,
      peerPingArrivedAt: -1,
      rttMs: undefined,
      pingTimer: undefined,
      livenessTimer: undefined,
      lowWaterTimer: undefined,
      waitingLow: false,
      inEngine: new Queue<number>(),
      inEngineBytes: 0,
      maxBufferedMessages: Number.POSITIVE_INFINITY,
    };
  }

  /** Offerer side: opens a new session and sends the offer. */
  #offer(link: Link): void {
    link.offerSeq = ++this.#lastOfferSeq;
    const s = this.#newSession(`${this.instanceId}-${link.offerSeq}`, 'offerer');
    link.session = s;
    link.state = 'connecting';
    void this.#runOfferer(link, s, link.offerSeq);
  }

  async #runOfferer(link: Link, s: Session, seq: number): Promise<void> {
    try {
      const pc = await this.#createPeerConnection(link, s);
      if (pc === undefined) return;
      this.#wireChannel(link, s, pc.createDataChannel('meshrtc', { negotiated: true, id: 0, ordered: true }));
      const offer = await pc.createOffer();
      if (s.closed) return;
      await pc.setLocalDescription(offer);
      if (s.closed) return;
      const sdp = pc.localDescription?.sdp ?? offer.sdp;
      if (typeof sdp !== 'string' || sdp.length === 0) throw new Error('engine produced no offer SDP');
      s.offerSignal = { v: SIGNAL_VERSION, k: 'offer', inst: this.instanceId, seq, sid: s.sid, sdp: withoutCandidates(sdp) };
      this.#send(link.peerId, s.offerSignal);
    } catch (err) {
      this.#setupFailed(link, s, 'creating the offer', err);
    }
  }

  async #runAnswerer(link: Link, s: Session, offerSdp: string): Promise<void> {
    try {
      const pc = await this.#createPeerConnection(link, s);
      if (pc === undefined) return;
      await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      if (s.closed) return;
      // After the remote offer: node-datachannel would otherwise start an offer of its own.
      this.#wireChannel(link, s, pc.createDataChannel('meshrtc', { negotiated: true, id: 0, ordered: true }));
      this.#remoteDescriptionSet(link, s);
      const answer = await pc.createAnswer();
      if (s.closed) return;
      await pc.setLocalDescription(answer);
      if (s.closed) return;
      const sdp = pc.localDescription?.sdp ?? answer.sdp;
      if (typeof sdp !== 'string' || sdp.length === 0) throw new Error('engine produced no answer SDP');
      this.#send(link.peerId, { v: SIGNAL_VERSION, k: 'answer', inst: this.instanceId, rid: link.requestCounter, sid: s.sid, sdp });
    } catch (err) {
      this.#setupFailed(link, s, 'answering the offer', err);
    }
  }

  async #applyAnswer(link: Link, s: Session, sdp: string): Promise<void> {
    try {
      const pc = s.pc;
      if (pc === undefined || s.closed) return;
      s.answerReceived = true;
      await pc.setRemoteDescription({ type: 'answer', sdp });
      if (s.closed) return;
      this.#remoteDescriptionSet(link, s);
      const held = s.heldCandidates ?? [];
      s.heldCandidates = undefined;
      for (const c of held) this.#send(link.peerId, candidateSignal(s.sid, c));
    } catch (err) {
      this.#setupFailed(link, s, 'applying the answer', err);
    }
  }

  #setupFailed(link: Link, s: Session, what: string, err: unknown): void {
    if (s.closed || link.session !== s) return;
    this.#sessionEnded(
      link,
      s,
      'failed',
      meshError('ConnectionFailed', `WebRTC setup with ${link.peerId} failed while ${what}: ${describe(err)}`, {
        cause: err,
        details: { peerId: link.peerId },
      }),
    );
  }

  async #createPeerConnection(link: Link, s: Session): Promise<RtcPeerConnectionLike | undefined> {
    const engine = await this.#loadEngine();
    if (s.closed) return undefined;
    const config = engine.configure?.({ iceServers: this.#iceServers, loopbackOnly: this.#loopbackOnly }) ?? {
      iceServers: [...this.#iceServers],
    };
    const pc = new engine.RTCPeerConnection(config);
    s.pc = pc;
    s.maxBufferedMessages = engine.maxBufferedMessages ?? Number.POSITIVE_INFINITY;
    pc.addEventListener('icecandidate', (ev: { candidate?: unknown }) => {
      if (s.closed) return;
      const c = normalizeCandidate(ev?.candidate);
      if (c === undefined || (this.#loopbackOnly && !isLoopbackCandidate(c.candidate))) return;
      if (s.heldCandidates !== undefined) s.heldCandidates.push(c);
      else this.#send(link.peerId, candidateSignal(s.sid, c));
    });
    pc.addEventListener('connectionstatechange', () => {
      if (s.closed) return;
      const state = pc.connectionState;
      if (state === 'failed' || state === 'closed') {
        this.#sessionEnded(link, s, state === 'failed' ? 'failed' : 'closed', unavailable(link.peerId, `connection ${state}`));
      }
    });
    return pc;
  }

  #remoteDescriptionSet(link: Link, s: Session): void {
    s.remoteSet = true;
    const queued = s.remoteCandidates;
    s.remoteCandidates = [];
    for (const c of queued) this.#addRemoteCandidate(link, s, c);
  }

  #addRemoteCandidate(link: Link, s: Session, c: RtcIceCandidateLike): void {
    const pc = s.pc;
    if (pc === undefined || s.closed) return;
    try {
      pc.addIceCandidate(c).catch((err: unknown) => {
        if (!s.closed) this.#report(meshError('ConnectionFailed', `ICE candidate from ${link.peerId} refused: ${describe(err)}`, { cause: err }));
      });
    } catch (err) {
      this.#report(meshError('ConnectionFailed', `ICE candidate from ${link.peerId} refused: ${describe(err)}`, { cause: err }));
    }
  }

  #wireChannel(link: Link, s: Session, dc: RtcDataChannelLike): void {
    s.dc = dc;
    try {
      dc.binaryType = 'arraybuffer';
    } catch {
      // engines without Blob support ignore binaryType
    }
    dc.addEventListener('open', () => {
      if (s.closed || link.session !== s) return;
      this.#sendHello(link, s);
    });
    dc.addEventListener('message', (ev: { data?: unknown }) => this.#onMessage(link, s, ev?.data));
    dc.addEventListener('close', () => {
      if (s.closed || link.session !== s) return;
      this.#sessionEnded(link, s, 'closed', unavailable(link.peerId, 'data channel closed'));
    });
    dc.addEventListener('error', (ev: { error?: unknown }) => {
      if (s.closed || link.session !== s) return;
      this.#report(meshError('ConnectionFailed', `data channel error with ${link.peerId}: ${describe(ev?.error ?? ev)}`, { cause: ev?.error }));
    });
    dc.addEventListener('bufferedamountlow', () => {
      if (s.closed || link.session !== s || !s.waitingLow) return;
      s.waitingLow = false;
      s.lowWaterTimer?.cancel();
      s.lowWaterTimer = undefined;
      this.#flush(link);
    });
    if (dc.readyState === 'open') this.#sendHello(link, s);
  }

  #sendHello(link: Link, s: Session): void {
    const dc = s.dc;
    if (s.helloSent || dc === undefined || dc.readyState !== 'open') return;
    const body = textEncoder.encode(JSON.stringify({ peer: this.localPeerId, sid: s.sid }));
    try {
      dc.send(encodeControlMessage(RecordKind.Hello, body.byteLength <= MAX_CONTROL_BYTES ? body : body.subarray(0, 0)));
    } catch (err) {
      this.#setupFailed(link, s, 'sending hello', err);
      return;
    }
    s.helloSent = true;
    s.lastSent = this.#clock.now();
    this.#maybeEstablish(link, s);
  }

  #maybeEstablish(link: Link, s: Session): void {
    if (s.established || !s.helloReceived || s.closed) return;
    if (!s.helloSent) {
      // The peer's hello can beat our 'open' event; #sendHello calls back here once it has sent ours.
      this.#sendHello(link, s);
      return;
    }
    s.established = true;
    link.state = 'open';
    link.attempts = 0;
    link.attemptTimer?.cancel();
    link.attemptTimer = undefined;
    this.#counters.sessionsOpened++;
    const engine = this.#engine;
    const pc = s.pc;
    if (engine?.tune !== undefined && pc !== undefined) {
      try {
        engine.tune(pc);
      } catch {
        // tuning is best effort
      }
    }
    link.encoder.messageSize = this.#messageSize(s);
    // A new channel: its first frame cannot refer to a frame sent on an earlier one.
    link.encoder.startStream();
    const now = this.#clock.now();
    s.lastReceived = Math.max(s.lastReceived, now);
    s.pingTimer = this.#clock.setInterval(() => this.#heartbeat(link, s), this.#heartbeatIntervalMs);
    this.#armLiveness(link, s);
    try {
      this.#handlers?.onPeerUp?.(link.peerId);
    } catch (e) {
      this.#handlerFailed('onPeerUp', link.peerId, e);
    }
    if (link.session === s && !s.closed) this.#flush(link);
  }

  #messageSize(s: Session): number {
    let size = this.#chunkSize;
    const engineMax = this.#engine?.maxMessageSize;
    if (engineMax !== undefined && engineMax > 0) size = Math.min(size, engineMax);
    try {
      const remoteMax = s.pc?.sctp?.maxMessageSize;
      if (typeof remoteMax === 'number' && remoteMax > 0 && Number.isFinite(remoteMax)) size = Math.min(size, remoteMax);
    } catch {
      // some engines throw before the SCTP transport exists
    }
    return Math.max(MIN_MESSAGE_SIZE, Math.floor(size));
  }

  /**
   * Marks a session closed, stops its timers, and closes the connection. `initiatedLocally`: we end it (we say
   * bye, on the channel and through signaling), as opposed to reacting to the peer ending it.
   */
  #closeSession(link: Link, s: Session, initiatedLocally: boolean): void {
    if (s.closed) return;
    s.closed = true;
    if (link.session === s) link.session = undefined;
    s.pingTimer?.cancel();
    s.livenessTimer?.cancel();
    s.lowWaterTimer?.cancel();
    s.pingTimer = s.livenessTimer = s.lowWaterTimer = undefined;
    const { pc, dc } = s;
    if (initiatedLocally) {
      if (dc !== undefined && s.helloSent && dc.readyState === 'open') {
        try {
          dc.send(encodeControlMessage(RecordKind.Bye));
        } catch {
          // the channel is already gone
        }
      }
      this.#send(link.peerId, { v: SIGNAL_VERSION, k: 'bye', sid: s.sid });
    }
    if (pc === undefined) return;
    // The channel is never closed on its own: closing the connection closes it. With node-datachannel, closing a
    // channel while the peer closes too sometimes loses the channel's close callback, which leaks a native
    // handle that keeps the process alive (measured: 1 to 3 leaked channels per 400 teardowns; with
    // connection-only closes, none in 3,200). When the peer is the one closing, give its close a moment to arrive
    // before closing ours.
    const p = new Promise<void>((resolve) => {
      let done = false;
      let timer: Timer | undefined;
      const closePc = (): void => {
        if (done) return;
        done = true;
        timer?.cancel();
        this.#pendingCloses.delete(closePc);
        try {
          Promise.resolve(pc.close()).then(
            () => resolve(),
            () => resolve(),
          );
        } catch {
          resolve();
        }
      };
      if (initiatedLocally || dc === undefined || dc.readyState === 'closed' || this.#closed) {
        closePc();
        return;
      }
      this.#pendingCloses.add(closePc);
      dc.addEventListener('close', closePc);
      timer = this.#clock.setTimeout(closePc, CHANNEL_CLOSE_WAIT_MS);
    });
    this.#closing.add(p);
    void p.finally(() => this.#closing.delete(p));
  }

  async #awaitClosing(): Promise<void> {
    if (this.#closing.size === 0) return;
    let timer: Timer | undefined;
    await Promise.race([
      Promise.allSettled([...this.#closing]),
      new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, CLOSE_GRACE_MS);
      }),
    ]);
    timer?.cancel();
  }

  #loadEngine(): Promise<RtcEngine> {
    if (this.#enginePromise === undefined) {
      this.#enginePromise = this.#resolveEngine().then((engine) => {
        this.#engine = engine;
        return engine;
      });
      this.#enginePromise.catch(() => undefined);
    }
    return this.#enginePromise;
  }

  async #resolveEngine(): Promise<RtcEngine> {
    const rtc = this.#rtcOption;
    if (rtc === undefined) {
      if (!hasNativeWebRtc()) {
        throw meshError(
          'ConnectionFailed',
          'no WebRTC engine: this runtime has no RTCPeerConnection; pass `rtc` (on Node: loadNodeEngine() from meshrtc)',
        );
      }
      return browserEngine();
    }
    if (typeof rtc === 'function') return createRtcEngine(rtc);
    const engine = await rtc;
    if (!isRtcEngine(engine)) throw meshError('ConnectionFailed', 'the `rtc` option did not provide a WebRTC engine');
    return engine;
  }

  // ---------------------------------------------------------------- data path

  #onMessage(link: Link, s: Session, data: unknown): void {
    try {
      if (s.closed || link.session !== s) return;
      const bytes = toBytes(data);
      this.#counters.messagesReceived++;
      s.lastReceived = this.#clock.now();
      if (bytes === undefined) {
        this.#protocolFailure(link, s, meshError('ProtocolError', `non-binary message from ${link.peerId}`));
        return;
      }
      const err = s.decoder.push(bytes, (s.sink ??= this.#sink(link, s)));
      const fatal = err ?? s.fatal;
      if (fatal !== undefined) {
        this.#protocolFailure(link, s, fatal);
        return;
      }
      if (s.byeReceived) {
        this.#sessionEnded(link, s, 'closed', unavailable(link.peerId, 'peer closed the link'));
        return;
      }
      if (s.helloReceived && !s.established) this.#maybeEstablish(link, s);
    } catch (err) {
      // Never throw out of the engine's event handler.
      this.#report(meshError('ProtocolError', `message from ${link.peerId} could not be processed: ${describe(err)}`, { cause: err }));
    }
  }

  #protocolFailure(link: Link, s: Session, err: MeshError): void {
    this.#counters.protocolErrors++;
    const wrapped = meshError(err.code, `${err.message} (from ${link.peerId}; link reset)`, {
      cause: err,
      details: { ...err.details, peerId: link.peerId },
    });
    this.#sessionEnded(link, s, 'failed', wrapped);
  }

  #sink(link: Link, s: Session): DecoderSink {
    return {
      onFrame: (frame) => {
        if (s.closed || s.fatal !== undefined || s.byeReceived || link.session !== s) return;
        if (!s.established) {
          if (s.helloReceived) this.#maybeEstablish(link, s);
          if (!s.established) {
            s.fatal = meshError('ProtocolError', 'frame before hello');
            return;
          }
        }
        this.#counters.framesReceived++;
        this.#counters.bytesReceived += frame.byteLength;
        try {
          this.#handlers?.onFrame(link.peerId, frame);
        } catch (e) {
          this.#handlerFailed('onFrame', link.peerId, e);
        }
      },
      onControl: (kind: ControlKind, body) => {
        if (s.closed || s.fatal !== undefined) return;
        if (kind === RecordKind.Hello) {
          if (s.helloReceived) {
            s.fatal = meshError('ProtocolError', 'duplicate hello');
            return;
          }
          const hello = parseHello(body);
          if (hello === undefined || hello.peer !== link.peerId || hello.sid !== s.sid) {
            s.fatal = meshError('ProtocolError', 'hello does not match the session', {
              details: { expectedPeer: link.peerId, sid: s.sid },
            });
            return;
          }
          s.helloReceived = true;
          this.#maybeEstablish(link, s);
        } else if (kind === RecordKind.Bye) {
          s.byeReceived = true;
        } else if (kind === RecordKind.Ping) {
          // Receiving it already refreshed lastReceived; a timed ping also measures the round trip.
          const ping = decodePing(body);
          if (ping !== undefined) {
            const now = this.#clock.now();
            s.peerPingSentAt = ping.sentAt;
            s.peerPingArrivedAt = now;
            if (ping.echoSentAt >= 0) {
              const sample = now - ping.echoSentAt - ping.echoHeldMs;
              if (sample >= 0 && Number.isFinite(sample)) s.rttMs = s.rttMs === undefined ? sample : s.rttMs + RTT_ALPHA * (sample - s.rttMs);
            }
          }
        }
      },
    };
  }

  #scheduleFlush(link: Link): void {
    if (link.flushScheduled) return;
    link.flushScheduled = true;
    // A promise job rather than queueMicrotask: same microtask queue (so everything sent in this tick coalesces),
    // without the AsyncResource Node wraps around every queueMicrotask callback.
    void RESOLVED.then(() => {
      link.flushScheduled = false;
      this.#flush(link);
    });
  }

  /** Hands queued messages to the engine until it is above its high-water mark or nothing waits. */
  #flush(link: Link): void {
    const s = link.session;
    if (s === undefined || !s.established || s.closed || s.dc === undefined) return;
    const dc = s.dc;
    const accepted: Array<SendTag | undefined> = [];
    const inMessage: Array<SendTag | undefined> = [];
    const bytesBefore = link.encoder.completedBytes;
    let bytesSent = bytesBefore;
    try {
      for (;;) {
        const full = this.#engineFull(s);
        inMessage.length = 0;
        bytesSent = link.encoder.completedBytes;
        const msg = link.encoder.nextMessage(inMessage, full);
        if (msg === undefined) {
          if (full && link.encoder.pendingFrames > 0) this.#waitForLowWater(link, s);
          break;
        }
        dc.send(msg);
        s.inEngine.push(msg.byteLength);
        s.inEngineBytes += msg.byteLength;
        s.lastSent = this.#clock.now();
        this.#counters.messagesSent++;
        this.#counters.framesSent += inMessage.length;
        for (const p of inMessage) if (p?.sent !== undefined) accepted.push(p);
      }
    } catch (err) {
      // A channel that is already closing (the peer went away; its close event is on its way) is 'closed'.
      const closing = dc.readyState !== 'open';
      const e = unavailable(link.peerId, closing ? 'data channel closed' : `sending failed: ${describe(err)}`, err);
      for (const p of inMessage) p?.sendFailed?.(e);
      for (const p of accepted) p!.sent!();
      this.#counters.bytesSent += bytesSent - bytesBefore;
      this.#sessionEnded(link, s, closing ? 'closed' : 'failed', e);
      return;
    }
    this.#counters.bytesSent += link.encoder.completedBytes - bytesBefore;
    for (const p of accepted) p!.sent!();
  }

  /** Forgets messages the engine has drained (it drains in order, so `bufferedAmount` covers the newest ones). */
  #reconcile(s: Session): void {
    const dc = s.dc;
    if (dc === undefined) return;
    const buffered = dc.bufferedAmount;
    for (;;) {
      const head = s.inEngine.peek();
      if (head === undefined || s.inEngineBytes - head < buffered) break;
      s.inEngine.shift();
      s.inEngineBytes -= head;
    }
  }

  #engineFull(s: Session): boolean {
    this.#reconcile(s);
    return s.dc!.bufferedAmount >= this.#highWaterMark || s.inEngine.length >= s.maxBufferedMessages;
  }

  /** Waits for `bufferedamountlow` (with a slow poll as a safety net) before flushing again. */
  #waitForLowWater(link: Link, s: Session): void {
    const dc = s.dc!;
    let threshold = Math.floor(this.#highWaterMark / 2);
    if (s.inEngine.length >= s.maxBufferedMessages) {
      // Wake up once the older half of the engine's messages is gone: bufferedAmount <= bytes of the newest half.
      const keep = Math.floor(s.maxBufferedMessages / 2);
      let bytes = 0;
      for (let i = s.inEngine.length - keep; i < s.inEngine.length; i++) bytes += s.inEngine.at(i) ?? 0;
      threshold = Math.min(threshold, bytes);
    }
    s.waitingLow = true;
    try {
      dc.bufferedAmountLowThreshold = threshold;
    } catch {
      // keep the previous threshold; the poll below still wakes us
    }
    s.lowWaterTimer?.cancel();
    s.lowWaterTimer = this.#clock.setTimeout(() => {
      s.lowWaterTimer = undefined;
      if (!s.waitingLow || s.closed) return;
      s.waitingLow = false;
      this.#flush(link);
    }, LOW_WATER_POLL_MS);
    if (dc.bufferedAmount <= threshold) {
      // Drained between the check and setting the threshold: no event will come.
      s.waitingLow = false;
      s.lowWaterTimer.cancel();
      s.lowWaterTimer = undefined;
      this.#scheduleFlush(link);
    }
  }

  #heartbeat(link: Link, s: Session): void {
    if (s.closed || link.session !== s) return;
    const now = this.#clock.now();
    const echo = s.peerPingArrivedAt < 0 ? undefined : { sentAt: s.peerPingSentAt, heldMs: now - s.peerPingArrivedAt };
    link.encoder.pushControl(RecordKind.Ping, encodePing(now, echo));
    this.#scheduleFlush(link);
  }

  /**
   * The smoothed round-trip time to `peerId` in ms, measured by heartbeats on the open link (undefined before the
   * first echo, or without an open link).
   */
  rtt(peerId: string): number | undefined {
    const s = this.#links.get(peerId)?.session;
    return s === undefined || s.closed || !s.established ? undefined : s.rttMs;
  }

  #armLiveness(link: Link, s: Session): void {
    const due = s.lastReceived + this.#heartbeatTimeoutMs - this.#clock.now();
    s.livenessTimer = this.#clock.setTimeout(() => {
      s.livenessTimer = undefined;
      if (s.closed || link.session !== s) return;
      const silent = this.#clock.now() - s.lastReceived;
      if (silent >= this.#heartbeatTimeoutMs) {
        this.#linkDown(
          link,
          'timeout',
          meshError('PeerUnavailable', `peer ${link.peerId} sent nothing for ${Math.round(silent)} ms`, {
            details: { peerId: link.peerId, silentMs: Math.round(silent), timeoutMs: this.#heartbeatTimeoutMs },
          }),
        );
      } else {
        this.#armLiveness(link, s);
      }
    }, Math.max(1, due));
  }

  // ---------------------------------------------------------------- diagnostics

  #handlerFailed(which: string, peerId: string, err: unknown): void {
    this.#counters.handlerErrors++;
    this.#report(meshError('HandlerFailed', `${which} handler threw for ${peerId}: ${describe(err)}`, { cause: err, details: { peerId } }));
  }

  #report(err: MeshError): void {
    if (this.#onError === undefined) return;
    try {
      this.#onError(err);
    } catch {
      // a throwing diagnostics hook must not break the transport
    }
  }
}

/** Weight of a new round-trip sample in the moving average. */
const RTT_ALPHA = 0.25;
/** Bytes of a timed ping body: three float64 (sentAt, echoSentAt or -1, echoHeldMs). */
const PING_BYTES = 24;

/** Encodes a timed ping body: our clock now, and the echo of the peer's last ping with how long we held it. */
export function encodePing(sentAt: number, echo: { sentAt: number; heldMs: number } | undefined): Uint8Array {
  const body = new Uint8Array(PING_BYTES);
  const view = new DataView(body.buffer);
  view.setFloat64(0, sentAt);
  view.setFloat64(8, echo === undefined ? -1 : echo.sentAt);
  view.setFloat64(16, echo === undefined ? 0 : echo.heldMs);
  return body;
}

/** Decodes a timed ping body; undefined for an empty (older peer) or malformed one. */
export function decodePing(body: Uint8Array): { sentAt: number; echoSentAt: number; echoHeldMs: number } | undefined {
  if (body.byteLength !== PING_BYTES) return undefined;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const sentAt = view.getFloat64(0);
  const echoSentAt = view.getFloat64(8);
  const echoHeldMs = view.getFloat64(16);
  if (!Number.isFinite(sentAt) || !Number.isFinite(echoSentAt) || !Number.isFinite(echoHeldMs) || echoHeldMs < 0) return undefined;
  return { sentAt, echoSentAt, echoHeldMs };
}

function validPeerId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_PEER_ID_LENGTH;
}

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw meshError('InvalidArgument', `${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

function closedError(peerId: string): MeshError {
  return meshError('Closed', `transport ${peerId} is closed`, { details: { peerId } });
}

function unavailable(peerId: string, why: string, cause?: unknown): MeshError {
  return meshError('PeerUnavailable', `peer ${peerId} unavailable: ${why}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { peerId },
  });
}

function describe(err: unknown): string {
  if (isMeshError(err)) return err.message;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  try {
    return String(err);
  } catch {
    return 'unknown error';
  }
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Object.prototype.toString.call(data) === '[object ArrayBuffer]') return new Uint8Array(data as ArrayBuffer);
  return undefined;
}

function parseHello(body: Uint8Array): { peer: string; sid: string } | undefined {
  try {
    const v = JSON.parse(textDecoder.decode(body)) as unknown;
    if (typeof v !== 'object' || v === null) return undefined;
    const { peer, sid } = v as { peer?: unknown; sid?: unknown };
    return typeof peer === 'string' && typeof sid === 'string' ? { peer, sid } : undefined;
  } catch {
    return undefined;
  }
}

/** Reads an engine's candidate (or `RTCIceCandidateInit`) into a plain, `a=`-free form; `undefined` for end-of-candidates. */
function normalizeCandidate(raw: unknown): RtcIceCandidateLike | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as { candidate?: unknown; sdpMid?: unknown; sdpMLineIndex?: unknown };
  if (typeof r.candidate !== 'string' || r.candidate.length === 0) return undefined;
  const candidate = r.candidate.startsWith('a=') ? r.candidate.slice(2) : r.candidate;
  const sdpMid = typeof r.sdpMid === 'string' ? r.sdpMid : null;
  const sdpMLineIndex = typeof r.sdpMLineIndex === 'number' && Number.isInteger(r.sdpMLineIndex) ? r.sdpMLineIndex : null;
  if (sdpMid === null && sdpMLineIndex === null) return { candidate, sdpMid: '0', sdpMLineIndex: 0 };
  return { candidate, sdpMid, sdpMLineIndex };
}

function isLoopbackCandidate(candidate: string): boolean {
  return candidate.split(' ')[4] === '127.0.0.1';
}

function candidateSignal(sid: string, c: RtcIceCandidateLike): WebRtcSignal {
  return { v: SIGNAL_VERSION, k: 'candidate', sid, candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null };
}

/** Removes candidate lines from an SDP (the offerer trickles its candidates after the answer instead). */
function withoutCandidates(sdp: string): string {
  return sdp
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('a=candidate:') && !line.startsWith('a=end-of-candidates'))
    .join('\r\n');
}
