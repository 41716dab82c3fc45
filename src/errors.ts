/**
 * Typed errors. Every error meshrtc raises is a {@link MeshError} with a literal `code`, so callers can branch
 * on `err.code` without parsing messages. Errors that cross the wire are rebuilt on the caller side by
 * {@link errorFromWire} with the same code, message and details.
 */

/** Every error code meshrtc can raise. */
export type MeshErrorCode =
  // calls and routing
  | 'NoPeersForCapability'
  | 'NotOwner'
  | 'Timeout'
  | 'Aborted'
  | 'RetriesExhausted'
  | 'MailboxFull'
  | 'Closed'
  | 'InvalidArgument'
  // subscriptions
  | 'EventsLost'
  | 'TooManySubscribers'
  | 'SubscriptionOverflow'
  // actors
  | 'UnknownActorType'
  | 'UnknownHandler'
  | 'HandlerFailed'
  | 'ActivationFailed'
  // clustered functions and clustered HTTP
  | 'UnknownFunction'
  | 'PayloadTooLarge'
  // network
  | 'PeerUnavailable'
  | 'MessageTooLarge'
  | 'CodecError'
  | 'ProtocolError'
  | 'SignalingError'
  | 'ConnectionFailed'
  // signaling authentication and authorisation
  | 'Unauthorized'
  | 'Forbidden'
  // durability (later layers)
  | 'StaleEpoch'
  | 'Conflict'
  | 'StorageFull'
  | 'StorageError';

/** Options accepted by every {@link MeshError} constructor. */
export interface MeshErrorOptions {
  /** The underlying error, kept as `error.cause`. */
  cause?: unknown;
  /** Structured, serialisable context (peer ids, sizes, view versions). */
  details?: Readonly<Record<string, unknown>>;
}

/** Base class of every meshrtc error. */
export class MeshError extends Error {
  readonly code: MeshErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: MeshErrorCode, message: string, options: MeshErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** A call could not be routed or completed (no peers, timeout, abort, retries exhausted, ...). */
export class CallError extends MeshError {}
/** The actor itself failed: unknown type or handler, a throwing handler, a failed activation. */
export class ActorError extends MeshError {}
/** Peer-to-peer delivery failed: peer down, message too large, malformed frame. */
export class TransportError extends MeshError {}
/** The signaling connection or a signaling message failed. */
export class SignalingError extends MeshError {}
/** A state store failed or refused a write. */
export class PersistenceError extends MeshError {}

const classFor: Readonly<Record<MeshErrorCode, new (code: MeshErrorCode, message: string, options?: MeshErrorOptions) => MeshError>> = {
  NoPeersForCapability: CallError,
  NotOwner: CallError,
  Timeout: CallError,
  Aborted: CallError,
  RetriesExhausted: CallError,
  MailboxFull: CallError,
  Closed: CallError,
  InvalidArgument: CallError,
  EventsLost: CallError,
  TooManySubscribers: CallError,
  SubscriptionOverflow: CallError,
  UnknownActorType: ActorError,
  UnknownHandler: ActorError,
  HandlerFailed: ActorError,
  ActivationFailed: ActorError,
  UnknownFunction: ActorError,
  PayloadTooLarge: CallError,
  PeerUnavailable: TransportError,
  MessageTooLarge: TransportError,
  CodecError: TransportError,
  ProtocolError: TransportError,
  SignalingError: SignalingError,
  ConnectionFailed: TransportError,
  Unauthorized: SignalingError,
  Forbidden: SignalingError,
  StaleEpoch: PersistenceError,
  Conflict: PersistenceError,
  StorageFull: PersistenceError,
  StorageError: PersistenceError,
};

/** Creates the {@link MeshError} subclass that belongs to `code`. */
export function meshError(code: MeshErrorCode, message: string, options: MeshErrorOptions = {}): MeshError {
  const Ctor = classFor[code];
  return new Ctor(code, message, options);
}

/** True when `value` is a {@link MeshError}, optionally with the given code. */
export function isMeshError(value: unknown, code?: MeshErrorCode): value is MeshError {
  return value instanceof MeshError && (code === undefined || value.code === code);
}

/** The serialisable form of an error sent between peers. */
export interface WireError {
  code: MeshErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** Converts any thrown value into its wire form; non-mesh errors become `HandlerFailed`. */
export function errorToWire(err: unknown): WireError {
  if (err instanceof MeshError) {
    return Object.keys(err.details).length === 0
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: { ...err.details } };
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { code: 'HandlerFailed', message };
}

const codes = new Set<string>(Object.keys(classFor));

/** Rebuilds a typed error from its wire form; an unknown code becomes `ProtocolError`. */
export function errorFromWire(wire: unknown, fromPeer?: string): MeshError {
  const w = wire as Partial<WireError> | null;
  if (w === null || typeof w !== 'object' || typeof w.code !== 'string' || !codes.has(w.code)) {
    return meshError('ProtocolError', 'malformed error from peer', { details: { fromPeer } });
  }
  const details = { ...(typeof w.details === 'object' && w.details !== null ? w.details : {}) };
  if (fromPeer !== undefined) details['remotePeer'] = fromPeer;
  return meshError(w.code, typeof w.message === 'string' ? w.message : w.code, { details });
}
