/**
 * The incremental {@link CapabilityTable} against a reference model that rebuilds everything on every change
 * (the table's original algorithm): for random sequences of views and local edits, both must emit the same
 * changes, hold the same peers, give the same per-capability lists and throw on the same inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CapabilityTable, normalizePeer, type TableChange } from './table.js';
import type { PeerInfo, ViewSnapshot } from './types.js';

const byId = (a: PeerInfo, b: PeerInfo): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function samePeer(a: PeerInfo, b: PeerInfo): boolean {
  return (
    a.incarnation === b.incarnation &&
    a.kind === b.kind &&
    a.weight === b.weight &&
    a.capabilities.length === b.capabilities.length &&
    a.capabilities.every((c, i) => c === b.capabilities[i])
  );
}

/** The full-rebuild table: normalises every peer of every view and recomputes every list on demand. */
class ReferenceTable {
  version = 0;
  peers = new Map<string, PeerInfo>();
  readonly changes: TableChange[] = [];

  sorted(): PeerInfo[] {
    return [...this.peers.values()].sort(byId);
  }

  peersFor(capability: string): PeerInfo[] {
    return this.sorted().filter((p) => p.capabilities.includes(capability));
  }

  capabilities(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const p of this.sorted()) for (const c of p.capabilities) out.set(c, [...(out.get(c) ?? []), p.id]);
    return out;
  }

  upsert(peer: PeerInfo): void {
    const next = normalizePeer(peer);
    const previous = this.peers.get(next.id);
    if (previous !== undefined && samePeer(previous, next)) return;
    const old = this.version++;
    this.peers.set(next.id, next);
    this.changes.push(previous === undefined ? { type: 'join', peer: next, version: this.version } : { type: 'update', peer: next, previous, version: this.version });
    this.changes.push({ type: 'view', version: this.version, previous: old });
  }

  registerCapabilities(id: string, capabilities: readonly string[]): void {
    const peer = this.peers.get(id);
    if (peer === undefined) throw new Error(`unknown peer ${id}`);
    this.upsert({ ...peer, capabilities });
  }

  remove(id: string): boolean {
    const peer = this.peers.get(id);
    if (peer === undefined) return false;
    const old = this.version++;
    this.peers.delete(id);
    this.changes.push({ type: 'leave', peer, version: this.version }, { type: 'view', version: this.version, previous: old });
    return true;
  }

  applyView(view: ViewSnapshot): boolean {
    if (!(view.version > this.version)) return false;
    const next = new Map<string, PeerInfo>();
    for (const p of view.peers) next.set(p.id, normalizePeer(p));
    const changes: TableChange[] = [];
    for (const [id, peer] of this.peers) if (!next.has(id)) changes.push({ type: 'leave', peer, version: view.version });
    for (const [id, peer] of next) {
      const previous = this.peers.get(id);
      if (previous === undefined) changes.push({ type: 'join', peer, version: view.version });
      else if (!samePeer(previous, peer)) changes.push({ type: 'update', peer, previous, version: view.version });
    }
    const old = this.version;
    this.version = view.version;
    this.peers = next;
    this.changes.push(...changes, { type: 'view', version: this.version, previous: old });
    return true;
  }
}

const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const CAPS = ['chat', 'game', 'x', 'y'];

const peerArb: fc.Arbitrary<PeerInfo> = fc.record({
  id: fc.constantFrom(...IDS),
  incarnation: fc.integer({ min: 1, max: 3 }),
  kind: fc.constantFrom<'edge' | 'browser'>('edge', 'browser'),
  weight: fc.constantFrom(1, 2),
  // Unsorted and with duplicates at times: normalisation must give the same record either way.
  capabilities: fc.array(fc.constantFrom(...CAPS), { maxLength: 4 }),
});

/** A peer record that normalisation refuses. */
const badPeerArb: fc.Arbitrary<PeerInfo> = fc.oneof(
  peerArb.map((p) => ({ ...p, weight: 0 })),
  peerArb.map((p) => ({ ...p, capabilities: [''] })),
  peerArb.map((p) => ({ ...p, id: '' })),
);

type Op =
  | { op: 'view'; step: number; peers: PeerInfo[] }
  | { op: 'reuse'; step: number; drop: number[]; add: PeerInfo[]; bump: number[]; bumpCaps: string[]; withDelta: boolean }
  | { op: 'upsert'; peer: PeerInfo }
  | { op: 'remove'; id: string }
  | { op: 'register'; id: string; capabilities: string[] }
  | { op: 'read' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  // A fresh view: distinct ids in random order, at times a duplicate id or an invalid peer.
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('view' as const),
      step: fc.integer({ min: -1, max: 3 }),
      peers: fc.oneof(
        { weight: 8, arbitrary: fc.uniqueArray(peerArb, { selector: (p) => p.id, maxLength: IDS.length }) },
        { weight: 1, arbitrary: fc.array(peerArb, { maxLength: 8 }) },
        { weight: 1, arbitrary: fc.tuple(fc.uniqueArray(peerArb, { selector: (p) => p.id, maxLength: 4 }), badPeerArb).map(([ps, bad]) => [...ps, bad]) },
      ),
    }),
  },
  // The previous view's very objects, some dropped and some added (as the in-memory hub sends them).
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('reuse' as const),
      step: fc.integer({ min: 1, max: 2 }),
      drop: fc.array(fc.nat(8), { maxLength: 3 }),
      add: fc.uniqueArray(peerArb, { selector: (p) => p.id, maxLength: 2 }),
      // Kept peers re-announced (new objects, maybe new capabilities).
      bump: fc.array(fc.nat(8), { maxLength: 2 }),
      bumpCaps: fc.array(fc.constantFrom(...CAPS), { maxLength: 2 }),
      // With a ViewDelta, when one can be stated truthfully (the table holds exactly the previous view).
      withDelta: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('upsert' as const), peer: fc.oneof({ weight: 9, arbitrary: peerArb }, { weight: 1, arbitrary: badPeerArb }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), id: fc.constantFrom(...IDS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('register' as const), id: fc.constantFrom(...IDS), capabilities: fc.array(fc.constantFrom(...CAPS), { maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'read' as const }) },
);

/** Runs `fn` and returns its result or the fact that it threw. */
function outcome(fn: () => unknown): unknown {
  try {
    return { value: fn() };
  } catch {
    return 'threw';
  }
}

function expectSame(t: CapabilityTable, ref: ReferenceTable): void {
  expect(t.version).toBe(ref.version);
  expect(t.size).toBe(ref.peers.size);
  expect(t.peers).toEqual(ref.sorted());
  expect(t.snapshot()).toEqual({ version: ref.version, peers: ref.sorted() });
  for (const c of [...CAPS, 'none']) expect(t.peersFor(c)).toEqual(ref.peersFor(c));
  expect(t.capabilities()).toEqual(ref.capabilities());
  for (const id of IDS) expect(t.peer(id)).toEqual(ref.peers.get(id));
}

describe('CapabilityTable (incremental) against a full rebuild', () => {
  it('gives the same tables and the same changes for random sequences of views and edits', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const t = new CapabilityTable();
        const ref = new ReferenceTable();
        const changes: TableChange[] = [];
        t.onChange((c) => changes.push(c));
        let lastView: PeerInfo[] = [];
        // The version of the table when it holds exactly `lastView` (applied, valid, no duplicate id, no edit since).
        let exactAt = -1;
        const apply = (view: ViewSnapshot): void => {
          const before = ref.version;
          const got = outcome(() => t.applyView(view));
          expect(got).toEqual(outcome(() => ref.applyView(view)));
          lastView = [...view.peers];
          exactAt = ref.version !== before && new Set(view.peers.map((p) => p.id)).size === view.peers.length ? ref.version : -1;
        };
        for (const o of ops) {
          switch (o.op) {
            case 'view':
              apply({ version: ref.version + o.step, peers: o.peers });
              break;
            case 'reuse': {
              const kept = lastView.filter((_, i) => !o.drop.includes(i));
              const bumped = kept.map((p, i) => (o.bump.includes(i) ? { ...p, capabilities: o.bumpCaps } : p));
              const added = o.add.filter((p) => !kept.some((k) => k.id === p.id));
              const peers = [...bumped, ...added];
              const left = lastView.filter((_, i) => o.drop.includes(i)).map((p) => p.id);
              const delta = { from: ref.version, changed: [...bumped.filter((p, i) => p !== kept[i]), ...added], left };
              apply(o.withDelta && exactAt === ref.version ? { version: ref.version + o.step, peers, delta } : { version: ref.version + o.step, peers });
              break;
            }
            case 'upsert':
              expect(outcome(() => t.upsert(o.peer))).toEqual(outcome(() => ref.upsert(o.peer)));
              break;
            case 'remove':
              expect(t.remove(o.id)).toBe(ref.remove(o.id));
              break;
            case 'register':
              expect(outcome(() => t.registerCapabilities(o.id, o.capabilities))).toEqual(outcome(() => ref.registerCapabilities(o.id, o.capabilities)));
              break;
            case 'read':
              // Builds the derived lists, so later changes patch them instead of leaving them to be built.
              expectSame(t, ref);
              break;
          }
          expect(changes).toEqual(ref.changes);
        }
        expectSame(t, ref);
      }),
      { numRuns: 500 },
    );
  });
});

describe('CapabilityTable (incremental) against a full rebuild, large changes', () => {
  it('gives the same tables when views change many peers at once (lists merged, not spliced)', () => {
    const ids = Array.from({ length: 40 }, (_, i) => `q${String(i).padStart(2, '0')}`);
    const big = fc.record({
      id: fc.constantFrom(...ids),
      incarnation: fc.integer({ min: 1, max: 2 }),
      kind: fc.constant<'edge'>('edge'),
      weight: fc.constant(1),
      capabilities: fc.array(fc.constantFrom('game', 'chat'), { maxLength: 2 }),
    });
    fc.assert(
      fc.property(fc.array(fc.uniqueArray(big, { selector: (p) => p.id, maxLength: 40 }), { minLength: 1, maxLength: 8 }), (views) => {
        const t = new CapabilityTable();
        const ref = new ReferenceTable();
        const changes: TableChange[] = [];
        t.onChange((c) => changes.push(c));
        for (const peers of views) {
          const view = { version: ref.version + 1, peers };
          expect(t.applyView(view)).toBe(ref.applyView(view));
          expect(t.peers).toEqual(ref.sorted());
          for (const c of ['game', 'chat']) expect(t.peersFor(c)).toEqual(ref.peersFor(c));
        }
        expect(changes).toEqual(ref.changes);
      }),
      { numRuns: 100 },
    );
  });
});

describe('CapabilityTable reuse', () => {
  const peer = (id: string, capabilities: string[], incarnation = 1): PeerInfo => ({ id, incarnation, kind: 'edge', weight: 1, capabilities });

  it('keeps the records of unchanged peers and the lists of untouched capabilities', () => {
    const t = new CapabilityTable();
    // New objects every view, as a WebSocket client parses them.
    t.applyView({ version: 1, peers: [peer('a', ['game']), peer('b', ['chat', 'game']), peer('c', ['chat'])] });
    const a = t.peer('a');
    const chat = t.peersFor('chat');
    const game = t.peersFor('game');
    const all = t.peers;
    t.applyView({ version: 2, peers: [peer('a', ['game']), peer('b', ['chat', 'game']), peer('c', ['chat'])] });
    expect(t.peer('a')).toBe(a);
    expect(t.peers).toBe(all);
    expect(t.peersFor('chat')).toBe(chat);
    t.applyView({ version: 3, peers: [peer('a', ['game']), peer('b', ['chat', 'game']), peer('c', ['chat']), peer('d', ['game'])] });
    expect(t.peer('a')).toBe(a);
    expect(t.peersFor('chat')).toBe(chat);
    expect(t.peersFor('game')).not.toBe(game);
    expect(t.peersFor('game').map((p) => p.id)).toEqual(['a', 'b', 'd']);
    expect(Object.isFrozen(t.peersFor('game'))).toBe(true);
  });

  it('uses a view delta only when it holds exactly the view the delta starts from', () => {
    const t = new CapabilityTable();
    const a = peer('a', ['game']);
    const b = peer('b', ['game']);
    t.applyView({ version: 1, peers: [a, b] });
    t.registerCapabilities('b', ['chat']); // a local edit: version 2 here is not the sender's view 2 ([a, b])
    const c = peer('c', ['game']);
    t.applyView({ version: 3, peers: [a, b, c], delta: { from: 2, changed: [c], left: [] } });
    expect(t.peers.map((p) => p.id)).toEqual(['a', 'b', 'c']);
    expect(t.peersFor('chat')).toEqual([]);
    // A delta that does not add up (sizes) is ignored too.
    const d = peer('d', ['game']);
    t.applyView({ version: 4, peers: [a, c, d], delta: { from: 3, changed: [], left: ['b'] } });
    expect(t.peers.map((p) => p.id)).toEqual(['a', 'c', 'd']);
    // A usable one: only the changes are looked at.
    const changes: string[] = [];
    t.onChange((ch) => changes.push(ch.type === 'view' ? 'view' : `${ch.type} ${ch.peer.id}`));
    const c2 = peer('c', ['chat', 'game'], 2);
    t.applyView({ version: 5, peers: [a, c2, d], delta: { from: 4, changed: [c2], left: [] } });
    t.applyView({ version: 6, peers: [c2], delta: { from: 5, changed: [], left: ['d', 'a'] } });
    expect(changes).toEqual(['update c', 'view', 'leave a', 'leave d', 'view']);
    expect(t.peersFor('chat').map((p) => p.id)).toEqual(['c']);
  });

  it('shares one normalised record per announced object between tables', () => {
    const view = { version: 1, peers: [peer('a', ['game', 'chat']), peer('b', ['game'])] };
    const t1 = new CapabilityTable();
    const t2 = new CapabilityTable();
    t1.applyView(view);
    t2.applyView(view);
    expect(t1.peer('a')).toBe(t2.peer('a'));
    expect(t1.peer('a')!.capabilities).toEqual(['chat', 'game']);
    // An announced object changed after use is normalised again.
    const mutable = { ...peer('c', ['x']) };
    t1.applyView({ version: 2, peers: [mutable] });
    mutable.capabilities = ['y'];
    t2.applyView({ version: 2, peers: [mutable] });
    expect(t2.peer('c')!.capabilities).toEqual(['y']);
    expect(t1.peer('c')!.capabilities).toEqual(['x']);
  });
});
