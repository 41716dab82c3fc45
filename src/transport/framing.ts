/**
 * Framing of transport frames into data-channel messages, and back. Pure and runtime-neutral: no timers, no I/O.
 *
 * Wire format (version 3). Every data-channel message is
 *
 * ```text
 * message := MAGIC(0x6d) VERSION(0x03) record*
 * record  := kind:u8 length:varint body[length]      varint: unsigned LEB128, at most 5 bytes, below 2^32
 * ```
 *
 * Records never span messages; a message holds as many records as fit in the negotiated message size. Kinds:
 *
 * | kind | name | body |
 * | --- | --- | --- |
 * | 0x01 | `Frame` | a whole frame |
 * | 0x02 | `FrameStart` | `total:u32be` then the first part of a frame of `total` bytes (more than the part) |
 * | 0x03 | `FrameContinue` | the next part of the frame being assembled; the frame ends when `total` is reached |
 * | 0x04 | `FrameShared` | `shared:u8 check:u8` then the rest of a whole frame whose first `shared` bytes (1 to 127) are the first `shared` bytes of the previous frame; `check` is a hash of those bytes |
 * | 0x10 | `Hello` | control: first record on a channel (the transport puts JSON here) |
 * | 0x11 | `Ping` | control: keep-alive |
 * | 0x12 | `Bye` | control: the sender is closing the link |
 *
 * Small frames queued in one tick share a message (coalescing), at most {@link MAX_FRAMES_PER_MESSAGE} of them; a
 * frame larger than the space left is split into `FrameStart` + `FrameContinue` records (chunking), except a small
 * one (at most 1/8 of the message size), which starts the next message instead, so every frame of a message is
 * delivered with that message. Control records go first in the next message, so a ping is never stuck behind a
 * large frame in our own queue. The receiver ({@link FrameDecoder}) validates everything, never throws, and never
 * allocates more than it has actually received, nor assembles a frame above its cap.
 *
 * `FrameShared` is prefix compression between consecutive frames of one channel: the frames of a hot path start
 * alike (an actor call names its capability, type and handler before the fields that change, see
 * `actors/wire.ts`), so only what differs crosses the wire. "The previous frame" is the last frame completed on the
 * channel, whichever record kind carried it; both ends start without one on every new channel
 * ({@link FrameEncoder.startStream}, a new {@link FrameDecoder}). At most {@link MAX_SHARED} bytes are shared, and
 * only when that saves bytes; every byte a frame differs by is sent. The check byte (an 8-bit fold of FNV-1a over
 * the shared bytes) makes a receiver that lost step with its sender (anything written onto the channel below this
 * layer) refuse the record with a `ProtocolError`, which resets the link, instead of rebuilding a wrong frame
 * (a wrong prefix passes it with probability 1/256, and the next record of the stream is checked again).
 */
import { Slabs } from '../codec/slab.js';
import { varintSize, writeVarint } from '../codec/varint.js';
import { meshError, type MeshError } from '../errors.js';
import { Queue } from './framing-queue.js';

/** First byte of every message: detects a peer that does not speak this protocol at all. */
export const FRAMING_MAGIC = 0x6d;
/**
 * Second byte of every message: the version of everything a data channel carries, these records and the frames
 * of the layer above them (a peer refuses a message of another version with a `ProtocolError`, starting with the
 * hello, so peers of different versions never open a link). Version 2: actor calls, casts, replies and events
 * in the binary layout of `actors/wire.ts` (version 1 carried them as MessagePack arrays). Version 3: record
 * lengths as varints (u32 before), `FrameShared` records, and calls laid out with their stable fields first.
 */
export const FRAMING_VERSION = 3;
/** Bytes of the per-message header (magic + version). */
export const MESSAGE_HEADER_BYTES = 2;
/** Most bytes a `FrameShared` record takes from the previous frame. */
export const MAX_SHARED = 127;
/** Smallest message size the encoder accepts. */
export const MIN_MESSAGE_SIZE = 1024;
/** Largest body of a control record. */
export const MAX_CONTROL_BYTES = 1024;
/**
 * Most frames in one message (by default). A message is delivered whole, so its frames wait for the last one and
 * the receiver handles them in one go: a burst of small frames cut at 128 travels as several messages that the
 * two ends work on in turn (measured with 256 calls in flight and 58-byte payloads, about 240 calls fitted in
 * 16 KiB: 162k calls/s in one message per burst, 200k cut at 128, 192k at 96 or 160, 167k at 192; at 100-byte
 * payloads, 16 KiB holds 148 calls and the cut changed nothing measurable).
 */
export const MAX_FRAMES_PER_MESSAGE = 128;

/** Record kinds (see the module documentation). */
export const RecordKind = {
  Frame: 0x01,
  FrameStart: 0x02,
  FrameContinue: 0x03,
  FrameShared: 0x04,
  Hello: 0x10,
  Ping: 0x11,
  Bye: 0x12,
} as const;

/** A control record kind. */
export type ControlKind = typeof RecordKind.Hello | typeof RecordKind.Ping | typeof RecordKind.Bye;

const START_EXTRA = 4;
/** A frame is split at the end of a message only if at least this many of its bytes fit there. */
const MIN_SPLIT_PART = 64;
/** Frames up to 1/this of the message size are never split behind other records (they start the next message). */
const SPLIT_SMALL_DIVISOR = 8;
const EMPTY = new Uint8Array(0);
/** A frame shares a prefix with the previous one only from this many bytes on (it costs 2 bytes: count and check). */
const MIN_SHARED = 4;
/** Bytes of a `FrameShared` body before the rest of the frame: the shared count and the check. */
const SHARED_EXTRA = 2;
/** Copies up to this many bytes go byte by byte. */
const SHORT_COPY = 128;
/** Largest record length (and frame size) the format carries. */
const MAX_RECORD_LENGTH = 0xffffffff;

/** Bytes of a record header for a body of `length` bytes. */
function headerSize(length: number): number {
  return 1 + varintSize(length);
}

/** The largest record body that fits with its header in `space` bytes (0 if none does). */
function largestBody(space: number): number {
  let length = space - 2;
  while (length > 0 && headerSize(length) + length > space) length--;
  return Math.max(0, length);
}

/** Writes a record header at `pos`; returns the position of the body. */
function writeHeader(out: Uint8Array, pos: number, kind: number, length: number): number {
  out[pos] = kind;
  return writeVarint(out, pos + 1, length);
}

/** Bytes of the record carrying a whole frame of `length` bytes that shares `common` bytes with the previous one. */
function frameRecordSize(length: number, common: number): number {
  return common > 0 ? headerSize(length - common + SHARED_EXTRA) + SHARED_EXTRA + length - common : headerSize(length) + length;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The check byte of a shared prefix from its FNV-1a hash: the hash folded to 8 bits. */
function foldCheck(h: number): number {
  h ^= h >>> 16;
  return (h ^ (h >>> 8)) & 0xff;
}

/** The check byte of the prefix measured by the last {@link commonPrefix}. */
let commonCheck = 0;

/**
 * Length of the common prefix of `a` and `b` (at most {@link MAX_SHARED}); leaves the prefix's check byte in
 * {@link commonCheck} (computed in the same pass).
 */
function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength, MAX_SHARED);
  let h = FNV_OFFSET;
  let i = 0;
  for (; i < n; i++) {
    const x = a[i]!;
    if (x !== b[i]) break;
    h = Math.imul(h ^ x, FNV_PRIME);
  }
  commonCheck = foldCheck(h);
  return i;
}

interface PendingControl {
  readonly kind: ControlKind;
  readonly body: Uint8Array;
}

/**
 * The sending half: queues frames (each with a caller tag) and control records, and cuts them into messages of at
 * most `messageSize` bytes on demand (pull-based, so nothing is copied before the channel has room for it).
 */
export class FrameEncoder<T> {
  #messageSize: number;
  /** Frames queued, and their tags (two queues in step: no object per frame). */
  readonly #frames = new Queue<Uint8Array>();
  readonly #tags = new Queue<T>();
  /** Bytes of the head frame already placed in messages. */
  #headOffset = 0;
  #control: PendingControl[] = [];
  #queuedBytes = 0;
  #completedBytes = 0;
  /** The last frame completed on this stream (what the next `FrameShared` refers to), if any. */
  #prev: Uint8Array | undefined;
  /** Prefix each whole frame of the message being built shares with the one before it (reused). */
  readonly #shared: number[] = [];
  /** The check byte of each of those prefixes. */
  readonly #checks: number[] = [];

  readonly #maxFrames: number;

  /**
   * `messageSize`: the largest message to produce (at least {@link MIN_MESSAGE_SIZE}); `maxFrames`: the most
   * frames (whole or in part) in one message (default {@link MAX_FRAMES_PER_MESSAGE}).
   */
  constructor(messageSize: number, maxFrames: number = MAX_FRAMES_PER_MESSAGE) {
    this.#messageSize = checkMessageSize(messageSize);
    if (!Number.isInteger(maxFrames) || maxFrames < 1) throw new RangeError(`maxFrames must be an integer >= 1, got ${maxFrames}`);
    this.#maxFrames = maxFrames;
  }

  /** The largest message produced. Changing it affects the next message only. */
  get messageSize(): number {
    return this.#messageSize;
  }

  set messageSize(size: number) {
    this.#messageSize = checkMessageSize(size);
  }

  /** Frames not completely placed in messages yet. */
  get pendingFrames(): number {
    return this.#frames.length;
  }

  /** Bytes of every frame completed so far (for counters). */
  get completedBytes(): number {
    return this.#completedBytes;
  }

  /** Frame bytes not placed in messages yet. */
  get pendingBytes(): number {
    return this.#queuedBytes;
  }

  /** Whether control records wait. */
  get hasControl(): boolean {
    return this.#control.length > 0;
  }

  /** Whether nothing at all waits. */
  get isEmpty(): boolean {
    return this.#frames.length === 0 && this.#control.length === 0;
  }

  /**
   * Starts a new stream (a new channel): the next frame refers to no previous one. Call it before the first
   * message of every channel; {@link clear} does it too.
   */
  startStream(): void {
    this.#prev = undefined;
  }

  /** Queues a frame; `tag` comes back from {@link nextMessage} once the frame's last byte is in a message. */
  pushFrame(frame: Uint8Array, tag: T): void {
    this.#frames.push(frame);
    this.#tags.push(tag);
    this.#queuedBytes += frame.byteLength;
  }

  /** Queues a control record; control records go out before any frame bytes, in the order queued. */
  pushControl(kind: ControlKind, body: Uint8Array = EMPTY): void {
    if (body.byteLength > MAX_CONTROL_BYTES) throw new RangeError(`control body of ${body.byteLength} bytes exceeds ${MAX_CONTROL_BYTES}`);
    this.#control.push({ kind, body });
  }

  /**
   * Builds the next message, or returns `undefined` when nothing waits. Tags of frames completed by this message
   * are appended to `completed`. With `controlOnly`, only control records are taken (used while the channel is
   * above its high-water mark, so keep-alives still flow).
   */
  nextMessage(completed: T[], controlOnly = false): Uint8Array | undefined {
    if (this.isEmpty || (controlOnly && this.#control.length === 0)) return undefined;
    // Plan first (no allocation): a message is [control records][the rest of a started frame][whole frames]
    // [the start of one more frame]; then allocate it once and copy.
    let space = this.#messageSize - MESSAGE_HEADER_BYTES;
    let controls = 0;
    for (; controls < this.#control.length; controls++) {
      const length = this.#control[controls]!.body.byteLength;
      const need = headerSize(length) + length;
      if (need > space) break;
      space -= need;
    }
    let contLen = 0; // FrameContinue of the head frame (already started in an earlier message)
    let whole = 0; // whole frames after it
    let startLen = 0; // FrameStart of the frame after those
    const shared = this.#shared;
    const checks = this.#checks;
    shared.length = 0;
    checks.length = 0;
    if (!controlOnly) {
      let i = 0;
      let open = true;
      let prev = this.#prev;
      const head = this.#frames.peek();
      if (head !== undefined && this.#headOffset > 0) {
        const remaining = head.byteLength - this.#headOffset;
        const room = largestBody(space);
        if (room < 1) open = false;
        else {
          contLen = Math.min(room, remaining);
          space -= headerSize(contLen) + contLen;
          if (contLen < remaining) open = false;
          prev = head;
          i = 1;
        }
      }
      while (open) {
        if (whole + (contLen > 0 ? 1 : 0) >= this.#maxFrames) break;
        const p = this.#frames.at(i);
        if (p === undefined) break;
        const length = p.byteLength;
        const found = prev === undefined ? 0 : commonPrefix(prev, p);
        const common = found >= MIN_SHARED ? found : 0;
        const need = frameRecordSize(length, common);
        if (need <= space) {
          shared.push(common);
          checks.push(commonCheck);
          whole++;
          space -= need;
          prev = p;
          i++;
          continue;
        }
        const room = largestBody(space) - START_EXTRA;
        if (room < MIN_SPLIT_PART) break;
        // A small frame that would fit whole in the next message is not split: a split frame is delivered only
        // with the message carrying its end, which cuts the batch of replies it belongs to in two (under load,
        // a one-frame batch then makes its own round trip every cycle).
        const records = controls + (contLen > 0 ? 1 : 0) + whole;
        if (records > 0 && headerSize(length) + length <= this.#messageSize / SPLIT_SMALL_DIVISOR) break;
        startLen = room;
        space -= headerSize(START_EXTRA + room) + START_EXTRA + room;
        break;
      }
    }
    if (controls === 0 && contLen === 0 && whole === 0 && startLen === 0) return undefined;
    // Every planned record was subtracted from `space` at its exact size.
    const out = new Uint8Array(this.#messageSize - space);
    out[0] = FRAMING_MAGIC;
    out[1] = FRAMING_VERSION;
    let pos = MESSAGE_HEADER_BYTES;
    for (let c = 0; c < controls; c++) {
      const ctl = this.#control[c]!;
      pos = writeHeader(out, pos, ctl.kind, ctl.body.byteLength);
      out.set(ctl.body, pos);
      pos += ctl.body.byteLength;
    }
    this.#control = controls === this.#control.length ? [] : this.#control.slice(controls);
    if (contLen > 0) {
      const frame = this.#frames.peek()!;
      const offset = this.#headOffset;
      pos = writeHeader(out, pos, RecordKind.FrameContinue, contLen);
      out.set(frame.subarray(offset, offset + contLen), pos);
      pos += contLen;
      this.#advance(frame, contLen, completed);
    }
    for (let w = 0; w < whole; w++) {
      const frame = this.#frames.peek()!;
      const length = frame.byteLength;
      const common = shared[w]!;
      if (common > 0) {
        pos = writeHeader(out, pos, RecordKind.FrameShared, length - common + SHARED_EXTRA);
        out[pos++] = common;
        out[pos++] = checks[w]!;
        const rest = length - common;
        // Short rests byte by byte: cheaper than a subarray and a set.
        if (rest <= SHORT_COPY) for (let i = 0; i < rest; i++) out[pos + i] = frame[common + i]!;
        else out.set(frame.subarray(common), pos);
        pos += rest;
      } else {
        pos = writeHeader(out, pos, RecordKind.Frame, length);
        out.set(frame, pos);
        pos += length;
      }
      this.#advance(frame, length, completed);
    }
    if (startLen > 0) {
      const frame = this.#frames.peek()!;
      pos = writeHeader(out, pos, RecordKind.FrameStart, START_EXTRA + startLen);
      new DataView(out.buffer).setUint32(pos, frame.byteLength);
      out.set(frame.subarray(0, startLen), pos + START_EXTRA);
      pos += START_EXTRA + startLen;
      this.#advance(frame, startLen, completed);
    }
    return out;
  }

  /** Marks `length` more bytes of the head frame as placed; a completed frame leaves the queue, its tag in `completed`. */
  #advance(frame: Uint8Array, length: number, completed: T[]): void {
    this.#headOffset += length;
    this.#queuedBytes -= length;
    if (this.#headOffset === frame.byteLength) {
      this.#prev = frame;
      this.#frames.shift();
      this.#headOffset = 0;
      this.#completedBytes += frame.byteLength;
      completed.push(this.#tags.shift() as T);
    }
  }

  /** Drops everything queued and returns the tags of frames that were not completely sent. */
  clear(): T[] {
    this.#prev = undefined;
    this.#control = [];
    this.#queuedBytes = 0;
    this.#headOffset = 0;
    this.#frames.drain();
    return this.#tags.drain();
  }
}

/** Encodes a message holding a single control record (used before a link is established, e.g. for `Hello`). */
export function encodeControlMessage(kind: ControlKind, body: Uint8Array = EMPTY): Uint8Array {
  if (body.byteLength > MAX_CONTROL_BYTES) throw new RangeError(`control body of ${body.byteLength} bytes exceeds ${MAX_CONTROL_BYTES}`);
  const out = new Uint8Array(MESSAGE_HEADER_BYTES + headerSize(body.byteLength) + body.byteLength);
  out[0] = FRAMING_MAGIC;
  out[1] = FRAMING_VERSION;
  out.set(body, writeHeader(out, MESSAGE_HEADER_BYTES, kind, body.byteLength));
  return out;
}

function checkMessageSize(size: number): number {
  if (!Number.isInteger(size) || size < MIN_MESSAGE_SIZE) {
    throw new RangeError(`message size must be an integer >= ${MIN_MESSAGE_SIZE}, got ${size}`);
  }
  return size;
}

/** Where a {@link FrameDecoder} delivers what it decoded. */
export interface DecoderSink {
  /** A complete frame. The bytes may be a view into the message: copy them to keep them past the call. */
  onFrame(frame: Uint8Array): void;
  /** A control record. */
  onControl(kind: ControlKind, body: Uint8Array): void;
}

/** Options of a {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest frame assembled; a larger one is refused with `MessageTooLarge` before any of it is buffered. */
  maxFrameSize: number;
}

/** Counters of a {@link FrameDecoder}. */
export interface FrameDecoderStats {
  messages: number;
  frames: number;
  errors: number;
}

/**
 * The receiving half: validates messages and reassembles frames. `push` returns a typed error (and resets the
 * partial frame) instead of throwing; whatever was valid before the error in that message has been delivered.
 * A frame is only allocated once all of its bytes have arrived, so a lying length costs nothing.
 */
export class FrameDecoder {
  readonly #maxFrameSize: number;
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  /** Declared size of the frame being assembled, or -1 when none is. */
  #total = -1;
  /** The last frame completed in the message being decoded (a view into it, or an assembled frame). */
  #last: Uint8Array | undefined;
  /** The first bytes of the last frame of earlier messages. */
  readonly #prev = new Uint8Array(MAX_SHARED);
  #prevLength = 0;
  readonly #stats: FrameDecoderStats = { messages: 0, frames: 0, errors: 0 };

  /** Creates a decoder refusing frames above `maxFrameSize`. */
  constructor(options: FrameDecoderOptions) {
    if (!Number.isInteger(options.maxFrameSize) || options.maxFrameSize < 0) {
      throw new RangeError(`maxFrameSize must be a non-negative integer, got ${options.maxFrameSize}`);
    }
    this.#maxFrameSize = options.maxFrameSize;
  }

  /** Bytes of a partially received frame currently held. */
  get bufferedBytes(): number {
    return this.#partBytes;
  }

  /** Counters since creation. */
  get stats(): Readonly<FrameDecoderStats> {
    return this.#stats;
  }

  /** Forgets a partially received frame, and the previous frame (the stream cannot go on after an error). */
  reset(): void {
    this.#resetPartial();
    this.#last = undefined;
    this.#prevLength = 0;
  }

  #resetPartial(): void {
    this.#parts = [];
    this.#partBytes = 0;
    this.#total = -1;
  }

  /** Decodes one message, delivering to `sink`. Returns an error for malformed input; never throws on its own. */
  push(message: Uint8Array, sink: DecoderSink): MeshError | undefined {
    this.#stats.messages++;
    const err = this.#decode(message, sink);
    // Keep the start of the last frame for the next message's `FrameShared` (the message itself may be reused).
    const last = this.#last;
    if (last !== undefined) {
      const n = Math.min(last.byteLength, MAX_SHARED);
      for (let i = 0; i < n; i++) this.#prev[i] = last[i]!;
      this.#prevLength = n;
      this.#last = undefined;
    }
    if (err !== undefined) {
      this.#stats.errors++;
      this.reset();
    }
    return err;
  }

  /** A `FrameShared` record of `len` bytes at `at` in `msg`: rebuilds the frame and delivers it. */
  #shared(msg: Uint8Array, at: number, len: number, sink: DecoderSink): MeshError | undefined {
    if (this.#total >= 0) return protocolError('a new frame started before the previous one was complete');
    if (len < SHARED_EXTRA) return protocolError('shared frame record without its prefix length and check');
    const common = msg[at]!;
    if (common === 0 || common > MAX_SHARED) return protocolError(`shared prefix of ${common} bytes (1 to ${MAX_SHARED})`);
    const last = this.#last;
    const prev = last ?? this.#prev;
    const prevLength = last === undefined ? this.#prevLength : last.byteLength;
    if (common > prevLength) return protocolError(`shared prefix of ${common} bytes, the previous frame has ${prevLength}`);
    const rest = len - SHARED_EXTRA;
    const size = common + rest;
    if (size > this.#maxFrameSize) return tooLarge(size, this.#maxFrameSize);
    const frame = rebuilt.allocate(size);
    // Copy the prefix and hash it in one pass; the region is simply left unused if the check fails.
    let h = FNV_OFFSET;
    for (let i = 0; i < common; i++) {
      const b = prev[i]!;
      frame[i] = b;
      h = Math.imul(h ^ b, FNV_PRIME);
    }
    if (foldCheck(h) !== msg[at + 1]) return protocolError('shared prefix does not match the previous frame (the stream lost step)');
    const from = at + SHARED_EXTRA;
    if (rest <= SHORT_COPY) for (let i = 0; i < rest; i++) frame[common + i] = msg[from + i]!;
    else frame.set(msg.subarray(from, from + rest), common);
    this.#last = frame;
    this.#stats.frames++;
    sink.onFrame(frame);
    return undefined;
  }

  #decode(msg: Uint8Array, sink: DecoderSink): MeshError | undefined {
    if (msg.byteLength < MESSAGE_HEADER_BYTES) {
      return protocolError(`message of ${msg.byteLength} bytes is shorter than its header`);
    }
    if (msg[0] !== FRAMING_MAGIC) {
      return protocolError(`not a meshrtc transport message (first byte 0x${msg[0]!.toString(16)})`, { magic: msg[0] });
    }
    if (msg[1] !== FRAMING_VERSION) {
      return protocolError(`unsupported framing version ${msg[1]} (this peer speaks ${FRAMING_VERSION})`, {
        version: msg[1],
        expected: FRAMING_VERSION,
      });
    }
    let pos = MESSAGE_HEADER_BYTES;
    const end = msg.byteLength;
    while (pos < end) {
      const kind = msg[pos++]!;
      // The length: a varint of at most 5 bytes, below 2^32.
      let len = 0;
      let scale = 1;
      for (let i = 0; ; i++) {
        if (pos >= end) return protocolError('truncated record header');
        const b = msg[pos++]!;
        len += (b & 0x7f) * scale;
        if (b < 0x80) break;
        if (i === 4) return protocolError('record length varint longer than 5 bytes');
        scale *= 0x80;
      }
      if (len > MAX_RECORD_LENGTH) return protocolError(`record length ${len} is above 2^32 - 1`);
      if (len > end - pos) {
        return protocolError(`record length ${len} exceeds the ${end - pos} bytes left in the message`);
      }
      const at = pos;
      pos += len;
      if (kind === RecordKind.FrameShared) {
        const err = this.#shared(msg, at, len, sink);
        if (err !== undefined) return err;
        continue;
      }
      const body = msg.subarray(at, pos);
      switch (kind) {
        case RecordKind.Frame: {
          if (this.#total >= 0) return protocolError('a new frame started before the previous one was complete');
          if (len > this.#maxFrameSize) return tooLarge(len, this.#maxFrameSize);
          this.#last = body;
          this.#stats.frames++;
          sink.onFrame(body);
          break;
        }
        case RecordKind.FrameStart: {
          if (this.#total >= 0) return protocolError('a new frame started before the previous one was complete');
          if (len < START_EXTRA + 1) return protocolError('frame start record without data');
          const total = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
          if (total > this.#maxFrameSize) return tooLarge(total, this.#maxFrameSize);
          const part = body.subarray(START_EXTRA);
          if (part.byteLength >= total) return protocolError(`frame start carries ${part.byteLength} bytes of a ${total}-byte frame`);
          this.#total = total;
          this.#parts = [keep(part)];
          this.#partBytes = part.byteLength;
          break;
        }
        case RecordKind.FrameContinue: {
          if (this.#total < 0) return protocolError('frame continuation without a frame start');
          if (len === 0) return protocolError('empty frame continuation');
          if (this.#partBytes + len > this.#total) {
            return protocolError(`frame continuation overruns the declared frame size ${this.#total}`);
          }
          this.#parts.push(keep(body));
          this.#partBytes += len;
          if (this.#partBytes === this.#total) {
            const frame = new Uint8Array(this.#total);
            let at = 0;
            for (const p of this.#parts) {
              frame.set(p, at);
              at += p.byteLength;
            }
            this.#resetPartial();
            this.#last = frame;
            this.#stats.frames++;
            sink.onFrame(frame);
          }
          break;
        }
        case RecordKind.Hello:
        case RecordKind.Ping:
        case RecordKind.Bye: {
          if (len > MAX_CONTROL_BYTES) return protocolError(`control record of ${len} bytes exceeds ${MAX_CONTROL_BYTES}`);
          sink.onControl(kind, body);
          break;
        }
        default:
          return protocolError(`unknown record kind 0x${kind.toString(16)}`, { kind });
      }
    }
    return undefined;
  }
}

/** Frames rebuilt from `FrameShared` records are cut from 64 KiB slabs (see {@link Slabs}). */
const rebuilt = new Slabs(64 * 1024, 4 * 1024);

/**
 * A part of a frame to hold until the frame is complete: a copy when it is a small view into a larger message,
 * so the messages a sender trickles a frame through (1 byte each, padded with control records) are not kept
 * alive by it: what is held stays within twice the bytes counted in `bufferedBytes`.
 */
function keep(part: Uint8Array): Uint8Array {
  return part.byteLength * 2 >= part.buffer.byteLength ? part : part.slice();
}

function protocolError(message: string, details: Record<string, unknown> = {}): MeshError {
  return meshError('ProtocolError', message, { details });
}

function tooLarge(size: number, limit: number): MeshError {
  return meshError('MessageTooLarge', `incoming frame of ${size} bytes exceeds maxFrameSize ${limit}`, {
    details: { size, limit },
  });
}
