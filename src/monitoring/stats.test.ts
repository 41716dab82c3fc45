import { describe, expect, it } from 'vitest';
import { asPeerStatsReport, LATENCY_SAMPLES, MAX_REPORTED_ACTOR_EVENTS, StatsCollector, type PeerStatsReport } from './stats.js';

const addr = (id: string) => ({ capability: 'game', type: 'counter', id });

describe('StatsCollector', () => {
  it('reports rates per target, latency percentiles and actor events per reader window', () => {
    const c = new StatsCollector();
    const w1 = c.window(0);
    for (let i = 1; i <= 100; i++) c.recordCall('b', i); // latencies 1..100 ms
    for (let i = 0; i < 50; i++) c.recordCall('c', undefined); // failed calls count, without latency
    c.selfCalls += 20;
    c.recordActorEvent({ type: 'activated', address: addr('x'), at: 5 });
    const w2 = c.window(500); // a second reader, starting later
    c.recordCall('b', 1000);
    const r1 = c.measure(w1, 1000, 'a');
    expect(r1.callsPerSecondByPeer).toEqual({ b: 101, c: 50, a: 20 });
    expect(r1.latencyMs).toEqual({ p50: 51, p99: 100 });
    expect(r1.recentActorEvents).toEqual([{ type: 'activated', address: addr('x'), at: 5 }]);
    // Reader 2 saw only what came after it started, over its own half second.
    const r2 = c.measure(w2, 1000, 'a');
    expect(r2.callsPerSecondByPeer).toEqual({ b: 2 });
    expect(r2.latencyMs).toEqual({ p50: 1000, p99: 1000 });
    expect(r2.recentActorEvents).toEqual([]);
    // The windows moved: nothing new since.
    expect(c.measure(w1, 2000, 'a')).toEqual({ callsPerSecondByPeer: {}, latencyMs: { p50: 0, p99: 0 }, recentActorEvents: [] });
  });

  it('stays bounded: the newest latencies and actor events only', () => {
    const c = new StatsCollector();
    const w = c.window(0);
    for (let i = 0; i < LATENCY_SAMPLES * 3; i++) c.recordCall('b', i < LATENCY_SAMPLES * 2 ? 1_000_000 : 1);
    for (let i = 0; i < MAX_REPORTED_ACTOR_EVENTS * 2; i++) c.recordActorEvent({ type: 'moved', address: addr(`a${i}`), at: i });
    const r = c.measure(w, 1000, 'a');
    expect(r.latencyMs).toEqual({ p50: 1, p99: 1 });
    expect(r.recentActorEvents).toHaveLength(MAX_REPORTED_ACTOR_EVENTS);
    expect(r.recentActorEvents[0]!.address.id).toBe(`a${MAX_REPORTED_ACTOR_EVENTS}`);
    expect(r.callsPerSecondByPeer).toEqual({ b: LATENCY_SAMPLES * 3 });
  });
});

describe('asPeerStatsReport', () => {
  const good: PeerStatsReport = {
    peerId: 'a',
    kind: 'edge',
    capabilities: ['game'],
    at: 1,
    view: 3,
    actorsActive: 1,
    actorsByType: { counter: 1 },
    callsServed: 9,
    callsPerSecondByPeer: { b: 2 },
    latencyMs: { p50: 1, p99: 2 },
    rttMs: { b: 0.5 },
    recentActorEvents: [{ type: 'activated', address: addr('x'), at: 1 }],
  };

  it('accepts a well-formed report and refuses malformed or oversized ones', () => {
    expect(asPeerStatsReport(good)).toBe(good);
    expect(asPeerStatsReport(null)).toBeUndefined();
    expect(asPeerStatsReport({ ...good, peerId: '' })).toBeUndefined();
    expect(asPeerStatsReport({ ...good, view: 'x' })).toBeUndefined();
    expect(asPeerStatsReport({ ...good, rttMs: { b: 'slow' } })).toBeUndefined();
    expect(asPeerStatsReport({ ...good, latencyMs: { p50: 1 } })).toBeUndefined();
    expect(asPeerStatsReport({ ...good, recentActorEvents: [{ type: 'exploded', address: addr('x'), at: 1 }] })).toBeUndefined();
    const many = Array.from({ length: MAX_REPORTED_ACTOR_EVENTS + 1 }, () => good.recentActorEvents[0]);
    expect(asPeerStatsReport({ ...good, recentActorEvents: many })).toBeUndefined();
  });
});
