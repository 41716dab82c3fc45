/**
 * Room-wide aggregation of the stats every peer shares (`mesh.watchRoom`): who talks to whom and how much, how
 * many actors run where, how long calls take. Pure functions over the latest report of each peer.
 */

/** The part of a peer's stats report the dashboard reads (a structural subset of the mesh's `PeerStatsReport`). */
export interface RoomReport {
  readonly peerId: string;
  readonly kind: string;
  readonly capabilities: readonly string[];
  /** When the peer made the report (its clock). */
  readonly at: number;
  readonly view: number;
  readonly actorsActive: number;
  readonly actorsByType: Readonly<Record<string, number>>;
  readonly callsServed: number;
  /** Calls per second this peer sent to each peer (by target id), over the last interval. */
  readonly callsPerSecondByPeer: Readonly<Record<string, number>>;
  /** Latency of the calls this peer made in the interval (0 or null when it made none). */
  readonly latencyMs: { readonly p50: number | null; readonly p99: number | null };
  /** Round-trip time from this peer to each peer it has a link to. */
  readonly rttMs: Readonly<Record<string, number | null>>;
}

/** A directed link with traffic. */
export interface Link {
  readonly from: string;
  readonly to: string;
  /** Calls per second. */
  readonly rate: number;
}

/** The links of a room with traffic, heaviest first; calls a peer makes to itself are left out. */
export function roomLinks(reports: Iterable<RoomReport>, minRate = 0): Link[] {
  const links: Link[] = [];
  for (const r of reports) {
    for (const [to, rate] of Object.entries(r.callsPerSecondByPeer)) {
      if (to === r.peerId || !(rate > minRate)) continue;
      links.push({ from: r.peerId, to, rate });
    }
  }
  return links.sort((a, b) => b.rate - a.rate || (a.from + a.to < b.from + b.to ? -1 : 1));
}

/** Traffic between two peers in both directions, keyed by the sorted pair `a|b` (for undirected drawings). */
export function pairRates(links: readonly Link[]): Map<string, { a: string; b: string; ab: number; ba: number }> {
  const out = new Map<string, { a: string; b: string; ab: number; ba: number }>();
  for (const l of links) {
    const [a, b] = l.from < l.to ? [l.from, l.to] : [l.to, l.from];
    const key = `${a}|${b}`;
    let pair = out.get(key);
    if (pair === undefined) out.set(key, (pair = { a, b, ab: 0, ba: 0 }));
    if (l.from === a) pair.ab += l.rate;
    else pair.ba += l.rate;
  }
  return out;
}

/** Totals of a room. */
export interface RoomTotals {
  readonly peers: number;
  readonly actors: number;
  /** Calls per second made by all peers (local calls included). */
  readonly callsPerSecond: number;
  /** Median of the peers' p50, weighted by their call rate (null without calls). */
  readonly p50: number | null;
  /** The worst p99 of any peer that made calls (a conservative room-wide p99; null without calls). */
  readonly p99: number | null;
  readonly actorsByType: Record<string, number>;
}

/** Sums and latency over the latest report of every peer. */
export function roomTotals(reports: Iterable<RoomReport>): RoomTotals {
  let peers = 0;
  let actors = 0;
  let calls = 0;
  let p99: number | null = null;
  const byType: Record<string, number> = {};
  const p50s: Array<{ value: number; weight: number }> = [];
  for (const r of reports) {
    peers++;
    actors += r.actorsActive;
    for (const [type, n] of Object.entries(r.actorsByType)) byType[type] = (byType[type] ?? 0) + n;
    const rate = outgoingRate(r);
    calls += rate;
    // A peer that made no calls in the interval reports 0 ms: no measurement, not a fast call.
    if (rate <= 0) continue;
    if (r.latencyMs.p50 !== null && Number.isFinite(r.latencyMs.p50)) p50s.push({ value: r.latencyMs.p50, weight: rate });
    if (r.latencyMs.p99 !== null && Number.isFinite(r.latencyMs.p99)) p99 = p99 === null ? r.latencyMs.p99 : Math.max(p99, r.latencyMs.p99);
  }
  return { peers, actors, callsPerSecond: calls, p50: weightedMedian(p50s), p99, actorsByType: byType };
}

/** The weighted median of `values` (null when empty). */
export function weightedMedian(values: ReadonlyArray<{ value: number; weight: number }>): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a.value - b.value);
  const total = sorted.reduce((s, v) => s + v.weight, 0);
  let acc = 0;
  for (const v of sorted) {
    acc += v.weight;
    if (acc >= total / 2) return v.value;
  }
  return sorted[sorted.length - 1]!.value;
}

/** Calls per second a peer made, all targets together. */
export function outgoingRate(report: RoomReport): number {
  return Object.values(report.callsPerSecondByPeer).reduce((s, v) => s + (v > 0 ? v : 0), 0);
}

/** Calls per second a peer received from the others (from their reports). */
export function incomingRate(reports: Iterable<RoomReport>, peerId: string): number {
  let sum = 0;
  for (const r of reports) if (r.peerId !== peerId) sum += r.callsPerSecondByPeer[peerId] ?? 0;
  return sum;
}

/**
 * The round-trip time to `peerId`: as measured by `observer` when it has a link, else the median of what the
 * other peers measured (null when nobody has a link to it).
 */
export function rttTo(reports: ReadonlyMap<string, RoomReport>, peerId: string, observer: string): number | null {
  const own = reports.get(observer)?.rttMs[peerId];
  if (own !== undefined && own !== null) return own;
  const seen: number[] = [];
  for (const r of reports.values()) {
    const v = r.rttMs[peerId];
    if (r.peerId !== peerId && v !== undefined && v !== null) seen.push(v);
  }
  if (seen.length === 0) return null;
  seen.sort((a, b) => a - b);
  return seen[Math.floor((seen.length - 1) / 2)]!;
}

/** A fixed-size history of samples (for sparklines). */
export class SampleHistory {
  readonly #values: number[] = [];
  constructor(readonly capacity = 60) {}

  push(value: number): void {
    this.#values.push(value);
    if (this.#values.length > this.capacity) this.#values.splice(0, this.#values.length - this.capacity);
  }

  get values(): readonly number[] {
    return this.#values;
  }

  get max(): number {
    return this.#values.reduce((m, v) => (v > m ? v : m), 0);
  }
}

/**
 * Keeps the latest report of every peer of the view; forgets peers that left. Returns whether anything changed.
 */
export function mergeReport(latest: Map<string, RoomReport>, report: RoomReport, livePeers: ReadonlySet<string>): boolean {
  if (!livePeers.has(report.peerId)) return false;
  const prev = latest.get(report.peerId);
  if (prev !== undefined && prev.at > report.at) return false;
  latest.set(report.peerId, report);
  return true;
}

/** Drops the reports of peers no longer in the view; returns the ids dropped. */
export function pruneReports(latest: Map<string, RoomReport>, livePeers: ReadonlySet<string>): string[] {
  const gone: string[] = [];
  for (const id of latest.keys()) if (!livePeers.has(id)) gone.push(id);
  for (const id of gone) latest.delete(id);
  return gone;
}

/** Formats milliseconds for a small label: `0.4 ms`, `12 ms`, `1.2 s`, or `–`. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Formats a rate for a small label: `0`, `3.5/s`, `120/s`, `12k/s`. */
export function formatRate(perSecond: number): string {
  if (!(perSecond > 0)) return '0/s';
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  if (perSecond < 10_000) return `${Math.round(perSecond)}/s`;
  return `${Math.round(perSecond / 1000)}k/s`;
}
