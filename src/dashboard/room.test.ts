import { describe, expect, it } from 'vitest';
import {
  SampleHistory,
  formatMs,
  formatRate,
  incomingRate,
  mergeReport,
  pairRates,
  pruneReports,
  roomLinks,
  roomTotals,
  rttTo,
  weightedMedian,
  type RoomReport,
} from './room.js';

function report(peerId: string, fields: Partial<RoomReport> = {}): RoomReport {
  return {
    peerId,
    kind: 'browser',
    capabilities: ['world'],
    at: 1000,
    view: 1,
    actorsActive: 0,
    actorsByType: {},
    callsServed: 0,
    callsPerSecondByPeer: {},
    latencyMs: { p50: null, p99: null },
    rttMs: {},
    ...fields,
  };
}

describe('room aggregation', () => {
  const a = report('a', { actorsActive: 3, actorsByType: { region: 2, lobby: 1 }, callsPerSecondByPeer: { b: 10, c: 2, a: 50 }, latencyMs: { p50: 2, p99: 9 }, rttMs: { b: 1.5, c: null } });
  const b = report('b', { actorsActive: 1, actorsByType: { region: 1 }, callsPerSecondByPeer: { a: 4 }, latencyMs: { p50: 5, p99: 30 }, rttMs: { a: 1.7, c: 4 } });
  const c = report('c', { kind: 'edge', latencyMs: { p50: 0, p99: 0 } }); // made no calls: its 0 ms is no measurement

  it('links: directed, heaviest first, self-calls left out', () => {
    expect(roomLinks([a, b, c])).toEqual([
      { from: 'a', to: 'b', rate: 10 },
      { from: 'b', to: 'a', rate: 4 },
      { from: 'a', to: 'c', rate: 2 },
    ]);
    expect(roomLinks([a, b], 3).map((l) => l.to)).toEqual(['b', 'a']);
  });

  it('pairs: both directions of one pair together', () => {
    const pairs = pairRates(roomLinks([a, b, c]));
    expect(pairs.get('a|b')).toEqual({ a: 'a', b: 'b', ab: 10, ba: 4 });
    expect(pairs.get('a|c')).toEqual({ a: 'a', b: 'c', ab: 2, ba: 0 });
  });

  it('totals: actors by type, call rate (local calls included), latency', () => {
    const t = roomTotals([a, b, c]);
    expect(t).toMatchObject({ peers: 3, actors: 4, callsPerSecond: 66, actorsByType: { region: 3, lobby: 1 } });
    expect(t.p50).toBe(2); // a makes most calls
    expect(t.p99).toBe(30);
    expect(roomTotals([])).toMatchObject({ peers: 0, p50: null, p99: null, callsPerSecond: 0 });
  });

  it('incoming rate', () => {
    expect(incomingRate([a, b, c], 'a')).toBe(4);
    expect(incomingRate([a, b, c], 'c')).toBe(2);
  });

  it('rtt: own measurement first, else the median of the others', () => {
    const m = new Map([a, b, c].map((r) => [r.peerId, r]));
    expect(rttTo(m, 'b', 'a')).toBe(1.5);
    expect(rttTo(m, 'c', 'a')).toBe(4); // a has no number for c; b measured 4
    expect(rttTo(m, 'a', 'c')).toBe(1.7);
    expect(rttTo(m, 'zz', 'a')).toBeNull();
  });

  it('weighted median', () => {
    expect(weightedMedian([])).toBeNull();
    expect(weightedMedian([{ value: 1, weight: 1 }, { value: 100, weight: 5 }])).toBe(100);
    expect(weightedMedian([{ value: 3, weight: 1 }, { value: 1, weight: 1 }, { value: 2, weight: 1 }])).toBe(2);
  });

  it('merge keeps the newest report of live peers; prune forgets peers that left', () => {
    const latest = new Map<string, RoomReport>();
    const live = new Set(['a', 'b']);
    expect(mergeReport(latest, a, live)).toBe(true);
    expect(mergeReport(latest, { ...a, at: 500 }, live)).toBe(false);
    expect(mergeReport(latest, c, live)).toBe(false);
    expect(mergeReport(latest, b, live)).toBe(true);
    expect(pruneReports(latest, new Set(['b']))).toEqual(['a']);
    expect([...latest.keys()]).toEqual(['b']);
  });

  it('sample history is bounded', () => {
    const h = new SampleHistory(3);
    for (const v of [1, 5, 2, 4]) h.push(v);
    expect(h.values).toEqual([5, 2, 4]);
    expect(h.max).toBe(5);
  });

  it('formats', () => {
    expect(formatMs(null)).toBe('–');
    expect(formatMs(0.25)).toBe('0.25 ms');
    expect(formatMs(3.14)).toBe('3.1 ms');
    expect(formatMs(42.4)).toBe('42 ms');
    expect(formatMs(1500)).toBe('1.5 s');
    expect(formatRate(0)).toBe('0/s');
    expect(formatRate(2.345)).toBe('2.3/s');
    expect(formatRate(123.4)).toBe('123/s');
    expect(formatRate(45_000)).toBe('45k/s');
  });
});
