/**
 * Room-wide stats over the mesh (peer-addressed frames, no actors). A peer that watches the room asks every peer
 * of its view (and each peer that joins) for a {@link PeerStatsReport} every `intervalMs`; the ask is a lease,
 * renewed three times per lease period, so reports stop by themselves when the watcher goes silent, and at once
 * when it says so (unwatch) or leaves the view. Each peer reports to at most {@link MAX_STATS_WATCHERS} watchers,
 * and collects actor lifecycle events only while someone watches it.
 */
import type { Clock, Timer } from '../clock/clock.js';
import { meshError } from '../errors.js';
import type { Emitter } from '../monitoring/events.js';
import { asPeerStatsReport, type PeerStatsReport, type StatsCollector, type StatsWindow } from '../monitoring/stats.js';
import { Kind, type Frame } from './protocol.js';

/** The shortest report interval. */
export const MIN_STATS_INTERVAL_MS = 100;
/** The longest report interval. */
export const MAX_STATS_INTERVAL_MS = 60_000;
/** The most peers one peer reports to. */
export const MAX_STATS_WATCHERS = 32;

/** How long a watch lasts without renewal (the watcher renews three times per lease). */
export function statsLeaseMs(intervalMs: number): number {
  return Math.max(10_000, 10 * intervalMs);
}

/** What room stats need from the mesh. */
export interface RoomStatsDeps {
  readonly clock: Clock;
  readonly emitter: Emitter;
  readonly collector: StatsCollector;
  /** This peer's report over `window` (the window then moves to now). */
  report(window: StatsWindow): PeerStatsReport;
  /** The other peers of the current view. */
  otherPeers(): readonly string[];
  inView(peer: string): boolean;
  /** Sends a frame to a peer (best effort). */
  send(to: string, frame: Frame): void;
  /** Counts a frame refused from `from`. */
  dropped(from: string, reason: string): void;
}

/** A watcher this peer pushes reports to. */
interface Lease {
  intervalMs: number;
  expires: number;
  timer: Timer;
  readonly window: StatsWindow;
}

/** This peer watching the room. */
interface Watch {
  intervalMs: number;
  selfTimer: Timer;
  renewTimer: Timer;
  readonly window: StatsWindow;
  /** Peers asked for reports. */
  readonly asked: Set<string>;
}

/** Both sides of room stats for one peer: its own watch, and the watchers it reports to. */
export class RoomStats {
  readonly #deps: RoomStatsDeps;
  readonly #listeners = new Set<{ listener: (report: PeerStatsReport) => void; intervalMs: number }>();
  #watch: Watch | undefined;
  readonly #leases = new Map<string, Lease>();
  /** Stops the actor-event collection (on while anyone watches). */
  #collecting: (() => void) | undefined;
  #stopped = false;

  constructor(deps: RoomStatsDeps) {
    this.#deps = deps;
  }

  /** Peers this peer reports to. */
  get watchers(): number {
    return this.#leases.size;
  }

  /** See `Mesh.watchRoom`. */
  watch(listener: (report: PeerStatsReport) => void, intervalMs: number): () => void {
    if (typeof listener !== 'function') throw meshError('InvalidArgument', 'listener must be a function');
    if (!Number.isInteger(intervalMs) || intervalMs < MIN_STATS_INTERVAL_MS || intervalMs > MAX_STATS_INTERVAL_MS) {
      throw meshError('InvalidArgument', `intervalMs must be an integer in [${MIN_STATS_INTERVAL_MS}, ${MAX_STATS_INTERVAL_MS}]`);
    }
    if (this.#stopped) throw meshError('Closed', 'the mesh is closed');
    const entry = { listener, intervalMs };
    this.#listeners.add(entry);
    this.#retune();
    return () => {
      if (this.#listeners.delete(entry)) this.#retune();
    };
  }

  /** A peer asks for reports (or renews its lease). */
  onWatch(from: string, requestedMs: number): void {
    if (this.#stopped) return;
    const intervalMs = Math.min(MAX_STATS_INTERVAL_MS, Math.max(MIN_STATS_INTERVAL_MS, requestedMs));
    const expires = this.#deps.clock.now() + statsLeaseMs(intervalMs);
    const lease = this.#leases.get(from);
    if (lease !== undefined && lease.intervalMs === intervalMs) {
      lease.expires = expires;
      return;
    }
    if (lease === undefined && this.#leases.size >= MAX_STATS_WATCHERS) {
      this.#deps.dropped(from, `more than ${MAX_STATS_WATCHERS} peers watch this peer's stats`);
      return;
    }
    lease?.timer.cancel();
    const next: Lease = {
      intervalMs,
      expires,
      window: lease?.window ?? this.#deps.collector.window(this.#deps.clock.now()),
      timer: this.#deps.clock.setInterval(() => {
        if (this.#deps.clock.now() > next.expires) this.#dropLease(from);
        else this.#sendReport(from, next);
      }, intervalMs),
    };
    this.#leases.set(from, next);
    this.#updateCollecting();
    // The first report goes at once, so a new watcher sees this peer without waiting an interval.
    this.#sendReport(from, next);
  }

  /** A watcher stopped watching this peer. */
  onUnwatch(from: string): void {
    this.#dropLease(from);
  }

  /** A report arrived (validated here). */
  onReport(from: string, raw: Record<string, unknown>): void {
    const report = asPeerStatsReport(raw);
    if (report === undefined || report.peerId !== from) this.#deps.dropped(from, 'malformed stats report');
    else if (this.#watch !== undefined) this.#deliver(report);
  }

  /** The view changed: ask the peers that joined. */
  onViewChange(): void {
    if (this.#watch !== undefined) this.#ask(false);
  }

  /** `peer` left the view, restarted, or its link went down: it gets no more reports (it asks again if alive). */
  onPeerGone(peer: string, left: boolean): void {
    this.#dropLease(peer);
    if (left) this.#watch?.asked.delete(peer);
  }

  /** Stops everything; `tell`: let the peers reporting to this one know (a graceful close). */
  stop(tell: boolean): void {
    this.#stopped = true;
    const watch = this.#watch;
    this.#watch = undefined;
    this.#listeners.clear();
    if (watch !== undefined) {
      watch.selfTimer.cancel();
      watch.renewTimer.cancel();
      if (tell) for (const peer of watch.asked) this.#deps.send(peer, [Kind.StatsUnwatch]);
    }
    for (const peer of [...this.#leases.keys()]) this.#dropLease(peer);
    this.#collecting?.();
    this.#collecting = undefined;
  }

  /** Starts, retunes or stops this peer's watch after its listeners changed. */
  #retune(): void {
    let intervalMs = Number.POSITIVE_INFINITY;
    for (const l of this.#listeners) intervalMs = Math.min(intervalMs, l.intervalMs);
    const watch = this.#watch;
    if (this.#listeners.size === 0 || this.#stopped) {
      if (watch === undefined) return;
      watch.selfTimer.cancel();
      watch.renewTimer.cancel();
      this.#watch = undefined;
      for (const peer of watch.asked) this.#deps.send(peer, [Kind.StatsUnwatch]);
      this.#updateCollecting();
      return;
    }
    if (watch !== undefined && watch.intervalMs === intervalMs) return;
    watch?.selfTimer.cancel();
    watch?.renewTimer.cancel();
    const window = watch?.window ?? this.#deps.collector.window(this.#deps.clock.now());
    this.#watch = {
      intervalMs,
      selfTimer: this.#deps.clock.setInterval(() => this.#deliver(this.#deps.report(window)), intervalMs),
      renewTimer: this.#deps.clock.setInterval(() => this.#ask(true), Math.floor(statsLeaseMs(intervalMs) / 3)),
      window,
      asked: watch?.asked ?? new Set(),
    };
    this.#updateCollecting();
    this.#ask(true);
  }

  /** Asks the peers of the view for reports: all of them (`renew`), or those not asked yet (a view change). */
  #ask(renew: boolean): void {
    const watch = this.#watch;
    if (watch === undefined) return;
    for (const peer of [...watch.asked]) if (!this.#deps.inView(peer)) watch.asked.delete(peer);
    for (const peer of this.#deps.otherPeers()) {
      if (!renew && watch.asked.has(peer)) continue;
      watch.asked.add(peer);
      this.#deps.send(peer, [Kind.StatsWatch, watch.intervalMs]);
    }
  }

  #deliver(report: PeerStatsReport): void {
    for (const l of [...this.#listeners]) {
      try {
        l.listener(report);
      } catch {
        // A throwing listener does not stop the others.
      }
    }
  }

  #sendReport(to: string, lease: Lease): void {
    this.#deps.send(to, [Kind.StatsReport, this.#deps.report(lease.window) as unknown as Record<string, unknown>]);
  }

  #dropLease(peer: string): void {
    const lease = this.#leases.get(peer);
    if (lease === undefined) return;
    lease.timer.cancel();
    this.#leases.delete(peer);
    this.#updateCollecting();
  }

  /** Collects actor events while anyone watches (the hot paths skip them otherwise). */
  #updateCollecting(): void {
    const wanted = this.#watch !== undefined || this.#leases.size > 0;
    if (wanted && this.#collecting === undefined) {
      const { emitter, collector, clock } = this.#deps;
      const offA = emitter.on('actor:activated', (e) => collector.recordActorEvent({ type: 'activated', address: e.address, at: clock.now() }));
      const offD = emitter.on('actor:deactivated', (e) =>
        collector.recordActorEvent({ type: e.reason === 'not-owner' ? 'moved' : 'deactivated', address: e.address, at: clock.now() }),
      );
      this.#collecting = () => {
        offA();
        offD();
      };
    } else if (!wanted && this.#collecting !== undefined) {
      this.#collecting();
      this.#collecting = undefined;
    }
  }
}
