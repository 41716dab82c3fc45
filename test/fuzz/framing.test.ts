/**
 * Fuzz: the transport's frame decoder and chunk reassembler (`src/transport/framing.ts`) against hostile
 * data-channel messages: random bytes, truncated records, lying record lengths and frame totals, shared-prefix
 * records with any prefix count, unknown record kinds, wrong magic and framing versions, and sequences that interleave frame starts, continuations and
 * control records. Every input is either decoded or refused with a typed error (`ProtocolError`,
 * `MessageTooLarge`); nothing throws, no frame above the cap is assembled, the reassembly buffer stays bounded
 * (in bytes counted and in memory actually retained), and no prototype changes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshError } from '../../src/errors.js';
import {
  FRAMING_MAGIC,
  FRAMING_VERSION,
  FrameDecoder,
  FrameEncoder,
  MAX_CONTROL_BYTES,
  RecordKind,
  type ControlKind,
  type DecoderSink,
} from '../../src/transport/framing.js';
import { FUZZ, FUZZ_RUNS, FUZZ_TIMEOUT_MS, Tally, arrayBufferBytes, assertNoPrototypePollution, assertPrototypesUnchanged } from './support.js';

const CONTROL_KINDS = new Set<number>([RecordKind.Hello, RecordKind.Ping, RecordKind.Bye]);
const ERROR_CODES = new Set(['ProtocolError', 'MessageTooLarge']);

/** One record as the fuzzer describes it: a kind, a body, and how the length field lies about the body. */
interface RecordSpec {
  kind: number;
  /** For FrameStart: the declared frame total written before the body. */
  total: number;
  body: Uint8Array;
  /** 0: the true length; a number: added to it; 'max': 0xffffffff. */
  lie: number | 'max';
}

interface MessageSpec {
  magic: number;
  version: number;
  records: RecordSpec[];
  /** Cut the encoded message to this fraction of its length (1 = whole). */
  cut: number;
}

const totalArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 4096, 4097, 0xffffffff) },
);

const recordArb: fc.Arbitrary<RecordSpec> = fc.record({
  kind: fc.oneof(
    {
      weight: 7,
      arbitrary: fc.constantFrom(RecordKind.Frame, RecordKind.FrameStart, RecordKind.FrameContinue, RecordKind.FrameShared, RecordKind.Ping, RecordKind.Bye, RecordKind.Hello),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  ),
  total: totalArb,
  body: fc.oneof(
    { weight: 5, arbitrary: fc.uint8Array({ maxLength: 48 }) },
    // Around the control-record cap (1024 bytes); the content does not matter there, only the size.
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 1100 }).map((n) => new Uint8Array(n).fill(n & 0xff)) },
  ),
  lie: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -6, max: 6 }) }, { weight: 1, arbitrary: fc.constant('max' as const) }),
});

const messageArb: fc.Arbitrary<MessageSpec> = fc.record({
  magic: fc.oneof({ weight: 12, arbitrary: fc.constant(FRAMING_MAGIC) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  version: fc.oneof({ weight: 12, arbitrary: fc.constant(FRAMING_VERSION) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  records: fc.array(recordArb, { maxLength: 6 }),
  cut: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }),
});

function encodeSpec(m: MessageSpec): Uint8Array {
  const bytes: number[] = [m.magic, m.version];
  for (const r of m.records) {
    const start = r.kind === RecordKind.FrameStart;
    const bodyLength = r.body.byteLength + (start ? 4 : 0);
    let length = r.lie === 'max' ? 0xffffffff : Math.min(0xffffffff, Math.max(0, bodyLength + r.lie));
    bytes.push(r.kind);
    // The length as a varint (LEB128), as version 3 writes it.
    while (length >= 0x80) {
      bytes.push((length % 0x80) | 0x80);
      length = Math.floor(length / 0x80);
    }
    bytes.push(length);
    if (start) {
      const t = r.total >>> 0;
      bytes.push(t >>> 24, (t >>> 16) & 0xff, (t >>> 8) & 0xff, t & 0xff);
    }
    for (const b of r.body) bytes.push(b);
  }
  const out = Uint8Array.from(bytes);
  return m.cut >= 1 ? out : out.subarray(0, Math.floor(out.byteLength * m.cut));
}

/** Pushes `messages` into one decoder and checks every invariant after each push. */
function pushAll(decoder: FrameDecoder, maxFrameSize: number, messages: readonly Uint8Array[], tally: Tally): void {
  let received = 0;
  const sink: DecoderSink = {
    onFrame(frame) {
      if (frame.byteLength > maxFrameSize) throw new Error(`assembled a ${frame.byteLength}-byte frame above the cap ${maxFrameSize}`);
      tally.add('frame');
    },
    onControl(kind: ControlKind, body) {
      if (!CONTROL_KINDS.has(kind)) throw new Error(`control record of kind ${kind}`);
      if (body.byteLength > MAX_CONTROL_BYTES) throw new Error(`control body of ${body.byteLength} bytes`);
      tally.add('control');
    },
  };
  for (const message of messages) {
    received += message.byteLength;
    let err;
    try {
      err = decoder.push(message, sink);
    } catch (e) {
      throw new Error(`push threw: ${String(e)}`);
    }
    if (err !== undefined) {
      if (!isMeshError(err) || !ERROR_CODES.has(err.code)) throw new Error(`untyped or unexpected error: ${String(err)}`);
      if (decoder.bufferedBytes !== 0) throw new Error('a partial frame survived an error');
      tally.add(err.code);
    } else tally.add('accepted');
    if (decoder.bufferedBytes > maxFrameSize || decoder.bufferedBytes > received) {
      throw new Error(`reassembly buffer of ${decoder.bufferedBytes} bytes (cap ${maxFrameSize}, received ${received})`);
    }
  }
  assertNoPrototypePollution();
}

describe(`fuzz: frame decoder and reassembler (${FUZZ_RUNS} inputs per property)`, () => {
  it(
    'random bytes: refused with a typed error or decoded; never a throw',
    () => {
      const tally = new Tally();
      const headed = fc.uint8Array({ maxLength: 200 }).map((b) => (b.byteLength >= 2 ? Uint8Array.from([FRAMING_MAGIC, FRAMING_VERSION, ...b.subarray(2)]) : b));
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), headed), { minLength: 1, maxLength: 4 }), (messages) => {
          pushAll(new FrameDecoder({ maxFrameSize: 4096 }), 4096, messages, tally);
        }),
        FUZZ,
      );
      console.log(`framing/random-bytes: ${tally}`);
      expect(tally.get('ProtocolError')).toBeGreaterThan(0);
      assertPrototypesUnchanged();
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'structured messages with lying lengths, truncation, unknown kinds and wrong versions',
    () => {
      const tally = new Tally();
      fc.assert(
        fc.property(fc.array(messageArb, { minLength: 1, maxLength: 5 }), fc.constantFrom(0, 64, 4096, 16 * 1024 * 1024), (specs, maxFrameSize) => {
          pushAll(new FrameDecoder({ maxFrameSize }), maxFrameSize, specs.map(encodeSpec), tally);
        }),
        FUZZ,
      );
      console.log(`framing/structured: ${tally}`);
      // The generator reaches every outcome: valid frames and controls, and both kinds of refusal.
      for (const outcome of ['frame', 'control', 'accepted', 'ProtocolError', 'MessageTooLarge']) expect(tally.get(outcome), outcome).toBeGreaterThan(0);
      assertPrototypesUnchanged();
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'reassembly: a frame is delivered only whole, at exactly its declared size, whatever the continuations claim',
    () => {
      const tally = new Tally();
      // A frame start with a declared total, then continuations of arbitrary sizes (some overrunning), with
      // control records and stray frames in between.
      // `frac` continuations take that fraction of what is missing (1: exactly the rest); `raw` ones any size.
      const step = fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(0.25, 0.5, 1, 1, 1).map((frac) => ({ t: 'cont' as const, frac, n: 0 })) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 200 }).map((n) => ({ t: 'cont' as const, frac: 0, n })) },
        { weight: 1, arbitrary: fc.constant({ t: 'ping' as const, frac: 0, n: 0 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 20 }).map((n) => ({ t: 'frame' as const, frac: 0, n })) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 600 }).map((n) => ({ t: 'start' as const, frac: 0, n })) },
      );
      const record = (kind: number, total: number, length: number): Uint8Array =>
        encodeSpec({ magic: FRAMING_MAGIC, version: FRAMING_VERSION, records: [{ kind, total, body: new Uint8Array(length), lie: 0 }], cut: 1 });
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 0, max: 100 }), fc.array(step, { maxLength: 10 }), (total, first, steps) => {
          const maxFrameSize = 512;
          const decoder = new FrameDecoder({ maxFrameSize });
          const frames: number[] = [];
          const sink: DecoderSink = { onFrame: (f) => frames.push(f.byteLength), onControl: () => {} };
          // The model: the declared total of the frame being assembled (-1: none) and the bytes it has.
          let declared = -1;
          let buffered = 0;
          const apply = (message: Uint8Array, expectOk: boolean | undefined, onOk: () => void, stray?: number): void => {
            const before = frames.length;
            const err = decoder.push(message, sink);
            if (expectOk !== undefined && expectOk !== (err === undefined)) throw new Error(`expected ${expectOk ? 'acceptance' : 'refusal'}, got ${String(err)}`);
            if (err !== undefined) {
              tally.add(err.code);
              declared = -1;
              buffered = 0;
              return;
            }
            onOk();
            for (const size of frames.slice(before)) {
              if (stray !== undefined) {
                if (size !== stray) throw new Error(`stray frame of ${size} bytes, sent ${stray}`);
              } else if (size !== declared || buffered !== declared) throw new Error(`assembled ${size} bytes of a ${declared}-byte frame (${buffered} received)`);
              else {
                tally.add('assembled');
                declared = -1;
                buffered = 0;
              }
            }
            if (frames.length === before && buffered === declared && declared >= 0) throw new Error('a complete frame was not delivered');
            if (decoder.bufferedBytes !== (declared < 0 ? 0 : buffered)) throw new Error(`buffered ${decoder.bufferedBytes}, model ${buffered}`);
          };
          const part = Math.min(first, total);
          apply(record(RecordKind.FrameStart, total, part), total <= maxFrameSize && part >= 1 && part < total, () => {
            declared = total;
            buffered = part;
          });
          for (const s of steps) {
            if (s.t === 'cont') {
              const n = s.frac > 0 ? Math.max(1, Math.ceil((declared - buffered) * s.frac)) : s.n;
              const ok = declared >= 0 && n >= 1 && buffered + n <= declared;
              apply(record(RecordKind.FrameContinue, 0, n), ok, () => (buffered += n));
            } else if (s.t === 'ping') apply(record(RecordKind.Ping, 0, 0), true, () => {});
            else if (s.t === 'frame') apply(record(RecordKind.Frame, 0, s.n), declared < 0, () => {}, s.n);
            else apply(record(RecordKind.FrameStart, s.n, 1), declared < 0 && s.n <= maxFrameSize && s.n > 1, () => {
              declared = s.n;
              buffered = 1;
            });
          }
        }),
        FUZZ,
      );
      console.log(`framing/reassembly: ${tally}`);
      expect(tally.get('assembled')).toBeGreaterThan(0);
      expect(tally.get('ProtocolError')).toBeGreaterThan(0);
      assertPrototypesUnchanged();
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'round trip: whatever the encoder produces, the decoder gives back the same frames in order',
    () => {
      fc.assert(
        fc.property(
          fc.array(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 200 }) }, { weight: 1, arbitrary: fc.integer({ min: 200, max: 12_000 }) }), { maxLength: 16 }),
          fc.integer({ min: 1024, max: 8192 }),
          (sizes, messageSize) => {
            const encoder = new FrameEncoder<number>(messageSize);
            // Runs of three frames share their first half (sent as FrameShared records), the rest differ.
            const sent = sizes.map((n, i) => new Uint8Array(n).fill(Math.floor(i / 3) & 0xff, 0, n).fill((i + 1) & 0xff, n >> 1, n));
            sent.forEach((f, i) => encoder.pushFrame(f, i));
            encoder.pushControl(RecordKind.Ping, new Uint8Array(8));
            const decoder = new FrameDecoder({ maxFrameSize: 12_000 });
            const got: Uint8Array[] = [];
            const sink: DecoderSink = { onFrame: (f) => got.push(f.slice()), onControl: () => {} };
            const done: number[] = [];
            for (let m = encoder.nextMessage(done); m !== undefined; m = encoder.nextMessage(done)) {
              if (m.byteLength > messageSize) throw new Error(`message of ${m.byteLength} > ${messageSize}`);
              const err = decoder.push(m, sink);
              if (err !== undefined) throw err;
            }
            if (got.length !== sent.length || got.some((f, i) => Buffer.compare(f, sent[i]!) !== 0)) throw new Error('frames differ after the round trip');
            if (done.length !== sent.length || done.some((t, i) => t !== i)) throw new Error(`completion tags ${done.join(',')}`);
          },
        ),
        { ...FUZZ, numRuns: Math.max(1, Math.floor(FUZZ_RUNS / 20)) },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it('memory: a frame trickled in 1-byte continuations padded to large messages does not retain those messages', () => {
    // Each message carries 1 byte of the frame and ~64 KiB of ping padding. Bytes counted stay tiny either
    // way; what matters is that the decoder does not keep the 64 KiB messages alive through views into them.
    const decoder = new FrameDecoder({ maxFrameSize: 16 * 1024 * 1024 });
    const sink: DecoderSink = { onFrame: () => {}, onControl: () => {} };
    const pings = Array.from({ length: 63 }, () => ({ kind: RecordKind.Ping, total: 0, body: new Uint8Array(1019), lie: 0 }));
    const start = encodeSpec({ magic: FRAMING_MAGIC, version: FRAMING_VERSION, records: [{ kind: RecordKind.FrameStart, total: 100_000, body: new Uint8Array(1), lie: 0 }], cut: 1 });
    expect(decoder.push(start, sink)).toBeUndefined();
    const baseline = arrayBufferBytes();
    const messages = 1000;
    for (let i = 0; i < messages; i++) {
      const m = encodeSpec({ magic: FRAMING_MAGIC, version: FRAMING_VERSION, records: [{ kind: RecordKind.FrameContinue, total: 0, body: Uint8Array.of(i & 0xff), lie: 0 }, ...pings], cut: 1 });
      expect(decoder.push(m, sink)).toBeUndefined();
    }
    expect(decoder.bufferedBytes).toBe(1 + messages);
    const retained = arrayBufferBytes() - baseline;
    console.log(`framing/memory: ${messages} messages of 64 KiB, ${decoder.bufferedBytes} bytes buffered, ${Math.round(retained / 1024)} KiB retained`);
    // Without copying, the views would keep 1000 x 64 KiB = 62.5 MiB alive.
    expect(retained).toBeLessThan(4 * 1024 * 1024);
  });
});
