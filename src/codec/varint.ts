/**
 * Unsigned LEB128 varints (7 bits per byte, low bits first), as the actor wire format and the transport's framing
 * write them. Readers stay with their formats: each bounds the length differently (8 bytes and 2^53 - 1 for actor
 * frames, 5 bytes and 2^32 - 1 for record lengths).
 */

const TWO_32 = 0x100000000;

/** Bytes of `n` (a safe non-negative integer) as a varint. */
export function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  if (n < 0x800000000) return 5;
  if (n < 0x40000000000) return 6;
  if (n < 0x2000000000000) return 7;
  return 8;
}

/** Writes `n` (a safe non-negative integer) as a varint at `pos`; returns the position after it. */
export function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80; // & keeps the low 7 bits of any integer (2^32 is a multiple of 128)
    n = n < TWO_32 ? n >>> 7 : Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}
