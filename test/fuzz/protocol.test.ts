/**
 * Fuzz: the actor protocol as a peer receives it, from bytes to served calls.
 *
 * - `decodeFrame` (src/actors/wire.ts: the binary layout of hot frames, else `codec.decode` + `asFrame` from
 *   src/codec/msgpack.ts and src/actors/protocol.ts) on random bytes, on hostile MessagePack built by hand
 *   (10,000-deep nesting, `__proto__`/`constructor`/`prototype` keys, lying str/bin/array/map lengths, unknown
 *   frame kinds, wrong field types) and on mutated binary frames (flipped bytes, lying varints and lengths,
 *   truncation, trailing bytes). Only typed errors come out.
 * - A real `Mesh` fed the same hostile frames from one peer through its transport: each is dropped and
 *   counted or answered with a typed error; the mesh keeps serving another peer, never disconnects it, and
 *   Object.prototype stays clean.
 * - Replayed request ids: a call frame delivered two or three times runs its handler once (the replay is dropped,
 *   or answered from the idempotency table of a durable actor).
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kind } from '../../src/actors/protocol.js';
import { WIRE_MARKER, decodeFrame, encodeFrame } from '../../src/actors/wire.js';
import { msgpackCodec } from '../../src/codec/msgpack.js';
import { isMeshError } from '../../src/errors.js';
import { createMesh, defineActor, MemoryStateStore, type Mesh } from '../../src/index.js';
import type { SendListener, Transport, TransportHandlers } from '../../src/transport/types.js';
import { FUZZ, FUZZ_RUNS, FUZZ_TIMEOUT_MS, Tally, assertNoPrototypePollution, assertPrototypesUnchanged } from './support.js';

const DECODE_ERRORS = new Set(['CodecError', 'ProtocolError', 'MessageTooLarge']);
/** Packs anything, including keys our codec refuses to encode (the hostile peer does not use our codec). */
const rawPackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** An object with an own `__proto__` (or other dangerous) key, as JSON.parse makes it. */
function hostileObject(key: string, value: unknown): Record<string, unknown> {
  return JSON.parse(`{${JSON.stringify(key)}: ${JSON.stringify(value)}, "x": 1}`) as Record<string, unknown>;
}

/** `depth` nested one-element arrays around nil, as raw MessagePack (fixarray 0x91 ... 0xc0). */
function deepArray(depth: number): Uint8Array {
  const b = new Uint8Array(depth + 1).fill(0x91);
  b[depth] = 0xc0;
  return b;
}

/** `depth` nested one-entry maps `{"a": ...}` around nil (fixmap 0x81, fixstr "a"). */
function deepMap(depth: number): Uint8Array {
  const b = new Uint8Array(depth * 3 + 1);
  for (let i = 0; i < depth; i++) b.set([0x81, 0xa1, 0x61], i * 3);
  b[depth * 3] = 0xc0;
  return b;
}

/** Headers that announce far more data than follows. */
const LYING_HEADERS: readonly Uint8Array[] = [
  Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61), // str32 of 4 GiB
  Uint8Array.of(0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00), // bin32 of 2 GiB
  Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01), // array32 of 4 G entries
  Uint8Array.of(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61), // map32 of 4 G entries
  Uint8Array.of(0x9a, 0x01, 0x01), // fixarray of 10, 2 present (a call frame cut short)
  Uint8Array.of(0xc7, 0xff, 0x01), // ext8 of 255 bytes, none present
  Uint8Array.of(0xd4, 0x00, 0x00), // fixext1 with type 0 (msgpackr extension space)
];

/** Values that stress the validators: wrong types at every position, huge numbers, long strings. */
const fieldArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -2, max: 2 ** 31 }),
  fc.constantFrom(-1, 0, 1, 1.5, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, 2 ** 64, true, false, null),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', 'game', 'counter', 'memo', 'add', 'get', '__proto__', 'constructor', 'x'.repeat(2000)),
  fc.uint8Array({ maxLength: 8 }),
  fc.constantFrom<unknown>([], {}, [1, 2], { op: 'add' }),
  fc.constantFrom('__proto__', 'constructor', 'prototype').map((k) => hostileObject(k, { polluted: true })),
);

/** A frame-shaped array: a kind (known or not) and fields of any type. */
const frameArb: fc.Arbitrary<unknown[]> = fc
  .tuple(fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 13 }) }, { weight: 1, arbitrary: fc.integer({ min: -5, max: 300 }) }), fc.array(fieldArb, { maxLength: 11 }))
  .map(([kind, fields]) => [kind, ...fields]);

const nameArb = fc.oneof(fc.constantFrom('game', 'chat', 'memo', 'ledger', 'add', 'get', 'nope'), fc.string({ minLength: 1, maxLength: 6 }));
const idArb = fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.string({ minLength: 1, maxLength: 8 }));
const uintArb = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 2 ** 40 }));
/** Frames that pass `asFrame` (right shapes, arbitrary values): they reach the mesh's handlers. */
const validFrameArb: fc.Arbitrary<unknown[]> = fc.oneof(
  fc.tuple(uintArb, nameArb, fc.constantFrom('memo', 'ledger', 'nope'), idArb, nameArb, fieldArb, uintArb, fc.string({ maxLength: 4 }), fc.integer({ min: 0, max: 3000 })).map((t) => [Kind.Call, ...t]),
  fc.tuple(nameArb, fc.constantFrom('memo', 'nope'), idArb, nameArb, fieldArb, uintArb, fc.integer({ min: 0, max: 5 })).map((t) => [Kind.Cast, ...t]),
  fc.tuple(uintArb, fieldArb).map((t) => [Kind.Reply, ...t]),
  fc.tuple(uintArb, fc.constantFrom<unknown>({ code: 'NotOwner', message: 'x' }, { code: 'Bogus' }, {}), uintArb).map((t) => [Kind.Error, ...t]),
  fc.tuple(uintArb, fc.oneof(fc.constantFrom('game/memo/a', 'game/ledger/b', 'bad'), fc.string({ minLength: 1, maxLength: 12 })), uintArb, uintArb).map(([rid, key, version, epoch]) => [Kind.Mirror, rid, key, { state: { n: 1 }, version, epoch }]),
  fc.tuple(uintArb, fc.oneof(fc.constantFrom('game/memo/a', 'bad'), fc.string({ minLength: 1, maxLength: 12 })), fc.integer({ min: 0, max: 3 })).map((t) => [Kind.Fetch, ...t]),
  fc.tuple(uintArb, nameArb, fc.constantFrom('memo', 'nope'), idArb, uintArb, uintArb, fc.string({ maxLength: 4 }), uintArb).map((t) => [Kind.Subscribe, ...t]),
  fc.tuple(uintArb, uintArb, fieldArb).map((t) => [Kind.Event, ...t]),
  uintArb.map((subId) => [Kind.Unsubscribe, subId]),
  fc.tuple(uintArb, uintArb, nameArb).map((t) => [Kind.SubEnd, ...t]),
  fc.integer({ min: 0, max: 100_000 }).map((ms) => [Kind.StatsWatch, ms]),
  fc.constant<unknown[]>([Kind.StatsUnwatch]),
  fc.constantFrom<unknown>({}, { kind: 'edge', actors: 'many' }, { peers: [1, 2] }).map((r) => [Kind.StatsReport, r]),
);

/** Hostile bytes of every flavour. */
const DEEP = [deepArray(10_000), deepMap(10_000), deepArray(65), deepArray(64)];

/** Valid hot frames in the binary layout, to be mutated. */
const binaryFrameArb: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    fc.tuple(fc.nat(), nameArb0(), nameArb0(), fc.string({ minLength: 1, maxLength: 8 }), nameArb0(), fc.jsonValue({ maxDepth: 2 }), fc.nat(), fc.string({ maxLength: 6 }), fc.nat(5000)).map(
      ([rid, cap, type, id, op, arg, view, key, ttl]) => [Kind.Call, rid, cap, type, id, op, arg, view, key, ttl] as unknown[],
    ),
    fc.tuple(nameArb0(), nameArb0(), fc.string({ minLength: 1, maxLength: 8 }), nameArb0(), fc.jsonValue({ maxDepth: 2 }), fc.nat(), fc.nat(3)).map((t) => [Kind.Cast, ...t] as unknown[]),
    fc.tuple(fc.nat(), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 8 }), fc.double())).map((t) => [Kind.Reply, ...t] as unknown[]),
    fc.tuple(fc.nat(), fc.nat(), fc.jsonValue({ maxDepth: 2 })).map((t) => [Kind.Event, ...t] as unknown[]),
  )
  .map((f) => {
    try {
      return encodeFrame(f as never, msgpackCodec);
    } catch {
      // A generated value our encoder refuses (a `constructor` key, say): send a plain reply instead.
      return encodeFrame([Kind.Reply, 1, null], msgpackCodec);
    }
  });

function nameArb0(): fc.Arbitrary<string> {
  return fc.oneof(fc.constantFrom('game', 'memo', 'add'), fc.string({ minLength: 1, maxLength: 6 }));
}

/** A binary frame with one change: a flipped byte, a cut, extra bytes, or a byte forced to 0xff (a lying varint). */
const mutatedBinaryArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(binaryFrameArb, fc.constantFrom('flip', 'cut', 'extend', 'varint'), fc.nat(), fc.integer({ min: 1, max: 255 }))
  .map(([bytes, how, at, x]) => {
    const b = Uint8Array.from(bytes);
    const i = 2 + (at % Math.max(1, b.byteLength - 2));
    if (how === 'cut') return b.subarray(0, Math.min(b.byteLength - 1, i));
    if (how === 'extend') return Uint8Array.from([...b, x]);
    if (i < b.byteLength) b[i] = how === 'varint' ? 0xff : b[i]! ^ x;
    return b;
  });
const hostileBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 96 }) },
  { weight: 12, arbitrary: frameArb.map((f) => rawPackr.pack(f) as Uint8Array) },
  { weight: 12, arbitrary: validFrameArb.map((f) => rawPackr.pack(f) as Uint8Array) },
  { weight: 1, arbitrary: fc.constantFrom(...LYING_HEADERS) },
  { weight: 1, arbitrary: fc.constantFrom(...DEEP) },
  { weight: 4, arbitrary: mutatedBinaryArb },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 20 }), fc.uint8Array({ maxLength: 40 })).map(([k, rest]) => Uint8Array.from([WIRE_MARKER, k, ...rest])) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(frameArb, fc.integer({ min: 0, max: 40 }))
      .map(([f, cut]) => {
        const b = rawPackr.pack(f) as Uint8Array;
        return b.subarray(0, Math.max(0, b.byteLength - 1 - cut)); // truncated
      }),
  },
);

// ---------------------------------------------------------------------------------------------------------------
// A mesh whose transport is driven by the test: frames from any peer id are injected, sends are recorded.

interface Sent {
  to: string;
  frame: unknown;
}

class DrivenTransport implements Transport {
  readonly maxFrameSize = 16 * 1024 * 1024;
  handlers: TransportHandlers | undefined;
  readonly sent: Sent[] = [];
  readonly disconnected: string[] = [];

  constructor(readonly localPeerId: string) {}

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  send(peerId: string, frame: Uint8Array): Promise<void> {
    this.sent.push({ to: peerId, frame: decodeFrame(frame, msgpackCodec) });
    return Promise.resolve();
  }

  post(peerId: string, frame: Uint8Array, _listener?: SendListener): void {
    this.sent.push({ to: peerId, frame: decodeFrame(frame, msgpackCodec) });
  }

  disconnect(peerId: string): void {
    this.disconnected.push(peerId);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Delivers `bytes` as a frame from `from`; anything thrown out of the mesh's handler fails the test. */
  inject(from: string, bytes: Uint8Array): void {
    this.handlers!.onFrame(from, bytes);
  }
}

/** Handler executions, by token (the call's argument). */
const executions = new Map<string, number>();
const run = (token: unknown): number => {
  const t = String(token);
  const n = (executions.get(t) ?? 0) + 1;
  executions.set(t, n);
  return n;
};

const Memo = defineActor({
  type: 'memo',
  durability: 'memory',
  initialState: () => ({ n: 0 }),
  handlers: { add: (state, token: string) => (run(token), ++state.n), get: (state) => state.n },
});
const Ledger = defineActor({
  type: 'ledger',
  durability: 'local',
  initialState: () => ({ n: 0 }),
  handlers: { add: (state, token: string) => (run(token), ++state.n) },
});

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

describe(`fuzz: actor protocol (${FUZZ_RUNS} inputs per property)`, () => {
  let transport: DrivenTransport;
  let mesh: Mesh;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    transport = new DrivenTransport('victim');
    mesh = await createMesh({ peerId: 'victim', capabilities: ['game'], actors: [Memo, Ledger], transport, store: new MemoryStateStore(), defaultTimeoutMs: 2000 });
  });
  afterAll(async () => {
    await mesh.close();
    process.off('unhandledRejection', onUnhandled);
  });

  it(
    'decodeFrame: random and hostile bytes (both wire forms) give a valid frame or a typed error, never anything else',
    () => {
      const tally = new Tally();
      fc.assert(
        fc.property(hostileBytesArb, (bytes) => {
          let frame;
          try {
            frame = decodeFrame(bytes, msgpackCodec);
          } catch (e) {
            if (!isMeshError(e) || !DECODE_ERRORS.has(e.code)) throw new Error(`untyped decode failure: ${String(e)}`);
            tally.add(e.code);
            return;
          }
          if (!Array.isArray(frame) || typeof frame[0] !== 'number' || frame[0] < Kind.Call || frame[0] > Kind.StatsReport) throw new Error('asFrame let a non-frame through');
          tally.add(`frame ${frame[0]}`);
          assertNoPrototypePollution();
        }),
        FUZZ,
      );
      console.log(`protocol/decode: ${tally}`);
      expect(tally.get('CodecError')).toBeGreaterThan(0);
      expect(tally.get('ProtocolError')).toBeGreaterThan(0);
      for (const kind of [Kind.Call, Kind.Cast, Kind.Reply, Kind.Event]) expect(tally.get(`frame ${kind}`), `kind ${kind}`).toBeGreaterThan(0);
      assertPrototypesUnchanged();
    },
    FUZZ_TIMEOUT_MS,
  );

  it('the named hostile shapes: 10,000-deep nesting, __proto__ keys, lying lengths', () => {
    const codeOf = (bytes: Uint8Array): string => {
      try {
        decodeFrame(bytes, msgpackCodec);
        return 'accepted';
      } catch (e) {
        return isMeshError(e) ? e.code : `untyped ${String(e)}`;
      }
    };
    expect(codeOf(deepArray(10_000))).toBe('CodecError');
    expect(codeOf(deepMap(10_000))).toBe('CodecError');
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const call = [Kind.Call, 1, 'game', 'memo', 'x', 'add', hostileObject(key, { polluted: true }), 0, '', 1000];
      expect(codeOf(rawPackr.pack(call) as Uint8Array), key).toBe('CodecError');
    }
    for (const header of LYING_HEADERS) expect(['CodecError', 'ProtocolError']).toContain(codeOf(header));
    expect(codeOf(rawPackr.pack([99, 1, 2]) as Uint8Array)).toBe('ProtocolError');
    // The binary layout: an unknown kind, a varint longer than 8 bytes, a string longer than the frame.
    expect(codeOf(Uint8Array.of(WIRE_MARKER, 99))).toBe('ProtocolError');
    expect(codeOf(Uint8Array.of(WIRE_MARKER, Kind.Reply, ...new Array<number>(12).fill(0xff), 0x00))).toBe('ProtocolError');
    expect(codeOf(Uint8Array.of(WIRE_MARKER, Kind.Event, 1, 1, 0x06, 0x7f, 0x61))).toBe('ProtocolError');
    assertPrototypesUnchanged();
  });

  it(
    'a mesh fed hostile frames by one peer drops or refuses each, and keeps serving another peer',
    async () => {
      const tally = new Tally();
      const droppedBefore = mesh.stats().framesDropped;
      let injected = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(hostileBytesArb, { minLength: 10, maxLength: 10 }), async (batch) => {
          for (const bytes of batch) {
            try {
              transport.inject('evil', bytes);
            } catch (e) {
              throw new Error(`the mesh threw out of onFrame: ${String(e)}`);
            }
            injected++;
          }
          assertNoPrototypePollution();
          if (injected % 2000 < batch.length) await settle();
        }),
        { ...FUZZ, numRuns: Math.max(1, Math.ceil(FUZZ_RUNS / 10)) },
      );
      await settle();
      // Every frame sent back to the hostile peer is a well-formed reply or a typed error.
      for (const s of transport.sent.splice(0)) {
        const f = s.frame as unknown[];
        if (f[0] === Kind.Error) {
          const code = (f[2] as { code?: unknown }).code;
          tally.add(`error ${String(code)}`);
          expect(typeof code).toBe('string');
        } else tally.add(`kind ${String(f[0])}`);
      }
      const dropped = mesh.stats().framesDropped - droppedBefore;
      console.log(`protocol/mesh: ${injected} frames injected, ${dropped} dropped and counted; answers: ${tally}`);
      expect(injected).toBeGreaterThanOrEqual(FUZZ_RUNS);
      expect(dropped).toBeGreaterThan(injected / 3);
      // Another peer is served as before, and nobody was disconnected for it.
      transport.inject('good', msgpackCodec.encode([Kind.Call, 1, 'game', 'memo', 'after-fuzz', 'add', 'good-1', 0, '', 2000]));
      await settle();
      expect(transport.sent.filter((s) => s.to === 'good')).toEqual([{ to: 'good', frame: [Kind.Reply, 1, 1] }]);
      expect(transport.disconnected).toEqual([]);
      expect(unhandled).toEqual([]);
      // What a peer can make another hold stays bounded: watch leases, subscriptions, replay windows.
      const stats = mesh.stats();
      console.log(`protocol/mesh: afterwards ${stats.activeActors} actors, ${stats.subscribers} subscribers, ${stats.statsWatchers} stats watchers`);
      expect(stats.statsWatchers).toBeLessThanOrEqual(32);
      assertPrototypesUnchanged();
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'replayed request ids: a call delivered again runs once (dropped, or answered from the dedupe table)',
    async () => {
      let rid = 1_000_000;
      let seq = 0;
      const tally = new Tally();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('memo', 'ledger'),
          fc.boolean(),
          fc.integer({ min: 2, max: 3 }),
          fc.boolean(),
          async (type, keyed, copies, interleaved) => {
            const from = `caller-${seq % 7}`;
            const token = `t${++seq}`;
            const myRid = ++rid;
            const call = [Kind.Call, myRid, 'game', type, `r${seq % 50}`, 'add', token, 0, keyed ? `k-${token}` : '', 2000] as const;
            // Either wire form: the binary layout, or the codec's array (still accepted).
            const frame = seq % 2 === 0 ? encodeFrame([...call], msgpackCodec) : msgpackCodec.encode(call);
            transport.inject(from, frame);
            if (interleaved) await settle(); // the replay arrives after the reply, or while the call runs
            for (let c = 1; c < copies; c++) transport.inject(from, frame);
            await settle();
            const runs = executions.get(token) ?? 0;
            if (runs !== 1) throw new Error(`${type} call ${token} (key: ${keyed}) ran ${runs} times for ${copies} copies`);
            const answers = transport.sent.filter((s) => s.to === from && (s.frame as unknown[])[1] === myRid);
            if (answers.length < 1 || answers.some((a) => (a.frame as unknown[])[0] !== Kind.Reply)) {
              throw new Error(`call ${token}: answers ${JSON.stringify(answers)}`);
            }
            tally.add(answers.length === 1 ? 'replay dropped' : 'replay answered from dedupe');
          },
        ),
        { ...FUZZ, numRuns: Math.max(1, Math.ceil(FUZZ_RUNS / 100)) },
      );
      console.log(`protocol/replay: ${tally}`);
      transport.sent.splice(0);
    },
    FUZZ_TIMEOUT_MS,
  );
});


