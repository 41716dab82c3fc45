/**
 * The signaling wire protocol, shared by {@link WebSocketSignaling} and `signaling-server/`: JSON text frames over
 * one WebSocket per peer.
 *
 * Session: the client sends `join`; the server answers `welcome` then a `view` of the room (which contains the
 * joiner), and sends a fresh full `view` to every member after each change. `signal` frames are relayed between
 * members of one room. `ping`/`pong` is an application-level heartbeat for runtimes (browsers) that cannot send
 * WebSocket pings; the server also pings at the WebSocket level.
 *
 * Validation is hand-written (no schema library: the protocol is small, the validators must run in browsers
 * without extra weight, and every limit is explicit here). Parsers return fresh objects holding only the known
 * fields: unknown extra fields are ignored (forward compatibility), while a wrong type, an over-long string or
 * array, a non-finite number, too deep a tree or a `__proto__`/`constructor`/`prototype` key anywhere is refused
 * with a {@link SignalingError} whose `code` is `'SignalingError'` and whose `details.reason` is one of
 * {@link SignalingReason}.
 */
import { SignalingError } from '../errors.js';
import type { PeerInfo, PeerKind } from '../membership/types.js';

/** The protocol version sent in `join` and `welcome`. A server refuses other versions (`unsupported-protocol`). */
export const PROTOCOL_VERSION = 1;

/** Longest peer id, in characters. Ids match {@link ID_PATTERN}. */
export const MAX_PEER_ID_LENGTH = 128;
/** Longest room name, in characters. Room names match {@link ID_PATTERN}. */
export const MAX_ROOM_LENGTH = 128;
/** Characters allowed in peer ids, room names and server epochs (length limits are checked separately). */
export const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;
/** Most capabilities one peer may announce. */
export const MAX_CAPABILITIES = 64;
/** Longest capability name, in characters (at least 1; no control characters). */
export const MAX_CAPABILITY_LENGTH = 64;
/** Largest peer weight (weights are finite and > 0). */
export const MAX_WEIGHT = 1000;
/** Longest `join.token`, in characters. */
export const MAX_TOKEN_LENGTH = 4096;
/** Longest `error.message`, in characters. */
export const MAX_ERROR_MESSAGE_LENGTH = 1024;
/** Longest `error.code`, in characters. */
export const MAX_ERROR_CODE_LENGTH = 64;
/** Longest server epoch, in characters. */
export const MAX_EPOCH_LENGTH = 64;
/** Longest session `resume` secret, in characters (same alphabet as ids). */
export const MAX_RESUME_LENGTH = 64;
/** Most peers one `view` may list (the server's per-room cap is lower, see the server options). */
export const MAX_VIEW_PEERS = 1024;
/** Deepest nesting of any message, counting the message object itself as depth 1. */
export const MAX_DEPTH = 32;
/** Default and largest size of a client message accepted by the server, in bytes (the server's `maxPayload`). */
export const MAX_CLIENT_MESSAGE_BYTES = 65536;
/** Largest server message the client parser accepts, in characters (views of a full room can be large). */
export const MAX_SERVER_MESSAGE_CHARS = 8 * 1024 * 1024;

/** Keys refused anywhere in a message: they are prototype-pollution vectors in careless consumers. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Why a message was refused or a session ended: the `code` of an `error` message and the `details.reason` of a
 * {@link SignalingError}. A newer server may send codes not listed here; clients treat unknown codes as
 * non-fatal.
 */
export type SignalingReason =
  // malformed input (the server closes the socket with 1008)
  | 'malformed-json'
  | 'not-text'
  | 'too-large'
  | 'too-deep'
  | 'forbidden-key'
  | 'non-finite-number'
  | 'unknown-type'
  | 'invalid-field'
  // session rules
  | 'unsupported-protocol'
  | 'not-joined'
  | 'already-joined'
  | 'stale-incarnation'
  | 'replaced'
  | 'room-full'
  | 'join-timeout'
  | 'server-closing'
  | 'duplicate-peer'
  | 'rate-limited'
  // authentication and authorisation (the server closes the socket with 1008; clients stop reconnecting)
  | 'token-missing'
  | 'token-invalid'
  | 'token-expired'
  | 'room-mismatch'
  | 'peer-mismatch'
  | 'capability-not-granted'
  | 'origin-not-allowed'
  // relaying (non-fatal: the socket stays open)
  | 'unknown-peer'
  // client side only
  | 'timeout'
  | 'left'
  | 'closed';

/** `join`: enter `room` as `peer`. */
export interface JoinMessage {
  readonly type: 'join';
  /** {@link PROTOCOL_VERSION} of the client. */
  readonly protocol: number;
  readonly room: string;
  readonly peer: PeerInfo;
  /** Room token (a signed JWT, see `signaling-server/auth.ts`) for servers that authenticate joins. */
  readonly token?: string;
  /**
   * The `resume` secret of this peer's previous session on this server (from its `welcome`): lets a reconnect
   * with the same incarnation replace a session the server still believes alive. Without it, a second session
   * of the same id and incarnation is refused (`duplicate-peer`).
   */
  readonly resume?: string;
}

/** `capabilities`: replace the announced capabilities (sorted, deduplicated); a new view follows. */
export interface CapabilitiesMessage {
  readonly type: 'capabilities';
  readonly capabilities: readonly string[];
}

/** `signal` from a client: relay `data` to member `to` of the same room. */
export interface ClientSignalMessage {
  readonly type: 'signal';
  readonly to: string;
  readonly data: unknown;
}

/** `leave`: leave the room; the server removes the peer at once and closes the socket. */
export interface LeaveMessage {
  readonly type: 'leave';
}

/** `ping`: application-level heartbeat; the server answers `pong`. */
export interface PingMessage {
  readonly type: 'ping';
}

/** Every message a client sends. */
export type ClientMessage = JoinMessage | CapabilitiesMessage | ClientSignalMessage | LeaveMessage | PingMessage;

/** `welcome`: the join was accepted. `epoch` identifies the server process (it changes on restart). */
export interface WelcomeMessage {
  readonly type: 'welcome';
  readonly protocol: number;
  readonly epoch: string;
  readonly room: string;
  readonly peerId: string;
  /** How often the server pings; clients use it to pace their own heartbeat. */
  readonly pingIntervalMs: number;
  /** Secret naming this peer's session on this server; sent back as `join.resume` when reconnecting. */
  readonly resume?: string;
}

/**
 * `view`: the complete membership of `room`. `version` grows strictly within one server `epoch` (gaps allowed);
 * after a restart (new epoch) it starts low again. Peers are sorted by id.
 */
export interface ViewMessage {
  readonly type: 'view';
  readonly room: string;
  readonly epoch: string;
  readonly version: number;
  readonly peers: readonly PeerInfo[];
}

/** `signal` from the server: `data` relayed from member `from`. */
export interface ServerSignalMessage {
  readonly type: 'signal';
  readonly from: string;
  readonly data: unknown;
}

/** `error`: something was refused. `peer` names the target of a refused `signal`. */
export interface ErrorMessage {
  readonly type: 'error';
  readonly code: SignalingReason | (string & {});
  readonly message: string;
  readonly peer?: string;
}

/** `pong`: answer to `ping`. */
export interface PongMessage {
  readonly type: 'pong';
}

/** Every message the server sends. */
export type ServerMessage = WelcomeMessage | ViewMessage | ServerSignalMessage | ErrorMessage | PongMessage;

/** Options of the parsers. */
export interface ParseOptions {
  /** Longest accepted text, in UTF-16 code units (a cheap first guard; byte limits belong to the transport). */
  maxChars?: number;
}

/** Creates the {@link SignalingError} used for every protocol failure. */
export function signalingError(
  reason: SignalingReason,
  message: string,
  details: Readonly<Record<string, unknown>> = {},
  cause?: unknown,
): SignalingError {
  return new SignalingError('SignalingError', message, {
    details: { reason, ...details },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Refusals because the join carried no valid credential: the error code is `Unauthorized`. */
export const UNAUTHORIZED_REASONS: ReadonlySet<string> = new Set<SignalingReason>(['token-missing', 'token-invalid', 'token-expired']);

/** Refusals because the credential or the connection does not allow what was asked: the error code is `Forbidden`. */
export const FORBIDDEN_REASONS: ReadonlySet<string> = new Set<SignalingReason>(['room-mismatch', 'peer-mismatch', 'capability-not-granted', 'origin-not-allowed']);

/**
 * Creates the error for a refusal by the server: code `Unauthorized` for {@link UNAUTHORIZED_REASONS},
 * `Forbidden` for {@link FORBIDDEN_REASONS}, `SignalingError` otherwise; `details.reason` is always `reason`.
 */
export function refusalError(reason: string, message: string, details: Readonly<Record<string, unknown>> = {}): SignalingError {
  const code = UNAUTHORIZED_REASONS.has(reason) ? 'Unauthorized' : FORBIDDEN_REASONS.has(reason) ? 'Forbidden' : 'SignalingError';
  return new SignalingError(code, message, { details: { reason, ...details } });
}

/** The `details.reason` of a signaling error, or undefined for anything else. */
export function reasonOf(err: unknown): string | undefined {
  if (!(err instanceof SignalingError)) return undefined;
  const reason = err.details['reason'];
  return typeof reason === 'string' ? reason : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// generic checks

type Json = Record<string, unknown>;

function fail(reason: SignalingReason, message: string, field?: string): never {
  throw signalingError(reason, message, field === undefined ? {} : { field });
}

/** Parses JSON text and checks the whole tree: depth, finite numbers, forbidden keys. */
function parseTree(text: unknown, maxChars: number): unknown {
  if (typeof text !== 'string') fail('not-text', 'message is not text');
  if (text.length > maxChars) fail('too-large', `message longer than ${maxChars} characters`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw signalingError('malformed-json', 'message is not valid JSON', {}, err);
  }
  checkTree(value, 1);
  return value;
}

function checkTree(value: unknown, depth: number): void {
  if (typeof value === 'number') {
    // JSON.parse turns 1e400 into Infinity.
    if (!Number.isFinite(value)) fail('non-finite-number', 'message contains a non-finite number');
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth > MAX_DEPTH) fail('too-deep', `message nested deeper than ${MAX_DEPTH}`);
  if (Array.isArray(value)) {
    for (const item of value) checkTree(item, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) fail('forbidden-key', `message contains the forbidden key "${key}"`);
    checkTree((value as Json)[key], depth + 1);
  }
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(obj: Json, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

function idString(value: unknown, max: number, name: string): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > max || !ID_PATTERN.test(value)) {
    fail('invalid-field', `${name} must be 1..${max} characters of [A-Za-z0-9._:-]`, name);
  }
  return value;
}

function boundedString(value: unknown, min: number, max: number, name: string): string {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    fail('invalid-field', `${name} must be a string of ${min}..${max} characters`, name);
  }
  return value;
}

function safeInteger(value: unknown, min: number, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail('invalid-field', `${name} must be a safe integer >= ${min}`, name);
  }
  return value;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

// ---------------------------------------------------------------------------------------------------------------
// PeerInfo

/**
 * Checks and normalises a capability list: an array of at most {@link MAX_CAPABILITIES} strings of
 * 1..{@link MAX_CAPABILITY_LENGTH} characters without control characters. Returns a sorted, deduplicated copy.
 */
export function validateCapabilities(value: unknown, name = 'capabilities'): string[] {
  if (!Array.isArray(value)) fail('invalid-field', `${name} must be an array`, name);
  if (value.length > MAX_CAPABILITIES) fail('invalid-field', `${name} has more than ${MAX_CAPABILITIES} entries`, name);
  const out = new Set<string>();
  for (let i = 0; i < value.length; i++) {
    const cap: unknown = value[i];
    const path = `${name}[${i}]`;
    if (typeof cap !== 'string' || cap.length < 1 || cap.length > MAX_CAPABILITY_LENGTH || CONTROL.test(cap)) {
      fail('invalid-field', `${path} must be 1..${MAX_CAPABILITY_LENGTH} characters without control characters`, path);
    }
    out.add(cap);
  }
  return [...out].sort();
}

/**
 * Checks a {@link PeerInfo}: id 1..{@link MAX_PEER_ID_LENGTH} characters of [A-Za-z0-9._:-], incarnation a
 * non-negative safe integer, kind `'browser' | 'edge'`, weight finite in (0, {@link MAX_WEIGHT}], capabilities as
 * {@link validateCapabilities}. Returns a fresh object with exactly these fields (capabilities normalised).
 * Throws a {@link SignalingError} (`invalid-field`) otherwise.
 */
export function validatePeerInfo(value: unknown, name = 'peer'): PeerInfo {
  if (!isRecord(value)) fail('invalid-field', `${name} must be an object`, name);
  const id = idString(field(value, 'id'), MAX_PEER_ID_LENGTH, `${name}.id`);
  const incarnation = safeInteger(field(value, 'incarnation'), 0, `${name}.incarnation`);
  const kind = field(value, 'kind');
  if (kind !== 'browser' && kind !== 'edge') fail('invalid-field', `${name}.kind must be "browser" or "edge"`, `${name}.kind`);
  const weight = field(value, 'weight');
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > MAX_WEIGHT) {
    fail('invalid-field', `${name}.weight must be a finite number in (0, ${MAX_WEIGHT}]`, `${name}.weight`);
  }
  const capabilities = validateCapabilities(field(value, 'capabilities'), `${name}.capabilities`);
  return { id, incarnation, kind: kind satisfies PeerKind, weight, capabilities };
}

/** True when `value` is a valid peer id (see {@link validatePeerInfo}). */
export function isValidPeerId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= MAX_PEER_ID_LENGTH && ID_PATTERN.test(value);
}

/** True when `value` is a valid room name: 1..{@link MAX_ROOM_LENGTH} characters of [A-Za-z0-9._:-]. */
export function isValidRoom(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= MAX_ROOM_LENGTH && ID_PATTERN.test(value);
}

// ---------------------------------------------------------------------------------------------------------------
// parsers

function messageType(value: unknown): string {
  if (!isRecord(value)) fail('invalid-field', 'message must be a JSON object', 'type');
  const type = field(value, 'type');
  if (typeof type !== 'string') fail('invalid-field', 'message.type must be a string', 'type');
  return type;
}

function requireData(msg: Json): unknown {
  if (!Object.prototype.hasOwnProperty.call(msg, 'data')) fail('invalid-field', 'signal.data is missing', 'data');
  return msg['data'];
}

/**
 * Parses and validates one client->server frame. Throws a {@link SignalingError} (code `'SignalingError'`,
 * `details.reason` a {@link SignalingReason}, `details.field` when one field is at fault) for anything else.
 * The protocol version is only type-checked here; whether it is supported is the server's decision.
 */
export function parseClientMessage(text: string, options: ParseOptions = {}): ClientMessage {
  const msg = parseTree(text, options.maxChars ?? MAX_CLIENT_MESSAGE_BYTES);
  const type = messageType(msg);
  const m = msg as Json;
  switch (type) {
    case 'join': {
      const protocol = safeInteger(field(m, 'protocol'), 0, 'protocol');
      const roomValue = field(m, 'room');
      if (!isValidRoom(roomValue)) fail('invalid-field', `room must be 1..${MAX_ROOM_LENGTH} characters of [A-Za-z0-9._:-]`, 'room');
      const peer = validatePeerInfo(field(m, 'peer'));
      const token = field(m, 'token');
      const resume = field(m, 'resume');
      return {
        type,
        protocol,
        room: roomValue,
        peer,
        ...(token === undefined ? {} : { token: boundedString(token, 0, MAX_TOKEN_LENGTH, 'token') }),
        ...(resume === undefined ? {} : { resume: idString(resume, MAX_RESUME_LENGTH, 'resume') }),
      };
    }
    case 'capabilities':
      return { type, capabilities: validateCapabilities(field(m, 'capabilities')) };
    case 'signal':
      return { type, to: idString(field(m, 'to'), MAX_PEER_ID_LENGTH, 'to'), data: requireData(m) };
    case 'leave':
      return { type };
    case 'ping':
      return { type };
    default:
      return fail('unknown-type', `unknown message type "${type.slice(0, 64)}"`, 'type');
  }
}

/** Parses and validates one server->client frame; throws a {@link SignalingError} like {@link parseClientMessage}. */
export function parseServerMessage(text: string, options: ParseOptions = {}): ServerMessage {
  const msg = parseTree(text, options.maxChars ?? MAX_SERVER_MESSAGE_CHARS);
  const type = messageType(msg);
  const m = msg as Json;
  switch (type) {
    case 'welcome': {
      const protocol = safeInteger(field(m, 'protocol'), 0, 'protocol');
      const epoch = idString(field(m, 'epoch'), MAX_EPOCH_LENGTH, 'epoch');
      const room = idString(field(m, 'room'), MAX_ROOM_LENGTH, 'room');
      const peerId = idString(field(m, 'peerId'), MAX_PEER_ID_LENGTH, 'peerId');
      const pingIntervalMs = safeInteger(field(m, 'pingIntervalMs'), 1, 'pingIntervalMs');
      const resume = field(m, 'resume');
      if (resume === undefined) return { type, protocol, epoch, room, peerId, pingIntervalMs };
      return { type, protocol, epoch, room, peerId, pingIntervalMs, resume: idString(resume, MAX_RESUME_LENGTH, 'resume') };
    }
    case 'view': {
      const room = idString(field(m, 'room'), MAX_ROOM_LENGTH, 'room');
      const epoch = idString(field(m, 'epoch'), MAX_EPOCH_LENGTH, 'epoch');
      const version = safeInteger(field(m, 'version'), 0, 'version');
      const list = field(m, 'peers');
      if (!Array.isArray(list) || list.length > MAX_VIEW_PEERS) {
        fail('invalid-field', `peers must be an array of at most ${MAX_VIEW_PEERS} peers`, 'peers');
      }
      const seen = new Set<string>();
      const peers: PeerInfo[] = [];
      for (let i = 0; i < list.length; i++) {
        const peer = validatePeerInfo(list[i], `peers[${i}]`);
        if (seen.has(peer.id)) fail('invalid-field', `peers[${i}].id is listed twice`, `peers[${i}].id`);
        seen.add(peer.id);
        peers.push(peer);
      }
      return { type, room, epoch, version, peers };
    }
    case 'signal':
      return { type, from: idString(field(m, 'from'), MAX_PEER_ID_LENGTH, 'from'), data: requireData(m) };
    case 'error': {
      const code = boundedString(field(m, 'code'), 1, MAX_ERROR_CODE_LENGTH, 'code');
      const message = boundedString(field(m, 'message'), 0, MAX_ERROR_MESSAGE_LENGTH, 'message');
      const peer = field(m, 'peer');
      if (peer === undefined) return { type, code, message };
      return { type, code, message, peer: idString(peer, MAX_PEER_ID_LENGTH, 'peer') };
    }
    case 'pong':
      return { type };
    default:
      return fail('unknown-type', `unknown message type "${type.slice(0, 64)}"`, 'type');
  }
}

/** Serialises a message (the inverse of the parsers; no validation, callers build messages from typed values). */
export function encodeMessage(message: ClientMessage | ServerMessage): string {
  return JSON.stringify(message);
}
