/**
 * {@link SignalingClient} over a WebSocket to `signaling-server/` (protocol in `messages.ts`). Runs in browsers
 * and Node: it uses `globalThis.WebSocket` when present (browsers, Node >= 22) and otherwise loads the `ws`
 * package lazily, so nothing Node-specific is imported at module top level. An injected constructor wins.
 *
 * Reconnection: when the socket drops, the client reconnects with capped exponential backoff plus jitter (through
 * the injected {@link Clock} and {@link Random}) and re-announces the same peer: same id, same incarnation, current
 * capabilities. The incarnation is not bumped, because a new incarnation means "a new instance of this peer, its
 * state is gone" to the layers above; a dropped WebSocket is not that. The server therefore accepts an equal
 * incarnation and lets it replace a session it still believes alive (the old socket gets `replaced`), provided
 * the join carries the `resume` secret the server handed out in the session's `welcome` (another connection
 * claiming the same id and incarnation without it is refused: `duplicate-peer`). A client that receives
 * `replaced`, `stale-incarnation` or `duplicate-peer` stops for good (status `closed`): another instance owns
 * the id.
 *
 * Authentication: the `token` option (a string, or a function called before every join, which can fetch a fresh
 * token) goes in `join.token`. A refusal that reconnecting cannot fix stops the client for good and is reported
 * as a typed error: code `Unauthorized` (`token-missing`, `token-invalid`, `token-expired` in
 * `details.reason`) or `Forbidden` (`room-mismatch`, `peer-mismatch`, `capability-not-granted`,
 * `origin-not-allowed`); `join()` rejects with it, or `onError` receives it after a reconnect.
 *
 * Version monotonicity: the server numbers views with one per-process counter and tags them with its `epoch`.
 * The reference server seeds that counter from the wall clock, so a restarted server normally continues above
 * its predecessor and every peer sees identical version numbers. When that fails (a server started with
 * `initialVersion: 0`, a wall clock stepped back), versions of the new epoch start low again. The client
 * therefore delivers `server version + offset`: the offset is 0 until an epoch change would make versions go
 * backwards, and is then raised just enough that the first view of the new epoch is delivered as
 * (last delivered + 1); at each later epoch change it is recomputed the same way (back to 0 when the server is
 * ahead again). Delivered versions thus grow strictly for the lifetime of this object, across server restarts
 * and leave/join cycles. Caveat: while an offset is in force, two peers may number the same view differently.
 *
 * Server restarts: a restarted server starts with empty rooms, and peers come back one by one as their sockets
 * reconnect. Delivering its first views as they are would tell each peer that everyone else left (shards move,
 * calls in flight fail) although the peers are still connected to each other. So when the epoch changes, peers
 * of the last delivered view that the new server does not list yet are kept in the delivered views for
 * `rejoinGraceMs` (default 5000 ms), or until they are listed again; then the server's view is delivered as is.
 * A peer that really died meanwhile is removed after the grace period (its WebRTC link reports it down sooner).
 *
 * Liveness: the server pings at the WebSocket level; the client also sends an application `ping` every
 * `pingIntervalMs` (announced in `welcome`) and drops the socket when two pings in a row got no traffic back,
 * which catches half-open connections that browsers would otherwise keep for minutes.
 */
import { systemClock, type Clock, type Timer } from '../clock/clock.js';
import type { SignalingError } from '../errors.js';
import type { PeerInfo, ViewSnapshot } from '../membership/types.js';
import { cryptoRandom, type Random } from '../random.js';
import {
  MAX_CLIENT_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  encodeMessage,
  isValidRoom,
  parseClientMessage,
  parseServerMessage,
  refusalError,
  signalingError,
  validateCapabilities,
  validatePeerInfo,
  type ClientMessage,
  type ErrorMessage,
  type SignalingReason,
  type ViewMessage,
} from './messages.js';
import type { SignalingClient, SignalingHandlers, SignalingStatus } from './types.js';

/** The part of the WHATWG `WebSocket` (browsers, undici, `ws`) this client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: (event: unknown) => void): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { readonly code: number; readonly reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
}

/** A `WebSocket` constructor (the global one, or `WebSocket` from the `ws` package). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A room token, or a function giving one before every (re)join. */
export type SignalingToken = string | (() => string | Promise<string>);

/** Reconnect backoff: delay(n) = min(maxMs, initialMs * factor^n) * (1 - jitter * random). */
export interface BackoffOptions {
  /** First delay in ms (default 250). */
  initialMs?: number;
  /** Largest delay in ms (default 10000). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Fraction of the delay that is randomised away, in [0, 1] (default 0.5). */
  jitter?: number;
}

/** Options of {@link WebSocketSignaling}. */
export interface WebSocketSignalingOptions {
  /** `ws://` or `wss://` URL of the signaling server. */
  url: string;
  /** Room to join (1..128 characters of [A-Za-z0-9._:-]). */
  room: string;
  clock?: Clock;
  /** Jitter source (default the platform CSPRNG). */
  random?: Random;
  /** WebSocket implementation (default `globalThis.WebSocket`; required on Node 20, e.g. `WebSocket` from `ws`). */
  WebSocket?: WebSocketConstructor;
  backoff?: BackoffOptions;
  /** `join()` rejects when no view containing this peer arrived within this time (default 10000 ms). */
  joinTimeoutMs?: number;
  /**
   * A socket on which the server has not accepted the join within this time is abandoned and retried
   * (default 10000 ms); covers connection attempts that neither open nor fail (black-holed networks).
   */
  connectTimeoutMs?: number;
  /**
   * Room token sent in `join` for servers that authenticate joins: a string, or a function called before every
   * (re)join (it may fetch a fresh token; a failure is reported and the connection retried with backoff).
   */
  token?: SignalingToken;
  /** Largest outgoing frame in bytes (default 65536, the server's default limit). */
  maxMessageBytes?: number;
  /**
   * After a server restart, how long peers of the last view that the new server does not list yet are still
   * delivered as members (default 5000 ms; 0 turns the grace period off). See the module comment.
   */
  rejoinGraceMs?: number;
  /** Signals are dropped while the socket has more unsent bytes than this (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Most signals buffered before handlers are set; the oldest are dropped beyond it (default 256). */
  maxEarlySignals?: number;
  /** Reports problems that do not reject a promise: refused signals, dropped connections, protocol errors. */
  onError?: (error: SignalingError) => void;
}

const OPEN = 1;
const CONNECTING = 0;
/** Close code the client uses when it abandons a socket (protocol error, dead heartbeat). */
const CLOSE_ABANDONED = 4001;
/**
 * Server error codes after which reconnecting would be wrong: another instance owns the id, no common protocol,
 * or a credential the server refuses (reconnecting with it would be refused again).
 */
export const TERMINAL_REASONS: ReadonlySet<string> = new Set<SignalingReason>([
  'replaced',
  'stale-incarnation',
  'duplicate-peer',
  'unsupported-protocol',
  'token-missing',
  'token-invalid',
  'token-expired',
  'room-mismatch',
  'peer-mismatch',
  'capability-not-granted',
  'origin-not-allowed',
]);

/** The reconnect delay before attempt `attempt` (0-based), see {@link BackoffOptions}. */
export function backoffDelay(attempt: number, backoff: Required<BackoffOptions>, random: Random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * Math.pow(backoff.factor, attempt));
  return Math.max(0, base * (1 - backoff.jitter * random.next()));
}

/**
 * The global WebSocket (browsers, Node 22+). Older Node has none: the package's Node entry passes `ws` (see
 * `runtime.ts`); direct users pass {@link WebSocketSignalingOptions.WebSocket}.
 */
function defaultWebSocket(): WebSocketConstructor {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global !== undefined) return global;
  throw new TypeError('this runtime has no global WebSocket: pass the `WebSocket` option (on Node, `WebSocket` from the ws package)');
}

const encoder = new TextEncoder();

/** A signaling client talking to the meshrtc signaling server. See the module comment for the rules. */
export class WebSocketSignaling implements SignalingClient {
  readonly #url: string;
  readonly #room: string;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #backoff: Required<BackoffOptions>;
  readonly #options: WebSocketSignalingOptions;
  readonly #joinTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxMessageBytes: number;
  readonly #maxBufferedBytes: number;
  readonly #maxEarly: number;

  #handlers: SignalingHandlers | undefined;
  #status: SignalingStatus = 'closed';
  /** The announced peer while a session is active (between join() and leave() or a terminal error). */
  #self: PeerInfo | undefined;
  /** Bumped by join/leave/terminal errors so that stale async continuations do nothing. */
  #session = 0;
  #ws: WebSocketLike | undefined;
  /** The server accepted this peer on the current socket. */
  #accepted = false;
  /** Capabilities last sent to the server on the current socket. */
  #announced: readonly string[] = [];
  #attempt = 0;
  #reconnectTimer: Timer | undefined;
  #joinTimer: Timer | undefined;
  #connectTimer: Timer | undefined;
  #heartbeat: Timer | undefined;
  #unanswered = 0;
  #pendingJoin: { resolve: () => void; reject: (err: Error) => void } | undefined;
  /** The `resume` secret of the current session on the current server (sent back when reconnecting). */
  #resume: string | undefined;
  /** The last error reported or thrown (for inspection after a terminal refusal). */
  #lastError: SignalingError | undefined;

  #epoch: string | undefined;
  #offset = 0;
  #lastDelivered = 0;
  #pendingView: ViewSnapshot | undefined;
  /** Peers of the last delivered view, for the rejoin grace period. */
  #lastPeers: readonly PeerInfo[] = [];
  /** During a rejoin grace period: peers not yet listed by the restarted server, by id. */
  #carried: Map<string, PeerInfo> | undefined;
  #graceTimer: Timer | undefined;
  /** The last view message of the current server, re-delivered when the grace period ends. */
  #lastServerView: ViewMessage | undefined;
  readonly #rejoinGraceMs: number;
  readonly #early: Array<readonly [string, unknown]> = [];

  /** Creates a client of `options.room`; nothing connects before {@link join}. */
  constructor(options: WebSocketSignalingOptions) {
    let protocol: string;
    try {
      protocol = new URL(options.url).protocol;
    } catch (err) {
      throw signalingError('invalid-field', `invalid signaling URL ${JSON.stringify(options.url)}`, { field: 'url' }, err);
    }
    if (protocol !== 'ws:' && protocol !== 'wss:') {
      throw signalingError('invalid-field', 'the signaling URL must use ws: or wss:', { field: 'url' });
    }
    if (!isValidRoom(options.room)) throw signalingError('invalid-field', 'room must be 1..128 characters of [A-Za-z0-9._:-]', { field: 'room' });
    const b = options.backoff ?? {};
    this.#backoff = { initialMs: b.initialMs ?? 250, maxMs: b.maxMs ?? 10_000, factor: b.factor ?? 2, jitter: b.jitter ?? 0.5 };
    const { initialMs, maxMs, factor, jitter } = this.#backoff;
    if (!(initialMs >= 0 && maxMs >= initialMs && factor >= 1 && jitter >= 0 && jitter <= 1)) {
      throw signalingError('invalid-field', 'backoff needs 0 <= initialMs <= maxMs, factor >= 1, 0 <= jitter <= 1', { field: 'backoff' });
    }
    this.#url = options.url;
    this.#room = options.room;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? cryptoRandom;
    this.#joinTimeoutMs = options.joinTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#maxMessageBytes = options.maxMessageBytes ?? MAX_CLIENT_MESSAGE_BYTES;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.#maxEarly = options.maxEarlySignals ?? 256;
    this.#rejoinGraceMs = options.rejoinGraceMs ?? 5000;
  }

  /** The current connection state: `open` once the server accepted this peer on the current socket. */
  get status(): SignalingStatus {
    return this.#status;
  }

  /** The last error this client reported or rejected with (e.g. why it stopped: `Unauthorized`, `Forbidden`). */
  get lastError(): SignalingError | undefined {
    return this.#lastError;
  }

  /** The epoch of the server that sent the last view (changes when the server restarts). */
  get serverEpoch(): string | undefined {
    return this.#epoch;
  }

  /** Registers handlers and delivers what arrived before: the latest undelivered view, then buffered signals. */
  setHandlers(handlers: SignalingHandlers): void {
    this.#handlers = handlers;
    const view = this.#pendingView;
    this.#pendingView = undefined;
    if (view !== undefined) handlers.onView(view);
    if (handlers.onSignal !== undefined) for (const [from, data] of this.#early.splice(0)) handlers.onSignal(from, data);
  }

  /**
   * Connects and announces `self`; resolves on the first view that contains `self` (same id and incarnation).
   * Connection failures are retried with backoff until `joinTimeoutMs`; rejects with a `SignalingError` whose
   * `details.reason` is `timeout`, a server refusal (`stale-incarnation`, `room-full`, ...), or `left`.
   */
  join(self: PeerInfo): Promise<void> {
    if (this.#self !== undefined) return Promise.reject(signalingError('already-joined', 'join() called twice; leave() first'));
    let peer: PeerInfo;
    try {
      peer = validatePeerInfo(self, 'self');
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.#self = peer;
    this.#session++;
    this.#attempt = 0;
    this.#resume = undefined;
    const done = new Promise<void>((resolve, reject) => {
      this.#pendingJoin = { resolve, reject };
    });
    this.#joinTimer = this.#clock.setTimeout(() => {
      this.#stop(signalingError('timeout', `no view containing ${peer.id} within ${this.#joinTimeoutMs} ms`, { url: this.#url, room: this.#room }));
    }, this.#joinTimeoutMs);
    this.#setStatus('connecting');
    void this.#connect(this.#session);
    return done;
  }

  /** Replaces the announced capabilities (validated, sorted, deduplicated); sent now or on the next (re)join. */
  updateCapabilities(capabilities: readonly string[]): void {
    const self = this.#self;
    if (self === undefined) throw signalingError('not-joined', 'updateCapabilities() before join()');
    const normalized = validateCapabilities(capabilities);
    this.#self = { ...self, capabilities: normalized };
    if (this.#accepted) this.#sendCapabilities();
  }

  /**
   * Relays `data` (any JSON value) to peer `to`. Dropped silently unless connected (best effort, as the contract
   * says). Throws a `SignalingError` (`invalid-field`, `too-large`, ...) when the message could never be sent:
   * bad peer id, `undefined` or non-JSON data, data the server would refuse, more than `maxMessageBytes`.
   */
  signal(to: string, data: unknown): void {
    if (data === undefined) throw signalingError('invalid-field', 'signal data must be a JSON value, not undefined', { field: 'data' });
    let text: string;
    try {
      text = encodeMessage({ type: 'signal', to, data });
    } catch (err) {
      throw signalingError('invalid-field', 'signal data is not serialisable as JSON', { field: 'data' }, err);
    }
    const bytes = encoder.encode(text).length;
    if (bytes > this.#maxMessageBytes) {
      throw signalingError('too-large', `signal of ${bytes} bytes exceeds ${this.#maxMessageBytes}`, { bytes, to });
    }
    // The server's own validator: what passes here is never refused there.
    parseClientMessage(text, { maxChars: Number.MAX_SAFE_INTEGER });
    const ws = this.#ws;
    if (!this.#accepted || ws === undefined || ws.readyState !== OPEN) return;
    if (ws.bufferedAmount > this.#maxBufferedBytes) {
      this.#report(signalingError('too-large', `signal to ${to} dropped: ${ws.bufferedAmount} bytes already buffered`, { to }));
      return;
    }
    ws.send(text);
  }

  /** Sends `leave`, closes the socket and stops reconnecting; rejects a pending {@link join} with `left`. */
  async leave(): Promise<void> {
    const ws = this.#ws;
    const wasActive = this.#self !== undefined;
    this.#stop(signalingError('left', 'left before the join completed'), false);
    if (ws !== undefined && wasActive) {
      if (ws.readyState === OPEN) ws.send(encodeMessage({ type: 'leave' }));
      await this.#closeAndWait(ws, 1000, 'left');
    }
    this.#setStatus('closed');
  }

  // -------------------------------------------------------------------------------------------------------------

  async #connect(session: number): Promise<void> {
    let Ctor: WebSocketConstructor;
    try {
      Ctor = this.#options.WebSocket ?? defaultWebSocket();
    } catch (err) {
      if (session === this.#session) this.#stop(signalingError('closed', 'no WebSocket implementation available', {}, err));
      return;
    }
    if (session !== this.#session || this.#self === undefined) return;
    let ws: WebSocketLike;
    try {
      ws = new Ctor(this.#url);
    } catch (err) {
      this.#report(signalingError('closed', `cannot open ${this.#url}`, {}, err));
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    this.#accepted = false;
    this.#unanswered = 0;
    this.#connectTimer?.cancel();
    this.#connectTimer = this.#clock.setTimeout(() => {
      this.#connectTimer = undefined;
      if (ws === this.#ws && !this.#accepted) {
        this.#abandon(signalingError('timeout', `not accepted by ${this.#url} within ${this.#connectTimeoutMs} ms`));
      }
    }, this.#connectTimeoutMs);
    ws.addEventListener('open', () => {
      if (ws !== this.#ws || this.#self === undefined) return;
      const token = this.#options.token;
      if (typeof token !== 'function') return this.#sendJoin(ws, token);
      let pending: string | Promise<string>;
      try {
        pending = token();
      } catch (err) {
        return this.#tokenFailed(ws, err);
      }
      void Promise.resolve(pending).then(
        (value) => this.#sendJoin(ws, value),
        (err: unknown) => this.#tokenFailed(ws, err),
      );
    });
    ws.addEventListener('message', (event) => {
      if (ws === this.#ws) this.#onMessage(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (ws === this.#ws) this.#dropped(`socket closed (${event.code}${event.reason === '' ? '' : ` ${event.reason}`})`);
    });
    ws.addEventListener('error', () => {
      // A close event always follows; it drives reconnection.
    });
  }

  #sendJoin(ws: WebSocketLike, token: string | undefined): void {
    const self = this.#self;
    if (ws !== this.#ws || self === undefined || ws.readyState !== OPEN) return;
    if (token !== undefined && typeof token !== 'string') return this.#tokenFailed(ws, new TypeError('the token provider returned a non-string'));
    const join: ClientMessage = {
      type: 'join',
      protocol: PROTOCOL_VERSION,
      room: this.#room,
      peer: self,
      ...(token === undefined ? {} : { token }),
      ...(this.#resume === undefined ? {} : { resume: this.#resume }),
    };
    this.#announced = self.capabilities;
    ws.send(encodeMessage(join));
  }

  #tokenFailed(ws: WebSocketLike, err: unknown): void {
    if (ws !== this.#ws) return;
    const message = err instanceof Error ? err.message : String(err);
    this.#abandon(signalingError('token-missing', `the token provider failed: ${message}`, {}, err));
  }

  #onMessage(data: unknown): void {
    this.#unanswered = 0;
    if (typeof data !== 'string') return this.#abandon(signalingError('not-text', 'the server sent a binary frame'));
    let msg;
    try {
      msg = parseServerMessage(data);
    } catch (err) {
      return this.#abandon(err as SignalingError);
    }
    switch (msg.type) {
      case 'welcome':
        if (msg.room !== this.#room || msg.peerId !== this.#self?.id) {
          return this.#abandon(signalingError('invalid-field', `welcome for ${msg.peerId} in ${msg.room}, expected ${this.#self?.id} in ${this.#room}`));
        }
        if (msg.resume !== undefined) this.#resume = msg.resume;
        this.#startHeartbeat(msg.pingIntervalMs);
        return;
      case 'view':
        return this.#onView(msg);
      case 'signal':
        if (this.#handlers?.onSignal !== undefined) this.#handlers.onSignal(msg.from, msg.data);
        else {
          this.#early.push([msg.from, msg.data]);
          if (this.#early.length > this.#maxEarly) this.#early.shift();
        }
        return;
      case 'error':
        return this.#onServerError(msg);
      case 'pong':
        return;
    }
  }

  #onView(msg: ViewMessage): void {
    const self = this.#self;
    if (self === undefined || msg.room !== this.#room) return;
    if (msg.epoch !== this.#epoch) {
      const restarted = this.#epoch !== undefined;
      this.#epoch = msg.epoch;
      this.#offset = Math.max(0, this.#lastDelivered + 1 - msg.version);
      this.#endGrace();
      if (restarted && this.#rejoinGraceMs > 0) {
        const carried = new Map(this.#lastPeers.filter((p) => p.id !== self.id).map((p) => [p.id, p] as const));
        if (carried.size > 0) {
          this.#carried = carried;
          this.#graceTimer = this.#clock.setTimeout(() => this.#graceExpired(), this.#rejoinGraceMs);
        }
      }
    }
    this.#lastServerView = msg;
    this.#deliver(msg);
    if (!this.#accepted && msg.peers.some((p) => p.id === self.id && p.incarnation === self.incarnation)) {
      this.#accepted = true;
      this.#attempt = 0;
      for (const timer of [this.#joinTimer, this.#connectTimer]) timer?.cancel();
      this.#joinTimer = this.#connectTimer = undefined;
      const pending = this.#pendingJoin;
      this.#pendingJoin = undefined;
      // Capabilities changed while the join was in flight: announce them now.
      if (!sameList(this.#announced, self.capabilities)) this.#sendCapabilities();
      this.#setStatus('open');
      pending?.resolve();
    }
  }

  /** Delivers `msg` (plus peers carried through a rejoin grace period) if its version is new. */
  #deliver(msg: ViewMessage, bump = 0): void {
    this.#offset += bump;
    const version = msg.version + this.#offset;
    if (version <= this.#lastDelivered) return;
    let peers: readonly PeerInfo[] = msg.peers;
    const carried = this.#carried;
    if (carried !== undefined) {
      for (const p of msg.peers) carried.delete(p.id);
      if (carried.size === 0) this.#endGrace();
      else peers = [...msg.peers, ...carried.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    this.#lastDelivered = version;
    this.#lastPeers = peers;
    const view: ViewSnapshot = Object.freeze({ version, peers: Object.freeze(peers.map((p) => Object.freeze({ ...p, capabilities: Object.freeze([...p.capabilities]) }))) });
    if (this.#handlers !== undefined) this.#handlers.onView(view);
    else this.#pendingView = view;
  }

  /** The rejoin grace period ended with peers still missing: deliver the server's own view (one version up). */
  #graceExpired(): void {
    this.#graceTimer = undefined;
    if (this.#carried === undefined) return;
    this.#carried = undefined;
    const msg = this.#lastServerView;
    if (msg !== undefined && this.#self !== undefined) this.#deliver(msg, 1);
  }

  #endGrace(): void {
    this.#graceTimer?.cancel();
    this.#graceTimer = undefined;
    this.#carried = undefined;
  }

  #onServerError(msg: ErrorMessage): void {
    const details: Record<string, unknown> = { serverCode: msg.code, url: this.#url, room: this.#room };
    if (msg.peer !== undefined) details['peer'] = msg.peer;
    const err = refusalError(msg.code, `signaling server: ${msg.message}`, details);
    if (msg.code === 'unknown-peer') return this.#report(err);
    // Refused before the first acceptance, or by a rule that reconnecting cannot fix: give up.
    if (TERMINAL_REASONS.has(msg.code) || this.#pendingJoin !== undefined) return this.#stop(err);
    // Anything else: the server closes this socket, and the close event reconnects.
    this.#report(err);
  }

  #sendCapabilities(): void {
    const self = this.#self;
    const ws = this.#ws;
    if (self === undefined || ws === undefined || ws.readyState !== OPEN) return;
    this.#announced = self.capabilities;
    ws.send(encodeMessage({ type: 'capabilities', capabilities: self.capabilities }));
  }

  #startHeartbeat(intervalMs: number): void {
    this.#heartbeat?.cancel();
    this.#unanswered = 0;
    this.#heartbeat = this.#clock.setInterval(() => {
      const ws = this.#ws;
      if (ws === undefined) return;
      if (this.#unanswered >= 2) {
        this.#abandon(signalingError('timeout', `no answer from the server for ${2 * intervalMs} ms`));
        return;
      }
      this.#unanswered++;
      if (ws.readyState === OPEN) ws.send(encodeMessage({ type: 'ping' }));
    }, intervalMs);
  }

  /** Gives up on the current socket (protocol error, dead heartbeat) and reconnects. */
  #abandon(err: SignalingError): void {
    const ws = this.#ws;
    this.#report(err);
    this.#dropped(err.message, false);
    if (ws !== undefined) safeClose(ws, CLOSE_ABANDONED, 'abandoned');
  }

  /** The current socket is gone: reconnect unless stopped. */
  #dropped(why: string, report = true): void {
    const wasAccepted = this.#accepted;
    this.#ws = undefined;
    this.#accepted = false;
    for (const timer of [this.#heartbeat, this.#connectTimer]) timer?.cancel();
    this.#heartbeat = this.#connectTimer = undefined;
    if (this.#self === undefined) return;
    if (wasAccepted && report) this.#report(signalingError('closed', `signaling connection lost: ${why}`, { url: this.#url }));
    this.#setStatus('connecting');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#self === undefined || this.#reconnectTimer !== undefined) return;
    const delay = backoffDelay(this.#attempt++, this.#backoff, this.#random);
    const session = this.#session;
    this.#reconnectTimer = this.#clock.setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#connect(session);
    }, delay);
  }

  /** Ends the session: no reconnect, pending join rejected with `err`, socket closed unless `closeSocket` is false. */
  #stop(err: SignalingError, closeSocket = true): void {
    const ws = this.#ws;
    const pending = this.#pendingJoin;
    this.#session++;
    this.#self = undefined;
    this.#ws = undefined;
    this.#accepted = false;
    this.#pendingJoin = undefined;
    this.#resume = undefined;
    if (err.details['reason'] !== 'left') this.#lastError = err;
    for (const timer of [this.#reconnectTimer, this.#joinTimer, this.#connectTimer, this.#heartbeat]) timer?.cancel();
    this.#reconnectTimer = this.#joinTimer = this.#connectTimer = this.#heartbeat = undefined;
    this.#endGrace();
    if (closeSocket && ws !== undefined) safeClose(ws, 1000, 'stopped');
    if (pending !== undefined) pending.reject(err);
    else if (closeSocket) this.#report(err);
    if (closeSocket) this.#setStatus('closed');
  }

  #closeAndWait(ws: WebSocketLike, code: number, reason: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(resolve, 2000);
      ws.addEventListener('close', () => {
        timer.cancel();
        resolve();
      });
      safeClose(ws, code, reason);
      if (ws.readyState === 3) {
        timer.cancel();
        resolve();
      }
    });
  }

  #report(err: SignalingError): void {
    this.#lastError = err;
    try {
      this.#options.onError?.(err);
    } catch {
      // a throwing observer must not break the client
    }
  }

  #setStatus(status: SignalingStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#handlers?.onStatus?.(status);
  }
}

function safeClose(ws: WebSocketLike, code: number, reason: string): void {
  try {
    if (ws.readyState === OPEN || ws.readyState === CONNECTING) ws.close(code, reason);
  } catch {
    // already closing
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
