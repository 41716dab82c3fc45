import { describe, expect, it } from 'vitest';
import { circleLayout, linkCurve, particlePhases, placedLinks, pointOn, strokeFor } from './flow.js';

describe('message-flow geometry', () => {
  it('places peers on a circle, sorted, the first on top', () => {
    const places = circleLayout(['c', 'a', 'b', 'd'], 200, 200, 20);
    expect(places.map((p) => p.peerId)).toEqual(['a', 'b', 'c', 'd']);
    expect(places[0]!.x).toBeCloseTo(100);
    expect(places[0]!.y).toBeCloseTo(20);
    expect(places[2]!.y).toBeCloseTo(180);
    expect(circleLayout(['solo'], 100, 60, 10)).toEqual([{ peerId: 'solo', x: 50, y: 30 }]);
    expect(circleLayout([], 100, 100, 10)).toEqual([]);
  });

  it('curves of the two directions of a pair bend to opposite sides', () => {
    const a = { peerId: 'a', x: 0, y: 0 };
    const b = { peerId: 'b', x: 100, y: 0 };
    const ab = linkCurve(a, b, 20, 10);
    const ba = linkCurve(b, a, 20, 10);
    expect(ab.cy).toBeGreaterThan(0);
    expect(ba.cy).toBeLessThan(0);
    expect(pointOn(ab, 0)).toEqual({ x: ab.x0, y: ab.y0 });
    expect(pointOn(ab, 1)).toEqual({ x: ab.x1, y: ab.y1 });
    expect(ab.x0).toBeCloseTo(10);
    expect(ab.x1).toBeCloseTo(90);
  });

  it('stroke grows with the rate, bounded', () => {
    expect(strokeFor(0)).toBe(0);
    expect(strokeFor(1)).toBeGreaterThan(1);
    expect(strokeFor(1000)).toBeGreaterThan(strokeFor(10));
    expect(strokeFor(1e9)).toBe(8);
  });

  it('particles: more for busier links, capped, evenly spread, moving with time', () => {
    expect(particlePhases(0, 0)).toEqual([]);
    expect(particlePhases(0.1, 0)).toHaveLength(1);
    expect(particlePhases(5, 0, 1000)).toHaveLength(5);
    expect(particlePhases(10_000, 0)).toHaveLength(12);
    const p = particlePhases(4, 0, 1000);
    expect(p).toEqual([0, 0.25, 0.5, 0.75]);
    expect(particlePhases(4, 100, 1000)[0]).toBeCloseTo(0.1);
  });

  it('placed links drop links to peers not on the picture', () => {
    const places = new Map(circleLayout(['a', 'b'], 100, 100, 10).map((p) => [p.peerId, p]));
    const links = placedLinks([{ from: 'a', to: 'b', rate: 1 }, { from: 'a', to: 'gone', rate: 3 }], places);
    expect(links.map((l) => l.to)).toEqual(['b']);
  });
});
