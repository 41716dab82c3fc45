/**
 * The peer-to-peer actor protocol: call, cast, reply and error frames, replication (mirror, fetch),
 * subscriptions (subscribe, event, unsubscribe, end) and room stats (watch, unwatch, report), as arrays validated
 * on receipt. On the wire (`wire.ts`), call, cast, reply and event frames have a binary layout of their own; the
 * others are the codec's encoding (MessagePack by default) of the array. Anything that does not match is dropped
 * and counted (`protocol:dropped`), never thrown into the transport.
 */
import { meshError, type WireError } from '../errors.js';

/** Frame kinds. */
export const Kind = {
  Call: 1,
  Cast: 2,
  Reply: 3,
  Error: 4,
  Mirror: 5,
  Fetch: 6,
  Subscribe: 7,
  Event: 8,
  Unsubscribe: 9,
  SubEnd: 10,
  StatsWatch: 11,
  StatsUnwatch: 12,
  StatsReport: 13,
} as const;

/** A call: `[1, requestId, capability, type, id, op, arg, view, idempotencyKey ('' for none), ttlMs]`. */
export type CallFrame = [1, number, string, string, string, string, unknown, number, string, number];
/** A cast: `[2, capability, type, id, op, arg, view, hops]`. */
export type CastFrame = [2, string, string, string, string, unknown, number, number];
/** A reply: `[3, requestId, reply]`. */
export type ReplyFrame = [3, number, unknown];
/** An error reply: `[4, requestId, error, view]`. */
export type ErrorFrame = [4, number, WireError, number];
/**
 * Where an actor's event stream stood when a record was written: `[streamId, lastSeq, epoch, version]` (the
 * activation that published, the sequence number of its last event delivered with or before that record, and
 * the record's epoch and version). It travels with mirrors and fetch replies, so a new owner can tell a
 * returning subscriber how many events of the previous activation it missed.
 */
export type StreamTail = [string, number, number, number];
/**
 * A standby copy of a committed record: `[5, requestId, stateKey, record]` or, for an actor that published
 * events, `[5, requestId, stateKey, record, tail]`. Answered by Reply(null) or Error.
 */
export type MirrorFrame =
  | [5, number, string, { state: unknown; version: number; epoch: number; dedupe?: unknown }]
  | [5, number, string, { state: unknown; version: number; epoch: number; dedupe?: unknown }, StreamTail];
/**
 * A request for the stored record of an actor: `[6, requestId, stateKey, view]`, answered by
 * Reply(`[record | null, tail | null]`) (older peers answer Reply(record | null)).
 */
export type FetchFrame = [6, number, string, number];
/**
 * A subscription to an actor's events: `[7, requestId, capability, type, id, subId, view, resumeStream, resumeSeq]`.
 * `subId` names this registration (chosen by the subscriber, echoed in every event). `resumeStream` is the
 * activation the subscriber last heard from ('' for a new subscription) and `resumeSeq` the last sequence number
 * it received there: the owner replays what it still holds after that point. Answered by Reply(`SubscribeReply`)
 * or Error (`NotOwner`, `TooManySubscribers`, ...).
 */
export type SubscribeFrame = [7, number, string, string, string, number, number, string, number];
/**
 * What a subscribe is answered with: `[streamId, seq, prevStream, prevSeq, from]`. `streamId`: the activation now
 * serving the subscription; `seq`: its last event so far; `prevStream`/`prevSeq`: the activation before it and
 * its last event, when known ('' and 0 otherwise); `from`: the first sequence number that will be sent (replayed
 * events from `from` to `seq` follow at once, then live ones).
 */
export type SubscribeReply = [string, number, string, number, number];
/** One event for one subscription: `[8, subId, seq, event]`. */
export type EventFrame = [8, number, number, unknown];
/** Ends a subscription from the subscriber side: `[9, subId]`. No reply. */
export type UnsubscribeFrame = [9, number];
/**
 * Ends a subscription from the owner side: `[10, subId, lastSeq, reason]`. `lastSeq` is the activation's last
 * event (everything up to it was sent before this frame). Reasons: `moved` (the activation is gone: handoff,
 * shutdown, failed write; subscribe again), `overflow` (the subscriber fell too far behind; not renewed).
 */
export type SubEndFrame = [10, number, number, string];
/** Asks a peer to push its stats report every `intervalMs` for a while (a lease, renewed by repeating it): `[11, intervalMs]`. */
export type StatsWatchFrame = [11, number];
/** Stops the stats reports to the sender: `[12]`. */
export type StatsUnwatchFrame = [12];
/** One stats report of the sending peer: `[13, report]` (see `PeerStatsReport`). */
export type StatsReportFrame = [13, Record<string, unknown>];
/** Any frame. */
export type Frame =
  | CallFrame
  | CastFrame
  | ReplyFrame
  | ErrorFrame
  | MirrorFrame
  | FetchFrame
  | SubscribeFrame
  | EventFrame
  | UnsubscribeFrame
  | SubEndFrame
  | StatsWatchFrame
  | StatsUnwatchFrame
  | StatsReportFrame;

/** Longest capability, actor type, handler name or subscription end reason (UTF-16 units). */
export const MAX_NAME_LENGTH = 256;
/** Longest actor id, idempotency key or stream id (UTF-16 units). */
export const MAX_ID_LENGTH = 1024;
const MAX_NAME = MAX_NAME_LENGTH;
const MAX_ID = MAX_ID_LENGTH;

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
      if (v.length === 5 && !isTail(v[4])) throw bad('mirror frame tail');
      if ((v.length !== 4 && v.length !== 5) || !uint(v[1]) || !str(v[2], MAX_ID * 3) || r === null || typeof r !== 'object' || !uint(r['version']) || !uint(r['epoch'])) {
        throw bad('mirror frame');
      }
      if (r['dedupe'] !== undefined && !Array.isArray(r['dedupe'])) throw bad('mirror frame dedupe');
      return v as MirrorFrame;
    }
    case Kind.Fetch:
      if (v.length !== 4 || !uint(v[1]) || !str(v[2], MAX_ID * 3) || !uint(v[3])) throw bad('fetch frame');
      return v as FetchFrame;
    case Kind.Subscribe:
      if (v.length !== 9) throw bad('subscribe frame length');
      if (!uint(v[1]) || !str(v[2], MAX_NAME) || !str(v[3], MAX_NAME) || !str(v[4], MAX_ID) || !uint(v[5]) || !uint(v[6])) throw bad('subscribe frame fields');
      if (typeof v[7] !== 'string' || v[7].length > MAX_ID || !uint(v[8])) throw bad('subscribe frame resume');
      return v as SubscribeFrame;
    case Kind.Event:
      if (v.length !== 4 || !uint(v[1]) || !uint(v[2])) throw bad('event frame');
      return v as EventFrame;
    case Kind.Unsubscribe:
      if (v.length !== 2 || !uint(v[1])) throw bad('unsubscribe frame');
      return v as UnsubscribeFrame;
    case Kind.SubEnd:
      if (v.length !== 4 || !uint(v[1]) || !uint(v[2]) || !str(v[3], MAX_NAME)) throw bad('subscription end frame');
      return v as SubEndFrame;
    case Kind.StatsWatch:
      if (v.length !== 2 || !uint(v[1])) throw bad('stats watch frame');
      return v as StatsWatchFrame;
    case Kind.StatsUnwatch:
      if (v.length !== 1) throw bad('stats unwatch frame');
      return v as StatsUnwatchFrame;
    case Kind.StatsReport:
      if (v.length !== 2 || v[1] === null || typeof v[1] !== 'object' || Array.isArray(v[1])) throw bad('stats report frame');
      return v as StatsReportFrame;
    default:
      throw bad(`unknown frame kind ${String(v[0])}`);
  }
}

function isTail(v: unknown): v is StreamTail {
  return Array.isArray(v) && v.length === 4 && str(v[0], MAX_ID) && uint(v[1]) && uint(v[2]) && uint(v[3]);
}

/** Validates a subscribe reply (`[streamId, seq, prevStream, prevSeq, from]`); undefined when malformed. */
export function asSubscribeReply(v: unknown): SubscribeReply | undefined {
  if (!Array.isArray(v) || v.length !== 5) return undefined;
  if (!str(v[0], MAX_ID) || !uint(v[1]) || typeof v[2] !== 'string' || v[2].length > MAX_ID || !uint(v[3]) || !uint(v[4])) return undefined;
  return v as SubscribeReply;
}

/** Reads a fetch reply: `[record | null, tail | null]`, or a bare record from an older peer. */
export function asFetchReply(v: unknown): { record: unknown; tail: StreamTail | undefined } {
  if (Array.isArray(v) && v.length === 2) return { record: v[0], tail: isTail(v[1]) ? v[1] : undefined };
  return { record: v, tail: undefined };
}

function bad(reason: string): Error {
  return meshError('ProtocolError', `malformed actor frame: ${reason}`, { details: { reason } });
}
