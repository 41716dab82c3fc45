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
    expect(ctl.byteLength).toBe(2 + 5);
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
    enc.pushFrame(frameOf(120, 1), 1); // a 125-byte record, 117 bytes left: would be split, but is small
    const done: number[] = [];
    const first = enc.nextMessage(done)!;
    expect(done).toEqual([0]);
    expect(first.byteLength).toBe(2 + 5 + 900);
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
      // A peer of the previous version (MessagePack call frames): refused, so mixed versions never open a link.
      [encodeControlMessage(RecordKind.Hello, new Uint8Array(4)).map((b, i) => (i === 1 ? 1 : b)), 'ProtocolError', /unsupported framing version 1 \(this peer speaks 2\)/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 0, 0), 'ProtocolError', /truncated record header/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 0, 0, 0, 9, 1, 2), 'ProtocolError', /exceeds/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 0xff, 0xff, 0xff, 0xff), 'ProtocolError', /exceeds/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, 0x7f, 0, 0, 0, 0), 'ProtocolError', /unknown record kind/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameContinue, 0, 0, 0, 1, 5), 'ProtocolError', /without a frame start/],
      // A start claiming 4 GiB: refused before anything is buffered.
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameStart, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 1), 'MessageTooLarge', /exceeds maxFrameSize/],
      [Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameStart, 0, 0, 0, 5, 0, 0, 0, 1, 1), 'ProtocolError', /carries/],
    ];
    for (const [msg, code, pattern] of cases) {
      const err = dec.push(msg, c.sink);
      expect(isMeshError(err), `case ${[...msg]}`).toBe(true);
      expect(err!.code).toBe(code);
      expect(err!.message).toMatch(pattern);
      expect(dec.bufferedBytes).toBe(0);
    }
    expect(c.frames).toEqual([]);
    expect(dec.stats.errors).toBe(cases.length);
  });

  it('rejects an overrun continuation and a start in the middle of a frame, and recovers afterwards', () => {
    const dec = new FrameDecoder({ maxFrameSize: 1000 });
    const c = collector();
    const start = Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameStart, 0, 0, 0, 6, 0, 0, 0, 4, 1, 2);
    expect(dec.push(start, c.sink)).toBeUndefined();
    expect(dec.bufferedBytes).toBe(2);
    const overrun = Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.FrameContinue, 0, 0, 0, 3, 3, 4, 5);
    expect(dec.push(overrun, c.sink)?.message).toMatch(/overruns/);
    expect(dec.bufferedBytes).toBe(0);
    expect(dec.push(start, c.sink)).toBeUndefined();
    expect(dec.push(start, c.sink)?.message).toMatch(/before the previous one/);
    // Clean state again: a whole frame passes.
    const ok = Uint8Array.of(FRAMING_MAGIC, FRAMING_VERSION, RecordKind.Frame, 0, 0, 0, 1, 42);
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
          const done: number[] = [];
          frames.forEach((f, i) => {
            enc.pushFrame(f, i);
            if (pingsAt.includes(i)) enc.pushControl(RecordKind.Ping);
            // Interleave encoding with queueing, as a real send loop does.
            if (i % 3 === 0) {
              const m = enc.nextMessage(done);
              if (m !== undefined) expect(dec.push(m, c.sink)).toBeUndefined();
            }
          });
          for (const m of drain(enc, done)) {
            expect(m.byteLength).toBeLessThanOrEqual(messageSize);
            expect(dec.push(m, c.sink)).toBeUndefined();
          }
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
