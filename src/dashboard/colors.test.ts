import { describe, expect, it } from 'vitest';
import { PEER_PALETTE, assignPeerColors, hashString, shortId } from './colors.js';

describe('peer colours', () => {
  it('are stable: the same ids get the same colours in any order', () => {
    const a = assignPeerColors(['x1', 'y2', 'z3']);
    const b = assignPeerColors(['z3', 'x1', 'y2']);
    expect([...a]).toEqual([...b]);
  });

  it('are distinct while there are fewer peers than colours', () => {
    const ids = Array.from({ length: PEER_PALETTE.length }, (_, i) => `peer-${i}`);
    const colors = assignPeerColors(ids);
    expect(new Set(colors.values()).size).toBe(PEER_PALETTE.length);
  });

  it('keep a peer its hash colour when nobody collides with it', () => {
    const id = 'lonely';
    expect(assignPeerColors([id]).get(id)).toBe(PEER_PALETTE[hashString(id) % PEER_PALETTE.length]);
  });

  it('still give every peer a colour beyond the palette', () => {
    const ids = Array.from({ length: 30 }, (_, i) => `p${i}`);
    const colors = assignPeerColors(ids);
    expect(colors.size).toBe(30);
    for (const c of colors.values()) expect(PEER_PALETTE).toContain(c);
  });

  it('short ids', () => {
    expect(shortId('abcdefghij')).toBe('abcdef');
    expect(shortId('abc')).toBe('abc');
    expect(shortId('pixel-k3j2h1xxyy')).toBe('k3j2h1');
    expect(shortId('a-b')).toBe('a-b');
  });
});
