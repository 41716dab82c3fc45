/**
 * The placement hash: MurmurHash3 x86_32 (Austin Appleby, public domain) over the UTF-8 bytes of a string, and
 * `shardFor`, which masks it to a power-of-two shard count.
 *
 * Algorithm (enough to reproduce it in another language; every operation is on unsigned 32-bit integers, `*` is
 * multiplication modulo 2^32, `rotl(x, r)` a 32-bit left rotation):
 *
 * 1. Encode the string as UTF-8 exactly as `TextEncoder` does: each UTF-16 surrogate pair becomes one 4-byte
 *    sequence, and every lone surrogate (a high surrogate not followed by a low one, or a low surrogate not
 *    preceded by a high one) becomes U+FFFD (bytes EF BF BD). Call the bytes `b[0..len)`.
 * 2. `h = seed`. For each whole 4-byte block `k = b[i] | b[i+1] << 8 | b[i+2] << 16 | b[i+3] << 24`
 *    (little-endian): `k = k * 0xcc9e2d51; k = rotl(k, 15); k = k * 0x1b873593; h ^= k; h = rotl(h, 13);
 *    h = h * 5 + 0xe6546b64`.
 * 3. If 1 to 3 bytes remain, pack them little-endian into `k` the same way (missing bytes are zero) and do
 *    `k = k * 0xcc9e2d51; k = rotl(k, 15); k = k * 0x1b873593; h ^= k` (no rotation of `h` here).
 * 4. `h ^= len` (the byte length, not the string's `.length`), then the finaliser fmix32:
 *    `h ^= h >>> 16; h = h * 0x85ebca6b; h ^= h >>> 13; h = h * 0xc2b2ae35; h ^= h >>> 16`.
 *
 * The result equals the reference `MurmurHash3_x86_32(bytes, len, seed)` of smhasher. `murmur3_32` never
 * allocates: it encodes UTF-8 on the fly from the char codes. It is on the hot path (every call and activation
 * routes through `shardFor`), hence the hand-unrolled ASCII fast path.
 *
 * Test vectors: `SHARD_TEST_VECTORS` in `./vectors.ts`.
 */

import { meshError } from '../errors.js';

/** The default number of shards: 4096 = 2^12. */
export const DEFAULT_SHARD_COUNT = 4096;

/** The largest shard count `shardFor` accepts: 2^24. */
export const MAX_SHARD_COUNT = 0x100_0000;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * MurmurHash3 x86_32 of the UTF-8 encoding of `input` with the given `seed` (taken modulo 2^32), as an
 * unsigned 32-bit integer. See the module comment for the exact algorithm.
 */
export function murmur3_32(input: string, seed = 0): number {
  let h = seed | 0;
  const n = input.length;
  let i = 0;

  // ASCII fast path: whole 4-byte blocks while the next four code units are all < 0x80.
  while (i + 4 <= n) {
    const c0 = input.charCodeAt(i);
    const c1 = input.charCodeAt(i + 1);
    const c2 = input.charCodeAt(i + 2);
    const c3 = input.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) >= 0x80) break;
    let k = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    i += 4;
  }

  // General path. Bytes of the block being filled sit little-endian in `k`, `bits` of them (0, 8, 16 or 24).
  // `len` counts the UTF-8 bytes encoded by this path; the fast path above encoded exactly `i` bytes.
  let len = i;
  let k = 0;
  let bits = 0;
  for (; i < n; i++) {
    const c = input.charCodeAt(i);
    let bytes: number; // the code point's UTF-8 bytes, first byte in the low 8 bits
    let count: number; // how many (1 to 4)
    if (c < 0x80) {
      bytes = c;
      count = 1;
    } else if (c < 0x800) {
      bytes = (0xc0 | (c >>> 6)) | ((0x80 | (c & 0x3f)) << 8);
      count = 2;
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? input.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          bytes =
            (0xf0 | (cp >>> 18)) |
            ((0x80 | ((cp >>> 12) & 0x3f)) << 8) |
            ((0x80 | ((cp >>> 6) & 0x3f)) << 16) |
            ((0x80 | (cp & 0x3f)) << 24);
          count = 4;
        } else {
          bytes = 0xbdbfef; // lone surrogate: U+FFFD (EF BF BD), as TextEncoder does
          count = 3;
        }
      } else {
        bytes = (0xe0 | (c >>> 12)) | ((0x80 | ((c >>> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16);
        count = 3;
      }
    }
    len += count;
    const shift = bits;
    k |= bytes << shift;
    bits += count << 3;
    if (bits >= 32) {
      let b = k;
      b = Math.imul(b, C1);
      b = (b << 15) | (b >>> 17);
      b = Math.imul(b, C2);
      h ^= b;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
      bits -= 32;
      // The bytes that did not fit: those of `bytes` above bit (32 - shift).
      k = bits === 0 ? 0 : bytes >>> (32 - shift);
    }
  }

  if (bits !== 0) {
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }

  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** True when `n` is a power of two in [1, 2^24]. */
function isValidShardCount(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_SHARD_COUNT && (n & (n - 1)) === 0;
}

/**
 * The shard of an actor id: `murmur3_32(id, 0) & (shardCount - 1)`, an integer in [0, shardCount).
 * `shardCount` must be a power of two between 1 and 2^24 (default {@link DEFAULT_SHARD_COUNT}); anything else
 * throws `InvalidArgument`.
 */
export function shardFor(id: string, shardCount = DEFAULT_SHARD_COUNT): number {
  if (!isValidShardCount(shardCount)) {
    throw meshError('InvalidArgument', `shard count must be a power of two between 1 and 2^24, got ${String(shardCount)}`, {
      details: { shardCount },
    });
  }
  return (murmur3_32(id, 0) & (shardCount - 1)) >>> 0;
}
