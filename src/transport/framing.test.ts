import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshError, type MeshError } from '../errors.js';
import { Queue } from './framing-queue.js';
import {
  encodeControlMessage,
  FRAMING_MAGIC,
  FRAMING_VERSION,
  FrameDecoder,
  FrameEncoder,
  MAX_CONTROL_BYTES,
  MAX_FRAMES_PER_MESSAGE,
  MIN_MESSAGE_SIZE,
  RecordKind,
  type ControlKind,
  type DecoderSink,
} from './framing.js';

interface Collected {
  frames: Uint8Array[];
  controls: { kind: ControlKind; body: Uint8Array }[];
  sink: DecoderSink;
}

function collector(): Collected {
  const c: Collected = {
    frames: [],
    controls: [],
    sink: {
      onFrame: (f) => c.frames.push(f.slice()),
      onControl: (kind, body) => c.controls.push({ kind, body: body.slice() }),
    },
  };
  return c;
}

/** Encodes everything queued into messages. */
function drain<T>(enc: FrameEncoder<T>, completed: T[] = []): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (;;) {
    const m = enc.nextMessage(completed);
    if (m === undefined) return out;
    out.push(m);
  }
}

/**
 * Queues `frames` (tagged 0, 1, ...) and builds a message after every `every`-th one, as a send loop does, then the
 * rest; decodes every message into `c` and checks its size. `afterPush(i)` runs after frame `i` is queued.
 * Returns the tags completed, in order.
 */
function sendAll(enc: FrameEncoder<number>, dec: FrameDecoder, c: Collected, frames: readonly Uint8Array[], every: number, afterPush?: (i: number) => void): number[] {
  const done: number[] = [];
  frames.forEach((f, i) => {
    enc.pushFrame(f, i);
    afterPush?.(i);
    if (i % every === 0) {
      const m = enc.nextMessage(done);
      if (m !== undefined) expect(dec.push(m, c.sink)).toBeUndefined();
    }
  });
  for (const m of drain(enc, done)) {
    expect(m.byteLength).toBeLessThanOrEqual(enc.messageSize);
    expect(dec.push(m, c.sink)).toBeUndefined();
  }
  return done;
}

function frameOf(size: number, seed: number): Uint8Array {
  const f = new Uint8Array(size);
  for (let i = 0; i < size; i++) f[i] = (seed * 31 + i * 7) & 0xff;
  return f;
}

describe('FrameEncoder / FrameDecoder', () => {
  it('coalesces small frames queued together into one message', () => {
    const enc = new FrameEncoder<number>(16 * 1024);
    for (let i = 0; i < 100; i++) enc.pushFrame(frameOf(10, i), i);
    const done: number[] = [];
    const msgs = drain(enc, done);
    expect(msgs.length).toBe(1);
    expect(done).toEqual([...Array(100).keys()]);
    const c = collector();
    expect(new FrameDecoder({ maxFrameSize: 1024 }).push(msgs[0]!, c.sink)).toBeUndefined();
    expect(c.frames.map((f, i) => f.every((b, k) => b === frameOf(10, i)[k]))).toEqual(Array(100).fill(true));
  });

  it('puts at most MAX_FRAMES_PER_MESSAGE frames (128) in one message, however small they are', () => {
    const enc = new FrameEncoder<number>(64 * 1024);
    for (let i = 0; i < 300; i++) enc.pushFrame(frameOf(10, i), i);
    const done: number[] = [];
    const counts: number[] = [];
    const dec = new FrameDecoder({ maxFrameSize: 1024 });
    const c = collector();
    for (const m of drain(enc, done)) {
      const before = c.frames.length;
      expect(dec.push(m, c.sink)).toBeUndefined();
      counts.push(c.frames.length - before);
    }
    expect(MAX_FRAMES_PER_MESSAGE).toBe(128);
    expect(counts).toEqual([128, 128, 44]);
    expect(done).toEqual([...Array(300).keys()]);
    // The limit is an option; a split frame counts as one of the message's frames.
    const three = new FrameEncoder<number>(MIN_MESSAGE_SIZE, 3);
    [10, 10, 3000, 10].forEach((n, i) => three.pushFrame(frameOf(n, i), i));
    const firstDone: number[] = [];
    three.nextMessage(firstDone);
    expect(firstDone).toEqual([0, 1]); // two whole frames and the start of the third
    expect(() => new FrameEncoder<number>(MIN_MESSAGE_SIZE, 0)).toThrow(RangeError);
  });

  it('splits a large frame into full messages and reassembles it', () => {
    const enc = new FrameEncoder<string>(MIN_MESSAGE_SIZE);
    const big = frameOf(100_000, 3);
    enc.pushFrame(big, 'big');
    const done: string[] = [];
    const msgs = drain(enc, done);
    expect(done).toEqual(['big']);
    expect(msgs.every((m) => m.byteLength <= MIN_MESSAGE_SIZE)).toBe(true);
    expect(msgs.slice(0, -1).every((m) => m.byteLength === MIN_MESSAGE_SIZE)).toBe(true);
    const c = collector();
    const dec = new FrameDecoder({ maxFrameSize: 1 << 20 });
    for (const m of msgs) expect(dec.push(m, c.sink)).toBeUndefined();
    expect(c.frames.length).toBe(1);
    expect(Buffer.from(c.frames[0]!).equals(Buffer.from(big))).toBe(true);
  });

  it('reports a frame as completed only with the message carrying its last byte', () => {
    const enc = new FrameEncoder<number>(MIN_MESSAGE_SIZE);
    enc.pushFrame(frameOf(3000, 1), 1);
    enc.pushFrame(frameOf(10, 2), 2);
    const done: number[] = [];
    enc.nextMessage(done);
    expect(done).toEqual([]);
    enc.nextMessage(done);
    expect(done).toEqual([]);
    enc.nextMessage(done);
    expect(done).toEqual([1, 2]);
    expect(enc.nextMessage(done)).toBeUndefined();
    expect(enc.pendingBytes).toBe(0);
  });

  it('puts control records first, and emits control-only messages on request', () => {
    const enc = new FrameEncoder<number>(MIN_MESSAGE_SIZE);
    enc.pushFrame(frameOf(5000, 1), 1);
    enc.nextMessage([]);
    enc.pushControl(RecordKind.Ping);
    const ctl = enc.nextMessage([], true)!;
    expect(ctl.byteLength).toBe(2 + 2);
    expect(enc.nextMessage([], true)).toBeUndefined();
    enc.pushControl(RecordKind.Ping, new Uint8Array([7]));
    const mixed = enc.nextMessage([])!;
    expect(mixed[2]).toBe(RecordKind.Ping);
    const c = collector();
    const dec = new FrameDecoder({ maxFrameSize: 1 << 20 });
    const enc2 = new FrameEncoder<number>(MIN_MESSAGE_SIZE);
    enc2.pushFrame(frameOf(5000, 1), 1);
    const first = enc2.nextMessage([])!;
    expect(dec.push(first, c.sink)).toBeUndefined();
    expect(dec.push(ctl, c.sink)).toBeUndefined();
    expect(dec.push(mixed, c.sink)).toBeUndefined();
    for (const m of drain(enc)) expect(dec.push(m, c.sink)).toBeUndefined();
    expect(c.controls.map((x) => [x.kind, [...x.body]])).toEqual([
      [RecordKind.Ping, []],
      [RecordKind.Ping, [7]],
    ]);
    expect(c.frames.length).toBe(1);
    expect(Buffer.from(c.frames[0]!).equals(Buffer.from(frameOf(5000, 1)))).toBe(true);
  });

  it('round-trips empty frames and frames of exactly the message payload size', () => {
    const enc = new FrameEncoder<number>(MIN_MESSAGE_SIZE);
    const sizes = [0, 0, MIN_MESSAGE_SIZE - 7, MIN_MESSAGE_SIZE - 6, 1, 0];
    sizes.forEach((s, i) => enc.pushFrame(frameOf(s, i), i));
    const c = collector();
    const dec = new FrameDecoder({ maxFrameSize: 1 << 20 });
    for (const m of drain(enc)) expect(dec.push(m, c.sink)).toBeUndefined();
    expect(c.frames.map((f) => f.byteLength)).toEqual(sizes);
  });

  it('never splits a small frame behind others: it starts the next message', () => {
    const enc = new FrameEncoder<number>(MIN_MESSAGE_SIZE);
    enc.pushFrame(frameOf(900, 0), 0);
    enc.pushFrame(frameOf(120, 1), 1); // a 122-byte record, 119 bytes left: would be split, but is small
    const done: number[] = [];
    const first = enc.nextMessage(done)!;
    expect(done).toEqual([0]);
    expect(first.byteLength).toBe(2 + 3 + 900);
    enc.nextMessage(done);
    expect(done).toEqual([0, 1]);
    // A large frame is still split to fill the message.
    enc.pushFrame(frameOf(900, 2), 2);
    enc.pushFrame(frameOf(900, 3), 3);
    const full = enc.nextMessage(done)!;
    expect(full.byteLength).toBe(MIN_MESSAGE_SIZE);
  });

  it('clear() returns the tags of frames not completely sent', () => {
    const enc = new FrameEncoder<number>(MIN_MESSAGE_SIZE);
    enc.pushFrame(frameOf(10, 0), 0);
    enc.pushFrame(frameOf(5000, 1), 1);
    enc.pushFrame(frameOf(10, 2), 2);
    const done: number[] = [];
    enc.nextMessage(done);
    expect(done).toEqual([0]);
    expect(enc.clear()).toEqual([1, 2]);
    expect(enc.isEmpty).toBe(true);
    expect(enc.pendingBytes).toBe(0);
  });

  it('encodeControlMessage produces a message the decoder accepts', () => {
    const c = collector();
    const body = new TextEncoder().encode('{"peer":"a"}');
    expect(new FrameDecoder({ maxFrameSize: 0 }).push(encodeControlMessage(RecordKind.Hello, body), c.sink)).toBeUndefined();
    expect(c.controls[0]!.kind).toBe(RecordKind.Hello);
    expect(new TextDecoder().decode(c.controls[0]!.body)).toBe('{"peer":"a"}');
    expect(() => encodeControlMessage(RecordKind.Hello, new Uint8Array(MAX_CONTROL_BYTES + 1))).toThrow(RangeError);
  });

  it('rejects bad magic, other versions, truncation and lying lengths with typed errors', () => {
    const dec = new FrameDecoder({ maxFrameSize: 1000 });
    const c = collector();
    const cases: [Uint8Array, string, RegExp][] = [
      [Uint8Array.of(), 'ProtocolError', /shorter than its header/],
      [Uint8Array.of(0x00, 1), 'ProtocolError', /not a meshrtc/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION + 1), 'ProtocolError', new RegExp(`version ${FRAMING_VERSION + 1}`)],
      // A peer of an earlier version (u32 record lengths, calls in another layout): refused, so mixed versions
      // never open a link.
      [encodeControlMessage(RecordKind.Hello, new Uint8Array(4)).map((b, i) => (i === 1 ? 2 : b)), 'ProtocolError', /unsupported framing version 2 \(this peer speaks 3\)/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame), 'ProtocolError', /truncated record header/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 0x80, 0x80), 'ProtocolError', /truncated record header/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 0x80, 0x80, 0x80, 0x80, 0x80, 1), 'ProtocolError', /longer than 5 bytes/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 0xff, 0xff, 0xff, 0xff, 0x7f), 'ProtocolError', /above 2\^32/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 9, 1, 2), 'ProtocolError', /exceeds/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 0xff, 0xff, 0xff, 0xff, 0x0f), 'ProtocolError', /exceeds/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, 0x7f, 0), 'ProtocolError', /unknown record kind/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameContinue, 1, 5), 'ProtocolError', /without a frame start/],
      // A start claiming 4 GiB: refused before anything is buffered.
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameStart, 5, 0xff, 0xff, 0xff, 0xff, 1), 'MessageTooLarge', /exceeds maxFrameSize/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameStart, 5, 0, 0, 0, 1, 1), 'ProtocolError', /carries/],
      // Shared prefixes: none to share from, a zero or oversized count, a count longer than the previous frame.
      // A wrong check byte: the receiver lost step with the sender (bytes written below this layer).
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameShared, 3, 1, 0, 9), 'ProtocolError', /previous frame has 0/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameShared, 1, 1), 'ProtocolError', /without its prefix length/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 2, 7, 7, RecordKind.FrameShared, 3, 0, 0, 9), 'ProtocolError', /shared prefix of 0 bytes/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 2, 7, 7, RecordKind.FrameShared, 3, 128, 0, 9), 'ProtocolError', /shared prefix of 128 bytes/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 2, 7, 7, RecordKind.FrameShared, 3, 3, 0, 9), 'ProtocolError', /previous frame has 2/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 2, 7, 7, RecordKind.FrameShared, 3, 2, 103, 9), 'ProtocolError', /lost step/],
    ];
    for (const [msg, code, pattern] of cases) {
      const err = dec.push(msg, c.sink);
      expect(isMeshError(err), `case ${[...msg]}`).toBe(true);
      expect(err!.code).toBe(code);
      expect(err!.message).toMatch(pattern);
      expect(dec.bufferedBytes).toBe(0);
    }
    // What came before an error in its message was delivered (the frames that the three bad shared records follow).
    expect(c.frames.map((f) => [...f])).toEqual([
      [7, 7],
      [7, 7],
      [7, 7],
      [7, 7],
    ]);
    expect(dec.stats.errors).toBe(cases.length);
    // With the right check (102 for the bytes [7, 7]) the same record rebuilds the frame [7, 7, 9].
    const ok = collector();
    expect(new FrameDecoder({ maxFrameSize: 1000 }).push(Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 2, 7, 7, RecordKind.FrameShared, 3, 2, 102, 9), ok.sink)).toBeUndefined();
    expect(ok.frames.map((f) => [...f])).toEqual([
      [7, 7],
      [7, 7, 9],
    ]);
  });

  it('rejects an overrun continuation and a start in the middle of a frame, and recovers afterwards', () => {
    const dec = new FrameDecoder({ maxFrameSize: 1000 });
    const c = collector();
    const start = Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameStart, 6, 0, 0, 0, 4, 1, 2);
    expect(dec.push(start, c.sink)).toBeUndefined();
    expect(dec.bufferedBytes).toBe(2);
    const overrun = Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameContinue, 3, 3, 4, 5);
    expect(dec.push(overrun, c.sink)?.message).toMatch(/overruns/);
    expect(dec.bufferedBytes).toBe(0);
    expect(dec.push(start, c.sink)).toBeUndefined();
    expect(dec.push(start, c.sink)?.message).toMatch(/before the previous one/);
    // Clean state again: a whole frame passes.
    const ok = Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 1, 42);
    expect(dec.push(ok, c.sink)).toBeUndefined();
    expect(c.frames.map((f) => [...f])).toEqual([[42]]);
  });

  it('refuses whole frames above the cap', () => {
    const enc = new FrameEncoder<number>(MIN_MESSAGE_SIZE);
    enc.pushFrame(frameOf(600, 1), 1);
    const dec = new FrameDecoder({ maxFrameSize: 500 });
    const err = dec.push(drain(enc)[0]!, collector().sink);
    expect(err?.code).toBe('MessageTooLarge');
  });

  it('sends only what a frame does not share with the previous one, across messages (property)', () => {
    // Frames built from a few prefixes (as actor calls are) with random tails, some large enough to be split,
    // encoded at random message sizes and decoded message by message: every frame arrives intact, whichever record
    // carried it and whichever frame (possibly split over messages) came before.
    const prefixes = [frameOf(40, 1), frameOf(200, 2), frameOf(5, 3)];
    const frameArb = fc.tuple(fc.nat(prefixes.length - 1), fc.nat(200), fc.uint8Array({ maxLength: 40 }), fc.nat(100)).map(
      ([p, cut, tail, big]) => {
        const head = prefixes[p]!.subarray(0, Math.min(cut, prefixes[p]!.byteLength));
        const f = new Uint8Array(head.byteLength + tail.byteLength + (big === 0 ? 5000 : 0));
        f.set(head);
        f.set(tail, head.byteLength);
        return f;
      },
    );
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 60 }), fc.integer({ min: MIN_MESSAGE_SIZE, max: 4096 }), (frames, messageSize) => {
        const enc = new FrameEncoder<number>(messageSize);
        const dec = new FrameDecoder({ maxFrameSize: 1 << 20 });
        const c = collector();
        const done = sendAll(enc, dec, c, frames, 4);
        expect(done).toEqual(frames.map((_, i) => i));
        expect(c.frames.map((f) => Buffer.from(f).toString('hex'))).toEqual(frames.map((f) => Buffer.from(f).toString('hex')));
        expect(dec.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('shares prefixes only within a stream: startStream() and clear() forget the previous frame', () => {
    const call = (n: number): Uint8Array => Uint8Array.from([...frameOf(30, 9), n]);
    const enc = new FrameEncoder<number>(16 * 1024);
    enc.pushFrame(call(1), 1);
    enc.pushFrame(call(2), 2);
    const first = enc.nextMessage([])!;
    // The second frame shares 30 bytes: 2 + (2 + 31) + (2 + 2 + 1) bytes instead of 2 + 2 * 33.
    expect(first.byteLength).toBe(2 + 33 + 5);
    expect(first[2 + 33]).toBe(RecordKind.FrameShared);
    const dec = new FrameDecoder({ maxFrameSize: 1024 });
    const c = collector();
    expect(dec.push(first, c.sink)).toBeUndefined();
    // The next message on the same stream may refer to the last frame of the one before.
    enc.pushFrame(call(3), 3);
    const next = enc.nextMessage([])!;
    expect(next[2]).toBe(RecordKind.FrameShared);
    expect(dec.push(next, c.sink)).toBeUndefined();
    expect(c.frames.map((f) => f[30])).toEqual([1, 2, 3]);
    // Such a message means nothing to a decoder that did not see that frame (a new channel): refused, not guessed.
    expect(new FrameDecoder({ maxFrameSize: 1024 }).push(next, collector().sink)?.message).toMatch(/previous frame has 0/);
    // On a new stream the first frame is whole again.
    for (const restart of [() => enc.startStream(), () => enc.clear()]) {
      enc.pushFrame(call(4), 4);
      enc.nextMessage([]);
      restart();
      enc.pushFrame(call(5), 5);
      const fresh = enc.nextMessage([])!;
      expect(fresh[2]).toBe(RecordKind.Frame);
      const c2 = collector();
      expect(new FrameDecoder({ maxFrameSize: 1024 }).push(fresh, c2.sink)).toBeUndefined();
      expect([...c2.frames[0]!]).toEqual([...call(5)]);
    }
  });

  it('never shares more than 127 bytes, nor fewer than 4', () => {
    const long = frameOf(500, 4);
    const enc = new FrameEncoder<number>(16 * 1024);
    enc.pushFrame(long, 0);
    enc.pushFrame(long.slice(), 1); // identical: shares 127 bytes, the other 373 are sent
    enc.pushFrame(Uint8Array.of(long[0]!, long[1]!, long[2]!, 0), 2); // shares 3 bytes: would save 1, sent whole
    const m = enc.nextMessage([])!;
    expect(m.byteLength).toBe(2 + (3 + 500) + (3 + 2 + 373) + (2 + 4));
    const c = collector();
    expect(new FrameDecoder({ maxFrameSize: 1024 }).push(m, c.sink)).toBeUndefined();
    expect(c.frames.map((f) => f.byteLength)).toEqual([500, 500, 4]);
    expect(Buffer.from(c.frames[1]!).equals(Buffer.from(long))).toBe(true);
  });

  it('round-trips random frame sequences at random message sizes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.nat(64), fc.nat(3000), fc.nat(70_000)), { maxLength: 40 }),
        fc.integer({ min: MIN_MESSAGE_SIZE, max: 70_000 }),
        fc.array(fc.integer({ min: 0, max: 45 }), { maxLength: 5 }),
        (sizes, messageSize, pingsAt) => {
          const enc = new FrameEncoder<number>(messageSize);
          const dec = new FrameDecoder({ maxFrameSize: 1 << 20 });
          const c = collector();
          const frames = sizes.map((s, i) => frameOf(s, i));
          // Interleave encoding with queueing, as a real send loop does.
          const done = sendAll(enc, dec, c, frames, 3, (i) => {
            if (pingsAt.includes(i)) enc.pushControl(RecordKind.Ping);
          });
          expect(done).toEqual(frames.map((_, i) => i));
          expect(c.frames.length).toBe(frames.length);
          c.frames.forEach((f, i) => expect(Buffer.from(f).equals(Buffer.from(frames[i]!))).toBe(true));
          expect(c.controls.length).toBe(new Set(pingsAt.filter((p) => p < frames.length)).size);
          expect(dec.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fuzz: random and mutated input never throws, never exceeds the cap, and never delivers oversized frames', () => {
    const cap = 4096;
    // Valid traffic to mutate.
    const enc = new FrameEncoder<number>(MIN_MESSAGE_SIZE);
    [0, 5, 900, 3000, 4096, 20, 1500].forEach((s, i) => enc.pushFrame(frameOf(s, i), i));
    enc.pushControl(RecordKind.Ping);
    const valid = drain(enc);
    const message = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 2048 }).map((b) => {
        const m = new Uint8Array(b.byteLength + 2);
        m[0] = FRAMING_MAGIC;
        m[1] = FRAMING_VERSION;
        m.set(b, 2);
        return m;
      }),
      fc.record({
        kind: fc.constantFrom(1, 2, 3, 0x10, 0x11, 0x12, 0x13, 0),
        len: fc.oneof(fc.nat(10), fc.nat(5000), fc.constant(0xffffffff), fc.nat()),
        total: fc.oneof(fc.nat(10), fc.nat(9000), fc.constant(0xffffffff), fc.nat()),
        body: fc.uint8Array({ maxLength: 300 }),
      }).map(({ kind, len, total, body }) => {
        const m = new Uint8Array(2 + 5 + 4 + body.byteLength);
        const v = new DataView(m.buffer);
        m[0] = FRAMING_MAGIC;
        m[1] = FRAMING_VERSION;
        m[2] = kind;
        v.setUint32(3, len >>> 0);
        v.setUint32(7, total >>> 0);
        m.set(body, 11);
        return m;
      }),
      fc.tuple(fc.nat(valid.length - 1), fc.nat(2000), fc.integer({ min: 0, max: 255 }), fc.nat(2000)).map(([i, pos, val, cut]) => {
        const m = valid[i]!.slice();
        if (m.byteLength > 0) m[pos % m.byteLength] = val;
        return m.subarray(0, Math.max(0, m.byteLength - (cut % 8 === 0 ? cut % m.byteLength : 0)));
      }),
    );
    let runs = 0;
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), (messages) => {
        runs += messages.length;
        const dec = new FrameDecoder({ maxFrameSize: cap });
        const sink: DecoderSink = {
          onFrame: (f) => {
            if (f.byteLength > cap) throw new Error(`delivered a frame of ${f.byteLength} bytes`);
          },
          onControl: (_kind, body) => {
            if (body.byteLength > MAX_CONTROL_BYTES) throw new Error('oversized control');
          },
        };
        for (const m of messages) {
          const err: MeshError | undefined = dec.push(m, sink);
          if (err !== undefined && !(isMeshError(err, 'ProtocolError') || isMeshError(err, 'MessageTooLarge'))) {
            throw new Error(`unexpected error ${String(err)}`);
          }
          if (dec.bufferedBytes > cap) throw new Error(`buffered ${dec.bufferedBytes} bytes`);
        }
      }),
      { numRuns: 6000 },
    );
    expect(runs).toBeGreaterThanOrEqual(20_000);
  });
});

describe('Queue', () => {
  it('behaves as a FIFO through many pushes and shifts', () => {
    const q = new Queue<number>();
    const ref: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      q.push(i);
      ref.push(i);
      if (i % 3 === 0) expect(q.shift()).toBe(ref.shift());
    }
    expect(q.length).toBe(ref.length);
    expect(q.peek()).toBe(ref[0]);
    expect(q.at(5)).toBe(ref[5]);
    expect(q.drain()).toEqual(ref);
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
  });
});
