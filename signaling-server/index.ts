/**
 * `meshrtc/signaling-server`: the signaling server as a library (the `meshrtc-signaling` CLI wraps it), and the
 * room-token helpers: {@link mintRoomToken} for the service that admits peers, {@link createRoomAuthenticator}
 * for custom servers.
 */
export { createSignalingServer, CLOSE_POLICY, CLOSE_REPLACED, type RoomSnapshot, type SignalingServer, type SignalingServerOptions } from './server.js';
export {
  createRoomAuthenticator,
  mintRoomToken,
  notGranted,
  parseTtl,
  MIN_SECRET_BYTES,
  type AuthRefusal,
  type AuthResult,
  type MintRoomTokenOptions,
  type RoomAuthenticator,
  type RoomAuthOptions,
  type RoomGrant,
  type RoomTokenAlgorithm,
} from './auth.js';
export { jsonLinesLogger, silentLogger, type JsonLinesLoggerOptions, type LogLevel, type LogRecord, type Logger } from './logger.js';
