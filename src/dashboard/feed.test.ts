import { describe, expect, it } from 'vitest';
import { ActivityFeed, formatAddress } from './feed.js';

const r1 = { capability: 'world', type: 'region', id: 'r1' };
const r2 = { capability: 'world', type: 'region', id: 'r2' };

describe('activity feed', () => {
  it('spawn and passivate', () => {
    const feed = new ActivityFeed();
    feed.add({ what: 'activated', peerId: 'a', address: r1 }, 0);
    feed.add({ what: 'deactivated', peerId: 'a', address: r1, reason: 'idle' }, 10);
    expect(feed.entries.map((e) => [e.kind, e.peerId])).toEqual([
      ['passivated', 'a'],
      ['spawned', 'a'],
    ]);
    expect(feed.counts()).toMatchObject({ spawned: 1, passivated: 1, moved: 0 });
  });

  it('a hand-off followed by an activation elsewhere is one move', () => {
    const feed = new ActivityFeed();
    feed.add({ what: 'activated', peerId: 'a', address: r2 }, 0);
    feed.add({ what: 'deactivated', peerId: 'a', address: r1, reason: 'not-owner' }, 100);
    feed.add({ what: 'activated', peerId: 'b', address: r1 }, 150);
    const top = feed.entries[0]!;
    expect(top).toMatchObject({ kind: 'moved', from: 'a', peerId: 'b', address: r1, at: 150 });
    expect(top.reason).toBeUndefined();
    expect(feed.entries).toHaveLength(2);
  });

  it('matches the halves of a move in either order (reports of different peers race)', () => {
    const feed = new ActivityFeed();
    feed.add({ what: 'activated', peerId: 'b', address: r1 }, 100);
    feed.add({ what: 'deactivated', peerId: 'a', address: r1, reason: 'shutdown' }, 120);
    expect(feed.entries).toHaveLength(1);
    expect(feed.entries[0]).toMatchObject({ kind: 'moved', from: 'a', peerId: 'b' });
  });

  it('an activation with a known previous owner is a move; the late stop of that owner adds nothing', () => {
    const feed = new ActivityFeed();
    feed.add({ what: 'activated', peerId: 'b', address: r1, from: 'a' }, 0);
    expect(feed.entries[0]).toMatchObject({ kind: 'moved', from: 'a', peerId: 'b' });
    feed.add({ what: 'deactivated', peerId: 'a', address: r1, reason: 'not-owner' }, 5);
    expect(feed.entries).toHaveLength(1);
    feed.add({ what: 'activated', peerId: 'b', address: r2, from: 'b' }, 6);
    expect(feed.entries[0]).toMatchObject({ kind: 'spawned', peerId: 'b' });
  });

  it('does not match across the window, nor on the same peer', () => {
    const feed = new ActivityFeed({ moveWindowMs: 1000 });
    feed.add({ what: 'deactivated', peerId: 'a', address: r1, reason: 'not-owner' }, 0);
    feed.add({ what: 'activated', peerId: 'b', address: r1 }, 5000);
    expect(feed.entries.map((e) => e.kind)).toEqual(['spawned', 'stopped']);
    feed.add({ what: 'deactivated', peerId: 'b', address: r1, reason: 'not-owner' }, 5001);
    feed.add({ what: 'activated', peerId: 'b', address: r1 }, 5002);
    expect(feed.entries.map((e) => e.kind)).toEqual(['spawned', 'stopped', 'spawned', 'stopped']);
  });

  it('drops duplicates by key and stays bounded', () => {
    const feed = new ActivityFeed({ maxEntries: 3 });
    expect(feed.add({ what: 'activated', peerId: 'a', address: r1 }, 0, 'k1')).toBeDefined();
    expect(feed.add({ what: 'activated', peerId: 'a', address: r1 }, 0, 'k1')).toBeUndefined();
    for (let i = 0; i < 10; i++) feed.add({ what: 'activation-failed', peerId: 'a', address: r2 }, i);
    expect(feed.entries).toHaveLength(3);
    expect(feed.entries[0]!.seq).toBeGreaterThan(feed.entries[2]!.seq);
  });

  it('formats addresses', () => {
    expect(formatAddress(r1)).toBe('world/region/r1');
  });
});
