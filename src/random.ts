/**
 * Randomness is injected: placement never uses it, and everything else that does (ids, jitter, simulated loss)
 * takes a {@link Random}, so a seeded run is reproducible.
 */

/** A source of uniform random numbers. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
}

/** A fast seeded generator (sfc32, seeded through splitmix32). Same seed, same sequence, in every runtime. */
export function seededRandom(seed: number): Random {
  let s = seed >>> 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  return {
    next(): number {
      const t = (((a + b) >>> 0) + d) >>> 0;
      d = (d + 1) >>> 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) >>> 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) >>> 0;
      return t / 4294967296;
    },
  };
}

/** Unpredictable randomness from the platform's CSPRNG (`crypto.getRandomValues`). */
export const cryptoRandom: Random = {
  next(): number {
    const buf = new Uint32Array(1);
    globalThis.crypto.getRandomValues(buf);
    return buf[0]! / 4294967296;
  },
};

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random.next() * n);
}

/** A random identifier of `length` characters from [0-9a-z]. */
export function randomId(random: Random, length = 12): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(random, alphabet.length)];
  return out;
}
