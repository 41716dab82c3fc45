/**
 * The peer-to-peer actor protocol: four frame shapes, encoded as MessagePack arrays by the codec and validated
 * on receipt. Anything that does not match is dropped and counted (`protocol:dropped`), never thrown into the
 * transport.
 */
import { meshError, type WireError } from '../errors.js';

/** Frame kinds. */
export const Kind = { Call: 1, Cast: 2, Reply: 3, Error: 4, Mirror: 5, Fetch: 6 } as const;

/** A call: `[1, requestId, capability, type, id, op, arg, view, idempotencyKey ('' for none), ttlMs]`. */
export type CallFrame = [1, number, string, string, string, string, unknown, number, string, number];
/** A cast: `[2, capability, type, id, op, arg, view, hops]`. */
export type CastFrame = [2, string, string, string, string, unknown, number, number];
/** A reply: `[3, requestId, reply]`. */
export type ReplyFrame = [3, number, unknown];
/** An error reply: `[4, requestId, error, view]`. */
export type ErrorFrame = [4, number, WireError, number];
/** A standby copy of a committed record: `[5, requestId, stateKey, record]`, answered by Reply(null) or Error. */
export type MirrorFrame = [5, number, string, { state: unknown; version: number; epoch: number; dedupe?: unknown }];
/** A request for the stored record of an actor: `[6, requestId, stateKey, view]`, answered by Reply(record | null). */
export type FetchFrame = [6, number, string, number];
/** Any frame. */
export type Frame = CallFrame | CastFrame | ReplyFrame | ErrorFrame | MirrorFrame | FetchFrame;

const MAX_NAME = 256;
const MAX_ID = 1024;

function str(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max;
}

function uint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Validates a decoded value as a {@link Frame}; throws a `ProtocolError` saying what is wrong. */
export function asFrame(v: unknown): Frame {
  if (!Array.isArray(v) || v.length === 0) throw bad('not a frame array');
  switch (v[0]) {
    case Kind.Call:
      if (v.length !== 10) throw bad('call frame length');
      if (!uint(v[1]) || !str(v[2], MAX_NAME) || !str(v[3], MAX_NAME) || !str(v[4], MAX_ID) || !str(v[5], MAX_NAME)) throw bad('call frame fields');
      // The idempotency key may be empty: the caller will not retry, so the owner keeps no dedupe entry.
      if (!uint(v[7]) || typeof v[8] !== 'string' || v[8].length > MAX_ID || !uint(v[9])) throw bad('call frame fields');
      return v as CallFrame;
    case Kind.Cast:
      if (v.length !== 8) throw bad('cast frame length');
      if (!str(v[1], MAX_NAME) || !str(v[2], MAX_NAME) || !str(v[3], MAX_ID) || !str(v[4], MAX_NAME) || !uint(v[6]) || !uint(v[7])) throw bad('cast frame fields');
      return v as CastFrame;
    case Kind.Reply:
      if (v.length !== 3 || !uint(v[1])) throw bad('reply frame');
      return v as ReplyFrame;
    case Kind.Error:
      if (v.length !== 4 || !uint(v[1]) || !uint(v[3]) || typeof v[2] !== 'object' || v[2] === null) throw bad('error frame');
      return v as ErrorFrame;
    case Kind.Mirror: {
      const r = v[3] as Record<string, unknown> | null;
      if (v.length !== 4 || !uint(v[1]) || !str(v[2], MAX_ID * 3) || r === null || typeof r !== 'object' || !uint(r['version']) || !uint(r['epoch'])) {
        throw bad('mirror frame');
      }
      if (r['dedupe'] !== undefined && !Array.isArray(r['dedupe'])) throw bad('mirror frame dedupe');
      return v as MirrorFrame;
    }
    case Kind.Fetch:
      if (v.length !== 4 || !uint(v[1]) || !str(v[2], MAX_ID * 3) || !uint(v[3])) throw bad('fetch frame');
      return v as FetchFrame;
    default:
      throw bad(`unknown frame kind ${String(v[0])}`);
  }
}

function bad(reason: string): Error {
  return meshError('ProtocolError', `malformed actor frame: ${reason}`, { details: { reason } });
}
