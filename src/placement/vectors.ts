/**
 * Published test vectors for `murmur3_32(id, 0)` and `shardFor(id)` with the default 4096 shards
 * (`shard = hash & 0xfff`). Every other implementation of placement (the browser build, a future port) must
 * reproduce these exactly. The values are literal constants, computed once and pasted here, then checked
 * against an independent reference over `TextEncoder` bytes in `placement.test.ts` (and, when they were
 * generated, against a separate Python implementation over `str.encode('utf-8')`).
 *
 * Non-ASCII ids are written with `\u` escapes so the file's own encoding cannot change them; the comment above
 * each says what the id reads as.
 */

/** `{ id, hash: murmur3_32(id, 0), shard: shardFor(id, 4096) }`. */
export const SHARD_TEST_VECTORS: ReadonlyArray<{ readonly id: string; readonly hash: number; readonly shard: number }> = [
  // empty: no blocks, no tail
  { id: '', hash: 0x00000000, shard: 0 },
  // 1-byte tail
  { id: 'a', hash: 0x3c2569b2, shard: 2482 },
  // 2-byte tail
  { id: 'ab', hash: 0x9bbfd75f, shard: 1887 },
  // 3-byte tail
  { id: 'abc', hash: 0xb3dd93fa, shard: 1018 },
  // one whole block
  { id: 'abcd', hash: 0x43ed676a, shard: 1898 },
  // block + 1-byte tail
  { id: 'abcde', hash: 0xe89b9af6, shard: 2806 },
  { id: 'hello', hash: 0x248bfa47, shard: 2631 },
  { id: 'user:42', hash: 0xc7a6a375, shard: 885 },
  { id: 'counter:0', hash: 0x7e7e1c89, shard: 3209 },
  { id: 'chat-room/lobby', hash: 0x0205422c, shard: 556 },
  { id: 'peer-1', hash: 0xb04ec8e0, shard: 2272 },
  // the classic smhasher sentence
  { id: 'The quick brown fox jumps over the lazy dog', hash: 0x2e4ff723, shard: 1827 },
  // long id, 148 bytes
  { id: 'actor/chat-room/0123456789abcdef0123456789abcdef0123456789abcdef' +
      '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' +
      '0123456789abcdef/end', hash: 0x09c22d18, shard: 3352 },
  // long id, 121 bytes
  { id: 'a-long-id-with-a-tail-of-3-bytes-after-the-last-block:xyzwxyzwxy' +
      'zwxyzwxyzwxyzwxyzwxyzwxyzwxyzwxyzwxyzwxyzwxyzwxyzwxyzwxyz', hash: 0xcc9230e6, shard: 230 },
  // é: 2-byte UTF-8 (C3 A9)
  { id: '\u00e9', hash: 0x10110787, shard: 1927 },
  // café
  { id: 'caf\u00e9', hash: 0x241c0f08, shard: 3848 },
  // naïve-ü-ß
  { id: 'na\u00efve-\u00fc-\u00df', hash: 0x2e8e6877, shard: 2167 },
  // 中文: two 3-byte sequences
  { id: '\u4e2d\u6587', hash: 0xdb267197, shard: 407 },
  // 房间:中文-42
  { id: '\u623f\u95f4:\u4e2d\u6587-42', hash: 0x89b4e244, shard: 580 },
  // 🎮 U+1F3AE: one 4-byte sequence (F0 9F 8E AE) from a surrogate pair
  { id: '\ud83c\udfae', hash: 0x7e4eef1d, shard: 3869 },
  // player-🎮-1
  { id: 'player-\ud83c\udfae-1', hash: 0x84cd4db2, shard: 3506 },
  // 🎮🎲🃏
  { id: '\ud83c\udfae\ud83c\udfb2\ud83c\udccf', hash: 0xd94d1f9e, shard: 3998 },
  // a🎮: the 4-byte sequence straddles a block boundary
  { id: 'a\ud83c\udfae', hash: 0x588b4380, shard: 896 },
  // mixed é中🎮 id: 1-, 2-, 3- and 4-byte sequences
  { id: 'mixed \u00e9\u4e2d\ud83c\udfae id', hash: 0x20a5afd2, shard: 4050 },
  // a lone surrogate hashes as U+FFFD (EF BF BD), like TextEncoder
  { id: 'lone-\ud800', hash: 0x6fec9f9e, shard: 3998 },
];
