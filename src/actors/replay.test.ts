import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdMap, IdSet, ReplayWindow } from './replay.js';

describe('ReplayWindow', () => {
  it('admits each request id of a sender once, per sender', () => {
    const w = new ReplayWindow(4);
    expect([w.admit('a', 1), w.admit('a', 2), w.admit('a', 1), w.admit('b', 1), w.admit('b', 1)]).toEqual([true, true, false, true, false]);
    expect(w.senders).toBe(2);
  });

  it('remembers the last `capacity` ids of a sender (bounded), in any order', () => {
    const w = new ReplayWindow(3);
    for (const rid of [5, 3, 9]) expect(w.admit('a', rid)).toBe(true);
    expect(w.admit('a', 3)).toBe(false);
    expect(w.admit('a', 10)).toBe(true); // evicts 5, the oldest
    expect(w.admit('a', 9)).toBe(false);
    expect(w.admit('a', 5)).toBe(true);
  });

  it('forgets a sender whose link went down (a restarted caller numbers from 1 again)', () => {
    const w = new ReplayWindow();
    expect(w.admit('a', 1)).toBe(true);
    w.forget('a');
    expect(w.senders).toBe(0);
    expect(w.admit('a', 1)).toBe(true);
    expect(() => new ReplayWindow(0)).toThrow(RangeError);
  });
});

describe('IdMap', () => {
  const idArb = fc.oneof(fc.nat(40), fc.nat(5000), fc.constantFrom(0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40, Number.MAX_SAFE_INTEGER));
  const opArb = fc.oneof(
    fc.record({ op: fc.constant('set' as const), id: idArb, value: fc.nat() }),
    fc.record({ op: fc.constant('delete' as const), id: idArb }),
    fc.record({ op: fc.constant('get' as const), id: idArb }),
  );

  it('behaves like a Map of integer ids under any sequence of sets, deletes and lookups', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), fc.integer({ min: 1, max: 64 }), (ops, capacity) => {
        const m = new IdMap<number>(capacity);
        const ref = new Map<number, number>();
        for (const o of ops) {
          if (o.op === 'set') {
            m.set(o.id, o.value);
            ref.set(o.id, o.value);
          } else if (o.op === 'delete') {
            expect(m.delete(o.id)).toBe(ref.delete(o.id));
          } else {
            expect(m.get(o.id)).toBe(ref.get(o.id));
            expect(m.has(o.id)).toBe(ref.has(o.id));
          }
          expect(m.size).toBe(ref.size);
        }
        for (const [id, v] of ref) expect(m.get(id)).toBe(v);
        expect([...m.values()].sort((a, b) => a - b)).toEqual([...ref.values()].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a sliding window of sequential ids (the call path) without growing', () => {
    const m = new IdMap<string>(256);
    for (let rid = 1; rid <= 100_000; rid++) {
      m.set(rid, `r${rid}`);
      if (rid > 256) expect(m.delete(rid - 256)).toBe(true);
    }
    expect(m.size).toBe(256);
    expect(m.get(100_000 - 255)).toBe(`r${100_000 - 255}`);
    expect(m.get(100_000 - 256)).toBeUndefined();
  });

  it('iterates a snapshot in ascending id order: entries deleted during the walk are skipped, every other one is visited once', () => {
    const m = new IdMap<number>();
    for (let i = 99; i >= 0; i--) m.set(i, i);
    expect([...m.values()]).toEqual(Array.from({ length: 100 }, (_, i) => i)); // the order requests were issued in
    const seen: number[] = [];
    for (const v of m.values()) {
      if (seen.length === 0) for (let i = 1; i < 100; i += 2) if (i !== v) m.delete(i); // later ones: never visited
      seen.push(v);
      m.delete(v); // the current one: moves others around in the table
    }
    const expected = new Set([seen[0]!, ...Array.from({ length: 50 }, (_, i) => i * 2)]);
    expect([...seen].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
    expect(m.size).toBe(0);
  });

  it('refuses ids that are not non-negative safe integers, and clears', () => {
    const m = new IdMap<number>();
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) expect(() => m.set(bad, 1)).toThrow(RangeError);
    expect(m.get(-1)).toBeUndefined();
    m.set(7, 1);
    m.clear();
    expect(m.size).toBe(0);
    expect(m.has(7)).toBe(false);
    expect(() => new IdMap(0)).toThrow(RangeError);
  });
});

describe('IdSet', () => {
  it('behaves like a Set of integer ids, bounded by its capacity', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ add: fc.boolean(), id: fc.oneof(fc.nat(60), fc.constantFrom(2 ** 32, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER)) }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 40 }),
        (ops, capacity) => {
          const s = new IdSet(capacity);
          const ref = new Set<number>();
          for (const o of ops) {
            if (o.add) {
              if (ref.size === capacity && !ref.has(o.id)) {
                expect(() => s.add(o.id)).toThrow(RangeError);
                continue;
              }
              expect(s.add(o.id)).toBe(!ref.has(o.id));
              ref.add(o.id);
            } else expect(s.delete(o.id)).toBe(ref.delete(o.id));
            expect(s.size).toBe(ref.size);
          }
          for (let id = 0; id <= 60; id++) expect(s.has(id)).toBe(ref.has(id));
        },
      ),
      { numRuns: 300 },
    );
    expect(() => new IdSet(4).add(-1)).toThrow(RangeError);
  });
});
