/**
 * Placement tests: the hash against the reference and the published vectors, a contract suite every strategy
 * (built-in or custom) must pass, and the statistical properties of rendezvous (balance, weights, movement on
 * join and leave, standby takeover), with the modulo figures printed beside them.
 *
 * Every fast-check property runs with a fixed seed, so a run is reproducible; on failure fast-check prints the
 * seed and the counterexample path. Statistical bounds are stated with the binomial standard deviation they
 * come from: with S = 4096 shards and a peer whose expected share is p, its shard count is Binomial(S, p)
 * (each shard draws an independent pseudo-random ranking), so sigma = sqrt(S p (1 - p)). The expensive
 * statistical properties set `endOnFailure` (shrinking a statistical failure would take minutes and tell
 * nothing more).
 */

import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshError } from '../errors.js';
import { seededRandom } from '../random.js';
import {
  DEFAULT_SHARD_COUNT,
  MAX_SHARD_COUNT,
  SHARD_TEST_VECTORS,
  moduloStrategy,
  murmur3_32,
  ownerOf,
  rendezvousScore,
  rendezvousSeed,
  rendezvousStrategy,
  shardFor,
  strategyByName,
  unitLog,
} from './index.js';
import type { PlacementPeer, PlacementStrategy } from './index.js';

const S = DEFAULT_SHARD_COUNT;

// ---------------------------------------------------------------------------------------------------------
// helpers

/** Straightforward MurmurHash3 x86_32 over bytes, transcribed from smhasher's MurmurHash3.cpp. */
function referenceMurmur3(bytes: Uint8Array, seed: number): number {
  const len = bytes.length;
  const nblocks = len >>> 2;
  let h1 = seed >>> 0;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  for (let b = 0; b < nblocks; b++) {
    const i = b * 4;
    let k1 = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k1 = Math.imul(k1, c1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, c2);
    h1 ^= k1;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
  }
  const tail = nblocks * 4;
  const rest = len & 3;
  let k1 = 0;
  if (rest >= 3) k1 ^= bytes[tail + 2]! << 16;
  if (rest >= 2) k1 ^= bytes[tail + 1]! << 8;
  if (rest >= 1) {
    k1 ^= bytes[tail]!;
    k1 = Math.imul(k1, c1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, c2);
    h1 ^= k1;
  }
  h1 ^= len;
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h1 = Math.imul(h1, 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  return h1 >>> 0;
}

const encoder = new TextEncoder();

function peersOf(ids: readonly string[], weight = 1): PlacementPeer[] {
  return ids.map((id) => ({ id, weight }));
}

function range(n: number, f: (i: number) => string = (i) => `peer-${i}`): string[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

/** A copy of `items` in a pseudo-random order drawn from `seed`. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const random = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** The owner of every shard in [0, S). */
function owners(strategy: PlacementStrategy, capability: string, peers: readonly PlacementPeer[]): string[] {
  const out: string[] = [];
  for (let shard = 0; shard < S; shard++) out.push(ownerOf(strategy, shard, capability, peers) ?? '');
  return out;
}

/** How many shards each peer owns, in the order of `ids`. */
function loads(table: readonly string[], ids: readonly string[]): number[] {
  const count = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const owner of table) count.set(owner, (count.get(owner) ?? 0) + 1);
  return ids.map((id) => count.get(id) ?? 0);
}

function maxOverMean(counts: readonly number[]): number {
  return Math.max(...counts) / (S / counts.length);
}

function fractionMoved(before: readonly string[], after: readonly string[]): number {
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++;
  return moved / before.length;
}

function sigma(p: number): number {
  return Math.sqrt(S * p * (1 - p));
}

function expectInvalid(f: () => unknown): void {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(isMeshError(caught, 'InvalidArgument'), `expected InvalidArgument, got ${String(caught)}`).toBe(true);
}

/** Peer ids: short printable strings, or `peer-N`, or anything including non-ASCII. */
const peerIdArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 16 }),
  fc.nat({ max: 999 }).map((i) => `peer-${i}`),
  fc.string({ minLength: 1, maxLength: 8, unit: 'binary' }),
);
const peerIdsArb = (minLength: number, maxLength: number): fc.Arbitrary<string[]> =>
  fc.uniqueArray(peerIdArb, { minLength, maxLength });
const capabilityArb = fc.oneof(fc.constantFrom('counter', 'chat', ''), fc.string({ maxLength: 12 }));
const shardArb = fc.oneof(fc.nat({ max: S - 1 }), fc.nat({ max: 0xffff_ffff }));

/** One UTF-16 code unit or code point, biased towards the interesting ranges; includes lone surrogates. */
const codePointArb = fc
  .oneof(
    fc.integer({ min: 0, max: 0x7f }),
    fc.integer({ min: 0x80, max: 0x7ff }),
    fc.integer({ min: 0x800, max: 0xffff }),
    fc.integer({ min: 0xd800, max: 0xdfff }),
    fc.integer({ min: 0x10000, max: 0x10ffff }),
  )
  .map((cp) => String.fromCodePoint(cp));
const unicodeStringArb = fc.oneof(
  fc.string({ maxLength: 40, unit: codePointArb }),
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.string({ maxLength: 80 }),
);

// ---------------------------------------------------------------------------------------------------------
// hash

describe('murmur3_32', () => {
  it('matches the smhasher reference vectors', () => {
    const vectors: Array<[string, number, number]> = [
      ['', 0, 0],
      ['', 1, 0x514e28b7],
      ['', 0xffffffff, 0x81f16f39],
      ['a', 0, 0x3c2569b2],
      ['abc', 0, 0xb3dd93fa],
      ['test', 0, 0xba6bd213],
      ['hello', 0, 0x248bfa47],
      ['aaaa', 0x9747b28c, 0x5a97808a],
      ['Hello, world!', 1234, 0xfaf6cdb3],
      ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ];
    for (const [input, seed, want] of vectors) expect(murmur3_32(input, seed), `${input}/${seed}`).toBe(want);
  });

  it('equals the reference over TextEncoder bytes for any string, lone surrogates included', () => {
    fc.assert(
      fc.property(unicodeStringArb, fc.nat({ max: 0xffff_ffff }), (input, seed) => {
        expect(murmur3_32(input, seed)).toBe(referenceMurmur3(encoder.encode(input), seed));
      }),
      { seed: 0x6d6d33, numRuns: 3000 },
    );
  });

  it('hashes a lone surrogate exactly like U+FFFD and a surrogate pair like its code point', () => {
    expect(murmur3_32('x\ud800y')).toBe(murmur3_32('x\ufffdy'));
    expect(murmur3_32('\udc00\ud800')).toBe(murmur3_32('\ufffd\ufffd'));
    expect(murmur3_32('\ud83c\udfae')).toBe(referenceMurmur3(new Uint8Array([0xf0, 0x9f, 0x8e, 0xae]), 0));
  });

  it('treats the seed modulo 2^32 and returns a uint32', () => {
    expect(murmur3_32('abc', -1)).toBe(murmur3_32('abc', 0xffffffff));
    expect(murmur3_32('abc', 2 ** 32 + 5)).toBe(murmur3_32('abc', 5));
    fc.assert(
      fc.property(unicodeStringArb, (input) => {
        const h = murmur3_32(input);
        expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
      }),
      { seed: 7, numRuns: 200 },
    );
  });
});

describe('shardFor', () => {
  it('reproduces the published test vectors', () => {
    expect(SHARD_TEST_VECTORS.length).toBeGreaterThanOrEqual(20);
    for (const { id, hash, shard } of SHARD_TEST_VECTORS) {
      expect(murmur3_32(id, 0), JSON.stringify(id)).toBe(hash);
      expect(referenceMurmur3(encoder.encode(id), 0), JSON.stringify(id)).toBe(hash);
      expect(shardFor(id), JSON.stringify(id)).toBe(shard);
      expect(shardFor(id, 4096)).toBe(hash & 0xfff);
    }
  });

  it('the vectors cover empty, ASCII, long and multi-byte ids', () => {
    const ids = SHARD_TEST_VECTORS.map((v) => v.id);
    expect(ids).toContain('');
    expect(ids.some((id) => encoder.encode(id).length > 100)).toBe(true);
    for (const needle of ['\u00e9', '\u4e2d\u6587', '\ud83c\udfae']) expect(ids.some((id) => id.includes(needle))).toBe(true);
  });

  it('is murmur3_32(id, 0) masked to the shard count, for every power of two up to 2^24', () => {
    fc.assert(
      fc.property(unicodeStringArb, fc.integer({ min: 0, max: 24 }), (id, bits) => {
        const count = 2 ** bits;
        const shard = shardFor(id, count);
        expect(Number.isInteger(shard) && shard >= 0 && shard < count).toBe(true);
        expect(shard).toBe(murmur3_32(id, 0) % count);
      }),
      { seed: 4096, numRuns: 500 },
    );
    expect(shardFor('anything', 1)).toBe(0);
    expect(shardFor('hello')).toBe(shardFor('hello', DEFAULT_SHARD_COUNT));
    expect(DEFAULT_SHARD_COUNT).toBe(4096);
    expect(MAX_SHARD_COUNT).toBe(2 ** 24);
  });

  it('rejects shard counts that are not powers of two in [1, 2^24]', () => {
    for (const bad of [0, -1, -4, 3, 6, 4095, 4097, 1.5, 2 ** 25, 2 ** 31, 2 ** 32, Number.NaN, Infinity]) {
      expectInvalid(() => shardFor('x', bad));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// the contract, for built-in and custom strategies alike

/** A custom strategy, as a user would write one: always the lexicographically first peer, then the rest in order. */
const firstPeerStrategy: PlacementStrategy = {
  name: 'first-peer',
  preferenceList(_shard, _capability, peers, count) {
    const ids = peers.map((p) => p.id).sort();
    return count === undefined ? ids : ids.slice(0, count);
  },
};

describe.each([rendezvousStrategy, moduloStrategy, firstPeerStrategy])('strategy contract: $name', (strategy) => {
  it('returns min(count, n) distinct ids of the given peers; all of them without count', () => {
    fc.assert(
      fc.property(shardArb, capabilityArb, peerIdsArb(0, 20), fc.nat({ max: 25 }), (shard, cap, ids, count) => {
        const peers = peersOf(ids);
        const full = strategy.preferenceList(shard, cap, peers);
        expect([...full].sort()).toEqual([...ids].sort());
        const some = strategy.preferenceList(shard, cap, peers, count);
        expect(some.length).toBe(Math.min(count, ids.length));
        expect(new Set(some).size).toBe(some.length);
      }),
      { seed: 1, numRuns: 300 },
    );
  });

  it('is empty for no peers, and ownerOf is then undefined', () => {
    expect(strategy.preferenceList(0, 'counter', [])).toEqual([]);
    expect(strategy.preferenceList(0, 'counter', [], 3)).toEqual([]);
    expect(ownerOf(strategy, 0, 'counter', [])).toBeUndefined();
  });

  it('is deterministic and independent of the order of peers', () => {
    fc.assert(
      fc.property(
        shardArb,
        capabilityArb,
        peerIdsArb(1, 24),
        fc.nat(),
        fc.option(fc.nat({ max: 5 }), { nil: undefined }),
        (shard, cap, ids, order, count) => {
          const peers = peersOf(ids);
          const a = strategy.preferenceList(shard, cap, peers, count);
          const b = strategy.preferenceList(shard, cap, shuffled(peers, order), count);
          const c = strategy.preferenceList(shard, cap, peers, count);
          expect(b).toEqual(a);
          expect(c).toEqual(a);
          const owner = strategy.preferenceList(shard, cap, peers)[0];
          expect(ownerOf(strategy, shard, cap, shuffled(peers, order + 1))).toBe(owner);
        },
      ),
      { seed: 2, numRuns: 300 },
    );
  });

  it('gives prefixes of one list for every count (owner, then standby, ...)', () => {
    fc.assert(
      fc.property(shardArb, capabilityArb, peerIdsArb(1, 12), (shard, cap, ids) => {
        const peers = peersOf(ids);
        const full = strategy.preferenceList(shard, cap, peers);
        for (let k = 0; k <= ids.length + 1; k++) {
          expect(strategy.preferenceList(shard, cap, peers, k)).toEqual(full.slice(0, k));
        }
      }),
      { seed: 3, numRuns: 200 },
    );
  });

  it('does not mutate its input', () => {
    fc.assert(
      fc.property(shardArb, capabilityArb, peerIdsArb(1, 16), (shard, cap, ids) => {
        const peers = Object.freeze(peersOf(ids).map((p) => Object.freeze(p)));
        const before = JSON.stringify(peers);
        strategy.preferenceList(shard, cap, peers); // frozen: any write would throw in strict mode
        strategy.preferenceList(shard, cap, peers, 1);
        strategy.preferenceList(shard, cap, peers, 2);
        expect(JSON.stringify(peers)).toBe(before);
      }),
      { seed: 4, numRuns: 100 },
    );
  });
});

describe.each([rendezvousStrategy, moduloStrategy])('built-in strategy argument checks: $name', (strategy) => {
  const peers = peersOf(['a', 'b', 'c']);

  it('rejects duplicate peer ids', () => {
    fc.assert(
      fc.property(peerIdsArb(1, 10), fc.nat(), fc.nat(), fc.nat({ max: 3 }), (ids, pick, order, count) => {
        const dup = ids[pick % ids.length]!;
        const withDup = shuffled([...peersOf(ids), { id: dup, weight: 2 }], order);
        expectInvalid(() => strategy.preferenceList(5, 'counter', withDup, count));
        expectInvalid(() => strategy.preferenceList(5, 'counter', withDup));
      }),
      { seed: 5, numRuns: 100 },
    );
  });

  it('rejects a shard that is not an integer in [0, 2^32) and a count that is not a non-negative integer', () => {
    for (const shard of [-1, 1.5, 2 ** 32, Number.NaN, Infinity]) {
      expectInvalid(() => strategy.preferenceList(shard, 'counter', peers));
    }
    for (const count of [-1, 1.5, Number.NaN, Infinity]) {
      expectInvalid(() => strategy.preferenceList(0, 'counter', peers, count));
    }
    expect(strategy.preferenceList(0xffff_ffff, 'counter', peers, 1)).toHaveLength(1);
  });

  it('is returned by strategyByName', () => {
    expect(strategyByName(strategy.name as 'rendezvous' | 'modulo')).toBe(strategy);
  });
});

describe('strategyByName', () => {
  it('rejects unknown names from untyped callers', () => {
    expectInvalid(() => strategyByName('consistent-hashing' as 'modulo'));
  });
});

// ---------------------------------------------------------------------------------------------------------
// modulo

describe('moduloStrategy', () => {
  it('owns sorted[shard % n] in code-unit order, then the ring', () => {
    // Code-unit order: uppercase before lowercase, and U+00E9 after every ASCII letter (localeCompare differs).
    const ids = ['b', '\u00e9', 'B', 'a', 'f', 'Z'];
    const sorted = ['B', 'Z', 'a', 'b', 'f', '\u00e9'];
    for (let shard = 0; shard < 20; shard++) {
      const list = moduloStrategy.preferenceList(shard, 'counter', peersOf(ids));
      expect(list).toEqual(range(6, (r) => sorted[(shard + r) % 6]!));
    }
  });

  it('ignores weights and the capability, and balances to within one shard', () => {
    const ids = range(7);
    const heavy = ids.map((id, i) => ({ id, weight: i === 0 ? 5 : 1 }));
    expect(owners(moduloStrategy, 'x', heavy)).toEqual(owners(moduloStrategy, 'y', peersOf(ids)));
    const l = loads(owners(moduloStrategy, 'x', heavy), ids);
    expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// rendezvous

describe('unitLog (deterministic ln for rendezvous scores)', () => {
  const u = (h: number): number => (h + 0.5) / 2 ** 32;
  // Edges: both ends, every power of two and the sqrt(2) range-reduction boundary inside each octave.
  const edges: number[] = [0, 1, 2, 0xffff_fffe, 0xffff_ffff];
  for (let e = 1; e < 32; e++) {
    for (const base of [2 ** e, Math.floor(2 ** e * Math.SQRT2)]) {
      for (let d = -2; d <= 2; d++) if (base + d >= 0 && base + d <= 0xffff_ffff) edges.push(base + d);
    }
  }

  it('agrees with Math.log to within 1e-15 relative', () => {
    const check = (h: number): void => {
      const want = Math.log(u(h));
      expect(Math.abs(unitLog(h) - want) / Math.abs(want), String(h)).toBeLessThan(1e-15);
    };
    edges.forEach(check);
    fc.assert(fc.property(fc.nat({ max: 0xffff_ffff }), (h) => check(h)), { seed: 11, numRuns: 5000 });
  });

  it('is strictly negative and strictly increasing in h', () => {
    for (const h of edges) {
      expect(unitLog(h)).toBeLessThan(0);
      if (h < 0xffff_ffff) expect(unitLog(h + 1), String(h)).toBeGreaterThan(unitLog(h));
    }
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_fffe }), (h) => {
        expect(unitLog(h + 1)).toBeGreaterThan(unitLog(h));
      }),
      { seed: 12, numRuns: 5000 },
    );
  });
});

describe('rendezvousStrategy', () => {
  it('equals the documented algorithm: sort by rendezvousScore desc, then id', () => {
    const weightArb = fc.oneof(fc.constant(1), fc.double({ min: 0.01, max: 100, noNaN: true }));
    fc.assert(
      fc.property(
        shardArb,
        capabilityArb,
        fc.uniqueArray(fc.record({ id: peerIdArb, weight: weightArb }), { selector: (p) => p.id, minLength: 1, maxLength: 16 }),
        (shard, cap, peers) => {
          const seed = rendezvousSeed(shard, cap);
          expect(seed).toBe(murmur3_32(cap, shard));
          const ranked = peers
            .map((p) => ({ id: p.id, score: rendezvousScore(p.id, p.weight, seed) }))
            .sort((a, b) => (a.score !== b.score ? b.score - a.score : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
            .map((p) => p.id);
          expect(rendezvousStrategy.preferenceList(shard, cap, peers)).toEqual(ranked);
          expect(rendezvousStrategy.preferenceList(shard, cap, peers, 1)).toEqual(ranked.slice(0, 1));
          expect(rendezvousStrategy.preferenceList(shard, cap, peers, 2)).toEqual(ranked.slice(0, 2));
        },
      ),
      { seed: 13, numRuns: 300 },
    );
  });

  it('breaks equal scores by peer id', () => {
    // Equal scores need a hash collision or tuned weights; tune the weights: weight_i = -unitLog(h_i) gives
    // every peer a score of exactly 1.
    const ids = ['m', 'c', 'x', 'a'];
    const seed = rendezvousSeed(9, 'counter');
    const peers = ids.map((id) => ({ id, weight: -unitLog(murmur3_32(id, seed)) }));
    for (const p of peers) expect(rendezvousScore(p.id, p.weight, seed)).toBe(1);
    expect(rendezvousStrategy.preferenceList(9, 'counter', peers)).toEqual(['a', 'c', 'm', 'x']);
    expect(rendezvousStrategy.preferenceList(9, 'counter', peers, 1)).toEqual(['a']);
    expect(rendezvousStrategy.preferenceList(9, 'counter', peers, 2)).toEqual(['a', 'c']);
  });

  it('rejects weights that are not finite numbers > 0', () => {
    for (const weight of [0, -1, Number.NaN, Infinity, -Infinity]) {
      const peers = [{ id: 'a', weight: 1 }, { id: 'b', weight }];
      expectInvalid(() => rendezvousStrategy.preferenceList(0, 'counter', peers, 1));
      expectInvalid(() => rendezvousStrategy.preferenceList(0, 'counter', peers));
    }
  });

  it('depends on the capability: the same shard lands on different peers for different capabilities', () => {
    const peers = peersOf(range(16));
    const a = owners(rendezvousStrategy, 'counter', peers);
    const b = owners(rendezvousStrategy, 'chat', peers);
    // Independent draws agree on a shard with probability 1/16.
    expect(1 - fractionMoved(a, b)).toBeLessThan(1 / 16 + 5 * (sigma(1 / 16) / S));
  });

  describe('balance (equal weights, 4096 shards)', () => {
    it('peer-0..peer-(n-1), capability "counter": the most-loaded peer owns at most 1.25x the mean, n = 2..64', () => {
      // A fixed configuration, so this is a regression check of exact behaviour, not a statistical bound:
      // for random peer ids the 1.25x bound cannot hold for large n with any hash (see the next test).
      const worst: string[] = [];
      for (let n = 2; n <= 64; n++) {
        const ids = range(n);
        const ratio = maxOverMean(loads(owners(rendezvousStrategy, 'counter', peersOf(ids)), ids));
        worst.push(`${n}:${ratio.toFixed(3)}`);
        expect(ratio, `n=${n}`).toBeLessThanOrEqual(1.25);
      }
      console.log(`rendezvous max/mean, peer-i ids, capability "counter": ${worst.join(' ')}`);
    });

    it('random peer ids: behaves like independent uniform assignment (max/mean and chi-square), n = 2..64', () => {
      // With equal weights each shard's owner is uniform over the n peers, so a peer's load is
      // Binomial(4096, 1/n). The max over n peers then exceeds 1.25x the mean with probability about 0.05 at
      // n = 32 and 0.7 at n = 64 *for a perfect random assignment* (measured: 0.05 and 0.78 with Math.random,
      // 0.07 and 0.76 with this hash), so 1.25x is asserted only where it is at least 4 sigma away (n <= 16);
      // for every n the max must stay within mean + 5 sigma (union bound: false alarm < 64 * 3e-7), and the
      // Pearson chi-square statistic summed over all n (2016 degrees of freedom, so mean 2016 and standard
      // deviation sqrt(2 * 2016) = 63.5) must stay within 5 standard deviations of its mean, which catches a
      // systematic bias of the hash far better than a max does. Each n gets its own ids (`${id}/${n}`) so the
      // 63 statistics are independent and their sum really is chi-square(2016).
      fc.assert(
        fc.property(peerIdsArb(64, 64), capabilityArb, (ids, cap) => {
          let chi2 = 0;
          let df = 0;
          for (let n = 2; n <= 64; n++) {
            const subset = ids.slice(0, n).map((id) => `${id}/${n}`);
            const counts = loads(owners(rendezvousStrategy, cap, peersOf(subset)), subset);
            const mean = S / n;
            const max = Math.max(...counts);
            if (n <= 16) expect(max / mean, `n=${n}`).toBeLessThanOrEqual(1.25);
            expect(max, `n=${n}`).toBeLessThanOrEqual(mean + 5 * sigma(1 / n));
            for (const c of counts) chi2 += (c - mean) ** 2 / mean;
            df += n - 1;
          }
          expect(df).toBe(2016);
          expect(chi2).toBeLessThan(df + 5 * Math.sqrt(2 * df));
          expect(chi2).toBeGreaterThan(df - 5 * Math.sqrt(2 * df));
        }),
        { seed: 14, numRuns: 3, endOnFailure: true },
      );
    });
  });

  describe('weights', () => {
    it('a weight-2 peer among weight-1 peers owns about twice the share of each of them', () => {
      // Expected share p = 2 / (n + 1); tolerance 5 sigma of Binomial(4096, p), e.g. +-21 % of the count at
      // n = 16 and +-10 % at n = 4; for n <= 16 that bound implies a ratio to the mean light peer in [1.5, 2.6].
      fc.assert(
        fc.property(peerIdsArb(2, 16), fc.nat(), capabilityArb, (ids, pick, cap) => {
          const n = ids.length;
          const heavyId = ids[pick % n]!;
          const peers = ids.map((id) => ({ id, weight: id === heavyId ? 2 : 1 }));
          const counts = loads(owners(rendezvousStrategy, cap, peers), ids);
          const heavy = counts[pick % n]!;
          const p = 2 / (n + 1);
          expect(Math.abs(heavy - S * p)).toBeLessThanOrEqual(5 * sigma(p));
          const lightMean = (S - heavy) / (n - 1);
          expect(heavy / lightMean).toBeGreaterThan(1.5);
          expect(heavy / lightMean).toBeLessThan(2.6);
        }),
        { seed: 15, numRuns: 40, endOnFailure: true },
      );
    });

    it('every peer owns its weight share, for arbitrary weights (within 5 sigma)', () => {
      fc.assert(
        fc.property(
          peerIdsArb(2, 12),
          fc.array(fc.double({ min: 0.25, max: 8, noNaN: true }), { minLength: 12, maxLength: 12 }),
          capabilityArb,
          (ids, weights, cap) => {
            const peers = ids.map((id, i) => ({ id, weight: weights[i]! }));
            const total = peers.reduce((sum, p) => sum + p.weight, 0);
            const counts = loads(owners(rendezvousStrategy, cap, peers), ids);
            peers.forEach((peer, i) => {
              const p = peer.weight / total;
              expect(Math.abs(counts[i]! - S * p), peer.id).toBeLessThanOrEqual(5 * sigma(p));
            });
          },
        ),
        { seed: 16, numRuns: 40, endOnFailure: true },
      );
    });
  });

  describe('membership changes', () => {
    it('adding one peer to N moves at most 1/(N+1) + 0.02 of the shards, all of them to the new peer', () => {
      // The moved count is Binomial(4096, 1/(N+1)); the 0.02 slack is 2.6 sigma at N = 1 and grows with N.
      fc.assert(
        fc.property(peerIdsArb(2, 65), capabilityArb, (ids, cap) => {
          const newcomer = ids[ids.length - 1]!;
          const before = owners(rendezvousStrategy, cap, peersOf(ids.slice(0, -1)));
          const after = owners(rendezvousStrategy, cap, peersOf(ids));
          const n = ids.length - 1;
          expect(fractionMoved(before, after)).toBeLessThanOrEqual(1 / (n + 1) + 0.02);
          for (let shard = 0; shard < S; shard++) {
            if (before[shard] !== after[shard]) expect(after[shard]).toBe(newcomer);
          }
        }),
        { seed: 17, numRuns: 40, endOnFailure: true },
      );
    });

    it('removing a peer moves only its shards, each to its old standby', () => {
      fc.assert(
        fc.property(peerIdsArb(2, 40), fc.nat(), capabilityArb, (ids, pick, cap) => {
          const gone = ids[pick % ids.length]!;
          const peers = peersOf(ids);
          const rest = peers.filter((p) => p.id !== gone);
          for (let shard = 0; shard < S; shard++) {
            const [owner, standby] = rendezvousStrategy.preferenceList(shard, cap, peers, 2);
            const after = ownerOf(rendezvousStrategy, shard, cap, rest);
            expect(after).toBe(owner === gone ? standby : owner);
          }
        }),
        { seed: 18, numRuns: 20 },
      );
    });

    it('the standby differs from the owner and becomes the owner when the owner leaves', () => {
      fc.assert(
        fc.property(shardArb, capabilityArb, peerIdsArb(2, 30), fc.nat(), (shard, cap, ids, order) => {
          const peers = shuffled(peersOf(ids), order);
          const [owner, standby, third] = rendezvousStrategy.preferenceList(shard, cap, peers, 3);
          expect(standby).toBeDefined();
          expect(standby).not.toBe(owner);
          const rest = peers.filter((p) => p.id !== owner);
          const [newOwner, newStandby] = rendezvousStrategy.preferenceList(shard, cap, rest, 2);
          expect(newOwner).toBe(standby);
          expect(newStandby).toBe(third);
        }),
        { seed: 19, numRuns: 500 },
      );
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// rendezvous beside modulo

describe('rendezvous beside modulo', () => {
  it('prints join/leave movement and balance for N = 2 .. 64, and modulo moves more on join for N >= 3', () => {
    const rows: string[] = [];
    rows.push('   N | join moved: rendezvous  modulo  (1/(N+1)) | leave moved: rendezvous  modulo | max/mean: rendezvous  modulo');
    for (const n of [2, 4, 8, 16, 32, 64]) {
      const ids = range(n);
      const joined = range(n + 1);
      const left = ids.slice(1); // peer-0 leaves
      const r = [owners(rendezvousStrategy, 'counter', peersOf(ids)), owners(rendezvousStrategy, 'counter', peersOf(joined))];
      const m = [owners(moduloStrategy, 'counter', peersOf(ids)), owners(moduloStrategy, 'counter', peersOf(joined))];
      const rJoin = fractionMoved(r[0]!, r[1]!);
      const mJoin = fractionMoved(m[0]!, m[1]!);
      const rLeave = fractionMoved(r[0]!, owners(rendezvousStrategy, 'counter', peersOf(left)));
      const mLeave = fractionMoved(m[0]!, owners(moduloStrategy, 'counter', peersOf(left)));
      const rLoad = maxOverMean(loads(r[0]!, ids));
      const mLoad = maxOverMean(loads(m[0]!, ids));
      const pct = (x: number): string => `${(100 * x).toFixed(1)}%`.padStart(6);
      rows.push(
        `${String(n).padStart(4)} | ${pct(rJoin).padStart(22)} ${pct(mJoin).padStart(7)}  ${pct(1 / (n + 1)).padStart(9)} |` +
          ` ${pct(rLeave).padStart(22)} ${pct(mLeave).padStart(7)} | ${rLoad.toFixed(3).padStart(19)} ${mLoad.toFixed(3).padStart(7)}`,
      );
      expect(rJoin).toBeLessThanOrEqual(1 / (n + 1) + 0.02);
      if (n >= 3) expect(mJoin).toBeGreaterThan(rJoin);
      expect(mLoad).toBeLessThanOrEqual((Math.floor(S / n) + 1) / (S / n));
    }
    console.log(`placement with 4096 shards, ids peer-0..peer-(N-1), peer-N joins, peer-0 leaves:\n${rows.join('\n')}`);
  });
});
