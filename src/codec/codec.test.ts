import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshError } from '../errors.js';
import { createMsgpackCodec, msgpackCodec } from './msgpack.js';

describe('msgpack codec', () => {
  it('round-trips JSON-like values and bytes', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => {
        const clean = JSON.parse(JSON.stringify(v)) as unknown;
        if (JSON.stringify(clean).includes('__proto__') || JSON.stringify(clean).includes('"constructor"') || JSON.stringify(clean).includes('"prototype"') || JSON.stringify(clean).includes('__proto_')) return;
        expect(msgpackCodec.decode(msgpackCodec.encode(clean))).toEqual(clean);
      }),
      { numRuns: 2000 },
    );
    const bytes = new Uint8Array([1, 2, 3, 255]);
    const decoded = msgpackCodec.decode(msgpackCodec.encode({ b: bytes })) as { b: Uint8Array };
    expect(Array.from(decoded.b)).toEqual([1, 2, 3, 255]);
  });

  it('refuses prototype keys, deep nesting and oversize values on both sides', () => {
    const codec = createMsgpackCodec({ maxBytes: 1024, maxDepth: 8 });
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return isMeshError(e) ? e.code : 'untyped';
      }
      return undefined;
    };
    expect(code(() => codec.encode(JSON.parse('{"__proto__":{"polluted":1}}')))).toBe('CodecError');
    expect(code(() => codec.encode({ a: { constructor: 1 } }))).toBe('CodecError');
    const deep: unknown[] = [];
    let cur = deep;
    for (let i = 0; i < 10_000; i++) {
      const n: unknown[] = [];
      cur.push(n);
      cur = n;
    }
    expect(code(() => codec.encode(deep))).toBe('CodecError');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(code(() => codec.encode(cyclic))).toBe('CodecError');
    expect(code(() => codec.encode('x'.repeat(2000)))).toBe('MessageTooLarge');
    // Decoding hostile bytes: a deep array built by hand, a __proto__ map, truncated input.
    const deepBytes = new Uint8Array(200).fill(0x91); // 200 nested fixarrays of length 1
    expect(code(() => codec.decode(deepBytes))).toBe('CodecError');
    const protoMap = msgpackCodec.encode({ __proto_x: 1 }); // de 0001 | a9 "__proto_x" | 01
    expect(protoMap[12]).toBe(0x78);
    protoMap[12] = 0x5f; // rewrite the key to "__proto__"
    expect(code(() => codec.decode(protoMap))).toBe('CodecError');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(code(() => codec.decode(new Uint8Array([0x92, 0x01])))).toBe('CodecError');
    expect(code(() => codec.decode(new Uint8Array(2048)))).toBe('MessageTooLarge');
  });

  it('never throws anything but a typed error on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          msgpackCodec.decode(bytes);
        } catch (e) {
          expect(isMeshError(e)).toBe(true);
        }
      }),
      { numRuns: 20_000 },
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
