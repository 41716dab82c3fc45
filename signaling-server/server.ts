/**
 * The meshrtc signaling server: rooms of peers with versioned membership views, and relaying of connection-setup
 * messages between members of one room. One WebSocket per peer; the wire protocol lives in
 * `src/signaling/messages.ts`. The same HTTP port answers `GET /health`; an optional UDP port answers STUN
 * Binding requests (see `stun.ts`).
 *
 * Rules, in one place:
 * - A room exists while it has members. Every change (join, leave, capability update, disconnect) gives the room a
 *   new version and sends the full view to every member. Versions come from one per-process counter, so they
 *   grow strictly within a room even when a room is emptied and re-created; `epoch` names the process. The
 *   counter starts at the wall-clock time in microseconds (`initialVersion`), so a restarted server continues
 *   above its predecessor and every peer keeps seeing the same version numbers (unless the wall clock stepped
 *   back or the server made more than a million changes per second; clients still cope, see
 *   `src/signaling/websocket.ts`).
 * - A join with an id already present replaces the old session when its incarnation is higher, or when it is
 *   equal and the join carries the `resume` secret the old session got in its `welcome` (the same peer
 *   reconnecting before the server noticed its old socket died); the old socket gets an error `replaced` and
 *   close code 4000. An equal incarnation without that secret is refused (`duplicate-peer`: another connection
 *   holds the id), a lower one too (`stale-incarnation`).
 * - Authentication (option `auth`, see `auth.ts`): a protected room needs a room token in `join.token`, signed
 *   with the configured key, naming the room and the peer id, granting every capability announced (in `join`
 *   and in later `capabilities` updates), not expired. `allowedOrigins` refuses browsers of other origins.
 *   Every refusal is an `error` message with a reason (`token-missing`, `token-invalid`, `token-expired`,
 *   `room-mismatch`, `peer-mismatch`, `capability-not-granted`, `origin-not-allowed`) and close code 1008,
 *   before the peer is in any room.
 * - Limits: `maxPeersPerRoom` (`room-full`), a per-connection token bucket on messages (`rateLimit`; a socket
 *   that exceeds it is closed with `rate-limited`), `maxMessageBytes`, `maxBufferedBytes`, `joinTimeoutMs`.
 * - Malformed input gets an `error` message and close 1008 for that socket only; frames above `maxMessageBytes`
 *   are closed by `ws` with 1009. A signal to a peer that is not in the sender's room gets an `unknown-peer`
 *   error; the socket stays open.
 * - Liveness: every `pingIntervalMs` each socket is pinged; a socket with two unanswered pings is terminated and
 *   leaves its room, so a vanished peer is gone within about 3 x `pingIntervalMs`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv6 } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { systemClock, type Clock, type Timer } from '../src/clock/clock.js';
import type { PeerInfo } from '../src/membership/types.js';
import { cryptoRandom, randomId, type Random } from '../src/random.js';
import {
  MAX_CLIENT_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  encodeMessage,
  parseClientMessage,
  reasonOf,
  type ClientMessage,
  type JoinMessage,
  type ServerMessage,
  type SignalingReason,
} from '../src/signaling/messages.js';
import { createRoomAuthenticator, notGranted, type RoomAuthenticator, type RoomAuthOptions, type RoomGrant } from './auth.js';
import { jsonLinesLogger, silentLogger, type LogLevel, type Logger } from './logger.js';
import { startStunServer, type StunServer } from './stun.js';

/** Close code sent to a session replaced by a newer session of the same peer id. */
export const CLOSE_REPLACED = 4000;
/** Close code for protocol and policy violations. */
export const CLOSE_POLICY = 1008;

/** Options of {@link createSignalingServer}. */
export interface SignalingServerOptions {
  /** TCP port for WebSocket and HTTP; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind (default `'127.0.0.1'`). */
  host?: string;
  /** Largest client frame in bytes (default and usual value 65536); larger frames close the socket with 1009. */
  maxMessageBytes?: number;
  /** WebSocket ping period (default 5000 ms); two missed pongs terminate the socket. */
  pingIntervalMs?: number;
  /** A socket that has not joined within this time is closed (default 10000 ms). */
  joinTimeoutMs?: number;
  /**
   * The counter the view versions count up from (the first view gets `initialVersion + 1`). Default: wall-clock
   * microseconds at start (`Date.now() * 1000`), which keeps versions growing across restarts.
   */
  initialVersion?: number;
  /** Most members of one room (default 256); further joins get `room-full`. */
  maxPeersPerRoom?: number;
  /** A socket with more unsent bytes than this is a slow consumer and is terminated (default 4 MiB). */
  maxBufferedBytes?: number;
  /** Structured logs; default: JSON lines (info and above) on stderr; `false` silences. */
  logger?: Logger | false;
  /** Source of timers (default the system clock). */
  clock?: Clock;
  /** Source of the server epoch (default the platform CSPRNG). */
  random?: Random;
  /** Also answer STUN Binding requests on UDP (same host); `{}` picks a free port. Default: off. */
  stun?: { port?: number } | false;
  /** Require room tokens (signed JWTs, see `auth.ts`) to join (all rooms, or those `auth.protects` names). Default: off. */
  auth?: RoomAuthOptions;
  /**
   * Browser origins allowed to connect (exact `scheme://host[:port]`, compared case-insensitively). A socket
   * whose `Origin` header is not listed is refused (`origin-not-allowed`). Clients that send no `Origin`
   * (Node peers) are allowed unless `requireOrigin` is set. Default: any origin.
   */
  allowedOrigins?: readonly string[];
  /** Refuse sockets without an `Origin` header (default false). Only meaningful with `allowedOrigins`. */
  requireOrigin?: boolean;
  /**
   * Per-connection message rate limit (token bucket): `burst` messages at once, refilled at `perSecond`.
   * A socket above it is closed (`rate-limited`; its client reconnects with backoff). Default
   * `{ perSecond: 500, burst: 2000 }`: a peer that every newcomer of a busy room connects to sends 3 to 5
   * signals per newcomer, while a runaway or hostile client sends far more. `false` turns it off.
   */
  rateLimit?: { perSecond: number; burst: number } | false;
  /** Messages buffered from a socket while its join is being verified (default 32); more closes it (`rate-limited`). */
  maxPendingMessages?: number;
}

/** A room as the server sees it (a copy, for tests and inspection). */
export interface RoomSnapshot {
  readonly room: string;
  readonly version: number;
  readonly peers: readonly PeerInfo[];
}

/** A running signaling server. */
export interface SignalingServer {
  /** `ws://host:port`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The UDP port of the STUN responder, when enabled. */
  readonly stunPort?: number;
  /** Identifies this server process; included in `welcome` and `view`. */
  readonly epoch: string;
  /** Whether joins need room tokens (the `auth` option was given). */
  readonly authenticated: boolean;
  /** A snapshot of all rooms, sorted by name, peers sorted by id. */
  rooms(): RoomSnapshot[];
  /** Closes every session (close code 1001), the listeners and the STUN socket. Idempotent. */
  close(): Promise<void>;
}

interface Room {
  readonly name: string;
  version: number;
  readonly members: Map<string, Session>;
}

interface Member {
  readonly room: Room;
  peer: PeerInfo;
  /** What the peer's token grants (undefined in unprotected rooms). */
  readonly grant: RoomGrant | undefined;
  /** The secret that lets this peer's next session with the same incarnation replace this one. */
  readonly resume: string;
}

interface Session {
  readonly serial: number;
  readonly ws: WebSocket;
  readonly remote: string;
  missedPongs: number;
  member: Member | undefined;
  joinTimer: Timer | undefined;
  closing: boolean;
  /** Messages that arrived while the join was being verified (replayed once it is decided). */
  backlog: Array<readonly [RawData, boolean]> | undefined;
  /** Token bucket of the rate limit. */
  tokens: number;
  refilledAt: number;
}

/** Starts a signaling server; resolves once it listens (and its STUN socket is bound, when enabled). */
export async function createSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const host = options.host ?? '127.0.0.1';
  const maxMessageBytes = options.maxMessageBytes ?? MAX_CLIENT_MESSAGE_BYTES;
  const pingIntervalMs = options.pingIntervalMs ?? 5000;
  const joinTimeoutMs = options.joinTimeoutMs ?? 10_000;
  const maxPeersPerRoom = options.maxPeersPerRoom ?? 256;
  const maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const maxPendingMessages = options.maxPendingMessages ?? 32;
  const clock = options.clock ?? systemClock;
  const logger = options.logger === false ? silentLogger : (options.logger ?? jsonLinesLogger());
  const random = options.random ?? cryptoRandom;
  const epoch = randomId(random, 16);
  for (const [name, value] of Object.entries({ maxMessageBytes, pingIntervalMs, joinTimeoutMs, maxPeersPerRoom, maxBufferedBytes, maxPendingMessages })) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer`);
  }
  const rateLimit = options.rateLimit === false ? undefined : (options.rateLimit ?? { perSecond: 500, burst: 2000 });
  if (rateLimit !== undefined && !(rateLimit.perSecond > 0 && Number.isFinite(rateLimit.perSecond) && rateLimit.burst >= 1 && Number.isFinite(rateLimit.burst))) {
    throw new RangeError('rateLimit needs perSecond > 0 and burst >= 1');
  }
  const allowedOrigins = options.allowedOrigins === undefined ? undefined : new Set(options.allowedOrigins.map(normalizeOrigin));
  const requireOrigin = options.requireOrigin ?? false;
  const auth: RoomAuthenticator | undefined = options.auth === undefined ? undefined : await createRoomAuthenticator(options.auth);
  const initialVersion = options.initialVersion ?? Date.now() * 1000;
  if (!Number.isSafeInteger(initialVersion) || initialVersion < 0 || initialVersion > Number.MAX_SAFE_INTEGER / 2) {
    throw new RangeError('initialVersion must be a non-negative safe integer');
  }

  const rooms = new Map<string, Room>();
  const sessions = new Set<Session>();
  let versionCounter = initialVersion;
  let serial = 0;
  let shuttingDown = false;

  const log = (level: LogLevel, event: string, fields: Record<string, unknown> = {}): void => {
    try {
      logger({ level, event, ...fields });
    } catch {
      // a broken logger must not break the server
    }
  };

  const send = (session: Session, message: ServerMessage | string): void => {
    const ws = session.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > maxBufferedBytes) {
      // The close event removes the session; terminating (not removing) here keeps broadcasts re-entrancy free.
      log('warn', 'slow-consumer', { conn: session.serial, buffered: ws.bufferedAmount });
      ws.terminate();
      return;
    }
    ws.send(typeof message === 'string' ? message : encodeMessage(message));
  };

  const peersOf = (room: Room): PeerInfo[] =>
    [...room.members.values()].map((s) => s.member!.peer).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const viewOf = (room: Room): ServerMessage => ({ type: 'view', room: room.name, epoch, version: room.version, peers: peersOf(room) });

  /** Gives `room` a new version and sends the view to every member (or forgets the room once empty). */
  const changed = (room: Room): void => {
    room.version = ++versionCounter;
    if (room.members.size === 0) {
      rooms.delete(room.name);
      log('info', 'room-closed', { room: room.name });
      return;
    }
    if (shuttingDown) return;
    const text = encodeMessage(viewOf(room));
    for (const member of room.members.values()) send(member, text);
  };

  /** Removes the session from its room (if it is still the current session of its peer id). */
  const detach = (session: Session, why: string): void => {
    const member = session.member;
    session.member = undefined;
    if (member === undefined || member.room.members.get(member.peer.id) !== session) return;
    member.room.members.delete(member.peer.id);
    log('info', 'peer-left', { conn: session.serial, room: member.room.name, peer: member.peer.id, why });
    changed(member.room);
  };

  /** Sends an error, leaves the room and closes the socket. */
  const refuse = (session: Session, code: SignalingReason, message: string, closeCode = CLOSE_POLICY): void => {
    if (session.closing) return;
    log('warn', 'refused', { conn: session.serial, remote: session.remote, code, message });
    send(session, { type: 'error', code, message });
    session.closing = true;
    session.backlog = undefined;
    session.joinTimer?.cancel();
    detach(session, code);
    session.ws.close(closeCode, code);
  };

  const onJoin = (session: Session, msg: JoinMessage): void => {
    if (session.member !== undefined || session.backlog !== undefined) return refuse(session, 'already-joined', 'this socket already joined a room');
    if (msg.protocol !== PROTOCOL_VERSION) {
      return refuse(session, 'unsupported-protocol', `protocol ${msg.protocol} is not supported (server speaks ${PROTOCOL_VERSION})`);
    }
    if (auth === undefined || !auth.protects(msg.room)) return admit(session, msg, undefined);
    // Verification is asynchronous: hold what the socket sends meanwhile, then decide and replay it.
    session.backlog = [];
    void auth.check(msg.token, { room: msg.room, peerId: msg.peer.id, capabilities: msg.peer.capabilities }).then(
      (result) => {
        const backlog = session.backlog;
        session.backlog = undefined;
        if (session.closing || shuttingDown) return;
        if (!result.ok) {
          log('warn', 'auth-refused', { conn: session.serial, room: msg.room, peer: msg.peer.id, reason: result.reason });
          return refuse(session, result.reason, result.message);
        }
        admit(session, msg, result.grant);
        for (const [data, isBinary] of backlog ?? []) onMessage(session, data, isBinary);
      },
      (err: unknown) => {
        session.backlog = undefined;
        log('error', 'auth-failed', { conn: session.serial, error: err instanceof Error ? err.message : String(err) });
        refuse(session, 'token-invalid', 'the token could not be checked');
      },
    );
  };

  /** Puts the session in its room (the join passed every check but the membership rules, applied here). */
  const admit = (session: Session, msg: JoinMessage, grant: RoomGrant | undefined): void => {
    const peer = msg.peer;
    let room = rooms.get(msg.room);
    const existing = room?.members.get(peer.id);
    if (room !== undefined && existing?.member !== undefined) {
      const old = existing.member;
      if (peer.incarnation < old.peer.incarnation) {
        return refuse(session, 'stale-incarnation', `peer ${peer.id} is present with incarnation ${old.peer.incarnation} > ${peer.incarnation}`);
      }
      const resumed = peer.incarnation === old.peer.incarnation;
      if (resumed && msg.resume !== old.resume) {
        return refuse(
          session,
          'duplicate-peer',
          `peer ${peer.id} (incarnation ${peer.incarnation}) is already connected to room ${room.name} from another connection; a new instance needs a higher incarnation`,
        );
      }
      existing.member = undefined;
      refuse(existing, 'replaced', `replaced by a new session of peer ${peer.id} (incarnation ${peer.incarnation})`, CLOSE_REPLACED);
      room.members.set(peer.id, session);
      // A resumed session keeps its secret, so a reconnect racing this one still matches it.
      session.member = { room, peer, grant, resume: resumed ? old.resume : newResume() };
      joined(session, room);
      log('info', 'peer-replaced', { conn: session.serial, old: existing.serial, room: room.name, peer: peer.id, incarnation: peer.incarnation });
      // An identical announcement changes nothing for the others: only the newcomer needs the view.
      if (samePeer(old.peer, peer)) send(session, viewOf(room));
      else changed(room);
      return;
    }
    if (room !== undefined && room.members.size >= maxPeersPerRoom) {
      return refuse(session, 'room-full', `room ${msg.room} has ${maxPeersPerRoom} members`);
    }
    if (room === undefined) {
      room = { name: msg.room, version: 0, members: new Map() };
      rooms.set(room.name, room);
      log('info', 'room-opened', { room: room.name });
    }
    room.members.set(peer.id, session);
    session.member = { room, peer, grant, resume: newResume() };
    joined(session, room);
    log('info', 'peer-joined', { conn: session.serial, room: room.name, peer: peer.id, incarnation: peer.incarnation, kind: peer.kind });
    changed(room);
  };

  const newResume = (): string => randomId(random, 24);

  /** Takes one message from the session's token bucket; false (and the socket closed) when it is empty. */
  const withinRate = (session: Session): boolean => {
    if (rateLimit === undefined) return true;
    const now = clock.now();
    session.tokens = Math.min(rateLimit.burst, session.tokens + ((now - session.refilledAt) * rateLimit.perSecond) / 1000);
    session.refilledAt = now;
    if (session.tokens >= 1) {
      session.tokens -= 1;
      return true;
    }
    refuse(session, 'rate-limited', `more than ${rateLimit.burst} messages at once or ${rateLimit.perSecond} per second`);
    return false;
  };

  const joined = (session: Session, room: Room): void => {
    session.joinTimer?.cancel();
    session.joinTimer = undefined;
    const member = session.member!;
    send(session, { type: 'welcome', protocol: PROTOCOL_VERSION, epoch, room: room.name, peerId: member.peer.id, pingIntervalMs, resume: member.resume });
  };

  const onMessage = (session: Session, data: RawData, isBinary: boolean): void => {
    session.missedPongs = 0;
    if (session.closing || shuttingDown) return;
    if (session.backlog !== undefined) {
      if (session.backlog.length >= maxPendingMessages) return refuse(session, 'rate-limited', `more than ${maxPendingMessages} messages before the join was decided`);
      session.backlog.push([data, isBinary]);
      return;
    }
    if (isBinary) return refuse(session, 'not-text', 'binary frames are not supported');
    let msg: ClientMessage;
    try {
      msg = parseClientMessage(rawText(data), { maxChars: maxMessageBytes });
    } catch (err) {
      return refuse(session, (reasonOf(err) ?? 'invalid-field') as SignalingReason, err instanceof Error ? err.message : String(err));
    }
    if (msg.type === 'join') return onJoin(session, msg);
    if (msg.type === 'ping') return send(session, { type: 'pong' });
    const member = session.member;
    if (member === undefined) {
      if (msg.type === 'leave') return void session.ws.close(1000, 'left');
      return refuse(session, 'not-joined', `"${msg.type}" before "join"`);
    }
    switch (msg.type) {
      case 'capabilities': {
        const missing = notGranted(member.grant, msg.capabilities);
        if (missing.length > 0) {
          return refuse(session, 'capability-not-granted', `the token does not grant ${missing.map((c) => JSON.stringify(c)).join(', ')}`);
        }
        member.peer = { ...member.peer, capabilities: msg.capabilities };
        log('info', 'capabilities', { conn: session.serial, room: member.room.name, peer: member.peer.id, capabilities: msg.capabilities });
        return changed(member.room);
      }
      case 'signal': {
        const target = member.room.members.get(msg.to);
        if (target === undefined) {
          log('debug', 'signal-unknown-peer', { conn: session.serial, room: member.room.name, from: member.peer.id, to: msg.to });
          return send(session, { type: 'error', code: 'unknown-peer', message: `no peer ${msg.to} in room ${member.room.name}`, peer: msg.to });
        }
        return send(target, { type: 'signal', from: member.peer.id, data: msg.data });
      }
      case 'leave':
        session.closing = true;
        detach(session, 'leave');
        return void session.ws.close(1000, 'left');
    }
  };

  const http: Server = createServer((req, res) => onHttp(req, res));
  const wss = new WebSocketServer({ server: http, maxPayload: maxMessageBytes, perMessageDeflate: false, clientTracking: false });

  const onHttp = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
    };
    if (path !== '/health') return reply(404, { ok: false, error: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { ok: false, error: 'method not allowed' }, { allow: 'GET, HEAD' });
    let peers = 0;
    for (const room of rooms.values()) peers += room.members.size;
    reply(200, { ok: true, rooms: rooms.size, peers });
  };

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const session: Session = {
      serial: ++serial,
      ws,
      remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`,
      missedPongs: 0,
      member: undefined,
      joinTimer: undefined,
      closing: false,
      backlog: undefined,
      tokens: rateLimit?.burst ?? 0,
      refilledAt: clock.now(),
    };
    if (shuttingDown) return void ws.close(1001, 'server-closing');
    sessions.add(session);
    log('debug', 'connected', { conn: session.serial, remote: session.remote });
    ws.on('message', (data, isBinary) => {
      if (!session.closing && withinRate(session)) onMessage(session, data, isBinary);
    });
    ws.on('pong', () => {
      session.missedPongs = 0;
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the socket itself after protocol errors (1009 too big, 1007 bad UTF-8, ...).
      log('warn', 'socket-error', { conn: session.serial, remote: session.remote, code: err.code, error: err.message });
    });
    ws.on('close', (code: number) => {
      sessions.delete(session);
      session.closing = true;
      session.backlog = undefined;
      session.joinTimer?.cancel();
      log('debug', 'disconnected', { conn: session.serial, code });
      detach(session, `close ${code}`);
    });
    if (allowedOrigins !== undefined) {
      const origin = req.headers.origin;
      if (origin === undefined ? requireOrigin : !allowedOrigins.has(normalizeOrigin(origin))) {
        const shown = origin === undefined ? 'no Origin header' : `origin ${JSON.stringify(origin.slice(0, 200))}`;
        return refuse(session, 'origin-not-allowed', `${shown} is not allowed to connect to this server`);
      }
    }
    session.joinTimer = clock.setTimeout(() => {
      if (session.member === undefined) refuse(session, 'join-timeout', `no join within ${joinTimeoutMs} ms`);
    }, joinTimeoutMs);
  });
  wss.on('error', (err) => log('error', 'server-error', { error: err.message }));
  http.on('clientError', (err, socket) => {
    log('debug', 'http-client-error', { error: err.message });
    socket.destroy();
  });

  const liveness = clock.setInterval(() => {
    for (const session of sessions) {
      if (session.missedPongs >= 2) {
        log('info', 'liveness-timeout', { conn: session.serial, remote: session.remote, peer: session.member?.peer.id });
        session.closing = true;
        detach(session, 'liveness-timeout');
        session.ws.terminate();
        continue;
      }
      session.missedPongs++;
      if (session.ws.readyState === WebSocket.OPEN) session.ws.ping();
    }
  }, pingIntervalMs);

  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port ?? 0, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    liveness.cancel();
    wss.close();
    throw err;
  }
  const address = http.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);

  let stun: StunServer | undefined;
  if (options.stun !== undefined && options.stun !== false) {
    try {
      stun = await startStunServer({
        host,
        port: options.stun.port ?? 0,
        onEvent: (event, info) => log(event === 'error' ? 'warn' : 'debug', `stun-${event}`, info),
      });
    } catch (err) {
      liveness.cancel();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      throw err;
    }
  }

  const url = `ws://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  log('info', 'listening', { url, epoch, stunPort: stun?.port });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      shuttingDown = true;
      liveness.cancel();
      for (const session of sessions) {
        session.joinTimer?.cancel();
        session.closing = true;
        session.ws.close(1001, 'server-closing');
      }
      // Give clients a moment to answer the close frame, then cut whatever is left.
      await new Promise<void>((resolve) => {
        const deadline = clock.setTimeout(done, 1000);
        const poll = clock.setInterval(() => sessions.size === 0 && done(), 10);
        function done(): void {
          deadline.cancel();
          poll.cancel();
          resolve();
        }
        if (sessions.size === 0) done();
      });
      for (const session of sessions) session.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await stun?.close();
      rooms.clear();
      log('info', 'closed', { url });
    })());

  const server: SignalingServer = {
    url,
    host,
    port,
    epoch,
    authenticated: auth !== undefined,
    rooms: () =>
      [...rooms.values()]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((room) => ({ room: room.name, version: room.version, peers: peersOf(room) })),
    close,
  };
  return stun === undefined ? server : { ...server, stunPort: stun.port };
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** `scheme://host[:port]` in lower case, without a trailing slash (how browsers send `Origin`). */
function normalizeOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '');
}

function samePeer(a: PeerInfo, b: PeerInfo): boolean {
  return (
    a.id === b.id &&
    a.incarnation === b.incarnation &&
    a.kind === b.kind &&
    a.weight === b.weight &&
    a.capabilities.length === b.capabilities.length &&
    a.capabilities.every((c, i) => c === b.capabilities[i])
  );
}
