import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { msgpackCodec } from '../codec/index.js';
import { isMeshError } from '../errors.js';
import { parseStateKey, stateKey, stateKeyPrefix } from './keys.js';
import { checkBatch, decodeRecord, encodeRecord, preparePut, readRecordHeader } from './record.js';

const SEED = { seed: 0x5eed5 };

describe('stored record layout', () => {
  it('reads version and epoch from the header for every integer width, same as a full decode', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.boolean(), (version, epoch, withDedupe) => {
        const record = withDedupe
          ? { state: { big: 'x'.repeat(300) }, version, epoch, dedupe: [{ key: 'k', hash: 'h', reply: null, at: 1 }] }
          : { state: [1, 2, 3], version, epoch };
        const bytes = encodeRecord(msgpackCodec, 'a/b/c', record);
        expect(readRecordHeader(msgpackCodec, 'a/b/c', bytes)).toEqual({ version, epoch });
        const decoded = decodeRecord(msgpackCodec, 'a/b/c', bytes);
        expect(decoded.version).toBe(version);
        expect(decoded.epoch).toBe(epoch);
      }),
      { ...SEED, numRuns: 300 },
    );
  });

  it('encodes into a fresh buffer the caller owns', () => {
    const a = encodeRecord(msgpackCodec, 'a/b/c', { state: 1, version: 1, epoch: 1 });
    const b = encodeRecord(msgpackCodec, 'a/b/c', { state: 2, version: 1, epoch: 1 });
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(a.byteLength);
  });

  it('reports bytes that are not a record as StorageError', () => {
    for (const bytes of [new Uint8Array([0xc1]), msgpackCodec.encode({ not: 'a record' }), msgpackCodec.encode([2, 1, 1, null])]) {
      let err: unknown;
      try {
        readRecordHeader(msgpackCodec, 'a/b/c', bytes);
      } catch (e) {
        err = e;
      }
      expect(isMeshError(err, 'StorageError')).toBe(true);
    }
  });

  it('computes the stored-bytes change of a batch', () => {
    const put = preparePut(msgpackCodec, 'a/b/c', { state: 'x', version: 1, epoch: 1 });
    const stored = new Map<string, Uint8Array>([['a/b/d', new Uint8Array(10)]]);
    const size = 5 + (put.type === 'put' ? put.bytes.byteLength : 0);
    expect(checkBatch(msgpackCodec, [put], (k) => stored.get(k)).deltaBytes).toBe(size);
    expect(checkBatch(msgpackCodec, [put, { type: 'delete', key: 'a/b/c' }], (k) => stored.get(k)).deltaBytes).toBe(0);
    expect(checkBatch(msgpackCodec, [{ type: 'delete', key: 'a/b/d' }], (k) => stored.get(k)).deltaBytes).toBe(-15);
  });
});

describe('state keys', () => {
  const component = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });

  it('round-trip through parseStateKey, are printable ASCII, and prefixes never leak', () => {
    fc.assert(
      fc.property(component, component, component, component, component, (capability, type, id, otherCap, otherType) => {
        const key = stateKey({ capability, type, id });
        expect(key).toMatch(/^[\x20-\x7e]+$/);
        expect(key.split('/').length).toBe(3);
        expect(parseStateKey(key)).toEqual({ capability, type, id });
        expect(key.startsWith(stateKeyPrefix(capability, type))).toBe(true);
        expect(key.startsWith(stateKeyPrefix(capability))).toBe(true);
        if (otherCap !== capability || otherType !== type) expect(key.startsWith(stateKeyPrefix(otherCap, otherType))).toBe(false);
        if (otherCap !== capability) expect(key.startsWith(stateKeyPrefix(otherCap))).toBe(false);
      }),
      { ...SEED, numRuns: 500 },
    );
  });

  it('refuses empty components, lone surrogates and overlong keys', () => {
    expect(() => stateKey({ capability: 'a', type: 'b', id: '' })).toThrow(/non-empty/);
    expect(() => stateKey({ capability: 'a', type: 'b', id: '\ud800' })).toThrow(/well-formed/);
    expect(() => stateKey({ capability: 'a', type: 'b', id: 'x'.repeat(2000) })).toThrow(/limit/);
    expect(stateKey({ capability: 'game', type: 'counter', id: 'a/b' })).toBe('game/counter/a%2Fb');
  });
});
