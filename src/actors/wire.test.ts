import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMsgpackCodec, msgpackCodec } from '../codec/msgpack.js';
import { isMeshError } from '../errors.js';
import { shardFor } from '../placement/hash.js';
import { Kind, MAX_ID_LENGTH, MAX_NAME_LENGTH, type Frame } from './protocol.js';
import { varintSize, writeVarint } from '../codec/varint.js';
import { decodeFrame, encodeFrame, WIRE_MARKER } from './wire.js';

/** The error code `f` throws (`'none'` if it returns, `'untyped'` for anything but a MeshError). */
function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isMeshError(e) ? e.code : `untyped: ${String(e)}`;
  }
  return 'none';
}

const decode = (bytes: Uint8Array): Frame => decodeFrame(bytes, msgpackCodec);
const encode = (frame: Frame): Uint8Array => encodeFrame(frame, msgpackCodec);

/** A string as UTF-8 carries it (lone surrogates become U+FFFD). */
function wellFormed(s: string): string {
  return new TextDecoder().decode(new TextEncoder().encode(s));
}

/** What a value looks like after a trip through the codec (the receiving side's view of it). */
function normalized(v: unknown): unknown {
  if (typeof v === 'string') return wellFormed(v);
  return v === undefined ? null : msgpackCodec.decode(msgpackCodec.encode(v));
}

const uintArb = fc.oneof(fc.nat(200), fc.nat(), fc.constantFrom(0, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32, 2 ** 35, Number.MAX_SAFE_INTEGER));
/** Protocol strings: ASCII, any Unicode (surrogate pairs included), long ones. */
const nameArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }), // lone surrogates included
  fc.string({ minLength: 1, maxLength: MAX_NAME_LENGTH }),
);
const idArb = fc.oneof(nameArb, fc.string({ minLength: 1, maxLength: MAX_ID_LENGTH }));
const keyArb = fc.oneof(fc.constant(''), idArb);
/** Values of every tag: null, booleans, integers of every size and sign, floats, strings, bytes, structures. */
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1, 0.5, -0.25, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Infinity, -Infinity),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 100 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ minLength: 65, maxLength: 300 }),
  fc.uint8Array({ maxLength: 2000 }),
  fc
    .jsonValue({ maxDepth: 4 })
    .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
    .filter((v) => !/"(__proto__|__proto_|constructor|prototype)":/.test(JSON.stringify(v))), // keys the codec refuses
  fc.record({ n: fc.integer(), bytes: fc.uint8Array({ maxLength: 8 }), list: fc.array(fc.string(), { maxLength: 3 }) }),
);

const callArb = fc
  .tuple(uintArb, nameArb, nameArb, idArb, nameArb, valueArb, uintArb, keyArb, uintArb)
  .map(([rid, cap, type, id, op, arg, view, key, ttl]): Frame => [Kind.Call, rid, cap, type, id, op, arg, view, key, ttl]);
const castArb = fc
  .tuple(nameArb, nameArb, idArb, nameArb, valueArb, uintArb, uintArb)
  .map(([cap, type, id, op, arg, view, hops]): Frame => [Kind.Cast, cap, type, id, op, arg, view, hops]);
const replyArb = fc.tuple(uintArb, valueArb).map(([rid, reply]): Frame => [Kind.Reply, rid, reply]);
const eventArb = fc.tuple(uintArb, uintArb, valueArb).map(([subId, seq, event]): Frame => [Kind.Event, subId, seq, event]);
const hotArb = fc.oneof(callArb, castArb, replyArb, eventArb);

/** Where the value (argument, reply, event) of each hot frame is. */
const VALUE_AT: Record<number, number> = { [Kind.Call]: 6, [Kind.Cast]: 5, [Kind.Reply]: 2, [Kind.Event]: 3 };

/** The frame as the receiver must see it: same fields, the value as the codec would deliver it. */
function expected(f: Frame): unknown[] {
  const out: unknown[] = f.map((x) => (typeof x === 'string' ? wellFormed(x) : x));
  const at = VALUE_AT[f[0]]!;
  out[at] = normalized(f[at]);
  return out;
}

/** `n` as varint bytes. */
function v(n: number): number[] {
  const out = new Uint8Array(8);
  return Array.from(out.subarray(0, writeVarint(out, 0, n)));
}

function comparable(v: unknown): unknown {
  // Byte arrays compare by content (the codec yields Buffers on Node, the binary layout plain Uint8Arrays).
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  if (Array.isArray(v)) return v.map(comparable);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, comparable(x)]));
  return v;
}

describe('wire: binary actor frames', () => {
  it('round-trips call, cast, reply and event frames with values of every kind', () => {
    fc.assert(
      fc.property(hotArb, (frame) => {
        const bytes = encode(frame);
        expect(bytes[0]).toBe(WIRE_MARKER);
        expect(bytes[1]).toBe(frame[0]);
        expect(comparable(decode(bytes))).toEqual(comparable(expected(frame)));
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips varints at every width up to 2^53 - 1', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), (n) => {
        const out = new Uint8Array(8);
        expect(writeVarint(out, 0, n)).toBe(varintSize(n));
        const frame = decode(Uint8Array.from([WIRE_MARKER, Kind.Reply, ...out.subarray(0, varintSize(n)), 0x00]));
        expect(frame).toEqual([Kind.Reply, n, null]);
      }),
      { numRuns: 3000 },
    );
  });

  it('sends a lone surrogate as U+FFFD, so a name arrives as the string routing hashed', () => {
    const lone = 'a\ud800b';
    const call: Frame = [Kind.Call, 1, 'game', 'memo', lone, 'add', lone, 0, '', 100];
    const got = decode(encode(call));
    expect(got[4]).toBe('a\ufffdb');
    expect(got[6]).toBe('a\ufffdb');
    expect(shardFor(got[4] as string, 4096)).toBe(shardFor(lone, 4096));
  });

  it('encodes undefined as null, -0 as 0, and gives byte values back as copies', () => {
    expect(decode(encode([Kind.Reply, 1, undefined]))).toEqual([Kind.Reply, 1, null]);
    expect(Object.is((decode(encode([Kind.Reply, 1, -0])) as unknown[])[2], 0)).toBe(true);
    const payload = Uint8Array.of(1, 2, 3);
    const bytes = encode([Kind.Reply, 7, payload]);
    const got = (decode(bytes) as unknown[])[2] as Uint8Array;
    expect(got).toBeInstanceOf(Uint8Array);
    bytes.fill(0); // the transport may reuse its buffer: the decoded value must not change
    payload.fill(9); // nor may the caller's array after encoding
    expect(Array.from(got)).toEqual([1, 2, 3]);
  });

  it('never lets a later frame overwrite an earlier one (frames share buffers)', () => {
    const frames = Array.from({ length: 2000 }, (_, i) => encode([Kind.Call, i, 'cap', 'type', `id-${i}`, 'op', new Uint8Array(i % 300).fill(i & 0xff), 1, '', 1000]));
    frames.forEach((bytes, i) => expect((decode(bytes) as unknown[])[4]).toBe(`id-${i}`));
  });

  it('keeps every other frame in the codec, byte for byte, and still reads codec-encoded hot frames', () => {
    const others: Frame[] = [
      [Kind.Error, 3, { code: 'NotOwner', message: 'moved', details: { view: 4 } }, 4],
      [Kind.Fetch, 1, 'game/memo/a', 2],
      [Kind.Subscribe, 1, 'game', 'memo', 'a', 5, 2, '', 0],
      [Kind.StatsUnwatch],
    ];
    for (const f of others) {
      expect(encode(f)).toEqual(msgpackCodec.encode(f));
      expect(decode(encode(f))).toEqual(f);
    }
    // A frame as a peer (or a fuzzer) may write it with the codec alone.
    const call: Frame = [Kind.Call, 9, 'game', 'echo', 'x', 'echo', 'hi', 0, '', 1000];
    expect(decode(msgpackCodec.encode(call))).toEqual(call);
  });

  it('decodes short names through its cache exactly, whatever shares a slot in it', () => {
    const names: string[] = [];
    for (let i = 0; i < 3000; i++) names.push(`e${i}`);
    for (let c = 0x20; c < 0x7f; c++) names.push(String.fromCharCode(c));
    // Same length, first and last bytes (the cache's hash): only the middle differs.
    for (const mid of ['', 'a', 'b', 'ab', 'ba', 'xyz', 'xzy']) names.push(`<${mid}>`, `<${mid}${mid}>`);
    names.push('é', 'aé', 'éa', 'ab\u00ff', 'x'.repeat(32), 'x'.repeat(33), `${'x'.repeat(31)}y`);
    for (const order of [names, [...names].reverse(), names]) {
      for (const name of order) {
        const back = decode(encode([Kind.Call, 1, name, 'echo', name, name, null, 0, name, 0])) as Frame & unknown[];
        expect([back[2], back[4], back[5], back[8]]).toEqual([name, name, name, name]);
      }
    }
  });

  it('decodes a frame inside a codec value (a codec that decodes frames itself)', () => {
    const inner = encode([Kind.Reply, 5, 'inner']);
    const nesting = {
      name: 'nesting',
      limits: msgpackCodec.limits,
      encode: (v: unknown) => msgpackCodec.encode(v),
      decode: (b: Uint8Array) => {
        const v = msgpackCodec.decode(b) as { frame?: Uint8Array };
        return v.frame === undefined ? v : decodeFrame(v.frame, msgpackCodec);
      },
    };
    const outer = encodeFrame([Kind.Call, 9, 'cap', 'type', 'id', 'op', { frame: inner }, 3, 'key', 7], nesting);
    expect(decodeFrame(outer, nesting)).toEqual([Kind.Call, 9, 'cap', 'type', 'id', 'op', [Kind.Reply, 5, 'inner'], 3, 'key', 7]);
  });

  it('is smaller than the codec for a typical call and reply', () => {
    const arg = new Uint8Array(100);
    const call: Frame = [Kind.Call, 300_000, 'bench', 'echo', 'e12', 'echo', arg, 3, '', 30_000];
    const reply: Frame = [Kind.Reply, 300_000, arg];
    expect(encode(call).byteLength).toBeLessThan(msgpackCodec.encode(call).byteLength);
    expect(encode(reply).byteLength).toBeLessThan(msgpackCodec.encode(reply).byteLength);
  });

  it('refuses every truncation of a valid frame with a ProtocolError', () => {
    fc.assert(
      fc.property(hotArb, fc.double({ min: 0, max: 1, noNaN: true }), (frame, cut) => {
        const bytes = encode(frame);
        const end = Math.min(bytes.byteLength - 1, Math.floor(bytes.byteLength * cut));
        const code = codeOf(() => decode(bytes.subarray(0, end)));
        // A cut inside an embedded codec value is the codec's to report; anything else is ours.
        expect(['ProtocolError', 'CodecError']).toContain(code);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses trailing bytes, unknown kinds and tags, bad varints, bad strings, with a ProtocolError', () => {
    const reply = (...rest: number[]): Uint8Array => Uint8Array.from([WIRE_MARKER, Kind.Reply, ...rest]);
    const str = (s: string): number[] => [s.length * 2, ...Array.from(s, (c) => c.charCodeAt(0))];
    const call = (cap: number[], key: number[] = [0]): Uint8Array =>
      // view 0, capability, type, op, ttl 100, key, id, request id 1, a null argument
      Uint8Array.from([WIRE_MARKER, Kind.Call, 0, ...cap, ...str('type'), ...str('op'), 100, ...key, ...str('id'), 1, 0x00]);
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['marker alone', Uint8Array.of(WIRE_MARKER), /without a kind/],
      ['unknown kind', Uint8Array.of(WIRE_MARKER, 99, 0), /unknown binary frame kind 99/],
      ['error frames are not binary', Uint8Array.of(WIRE_MARKER, Kind.Error, 0), /unknown binary frame kind 4/],
      ['trailing byte', reply(1, 0x00, 0x00), /1 trailing bytes/],
      ['unknown value tag', reply(1, 0x09), /unknown value tag 0x9/],
      ['varint of 9 bytes', reply(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00), /longer than 8 bytes/],
      ['varint above 2^53', reply(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00), /above 2\^53/],
      ['negative zero', reply(1, 0x04, 0x00), /negative zero/],
      ['string length beyond the frame', reply(1, 0x06, 0x05, 0x61), /truncated/],
      ['bytes length beyond the frame', reply(1, 0x07, 0xff, 0xff, 0x03), /truncated/],
      ['empty capability', call([0]), /empty capability/],
      ['string reference', call([3]), /references are not supported/],
      ['capability too long', call(v((MAX_NAME_LENGTH * 3 + 1) * 2)), /capability longer than 256/],
      ['invalid UTF-8', call([4, 0xc3, 0x28]), /invalid UTF-8/],
      ['a lone surrogate in UTF-8 form', call([6, 0xed, 0xa0, 0x80]), /invalid UTF-8/],
      ['key too long', call(str('cap'), v((MAX_ID_LENGTH * 3 + 1) * 2)), /idempotency key longer than 1024/],
    ];
    for (const [name, bytes, pattern] of cases) {
      let error: unknown;
      try {
        decode(bytes);
      } catch (e) {
        error = e;
      }
      expect(isMeshError(error, 'ProtocolError'), name).toBe(true);
      expect((error as Error).message, name).toMatch(pattern);
    }
    // A capability of 256 characters that take 2 UTF-8 bytes each is fine; one more character is not.
    const ok = encode([Kind.Call, 1, 'é'.repeat(MAX_NAME_LENGTH), 't', 'i', 'o', null, 0, '', 1]);
    expect((decode(ok) as unknown[])[2]).toBe('é'.repeat(MAX_NAME_LENGTH));
    const long = encode([Kind.Call, 1, 'é'.repeat(MAX_NAME_LENGTH + 1), 't', 'i', 'o', null, 0, '', 1]);
    expect(codeOf(() => decode(long))).toBe('ProtocolError');
  });

  it('never throws anything but a typed error on random bytes after the marker', () => {
    fc.assert(
      fc.property(fc.constantFrom(Kind.Call, Kind.Cast, Kind.Reply, Kind.Event, 0, 4, 200), fc.uint8Array({ maxLength: 80 }), (kind, rest) => {
        const code = codeOf(() => decode(Uint8Array.from([WIRE_MARKER, kind, ...rest])));
        expect(code.startsWith('untyped')).toBe(false);
      }),
      { numRuns: 20_000 },
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('decodes embedded values with the codec rules: no prototype keys, bounded depth and size', () => {
    const hostile = msgpackCodec.encode({ __proto_x: { polluted: true } });
    hostile[12] = 0x5f; // rewrite the key to "__proto__" (de 0001 | a9 "__proto_x" | ...)
    const frame = Uint8Array.from([WIRE_MARKER, Kind.Reply, 1, 0x08, hostile.byteLength, ...hostile]);
    expect(codeOf(() => decode(frame))).toBe('CodecError');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    const small = createMsgpackCodec({ maxBytes: 64, maxDepth: 4 });
    expect(codeOf(() => encodeFrame([Kind.Reply, 1, 'x'.repeat(65)], small))).toBe('MessageTooLarge');
    expect(codeOf(() => encodeFrame([Kind.Reply, 1, new Uint8Array(65)], small))).toBe('MessageTooLarge');
    expect(codeOf(() => encodeFrame([Kind.Reply, 1, new Uint8Array(60)], small))).toBe('MessageTooLarge'); // 60 + header > 64
    expect(codeOf(() => encodeFrame([Kind.Reply, 1, [[[[[1]]]]]], small))).toBe('CodecError');
    expect(codeOf(() => decodeFrame(new Uint8Array(65), small))).toBe('MessageTooLarge');
    const deep = Uint8Array.from([WIRE_MARKER, Kind.Reply, 1, 0x08, 6, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0]);
    expect(codeOf(() => decodeFrame(deep, small))).toBe('CodecError');
  });
});
