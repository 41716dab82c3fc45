/** The demo's actors, on a single-peer mesh: painting, snapshots, published events, chat history. */
import { afterEach, describe, expect, it } from 'vitest';
import { createMesh, type Mesh } from 'meshrtc';
import {
  CHAT_HISTORY,
  PALETTE,
  REGION_SIZE,
  REGIONS_X,
  REGIONS_Y,
  allRegionIds,
  applyPaint,
  checkPlayer,
  cleanText,
  demoActors,
  regionCoords,
  regionId,
  type LobbyEvent,
  type PresenceEvent,
  type RegionEvent,
  type RegionSnapshot,
  type RegionState,
} from './actors.js';

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.close();
  mesh = undefined;
});

const ada = { id: 'p1', name: 'Ada', color: 5 };
const region = (id: string, op: string, arg?: unknown) => ({ capability: 'world', type: 'region', id, payload: { op, arg } });
const flush = () => new Promise((r) => setTimeout(r, 10));

describe('demo actors', () => {
  it('region ids and coordinates', () => {
    expect(allRegionIds()).toHaveLength(REGIONS_X * REGIONS_Y);
    expect(regionId(3, 2)).toBe('r3-2');
    expect(regionCoords('r3-2')).toEqual({ rx: 3, ry: 2 });
    expect(regionCoords(`r${REGIONS_X}-0`)).toBeUndefined();
    expect(regionCoords('nope')).toBeUndefined();
  });

  it('applyPaint keeps valid writes only and remembers who painted', () => {
    const state: RegionState = { px: new Array(REGION_SIZE * REGION_SIZE).fill(0), by: new Array(REGION_SIZE * REGION_SIZE).fill(-1), who: [], seq: 0 };
    const kept = applyPaint(state, ada, [[0, 3], [-1, 2], [5, PALETTE.length], [REGION_SIZE * REGION_SIZE, 1], [7, 0], [1.5, 2]]);
    expect(kept).toEqual([[0, 3], [7, 0]]);
    expect(state.px[0]).toBe(3);
    expect(state.by[0]).toBe(0);
    expect(state.by[7]).toBe(-1); // erased: nobody's pixel
    applyPaint(state, { ...ada, name: 'Ada L.' }, [[1, 2]]);
    expect(state.who).toEqual([{ ...ada, name: 'Ada L.' }]);
  });

  it('player records and text are cleaned', () => {
    expect(checkPlayer({ id: 'x', name: '  Bob\u0000\n ', color: 99 })).toEqual({ id: 'x', name: 'Bob', color: 1 });
    expect(checkPlayer({ id: 'x', name: '' }).name).toBe('anonymous');
    expect(() => checkPlayer({ name: 'no id' })).toThrow(TypeError);
    expect(cleanText('a\u0007b', 10)).toBe('a b');
  });

  it('paint: replies with the sequence number, publishes it, and the snapshot agrees', async () => {
    mesh = await createMesh({ capabilities: ['world', 'chat'], actors: demoActors });
    const events: RegionEvent[] = [];
    mesh.subscribe<RegionEvent>({ capability: 'world', type: 'region', id: 'r0-0' }, (e) => events.push(e));
    await flush();
    expect((await mesh.call(region('r0-0', 'paint', { player: ada, pixels: [[0, 3], [1, 4]] }))).reply).toBe(1);
    expect((await mesh.call(region('r0-0', 'paint', { player: ada, pixels: [[1, 5]] }))).reply).toBe(2);
    const snap = (await mesh.call<RegionSnapshot>(region('r0-0', 'snapshot'))).reply;
    expect(snap.seq).toBe(2);
    expect(snap.px.slice(0, 3)).toEqual([3, 5, 0]);
    expect(snap.who).toEqual([ada]);
    await flush();
    expect(events.map((e) => e.seq)).toEqual([1, 2]);
    expect(events[1]).toEqual({ t: 'paint', seq: 2, player: ada, pixels: [[1, 5]] });
    await expect(mesh.call(region('r0-0', 'paint', { player: ada, pixels: new Array(REGION_SIZE * REGION_SIZE + 1).fill([0, 1]) }))).rejects.toMatchObject({ code: 'HandlerFailed' });
  });

  it('presence: cursors and departures are published, nothing is stored', async () => {
    mesh = await createMesh({ capabilities: ['world'], actors: demoActors });
    const events: PresenceEvent[] = [];
    mesh.subscribe<PresenceEvent>({ capability: 'world', type: 'presence', id: 'r1-1' }, (e) => events.push(e));
    await flush();
    mesh.cast({ capability: 'world', type: 'presence', id: 'r1-1', payload: { op: 'move', arg: { player: ada, x: 2.5, y: 3, tool: 4 } } });
    mesh.cast({ capability: 'world', type: 'presence', id: 'r1-1', payload: { op: 'gone', arg: 'p1' } });
    await flush();
    expect(events).toEqual([
      { t: 'cursor', region: 'r1-1', player: ada, x: 2.5, y: 3, tool: 4 },
      { t: 'gone', region: 'r1-1', playerId: 'p1' },
    ]);
  });

  it('lobby: messages in order, history bounded, empty text refused', async () => {
    mesh = await createMesh({ capabilities: ['chat'], actors: demoActors });
    const lobby = (op: string, arg?: unknown) => ({ capability: 'chat', type: 'lobby', id: 'lobby', payload: { op, arg } });
    const events: LobbyEvent[] = [];
    mesh.subscribe<LobbyEvent>({ capability: 'chat', type: 'lobby', id: 'lobby' }, (e) => events.push(e));
    await flush();
    for (let i = 0; i < CHAT_HISTORY + 5; i++) await mesh.call(lobby('post', { from: i === 0 ? null : ada, text: `m${i}` }));
    const history = (await mesh.call<{ messages: Array<{ seq: number; text: string }>; seq: number }>(lobby('history'))).reply;
    expect(history.seq).toBe(CHAT_HISTORY + 5);
    expect(history.messages).toHaveLength(CHAT_HISTORY);
    expect(history.messages[0]!.text).toBe('m5');
    await flush();
    expect(events.map((e) => e.message.seq)).toEqual(Array.from({ length: CHAT_HISTORY + 5 }, (_, i) => i + 1));
    expect(events[0]!.message.from).toBeNull();
    await expect(mesh.call(lobby('post', { from: ada, text: '   ' }))).rejects.toMatchObject({ code: 'HandlerFailed' });
  });
});
