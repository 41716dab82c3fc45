/**
 * The connection-setup messages `WebRtcTransport` relays through signaling (JSON-safe plain objects), and their
 * validation. Anything that does not match a schema exactly is refused with a reason, never thrown.
 *
 * Protocol (glare-free: the peer with the lower id, by JavaScript string order, always makes the offer):
 * - `connect-request` (higher id -> lower id): "please offer". `rid` grows per request of one transport instance
 *   (`inst`), so the lower peer can ignore duplicates and late requests.
 * - `offer` (lower -> higher) opens session `sid`; `seq` grows per offer of one instance, so a late offer never
 *   replaces a newer session.
 * - `answer` (higher -> lower) for `sid`; carries the answerer's latest `rid`, so requests it already covers are
 *   ignored.
 * - `candidate` (both ways, trickle ICE) for `sid`.
 * - `bye` (both ways): the sender abandoned session `sid`.
 *
 * Signals between one pair of peers must arrive in the order sent (the WebSocket relay guarantees it).
 */

/** Version of the signal schema; signals with another `v` are dropped. */
export const SIGNAL_VERSION = 1;
/** Largest SDP accepted (characters). */
export const MAX_SDP_LENGTH = 64 * 1024;
/** Largest ICE candidate line accepted (characters). */
export const MAX_CANDIDATE_LENGTH = 1024;
/** Largest session id / instance id accepted (characters). */
export const MAX_ID_LENGTH = 80;

/** "Please make an offer to me." */
export interface ConnectRequestSignal {
  v: 1;
  k: 'connect-request';
  inst: string;
  rid: number;
}
/** An SDP offer opening session `sid`. */
export interface OfferSignal {
  v: 1;
  k: 'offer';
  inst: string;
  seq: number;
  sid: string;
  sdp: string;
}
/** The SDP answer of session `sid`. */
export interface AnswerSignal {
  v: 1;
  k: 'answer';
  inst: string;
  rid: number;
  sid: string;
  sdp: string;
}
/** A trickled ICE candidate of session `sid`. */
export interface CandidateSignal {
  v: 1;
  k: 'candidate';
  sid: string;
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}
/** The sender abandoned session `sid`. */
export interface ByeSignal {
  v: 1;
  k: 'bye';
  sid: string;
}

/** Every signal `WebRtcTransport` sends and accepts. */
export type WebRtcSignal = ConnectRequestSignal | OfferSignal | AnswerSignal | CandidateSignal | ByeSignal;

/** The outcome of {@link parseSignal}: the signal, or why it was refused. */
export type ParsedSignal = { ok: true; signal: WebRtcSignal } | { ok: false; reason: string };

const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;

/** Validates untrusted relayed data as a {@link WebRtcSignal}. Never throws. */
export function parseSignal(data: unknown): ParsedSignal {
  try {
    return parse(data);
  } catch {
    return { ok: false, reason: 'unreadable signal' };
  }
}

function parse(data: unknown): ParsedSignal {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return fail('signal is not an object');
  const o = data as Record<string, unknown>;
  if (own(o, 'v') !== SIGNAL_VERSION) return fail(`unsupported signal version ${String(own(o, 'v'))}`);
  const k = own(o, 'k');
  switch (k) {
    case 'connect-request': {
      const inst = id(own(o, 'inst'));
      const rid = counter(own(o, 'rid'));
      if (inst === undefined || rid === undefined) return fail('malformed connect-request');
      return { ok: true, signal: { v: 1, k, inst, rid } };
    }
    case 'offer': {
      const inst = id(own(o, 'inst'));
      const seq = counter(own(o, 'seq'));
      const sid = id(own(o, 'sid'));
      const sdp = text(own(o, 'sdp'), MAX_SDP_LENGTH);
      if (inst === undefined || seq === undefined || sid === undefined || sdp === undefined) return fail('malformed offer');
      return { ok: true, signal: { v: 1, k, inst, seq, sid, sdp } };
    }
    case 'answer': {
      const inst = id(own(o, 'inst'));
      const rid = counter(own(o, 'rid'));
      const sid = id(own(o, 'sid'));
      const sdp = text(own(o, 'sdp'), MAX_SDP_LENGTH);
      if (inst === undefined || rid === undefined || sid === undefined || sdp === undefined) return fail('malformed answer');
      return { ok: true, signal: { v: 1, k, inst, rid, sid, sdp } };
    }
    case 'candidate': {
      const sid = id(own(o, 'sid'));
      const candidate = text(own(o, 'candidate'), MAX_CANDIDATE_LENGTH);
      const mid = own(o, 'sdpMid');
      const line = own(o, 'sdpMLineIndex');
      const sdpMid = mid === null || mid === undefined ? null : text(mid, MAX_ID_LENGTH);
      const sdpMLineIndex = line === null || line === undefined ? null : Number.isInteger(line) && (line as number) >= 0 && (line as number) < 65536 ? (line as number) : undefined;
      if (sid === undefined || candidate === undefined || sdpMid === undefined || sdpMLineIndex === undefined) {
        return fail('malformed candidate');
      }
      if (sdpMid === null && sdpMLineIndex === null) return fail('candidate without sdpMid or sdpMLineIndex');
      return { ok: true, signal: { v: 1, k, sid, candidate, sdpMid, sdpMLineIndex } };
    }
    case 'bye': {
      const sid = id(own(o, 'sid'));
      if (sid === undefined) return fail('malformed bye');
      return { ok: true, signal: { v: 1, k, sid } };
    }
    default:
      return fail(`unknown signal kind ${typeof k === 'string' ? JSON.stringify(k.slice(0, 32)) : typeof k}`);
  }
}

function fail(reason: string): ParsedSignal {
  return { ok: false, reason };
}

function own(o: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

function id(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && ID_PATTERN.test(value) ? value : undefined;
}

function text(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= max ? value : undefined;
}

function counter(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
