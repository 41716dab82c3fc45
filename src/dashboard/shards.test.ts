import { describe, expect, it } from 'vitest';
import { CapabilityTable } from '../membership/table.js';
import { rendezvousStrategy, shardFor } from '../placement/index.js';
import { changedShards, gridSide, ownerCounts, shardOwners, shardRepresentatives } from './shards.js';

const peers = (ids: string[]): CapabilityTable => {
  const t = new CapabilityTable();
  for (const id of ids) t.upsert({ id, incarnation: 1, kind: 'browser', weight: 1, capabilities: ['world'] });
  return t;
};

const ownerVia = (table: CapabilityTable) => (id: string): string | undefined =>
  rendezvousStrategy.preferenceList(shardFor(id, 4096), 'world', table.peersFor('world'), 1)[0];

describe('shard map', () => {
  it('finds one representative id per shard, each hashing to its shard', () => {
    const reps = shardRepresentatives((id) => shardFor(id, 4096), 4096);
    expect(reps).toHaveLength(4096);
    reps.forEach((id, shard) => expect(shardFor(id, 4096)).toBe(shard));
    expect(new Set(reps).size).toBe(4096);
  });

  it('refuses a shard function that never covers every shard, or answers out of range', () => {
    expect(() => shardRepresentatives(() => 0, 16)).toThrow(/every one of 16/);
    expect(() => shardRepresentatives(() => 99, 16)).toThrow(/outside/);
    expect(() => shardRepresentatives(() => 0, 0)).toThrow(RangeError);
  });

  it('owners agree with the placement strategy and cover every shard', () => {
    const reps = shardRepresentatives((id) => shardFor(id, 4096), 4096);
    const table = peers(['a', 'b', 'c']);
    const owners = shardOwners(reps, ownerVia(table));
    for (let s = 0; s < 4096; s += 97) {
      expect(owners[s]).toBe(rendezvousStrategy.preferenceList(s, 'world', table.peersFor('world'), 1)[0]);
    }
    const counts = ownerCounts(owners);
    expect(counts.map((c) => c.peerId).sort()).toEqual(['a', 'b', 'c']);
    expect(counts.reduce((s, c) => s + c.shards, 0)).toBe(4096);
    // Sorted by count, descending.
    expect(counts[0]!.shards).toBeGreaterThanOrEqual(counts[2]!.shards);
  });

  it('a peer leaving moves exactly its shards (rendezvous), all to the survivors', () => {
    const reps = shardRepresentatives((id) => shardFor(id, 4096), 4096);
    const table = peers(['a', 'b', 'c']);
    const before = shardOwners(reps, ownerVia(table));
    table.remove('b');
    const after = shardOwners(reps, ownerVia(table));
    const changed = changedShards(before, after);
    expect(changed.length).toBe(before.filter((o) => o === 'b').length);
    expect(changed.every((s) => before[s] === 'b' && after[s] !== 'b')).toBe(true);
    expect(after.includes('b')).toBe(false);
  });

  it('no peer with the capability: every shard is unowned', () => {
    const reps = shardRepresentatives((id) => shardFor(id, 64), 64);
    const owners = shardOwners(reps, ownerVia(new CapabilityTable()));
    expect(owners.every((o) => o === undefined)).toBe(true);
    expect(ownerCounts(owners)).toEqual([]);
  });

  it('grid side', () => {
    expect(gridSide(4096)).toBe(64);
    expect(gridSide(1024)).toBe(32);
    expect(gridSide(8)).toBe(3);
  });
});
