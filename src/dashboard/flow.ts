/**
 * Geometry of the message-flow picture, as pure functions: peers on a circle, a curved edge per direction of a
 * pair with traffic, and the particles that travel along them (how many, where). The DOM module draws them.
 */
import type { Link } from './room.js';

/** A peer's place on the picture. */
export interface NodePlace {
  readonly peerId: string;
  readonly x: number;
  readonly y: number;
}

/** Places peers evenly on a circle (sorted by id so every dashboard draws the same picture), first one on top. */
export function circleLayout(peerIds: readonly string[], width: number, height: number, margin: number): NodePlace[] {
  const ids = [...peerIds].sort();
  const cx = width / 2;
  const cy = height / 2;
  const r = Math.max(0, Math.min(width, height) / 2 - margin);
  if (ids.length === 1) return [{ peerId: ids[0]!, x: cx, y: cy }];
  return ids.map((peerId, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / ids.length;
    return { peerId, x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) };
  });
}

/** A quadratic curve from one node to another, bent to the right of its direction (so A->B and B->A separate). */
export interface Curve {
  readonly x0: number;
  readonly y0: number;
  readonly cx: number;
  readonly cy: number;
  readonly x1: number;
  readonly y1: number;
}

/** The curve of a directed link between two places, shortened by `inset` at both ends (the node radius). */
export function linkCurve(from: NodePlace, to: NodePlace, bend: number, inset: number): Curve {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const len = Math.hypot(dx, dy) || 1;
  const ux = dx / len;
  const uy = dy / len;
  // The normal to the right of the direction of travel.
  const nx = -uy;
  const ny = ux;
  const x0 = from.x + ux * inset + nx * bend * 0.35;
  const y0 = from.y + uy * inset + ny * bend * 0.35;
  const x1 = to.x - ux * inset + nx * bend * 0.35;
  const y1 = to.y - uy * inset + ny * bend * 0.35;
  return { x0, y0, x1, y1, cx: (from.x + to.x) / 2 + nx * bend, cy: (from.y + to.y) / 2 + ny * bend };
}

/** The point at parameter `t` (0..1) of a curve. */
export function pointOn(c: Curve, t: number): { x: number; y: number } {
  const u = 1 - t;
  return { x: u * u * c.x0 + 2 * u * t * c.cx + t * t * c.x1, y: u * u * c.y0 + 2 * u * t * c.cy + t * t * c.y1 };
}

/** Line width for a rate: grows with the logarithm, 1 px for a trickle up to `max` px. */
export function strokeFor(rate: number, max = 8): number {
  if (!(rate > 0)) return 0;
  return Math.min(max, 1 + Math.log10(1 + rate) * 2);
}

/**
 * The particles to draw on a link at time `ms`: one particle stands for several calls once the rate is high
 * (at most `cap` visible per link), each travelling the link in `travelMs`. Returns the curve parameters (0..1).
 */
export function particlePhases(rate: number, ms: number, travelMs = 1200, cap = 12): number[] {
  if (!(rate > 0)) return [];
  const visible = Math.max(1, Math.min(cap, Math.round((rate * travelMs) / 1000)));
  const base = (ms % travelMs) / travelMs;
  const out: number[] = [];
  for (let k = 0; k < visible; k++) out.push((base + k / visible) % 1);
  return out;
}

/** Links whose both ends are placed. */
export function placedLinks(links: readonly Link[], places: ReadonlyMap<string, NodePlace>): Array<Link & { a: NodePlace; b: NodePlace }> {
  const out: Array<Link & { a: NodePlace; b: NodePlace }> = [];
  for (const l of links) {
    const a = places.get(l.from);
    const b = places.get(l.to);
    if (a !== undefined && b !== undefined) out.push({ ...l, a, b });
  }
  return out;
}
