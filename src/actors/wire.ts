/**
 * The bytes of actor frames on the wire. The hot frames (call, cast, reply, event) have a hand-written binary
 * layout; every other frame is the codec's encoding of its array (see `protocol.ts`), exactly as before.
 *
 * ```text
 * binary frame := MARKER(0xc1) kind:u8 fields...
 * call         := 0xc1 0x01 view:varint capability:str type:str op:str ttl:varint key:str id:str rid:varint arg:value
 * cast         := 0xc1 0x02 view:varint capability:str type:str op:str hops:varint id:str arg:value
 * reply        := 0xc1 0x03 rid:varint reply:value
 * event        := 0xc1 0x08 subId:varint seq:varint event:value
 * varint       := unsigned LEB128, at most 8 bytes, at most 2^53 - 1
 * str          := h:varint; h even: a literal of h >> 1 UTF-8 bytes follows (the other forms of h are reserved)
 * value        := 0x00 (null) | 0x01 (true) | 0x02 (false) | 0x03 n:varint (an integer >= 0)
 *               | 0x04 n:varint (the integer -n, n >= 1) | 0x05 float64be | 0x06 len:varint utf8[len] (a string)
 *               | 0x07 len:varint bytes[len] (a Uint8Array) | 0x08 len:varint codec[len] (anything else, in the codec)
 * ```
 *
 * 0xc1 is a byte MessagePack never uses (and that starts neither JSON nor a CBOR array), so a receiver tells the
 * two forms apart by the first byte whatever the codec, and a frame from the codec is still accepted as it always
 * was. The binary form spares every call the generic encoder's type dispatch and structure walk (measured: encoding
 * and decoding a call and its reply with a 100-byte payload took 1.65 us with MessagePack, 0.95 us this way); it
 * is about as compact (2 bytes fewer per frame).
 *
 * Decoded byte values (`Uint8Array`) are copies, never views into the frame (the transport may reuse its buffer);
 * small ones share an 8 KiB slab, so, as with Node's pooled Buffers, `value.buffer` is bigger than the value.
 *
 * Calls and casts put the fields that repeat from call to call first (view, capability, type, handler, time to
 * live, idempotency key) and those that change last, so that the transport's prefix compression (`FrameShared` in
 * `transport/framing.ts`) sends only the actor id, the request id and the argument of a call on a hot path. The
 * request id comes before the argument: it differs between any two calls of a link, so no prefix reaches into
 * the argument.
 *
 * Strings are UTF-8 as `TextEncoder` writes it: a lone surrogate arrives as U+FFFD (the codec mangled it too,
 * into three of them; now a name arrives as the string `shardFor` hashed on the sending side).
 *
 * Decoding validates every field as it reads it (lengths bounded by what is left of the frame and by the
 * protocol's limits, strings non-empty where `asFrame` demands it, valid UTF-8, no trailing bytes) and throws a
 * typed `ProtocolError` (or the codec's `CodecError` / `MessageTooLarge` for an embedded value); it never reads
 * past the frame and never creates objects with caller-chosen keys (only the codec builds objects, under its own
 * rules).
 */
import type { Codec } from '../codec/types.js';
import { Slabs } from '../codec/slab.js';
import { varintSize, writeVarint } from '../codec/varint.js';
import { meshError, type MeshError } from '../errors.js';
import { asFrame, Kind, MAX_ID_LENGTH, MAX_NAME_LENGTH, type Frame } from './protocol.js';

/** First byte of a binary frame. */
export const WIRE_MARKER = 0xc1;

/** Value tags (see the module documentation). */
const V_NULL = 0x00;
const V_TRUE = 0x01;
const V_FALSE = 0x02;
const V_UINT = 0x03;
const V_NEGINT = 0x04;
const V_FLOAT = 0x05;
const V_STRING = 0x06;
const V_BYTES = 0x07;
const V_CODEC = 0x08;

/**
 * Frames are cut from shared slabs of 64 KiB (frames above 8 KiB get a buffer of their own); decoded byte values
 * are copied into smaller slabs, so one kept value pins at most 8 KiB.
 */
const frames = new Slabs(64 * 1024, 8 * 1024);
const values = new Slabs(8 * 1024, 1024);

/** A zero-filled (never written before) region of `size` bytes for a frame. */
function allocate(size: number): Uint8Array {
  return frames.allocate(size);
}

/** A copy of `length` bytes of `bytes` from `start`, in a slab of its own kind. */
function copyOut(bytes: Uint8Array, start: number, length: number): Uint8Array {
  const out = values.allocate(length);
  out.set(bytes.subarray(start, start + length));
  return out;
}

/** Strings up to this length are measured and written by hand; longer ones go through `TextEncoder`. */
const SHORT_STRING = 64;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Encodes `frame` for the wire: call, cast, reply and event frames in the binary layout, the others with
 * `codec`. Throws what the codec throws for a value it cannot encode (`CodecError`, `MessageTooLarge`), and
 * `MessageTooLarge` for a frame above the codec's `maxBytes`.
 */
export function encodeFrame(frame: Frame, codec: Codec): Uint8Array {
  switch (frame[0]) {
    case Kind.Call:
      return encodeCall(frame[1], frame[7], frame[9], frame[2], frame[3], frame[4], frame[5], frame[8], frame[6], codec);
    case Kind.Cast:
      return encodeCast(frame[6], frame[7], frame[1], frame[2], frame[3], frame[4], frame[5], codec);
    case Kind.Reply:
      return encodeNumbered(Kind.Reply, frame[1], 0, false, frame[2], codec);
    case Kind.Event:
      return encodeNumbered(Kind.Event, frame[1], frame[2], true, frame[3], codec);
    default:
      return codec.encode(frame);
  }
}

/**
 * Decodes and validates a frame from the wire (either form). Throws a typed error for anything malformed:
 * `ProtocolError` for a bad layout or field, `CodecError` / `MessageTooLarge` from the codec.
 */
export function decodeFrame(bytes: Uint8Array, codec: Codec): Frame {
  if (bytes.byteLength > codec.limits.maxBytes) {
    throw meshError('MessageTooLarge', `frame is ${bytes.byteLength} bytes, limit ${codec.limits.maxBytes}`, {
      details: { size: bytes.byteLength, limit: codec.limits.maxBytes },
    });
  }
  if (bytes.byteLength === 0 || bytes[0] !== WIRE_MARKER) return asFrame(codec.decode(bytes));
  // One reader for every frame (decoding is synchronous; `Reader.value` restores it around the codec, the one call
  // that could decode a frame in turn). After a malformed frame it still holds that frame until the next one.
  const r = reader;
  r.bytes = bytes;
  r.pos = 2;
  switch (bytes[1]) {
    case Kind.Call: {
      const view = r.varint();
      const capability = r.str(MAX_NAME_LENGTH, false, 'capability');
      const type = r.str(MAX_NAME_LENGTH, false, 'type');
      const op = r.str(MAX_NAME_LENGTH, false, 'op');
      const ttl = r.varint();
      const key = r.str(MAX_ID_LENGTH, true, 'idempotency key');
      const id = r.str(MAX_ID_LENGTH, false, 'id');
      const rid = r.varint();
      const arg = r.value(codec);
      r.end();
      return [Kind.Call, rid, capability, type, id, op, arg, view, key, ttl];
    }
    case Kind.Cast: {
      const view = r.varint();
      const capability = r.str(MAX_NAME_LENGTH, false, 'capability');
      const type = r.str(MAX_NAME_LENGTH, false, 'type');
      const op = r.str(MAX_NAME_LENGTH, false, 'op');
      const hops = r.varint();
      const id = r.str(MAX_ID_LENGTH, false, 'id');
      const arg = r.value(codec);
      r.end();
      return [Kind.Cast, capability, type, id, op, arg, view, hops];
    }
    case Kind.Reply: {
      const rid = r.varint();
      const reply = r.value(codec);
      r.end();
      return [Kind.Reply, rid, reply];
    }
    case Kind.Event: {
      const subId = r.varint();
      const seq = r.varint();
      const event = r.value(codec);
      r.end();
      return [Kind.Event, subId, seq, event];
    }
    default:
      throw bad(bytes.byteLength < 2 ? 'binary frame without a kind' : `unknown binary frame kind ${bytes[1]!}`);
  }
}

// ------------------------------------------------------------------ encoding

function encodeCall(
  rid: number,
  view: number,
  ttl: number,
  capability: string,
  type: string,
  id: string,
  op: string,
  key: string,
  arg: unknown,
  codec: Codec,
): Uint8Array {
  // Measure everything first (the codec runs here, before any byte is written), then allocate once and write.
  const capLen = utf8Length(capability);
  const typeLen = utf8Length(type);
  const idLen = utf8Length(id);
  const opLen = utf8Length(op);
  const keyLen = utf8Length(key);
  const value = measureValue(arg, codec);
  const size =
    2 +
    varintSize(rid) +
    varintSize(view) +
    varintSize(ttl) +
    strSize(capLen) +
    strSize(typeLen) +
    strSize(idLen) +
    strSize(opLen) +
    strSize(keyLen) +
    value.size;
  checkFrameSize(size, codec);
  const out = allocate(size);
  out[0] = WIRE_MARKER;
  out[1] = Kind.Call;
  let pos = writeVarint(out, 2, view);
  pos = writeStr(out, pos, capability, capLen);
  pos = writeStr(out, pos, type, typeLen);
  pos = writeStr(out, pos, op, opLen);
  pos = writeVarint(out, pos, ttl);
  pos = writeStr(out, pos, key, keyLen);
  pos = writeStr(out, pos, id, idLen);
  pos = writeVarint(out, pos, rid);
  writeValue(out, pos, arg, value);
  return out;
}

function encodeCast(view: number, hops: number, capability: string, type: string, id: string, op: string, arg: unknown, codec: Codec): Uint8Array {
  const capLen = utf8Length(capability);
  const typeLen = utf8Length(type);
  const idLen = utf8Length(id);
  const opLen = utf8Length(op);
  const value = measureValue(arg, codec);
  const size = 2 + varintSize(view) + varintSize(hops) + strSize(capLen) + strSize(typeLen) + strSize(idLen) + strSize(opLen) + value.size;
  checkFrameSize(size, codec);
  const out = allocate(size);
  out[0] = WIRE_MARKER;
  out[1] = Kind.Cast;
  let pos = writeVarint(out, 2, view);
  pos = writeStr(out, pos, capability, capLen);
  pos = writeStr(out, pos, type, typeLen);
  pos = writeStr(out, pos, op, opLen);
  pos = writeVarint(out, pos, hops);
  pos = writeStr(out, pos, id, idLen);
  writeValue(out, pos, arg, value);
  return out;
}

/** A reply (`[3, rid, value]`) or an event (`[8, subId, seq, value]`, `withSecond`). */
function encodeNumbered(kind: number, first: number, second: number, withSecond: boolean, v: unknown, codec: Codec): Uint8Array {
  const value = measureValue(v, codec);
  const size = 2 + varintSize(first) + (withSecond ? varintSize(second) : 0) + value.size;
  checkFrameSize(size, codec);
  const out = allocate(size);
  out[0] = WIRE_MARKER;
  out[1] = kind;
  let pos = writeVarint(out, 2, first);
  if (withSecond) pos = writeVarint(out, pos, second);
  writeValue(out, pos, v, value);
  return out;
}

/**
 * How a value will be written: its tag, its total size with the tag, and what to copy (the UTF-8 or codec bytes
 * when they had to be produced while measuring). One object per module, reused: encoding is synchronous and the
 * codec runs before the object is filled.
 */
interface MeasuredValue {
  tag: number;
  size: number;
  /** Payload length in bytes (strings, byte arrays, codec output). */
  length: number;
  /** Bytes to copy (long or non-ASCII strings, codec output); undefined: write from the value itself. */
  bytes: Uint8Array | undefined;
}

const measured: MeasuredValue = { tag: V_NULL, size: 1, length: 0, bytes: undefined };

function measureValue(v: unknown, codec: Codec): MeasuredValue {
  const m = measured;
  m.bytes = undefined;
  m.length = 0;
  if (v === null || v === undefined) {
    m.tag = V_NULL;
    m.size = 1;
  } else if (typeof v === 'string') {
    let bytes: Uint8Array | undefined;
    if (v.length <= SHORT_STRING && isAscii(v)) m.length = v.length;
    else {
      bytes = textEncoder.encode(v);
      m.length = bytes.byteLength;
    }
    checkValueSize(m.length, codec);
    m.tag = V_STRING;
    m.bytes = bytes;
    m.size = 1 + varintSize(m.length) + m.length;
  } else if (v instanceof Uint8Array) {
    checkValueSize(v.byteLength, codec);
    m.tag = V_BYTES;
    m.length = v.byteLength;
    m.size = 1 + varintSize(v.byteLength) + v.byteLength;
  } else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) {
      m.tag = v >= 0 ? V_UINT : V_NEGINT;
      m.size = 1 + varintSize(v >= 0 ? v : -v);
    } else {
      m.tag = V_FLOAT;
      m.size = 9;
    }
  } else if (typeof v === 'boolean') {
    m.tag = v ? V_TRUE : V_FALSE;
    m.size = 1;
  } else {
    const bytes = codec.encode(v);
    m.tag = V_CODEC;
    m.length = bytes.byteLength;
    m.bytes = bytes;
    m.size = 1 + varintSize(bytes.byteLength) + bytes.byteLength;
  }
  return m;
}

function writeValue(out: Uint8Array, pos: number, v: unknown, m: MeasuredValue): void {
  out[pos++] = m.tag;
  switch (m.tag) {
    case V_UINT:
      writeVarint(out, pos, v as number);
      return;
    case V_NEGINT:
      writeVarint(out, pos, -(v as number));
      return;
    case V_FLOAT:
      new DataView(out.buffer, out.byteOffset + pos, 8).setFloat64(0, v as number);
      return;
    case V_STRING:
      pos = writeVarint(out, pos, m.length);
      if (m.bytes !== undefined) out.set(m.bytes, pos);
      else writeAscii(out, pos, v as string);
      return;
    case V_BYTES:
    case V_CODEC:
      pos = writeVarint(out, pos, m.length);
      out.set(m.bytes ?? (v as Uint8Array), pos);
      return;
    default:
      return; // null, true, false: the tag is the value
  }
}

function checkValueSize(length: number, codec: Codec): void {
  if (length > codec.limits.maxBytes) {
    throw meshError('MessageTooLarge', `encoded value is ${length} bytes, limit ${codec.limits.maxBytes}`, {
      details: { size: length, limit: codec.limits.maxBytes },
    });
  }
}

function checkFrameSize(size: number, codec: Codec): void {
  if (size > codec.limits.maxBytes) {
    throw meshError('MessageTooLarge', `encoded frame is ${size} bytes, limit ${codec.limits.maxBytes}`, {
      details: { size, limit: codec.limits.maxBytes },
    });
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/**
 * UTF-8 length of a string as `TextEncoder` writes it: a lone surrogate (which UTF-8 cannot carry) becomes U+FFFD,
 * 3 bytes, as in `shardFor`, so a name arrives as the string the sender's routing hashed.
 */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function strSize(byteLength: number): number {
  return varintSize(byteLength * 2) + byteLength;
}

function writeStr(out: Uint8Array, pos: number, s: string, byteLength: number): number {
  pos = writeVarint(out, pos, byteLength * 2);
  if (byteLength === s.length) writeAscii(out, pos, s);
  else textEncoder.encodeInto(s, out.subarray(pos, pos + byteLength));
  return pos + byteLength;
}

function writeAscii(out: Uint8Array, pos: number, s: string): void {
  for (let i = 0; i < s.length; i++) out[pos + i] = s.charCodeAt(i);
}

// ------------------------------------------------------------------ decoding

const NO_BYTES = new Uint8Array(0);

/** A cursor over one frame; every read checks what is left. */
class Reader {
  bytes: Uint8Array = NO_BYTES;
  pos = 0;

  varint(): number {
    const bytes = this.bytes;
    const end = bytes.byteLength;
    if (this.pos >= end) throw bad('truncated frame');
    let b = bytes[this.pos++]!;
    if (b < 0x80) return b;
    let n = b & 0x7f;
    let scale = 0x80;
    for (let i = 1; i < 8; i++) {
      if (this.pos >= end) throw bad('truncated frame');
      b = bytes[this.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (n > Number.MAX_SAFE_INTEGER) throw bad('integer above 2^53 - 1');
        return n;
      }
      scale *= 0x80;
    }
    throw bad('varint longer than 8 bytes');
  }

  /** Reads `length` bytes as a view (bounds-checked). */
  take(length: number): number {
    const start = this.pos;
    if (length > this.bytes.byteLength - start) throw bad('truncated frame');
    this.pos = start + length;
    return start;
  }

  /** A protocol string of at most `max` UTF-16 units; empty only when `mayBeEmpty`. */
  str(max: number, mayBeEmpty: boolean, what: string): string {
    const h = this.varint();
    if ((h & 1) !== 0) throw bad(`${what}: string references are not supported`);
    const length = h / 2;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: anything longer cannot be a string of at most `max` units.
    if (length > max * 3) throw bad(`${what} longer than ${max}`);
    if (length === 0) {
      if (!mayBeEmpty) throw bad(`empty ${what}`);
      return '';
    }
    const start = this.take(length);
    const s = decodeUtf8(this.bytes, start, length);
    if (s.length > max) throw bad(`${what} longer than ${max}`);
    return s;
  }

  value(codec: Codec): unknown {
    if (this.pos >= this.bytes.byteLength) throw bad('truncated frame');
    const tag = this.bytes[this.pos++]!;
    switch (tag) {
      case V_NULL:
        return null;
      case V_TRUE:
        return true;
      case V_FALSE:
        return false;
      case V_UINT:
        return this.varint();
      case V_NEGINT: {
        const n = this.varint();
        if (n === 0) throw bad('negative zero integer');
        return -n;
      }
      case V_FLOAT: {
        const start = this.take(8);
        return new DataView(this.bytes.buffer, this.bytes.byteOffset + start, 8).getFloat64(0);
      }
      case V_STRING: {
        const length = this.varint();
        const start = this.take(length);
        return length === 0 ? '' : decodeUtf8(this.bytes, start, length);
      }
      case V_BYTES: {
        const length = this.varint();
        const start = this.take(length);
        // A copy: the frame may be a view into a message the transport reuses.
        return copyOut(this.bytes, start, length);
      }
      case V_CODEC: {
        const length = this.varint();
        const start = this.take(length);
        const bytes = this.bytes;
        const pos = this.pos;
        const value = codec.decode(bytes.subarray(start, start + length));
        this.bytes = bytes;
        this.pos = pos;
        return value;
      }
      default:
        throw bad(`unknown value tag 0x${tag.toString(16)}`);
    }
  }

  /** Checks that the whole frame was read, and lets go of it. */
  end(): void {
    if (this.pos !== this.bytes.byteLength) throw bad(`${this.bytes.byteLength - this.pos} trailing bytes`);
    this.bytes = NO_BYTES;
  }
}

/**
 * Short ASCII strings decoded recently, by a hash of their bytes: names and ids repeat from frame to frame (every
 * call names its capability, type and handler), so a hit returns the string decoded before instead of building
 * it again: no allocation, and the string's hash (computed by the first `Map` lookup that used it) comes along.
 */
const STRING_CACHE_BITS = 10;
const stringCache: string[] = new Array<string>(1 << STRING_CACHE_BITS).fill('');

const reader = new Reader();

/** Strict UTF-8: invalid sequences are a `ProtocolError`, not replacement characters. */
function decodeUtf8(bytes: Uint8Array, start: number, length: number): string {
  if (length > 32) return decodeUtf8Slow(bytes, start, length);
  // Short strings (names and ids): look them up in the cache by their length and first and last bytes; a cached
  // string is ASCII, so equal to the bytes means valid. On a miss, build the string by hand (that beats a call into
  // the platform's decoder) and cache it if it is ASCII.
  const last = start + length - 1;
  const h = Math.imul(length ^ (bytes[start]! << 6) ^ (bytes[last]! << 13) ^ (bytes[last - 1]! << 20), 0x9e3779b1);
  const slot = h >>> (32 - STRING_CACHE_BITS);
  const cached = stringCache[slot]!;
  if (cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === bytes[start + i]) i++;
    if (i === length) return cached;
  }
  let s = '';
  for (let i = start; i <= last; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) return decodeUtf8Slow(bytes, start, length);
    s += String.fromCharCode(b);
  }
  stringCache[slot] = s;
  return s;
}

function decodeUtf8Slow(bytes: Uint8Array, start: number, length: number): string {
  try {
    return textDecoder.decode(bytes.subarray(start, start + length));
  } catch {
    throw bad('invalid UTF-8 in a string');
  }
}

function bad(reason: string): MeshError {
  return meshError('ProtocolError', `malformed actor frame: ${reason}`, { details: { reason } });
}
