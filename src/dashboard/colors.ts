/**
 * Peer colours: every dashboard (and the demo) gives a peer the same colour, so "the teal peer" means the same
 * thing on every screen. A peer's colour comes from a hash of its id; when two live peers would share one, the
 * one with the higher id takes the next free colour.
 */

/** Colours that read well on a dark background and that no two of which are easily confused. */
export const PEER_PALETTE = [
  '#4cc9f0', // sky
  '#f72585', // magenta
  '#9ef01a', // lime
  '#ffbe0b', // amber
  '#8d6bff', // violet
  '#ff6b35', // orange
  '#e9ecef', // silver
  '#00c49a', // jade
] as const;

/** The colour of "no owner". */
export const NO_OWNER_COLOR = '#1d2330';

/** FNV-1a over the UTF-16 code units of `s`. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Colours for a set of peers: stable per id, distinct while there are fewer peers than colours. */
export function assignPeerColors(peerIds: Iterable<string>, palette: readonly string[] = PEER_PALETTE): Map<string, string> {
  const ids = [...new Set(peerIds)].sort();
  const out = new Map<string, string>();
  const taken = new Set<number>();
  for (const id of ids) {
    let slot = hashString(id) % palette.length;
    for (let k = 0; k < palette.length && taken.has(slot); k++) slot = (slot + 1) % palette.length;
    taken.add(slot);
    if (taken.size >= palette.length) taken.clear(); // more peers than colours: start sharing
    out.set(id, palette[slot]!);
  }
  return out;
}

/** A short label for a peer id: its first characters, after a `prefix-` if it has one (`tab-k3j2h1xx` -> `k3j2h1`). */
export function shortId(peerId: string, length = 6): string {
  const dash = peerId.lastIndexOf('-');
  const core = dash >= 0 && peerId.length - dash - 1 >= 4 ? peerId.slice(dash + 1) : peerId;
  return core.length <= length ? core : core.slice(0, length);
}
