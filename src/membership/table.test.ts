import { describe, expect, it } from 'vitest';
import { isMeshError } from '../errors.js';
import { CapabilityTable, type TableChange } from './table.js';
import type { PeerInfo } from './types.js';

const peer = (id: string, capabilities: string[], incarnation = 1): PeerInfo => ({ id, incarnation, kind: 'edge', weight: 1, capabilities });

describe('CapabilityTable', () => {
  it('bumps the version on every change and emits typed changes', () => {
    const t = new CapabilityTable();
    const changes: TableChange[] = [];
    t.onChange((c) => changes.push(c));
    t.upsert(peer('b', ['chat', 'game', 'game']));
    t.upsert(peer('a', ['game']));
    expect(t.version).toBe(2);
    expect(t.peers.map((p) => p.id)).toEqual(['a', 'b']);
    expect(t.peer('b')!.capabilities).toEqual(['chat', 'game']);
    t.upsert(peer('a', ['game'])); // no change, no bump
    expect(t.version).toBe(2);
    t.registerCapabilities('a', ['chat']);
    expect(t.version).toBe(3);
    expect(t.peersFor('game').map((p) => p.id)).toEqual(['b']);
    expect(t.peersFor('chat').map((p) => p.id)).toEqual(['a', 'b']);
    expect(t.peersFor('nothing')).toEqual([]);
    expect(Object.fromEntries(t.capabilities())).toEqual({ chat: ['a', 'b'], game: ['b'] });
    expect(t.remove('b')).toBe(true);
    expect(t.remove('b')).toBe(false);
    expect(t.version).toBe(4);
    expect(changes.map((c) => `${c.type}@${c.version}`)).toEqual(['join@1', 'view@1', 'join@2', 'view@2', 'update@3', 'view@3', 'leave@4', 'view@4']);
  });

  it('applies only newer views, diffing them into join/leave/update', () => {
    const t = new CapabilityTable();
    const changes: string[] = [];
    t.onChange((c) => changes.push(c.type === 'view' ? `view ${c.previous}->${c.version}` : `${c.type} ${c.peer.id}`));
    expect(t.applyView({ version: 5, peers: [peer('a', ['x']), peer('b', ['y'])] })).toBe(true);
    expect(t.applyView({ version: 5, peers: [] })).toBe(false);
    expect(t.applyView({ version: 3, peers: [] })).toBe(false);
    expect(t.applyView({ version: 9, peers: [peer('b', ['y', 'z']), peer('c', [])] })).toBe(true);
    expect(changes).toEqual(['join a', 'join b', 'view 0->5', 'leave a', 'update b', 'join c', 'view 5->9']);
    expect(t.version).toBe(9);
  });

  it('refuses invalid peers with InvalidArgument', () => {
    const t = new CapabilityTable();
    for (const bad of [
      { ...peer('a', []), id: '' },
      { ...peer('a', []), weight: 0 },
      { ...peer('a', []), incarnation: -1 },
      { ...peer('a', ['']) },
      { ...peer('a', []), kind: 'toaster' as never },
    ]) {
      expect(() => t.upsert(bad)).toThrow();
      try {
        t.upsert(bad);
      } catch (e) {
        expect(isMeshError(e, 'InvalidArgument')).toBe(true);
      }
    }
    expect(t.version).toBe(0);
  });
});
