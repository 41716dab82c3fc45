/**
 * Compact per-peer stats for the dashboard. A {@link StatsCollector} counts what a peer does (calls it sends, by
 * target; their latencies; actor lifecycle events) in bounded structures; a {@link StatsWindow} is one reader's
 * position in them, so several readers (the local peer, each remote watcher) each get "since my last report".
 * Reports travel between peers as plain objects; {@link asPeerStatsReport} checks one that arrived.
 */
import type { ActorAddress } from './events.js';

/** One actor lifecycle event in a report. `moved`: deactivated because its shard moved to another peer. */
export interface ActorEventSummary {
  readonly type: 'activated' | 'deactivated' | 'moved';
  readonly address: ActorAddress;
  /** The reporting peer's clock (milliseconds, monotonic, not comparable across peers). */
  readonly at: number;
}

/** A compact report of one peer (what `mesh.peerStats()` returns and `mesh.watchRoom` delivers). */
export interface PeerStatsReport {
  readonly peerId: string;
  /** `browser` or `edge`. */
  readonly kind: string;
  readonly capabilities: readonly string[];
  /** When the report was made, on the reporting peer's clock (ms, monotonic; not comparable across peers). */
  readonly at: number;
  /** The reporting peer's view version. */
  readonly view: number;
  /** Actors active (or activating) on the peer. */
  readonly actorsActive: number;
  /** Active actors by actor type. */
  readonly actorsByType: Readonly<Record<string, number>>;
  /** Calls served by the peer since it started (cumulative). */
  readonly callsServed: number;
  /** Calls this peer sent to each peer (itself included) per second, over the interval since the last report. */
  readonly callsPerSecondByPeer: Readonly<Record<string, number>>;
  /** Latency of the calls this peer made in that interval (0 when it made none; at most the last 1024 calls). */
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  /** Round-trip time to each peer the transport can measure (WebRTC heartbeats; the simulated network). */
  readonly rttMs: Readonly<Record<string, number>>;
  /** Actor lifecycle events since the last report (at most {@link MAX_REPORTED_ACTOR_EVENTS}, newest kept). */
  readonly recentActorEvents: readonly ActorEventSummary[];
}

/** Latencies kept for percentiles (the newest ones). */
export const LATENCY_SAMPLES = 1024;
/** Most actor events in one report. */
export const MAX_REPORTED_ACTOR_EVENTS = 64;

/** One reader's position in a {@link StatsCollector}. */
export interface StatsWindow {
  at: number;
  calls: Map<string, number>;
  selfCalls: number;
  latencies: number;
  events: number;
}

/** Counters behind {@link PeerStatsReport}: bounded, cheap to update on the call path. */
export class StatsCollector {
  /** Calls served by the fast local path (sent to this very peer), counted by the mesh directly. */
  selfCalls = 0;
  readonly #calls = new Map<string, number>();
  readonly #latency = new Float64Array(LATENCY_SAMPLES);
  #latencyCount = 0;
  readonly #events: Array<ActorEventSummary | undefined> = new Array<ActorEventSummary | undefined>(MAX_REPORTED_ACTOR_EVENTS);
  #eventCount = 0;

  /** Counts a call sent to `target`, with its latency if it succeeded. */
  recordCall(target: string, latencyMs: number | undefined): void {
    this.#calls.set(target, (this.#calls.get(target) ?? 0) + 1);
    if (latencyMs !== undefined) this.#latency[this.#latencyCount++ % LATENCY_SAMPLES] = latencyMs;
  }

  /** Keeps an actor lifecycle event (a ring of the newest {@link MAX_REPORTED_ACTOR_EVENTS}). */
  recordActorEvent(event: ActorEventSummary): void {
    this.#events[this.#eventCount++ % MAX_REPORTED_ACTOR_EVENTS] = event;
  }

  /** A reader's window that starts now. */
  window(now: number): StatsWindow {
    return { at: now, calls: new Map(this.#calls), selfCalls: this.selfCalls, latencies: this.#latencyCount, events: this.#eventCount };
  }

  /**
   * What happened since `window` (rates per second, latency percentiles, actor events), then moves the window
   * to now. `selfId` names this peer in `callsPerSecondByPeer`.
   */
  measure(window: StatsWindow, now: number, selfId: string): Pick<PeerStatsReport, 'callsPerSecondByPeer' | 'latencyMs' | 'recentActorEvents'> {
    const seconds = Math.max(now - window.at, 1) / 1000;
    const perPeer: Record<string, number> = {};
    for (const [peer, n] of this.#calls) {
      const delta = n - (window.calls.get(peer) ?? 0);
      if (delta > 0) perPeer[peer] = round(delta / seconds);
    }
    const selfDelta = this.selfCalls - window.selfCalls;
    if (selfDelta > 0) perPeer[selfId] = round((perPeer[selfId] ?? 0) + selfDelta / seconds);

    const first = Math.max(window.latencies, this.#latencyCount - LATENCY_SAMPLES);
    const samples: number[] = [];
    for (let i = first; i < this.#latencyCount; i++) samples.push(this.#latency[i % LATENCY_SAMPLES]!);
    samples.sort((a, b) => a - b);

    const events: ActorEventSummary[] = [];
    for (let i = Math.max(window.events, this.#eventCount - MAX_REPORTED_ACTOR_EVENTS); i < this.#eventCount; i++) {
      events.push(this.#events[i % MAX_REPORTED_ACTOR_EVENTS]!);
    }

    window.at = now;
    window.calls = new Map(this.#calls);
    window.selfCalls = this.selfCalls;
    window.latencies = this.#latencyCount;
    window.events = this.#eventCount;
    return {
      callsPerSecondByPeer: perPeer,
      latencyMs: { p50: round(percentile(samples, 0.5)), p99: round(percentile(samples, 0.99)) },
      recentActorEvents: events,
    };
  }
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

const MAX_NAME = 1024;
const MAX_ENTRIES = 4096;

/**
 * Checks a report received from a peer (any shape can arrive on the wire); undefined when it is not a well-formed,
 * bounded {@link PeerStatsReport}.
 */
export function asPeerStatsReport(v: unknown): PeerStatsReport | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  if (!name(r['peerId']) || !name(r['kind']) || !num(r['at']) || !num(r['view']) || !num(r['actorsActive']) || !num(r['callsServed'])) return undefined;
  const caps = r['capabilities'];
  if (!Array.isArray(caps) || caps.length > MAX_ENTRIES || !caps.every(name)) return undefined;
  if (!numbers(r['actorsByType']) || !numbers(r['callsPerSecondByPeer']) || !numbers(r['rttMs'])) return undefined;
  const lat = r['latencyMs'] as Record<string, unknown> | null;
  if (lat === null || typeof lat !== 'object' || !num(lat['p50']) || !num(lat['p99'])) return undefined;
  const events = r['recentActorEvents'];
  if (!Array.isArray(events) || events.length > MAX_REPORTED_ACTOR_EVENTS) return undefined;
  for (const e of events as unknown[]) {
    const ev = e as Record<string, unknown> | null;
    if (ev === null || typeof ev !== 'object' || (ev['type'] !== 'activated' && ev['type'] !== 'deactivated' && ev['type'] !== 'moved') || !num(ev['at'])) return undefined;
    const a = ev['address'] as Record<string, unknown> | null;
    if (a === null || typeof a !== 'object' || !name(a['capability']) || !name(a['type']) || !name(a['id'])) return undefined;
  }
  return v as PeerStatsReport;
}

function name(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME;
}

function num(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function numbers(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const entries = Object.entries(v);
  return entries.length <= MAX_ENTRIES && entries.every(([k, n]) => k.length <= MAX_NAME && num(n));
}
