/**
 * Room tokens: signed JWTs (via `jose`) that let a peer into one room under one peer id, optionally with a list
 * of capabilities it may announce and an expiry.
 *
 * Claims (JWS compact form, `typ: JWT`):
 *
 * | claim | meaning |
 * | --- | --- |
 * | `sub` | the peer id the token is for (the `join` must announce exactly this id) |
 * | `room` | the room it opens (exactly; no wildcards) |
 * | `caps` | optional: the capabilities the peer may announce (in `join` and in later `capabilities` updates); absent = any |
 * | `exp` | optional: expiry (seconds since the epoch); an expired token is refused with `token-expired` |
 * | `iat`, `nbf`, `iss`, `aud` | standard; `iss`/`aud` are checked when the server is configured with them |
 *
 * Keys: a shared secret (HS256, at least 32 bytes) or a public key (PEM SPKI, a JWK, or a `CryptoKey`; RS256,
 * PS256, ES256/384/512 or EdDSA, inferred from the key unless `algorithm` is given). Only the configured
 * algorithm is accepted, so a token signed with another algorithm (`none`, or HS256 with the public key as
 * the secret) is refused.
 *
 * Tokens are checked when a peer joins (and when it re-joins after a reconnect): a session that outlives its
 * token's expiry stays in the room until its socket drops; the next join needs a fresh token.
 */
import { createPublicKey, createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT, errors as joseErrors, importJWK, importPKCS8, importSPKI, jwtVerify, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { MAX_CAPABILITIES, MAX_CAPABILITY_LENGTH, isValidPeerId, isValidRoom, type SignalingReason } from '../src/signaling/messages.js';

/** Asymmetric JWS algorithms accepted for room tokens (besides HS256 with a shared secret). */
export type RoomTokenAlgorithm = 'HS256' | 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

/** Smallest shared secret accepted for HS256, in bytes (RFC 7518 section 3.2: at least the hash size). */
export const MIN_SECRET_BYTES = 32;

/** How a server checks room tokens: exactly one of `secret` and `publicKey`. */
export interface RoomAuthOptions {
  /** HS256 shared secret (at least {@link MIN_SECRET_BYTES} bytes; strings are UTF-8 encoded). */
  secret?: string | Uint8Array;
  /** Public key for asymmetric tokens: PEM (SPKI), a public JWK, or a WebCrypto `CryptoKey`. */
  publicKey?: string | JWK | CryptoKey;
  /** The algorithm tokens must use (default: HS256 with a secret, inferred from the public key otherwise). */
  algorithm?: RoomTokenAlgorithm;
  /** When set, tokens must carry this `iss`. */
  issuer?: string;
  /** When set, tokens must carry this `aud`. */
  audience?: string;
  /** Allowed clock skew for `exp`/`nbf`, in seconds (default 5). */
  clockToleranceSec?: number;
  /** Which rooms need a token (default: every room). Rooms it answers `false` for are open to anyone. */
  protects?: (room: string) => boolean;
  /** Wall-clock time in ms since the epoch, for expiry checks (default `Date.now`; injected by tests). */
  now?: () => number;
}

/** What a valid token grants. */
export interface RoomGrant {
  readonly room: string;
  readonly peerId: string;
  /** Capabilities the peer may announce; `undefined` means any. */
  readonly capabilities: ReadonlySet<string> | undefined;
  /** Expiry in ms since the epoch, when the token has one. */
  readonly expiresAt: number | undefined;
}

/** Why a join was refused: a signaling reason (sent as the `error` code) and a message meant for people. */
export interface AuthRefusal {
  readonly reason: SignalingReason;
  readonly message: string;
}

/** The outcome of {@link RoomAuthenticator.check}. */
export type AuthResult = { readonly ok: true; readonly grant: RoomGrant | undefined } | ({ readonly ok: false } & AuthRefusal);

/** Checks joins against room tokens. */
export interface RoomAuthenticator {
  /** Whether joining `room` needs a token. */
  protects(room: string): boolean;
  /**
   * Checks the token of a join: present, correctly signed with the configured algorithm, not expired, for
   * this room and this peer id, granting every announced capability. Never throws.
   */
  check(token: string | undefined, join: { room: string; peerId: string; capabilities: readonly string[] }): Promise<AuthResult>;
}

/** The capabilities of `announced` that `grant` does not allow (empty when all are allowed). */
export function notGranted(grant: RoomGrant | undefined, announced: readonly string[]): string[] {
  const allowed = grant?.capabilities;
  return allowed === undefined ? [] : announced.filter((c) => !allowed.has(c));
}

const encoder = new TextEncoder();

function secretBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === 'string' ? encoder.encode(secret) : secret;
  if (bytes.byteLength < MIN_SECRET_BYTES) {
    throw new RangeError(`the room-token secret must have at least ${MIN_SECRET_BYTES} bytes (got ${bytes.byteLength})`);
  }
  return bytes;
}

/** The HS256 key of a shared secret; `algorithm`, when given, must be HS256. */
function sharedSecretKey(secret: string | Uint8Array, algorithm: RoomTokenAlgorithm | undefined): { key: Uint8Array; algorithm: 'HS256' } {
  if (algorithm !== undefined && algorithm !== 'HS256') throw new RangeError('a shared secret only works with HS256');
  return { key: secretBytes(secret), algorithm: 'HS256' };
}

/** The JWS algorithm that fits a Node key object (for keys given without `algorithm`). */
function algorithmOf(key: KeyObject): RoomTokenAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'rsa-pss') return 'PS256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') return 'ES256';
    if (curve === 'secp384r1' || curve === 'P-384') return 'ES384';
    if (curve === 'secp521r1' || curve === 'P-521') return 'ES512';
  }
  throw new RangeError(`unsupported key type for room tokens: ${String(type)}; pass \`algorithm\``);
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof value === 'object' && value !== null && 'algorithm' in value && 'type' in value && 'usages' in value;
}

/** Creates a {@link RoomAuthenticator}; imports the key once. Throws a `RangeError` for bad options. */
export async function createRoomAuthenticator(options: RoomAuthOptions): Promise<RoomAuthenticator> {
  if ((options.secret === undefined) === (options.publicKey === undefined)) {
    throw new RangeError('room auth needs exactly one of `secret` (HS256) and `publicKey`');
  }
  let key: Uint8Array | CryptoKey;
  let algorithm: RoomTokenAlgorithm;
  if (options.secret !== undefined) {
    ({ key, algorithm } = sharedSecretKey(options.secret, options.algorithm));
  } else {
    const pk = options.publicKey!;
    if (options.algorithm === 'HS256') throw new RangeError('HS256 needs a shared secret, not a public key');
    if (typeof pk === 'string') {
      algorithm = options.algorithm ?? algorithmOf(createPublicKey(pk));
      key = await importSPKI(pk, algorithm);
    } else if (isCryptoKey(pk)) {
      if (options.algorithm === undefined) throw new RangeError('pass `algorithm` with a CryptoKey');
      algorithm = options.algorithm;
      key = pk;
    } else {
      if ('d' in pk || 'k' in pk) throw new RangeError('publicKey is a private or symmetric JWK; give the public part only');
      algorithm = options.algorithm ?? algorithmOf(createPublicKey({ key: pk as never, format: 'jwk' }));
      const imported = await importJWK(pk, algorithm);
      if (imported instanceof Uint8Array) throw new RangeError('publicKey must be an asymmetric key');
      key = imported;
    }
  }
  const tolerance = options.clockToleranceSec ?? 5;
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) throw new RangeError('clockToleranceSec must be a non-negative number');
  const now = options.now ?? Date.now;
  const protects = options.protects ?? (() => true);

  const refuse = (reason: SignalingReason, message: string): AuthResult => ({ ok: false, reason, message });

  return {
    protects: (room) => {
      try {
        return protects(room) !== false;
      } catch {
        return true; // a broken predicate fails closed
      }
    },
    async check(token, join) {
      if (token === undefined || token === '') return refuse('token-missing', `room ${join.room} needs a token (join.token)`);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [algorithm],
          clockTolerance: tolerance,
          currentDate: new Date(now()),
          ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
          ...(options.audience === undefined ? {} : { audience: options.audience }),
        }));
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) {
          const exp = typeof err.payload['exp'] === 'number' ? new Date(err.payload['exp'] * 1000).toISOString() : 'unknown';
          return refuse('token-expired', `the token expired at ${exp}; get a new one`);
        }
        const detail = err instanceof joseErrors.JOSEError ? err.code : 'ERR_INVALID';
        return refuse('token-invalid', `the token is not valid for this server (${detail})`);
      }
      const sub = payload.sub;
      const room = payload['room'];
      if (typeof sub !== 'string' || !isValidPeerId(sub)) return refuse('token-invalid', 'the token has no valid `sub` (peer id)');
      if (typeof room !== 'string' || !isValidRoom(room)) return refuse('token-invalid', 'the token has no valid `room` claim');
      if (room !== join.room) return refuse('room-mismatch', `the token is for room ${room}, not ${join.room}`);
      if (sub !== join.peerId) return refuse('peer-mismatch', `the token is for peer ${sub}, not ${join.peerId}`);
      const caps = payload['caps'];
      let capabilities: Set<string> | undefined;
      if (caps !== undefined) {
        if (!Array.isArray(caps) || caps.length > MAX_CAPABILITIES || !caps.every((c) => typeof c === 'string' && c.length > 0 && c.length <= MAX_CAPABILITY_LENGTH)) {
          return refuse('token-invalid', 'the token has a malformed `caps` claim');
        }
        capabilities = new Set(caps as string[]);
      }
      const grant: RoomGrant = {
        room,
        peerId: sub,
        capabilities,
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      };
      const missing = notGranted(grant, join.capabilities);
      if (missing.length > 0) return refuse('capability-not-granted', `the token does not grant ${missing.map((c) => JSON.stringify(c)).join(', ')}`);
      return { ok: true, grant };
    },
  };
}

/** Options of {@link mintRoomToken}: exactly one of `secret` and `privateKey`. */
export interface MintRoomTokenOptions {
  room: string;
  /** The peer id (`sub`). */
  peer: string;
  /** Capabilities the peer may announce (`caps`); omitted: any. */
  capabilities?: readonly string[];
  /** Lifetime: seconds, or a string like `'90s'`, `'30m'`, `'1h'`, `'7d'` (default `'1h'`); `null` for no expiry. */
  ttl?: number | string | null;
  /** HS256 shared secret (at least {@link MIN_SECRET_BYTES} bytes). */
  secret?: string | Uint8Array;
  /** Private key for asymmetric tokens: PEM (PKCS#8), a private JWK, or a `CryptoKey`. */
  privateKey?: string | JWK | CryptoKey;
  /** Algorithm (default: HS256 with a secret, inferred from the private key otherwise). */
  algorithm?: RoomTokenAlgorithm;
  issuer?: string;
  audience?: string;
  /** Wall-clock time in ms since the epoch (default `Date.now()`), for `iat` and `exp`. */
  now?: number;
}

/** Parses a lifetime: a non-negative number of seconds or `<n>s|m|h|d`. Throws a `RangeError` otherwise. */
export function parseTtl(ttl: number | string): number {
  if (typeof ttl === 'number') {
    if (!(Number.isFinite(ttl) && ttl > 0)) throw new RangeError(`ttl must be a positive number of seconds, got ${ttl}`);
    return Math.floor(ttl);
  }
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(ttl.trim());
  if (m === null) throw new RangeError(`ttl must look like 90s, 30m, 1h or 7d, got ${JSON.stringify(ttl)}`);
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  if (!(Number.isSafeInteger(n) && n > 0)) throw new RangeError(`ttl out of range: ${ttl}`);
  return n;
}

/**
 * Mints a room token (a signed JWT, see the module comment) for `peer` in `room`. Tokens are bearer
 * credentials: hand each peer its own, over a channel you trust, and keep lifetimes short.
 */
export async function mintRoomToken(options: MintRoomTokenOptions): Promise<string> {
  if (!isValidRoom(options.room)) throw new RangeError('room must be 1..128 characters of [A-Za-z0-9._:-]');
  if (!isValidPeerId(options.peer)) throw new RangeError('peer must be 1..128 characters of [A-Za-z0-9._:-]');
  if ((options.secret === undefined) === (options.privateKey === undefined)) {
    throw new RangeError('mintRoomToken needs exactly one of `secret` (HS256) and `privateKey`');
  }
  const caps = options.capabilities;
  if (caps !== undefined && (caps.length > MAX_CAPABILITIES || !caps.every((c) => typeof c === 'string' && c.length > 0 && c.length <= MAX_CAPABILITY_LENGTH))) {
    throw new RangeError(`capabilities must be at most ${MAX_CAPABILITIES} names of 1..${MAX_CAPABILITY_LENGTH} characters`);
  }
  let key: Uint8Array | CryptoKey;
  let algorithm: RoomTokenAlgorithm;
  if (options.secret !== undefined) {
    ({ key, algorithm } = sharedSecretKey(options.secret, options.algorithm));
  } else {
    const pk = options.privateKey!;
    if (typeof pk === 'string') {
      algorithm = options.algorithm ?? algorithmOf(createPrivateKey(pk));
      key = await importPKCS8(pk, algorithm);
    } else if (isCryptoKey(pk)) {
      if (options.algorithm === undefined) throw new RangeError('pass `algorithm` with a CryptoKey');
      algorithm = options.algorithm;
      key = pk;
    } else {
      algorithm = options.algorithm ?? algorithmOf(createPrivateKey({ key: pk as never, format: 'jwk' }));
      const imported = await importJWK(pk, algorithm);
      if (imported instanceof Uint8Array) throw new RangeError('privateKey must be an asymmetric key');
      key = imported;
    }
  }
  const nowSec = Math.floor((options.now ?? Date.now()) / 1000);
  const claims: JWTPayload = { room: options.room };
  if (caps !== undefined) claims['caps'] = [...new Set(caps)].sort();
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: algorithm, typ: 'JWT' }).setSubject(options.peer).setIssuedAt(nowSec);
  const ttl = options.ttl === undefined ? '1h' : options.ttl;
  if (ttl !== null) jwt.setExpirationTime(nowSec + parseTtl(ttl));
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  return jwt.sign(key);
}
