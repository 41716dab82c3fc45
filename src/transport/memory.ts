/**
 * An in-memory network for unit tests and deterministic simulation. Frames travel between `MemoryTransport`s
 * with seeded latency through an injected Clock. The network can be partitioned and healed: frames across a
 * partition wait (as a reliable channel retransmits) and arrive after a heal, in order; if the partition lasts
 * `detectMs`, the link is declared down on both sides, as heartbeats would, and its frames are lost. `lossRate` models packet loss under a reliable channel: a lost frame is retransmitted
 * after `retransmitMs`, so it arrives late but in order, never out of order or twice.
 */
import { systemClock, type Clock, type Timer } from '../clock/clock.js';
import { meshError, type MeshError } from '../errors.js';
import { seededRandom, type Random } from '../random.js';
import type { PeerDownReason, SendListener, Transport, TransportHandlers } from './types.js';

/** Options of a {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  clock?: Clock;
  random?: Random;
  /** One-way latency in ms: a fixed value or a `[min, max]` range drawn per frame (default 0). */
  latencyMs?: number | readonly [number, number];
  /** Probability that a frame needs a retransmission (default 0). */
  lossRate?: number;
  /** Delay a retransmission adds (default 200 ms). */
  retransmitMs?: number;
  /** How long after a partition starts the links across it are reported down (default 3000 ms). */
  detectMs?: number;
  /** Largest frame accepted (default 16 MiB). */
  maxFrameSize?: number;
  /** Bytes in flight per link before `send` waits (backpressure; default 4 MiB). */
  highWaterMark?: number;
}

interface Link {
  from: string;
  to: string;
  up: boolean;
  /** Frames in flight, in send order, each with its earliest delivery time and when it was sent. */
  queue: Array<{ at: number; sent: number; frame: Uint8Array }>;
  /** How long the last delivered frame took (undefined before the first). */
  lastDelay: number | undefined;
  timer: Timer | undefined;
  /** Bytes in `queue`. */
  bytes: number;
  /** Senders waiting for room (backpressure), resumed in order as frames are delivered. */
  waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>;
}

/** The simulated network every {@link MemoryTransport} of a test is attached to. */
export class MemoryNetwork {
  readonly clock: Clock;
  readonly #random: Random;
  readonly #latency: readonly [number, number];
  readonly #lossRate: number;
  readonly #retransmitMs: number;
  readonly #detectMs: number;
  readonly maxFrameSize: number;
  readonly #highWaterMark: number;
  readonly #transports = new Map<string, MemoryTransport>();
  readonly #links = new Map<string, Link>();
  /** Partition group of each node; nodes without a group are in group 0. */
  #groups = new Map<string, number>();
  readonly #blocked = new Set<string>();
  #detectTimer: Timer | undefined;
  /** Frames delivered and frames lost, for assertions. */
  readonly stats = { delivered: 0, lost: 0, retransmitted: 0 };

  constructor(options: MemoryNetworkOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.#random = options.random ?? seededRandom(1);
    const l = options.latencyMs ?? 0;
    this.#latency = typeof l === 'number' ? [l, l] : l;
    this.#lossRate = options.lossRate ?? 0;
    this.#retransmitMs = options.retransmitMs ?? 200;
    this.#detectMs = options.detectMs ?? 3000;
    this.maxFrameSize = options.maxFrameSize ?? 16 * 1024 * 1024;
    this.#highWaterMark = options.highWaterMark ?? 4 * 1024 * 1024;
  }

  /** Creates (or re-creates after close) the transport of `peerId`. */
  createTransport(peerId: string): MemoryTransport {
    const existing = this.#transports.get(peerId);
    if (existing !== undefined && !existing.closed) throw meshError('InvalidArgument', `peer ${peerId} already attached`);
    const t = new MemoryTransport(this, peerId);
    this.#transports.set(peerId, t);
    return t;
  }

  /** Splits the network: nodes in different groups cannot reach each other. Unlisted nodes join the first group. */
  partition(...groups: ReadonlyArray<readonly string[]>): void {
    const next = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((id) => next.set(id, i)));
    this.#groups = next;
    this.#detectTimer?.cancel();
    this.#detectTimer = this.clock.setTimeout(() => this.#detectPartition(), this.#detectMs);
  }

  /** Cuts the path between two nodes only (both directions), leaving every other path alone. */
  cut(a: string, b: string): void {
    this.#blocked.add(linkKey(a, b));
    this.#blocked.add(linkKey(b, a));
    this.#detectTimer?.cancel();
    this.#detectTimer = this.clock.setTimeout(() => this.#detectPartition(), this.#detectMs);
  }

  /** Removes every partition and cut. */
  heal(): void {
    this.#groups = new Map();
    this.#blocked.clear();
    this.#detectTimer?.cancel();
    this.#detectTimer = undefined;
  }

  /** Whether `a` can currently reach `b`. */
  canReach(a: string, b: string): boolean {
    return (this.#groups.get(a) ?? 0) === (this.#groups.get(b) ?? 0) && (this.#blocked.size === 0 || !this.#blocked.has(linkKey(a, b)));
  }

  /** Ids of attached, open transports. */
  peers(): string[] {
    return [...this.#transports.values()].filter((t) => !t.closed).map((t) => t.localPeerId);
  }

  /** @internal Sends a frame from `from` to `to`. */
  _send(from: MemoryTransport, to: string, frame: Uint8Array): Promise<void> {
    if (from.closed) return Promise.reject(meshError('Closed', `transport ${from.localPeerId} is closed`));
    if (frame.byteLength > this.maxFrameSize) {
      return Promise.reject(
        meshError('MessageTooLarge', `frame of ${frame.byteLength} bytes exceeds ${this.maxFrameSize}`, {
          details: { size: frame.byteLength, limit: this.maxFrameSize },
        }),
      );
    }
    const target = this.#transports.get(to);
    if (target === undefined || target.closed || to === from.localPeerId) {
      return Promise.reject(meshError('PeerUnavailable', `peer ${to} is not reachable`, { details: { peerId: to } }));
    }
    const key = linkKey(from.localPeerId, to);
    let link = this.#links.get(key);
    if (link === undefined || !link.up) {
      if (!this.canReach(from.localPeerId, to)) {
        return Promise.reject(meshError('PeerUnavailable', `peer ${to} is not reachable`, { details: { peerId: to } }));
      }
      link = this.#newLink(from.localPeerId, to);
      this.#newLink(to, from.localPeerId);
      from._up(to);
      target._up(from.localPeerId);
    }
    let delay = this.#latency[0] + (this.#latency[1] - this.#latency[0]) * this.#random.next();
    if (this.#lossRate > 0 && this.#random.next() < this.#lossRate) {
      delay += this.#retransmitMs;
      this.stats.retransmitted++;
    }
    const last = link.queue[link.queue.length - 1];
    const at = Math.max(this.clock.now() + delay, last === undefined ? 0 : last.at);
    link.queue.push({ at, sent: this.clock.now(), frame: frame.slice() });
    link.bytes += frame.byteLength;
    if (link.timer === undefined) this.#schedule(link);
    if (link.bytes > this.#highWaterMark) {
      const l = link;
      return new Promise<void>((resolve, reject) => l.waiters.push({ resolve, reject }));
    }
    return Promise.resolve();
  }

  /** @internal The round trip between `a` and `b` as last observed: the last frame's delay each way. */
  _rtt(a: string, b: string): number | undefined {
    const ab = this.#links.get(linkKey(a, b));
    const ba = this.#links.get(linkKey(b, a));
    if (ab?.up !== true || ba?.up !== true || ab.lastDelay === undefined || ba.lastDelay === undefined) return undefined;
    return ab.lastDelay + ba.lastDelay;
  }

  /** @internal Tears down the link between two peers, reporting it down on both sides. */
  _drop(a: string, b: string, reasonA: PeerDownReason, reasonB: PeerDownReason): void {
    const ab = this.#links.get(linkKey(a, b));
    if (ab === undefined || !ab.up) return;
    const ba = this.#links.get(linkKey(b, a));
    for (const link of [ab, ba]) {
      if (link === undefined) continue;
      link.up = false;
      link.timer?.cancel();
      link.timer = undefined;
      this.stats.lost += link.queue.length;
      link.queue.length = 0;
      link.bytes = 0;
      for (const w of link.waiters.splice(0)) w.reject(meshError('PeerUnavailable', `link to ${link.to} went down`, { details: { peerId: link.to } }));
    }
    this.#transports.get(a)?._down(b, reasonA);
    this.#transports.get(b)?._down(a, reasonB);
  }

  /** @internal Called when a transport closes. */
  _closed(t: MemoryTransport): void {
    for (const [key, link] of this.#links) {
      if (!link.up) continue;
      const [a, b] = key.split('\u0000') as [string, string];
      if (a === t.localPeerId) this._drop(a, b, 'local-close', 'closed');
    }
  }

  #newLink(from: string, to: string): Link {
    const old = this.#links.get(linkKey(from, to));
    old?.timer?.cancel();
    const link: Link = { from, to, up: true, queue: [], timer: undefined, bytes: 0, waiters: [], lastDelay: undefined };
    this.#links.set(linkKey(from, to), link);
    return link;
  }

  #schedule(link: Link): void {
    const head = link.queue[0];
    if (head === undefined) {
      link.timer = undefined;
      return;
    }
    link.timer = this.clock.setTimeout(() => this.#pump(link), Math.max(0, head.at - this.clock.now()));
  }

  /** Delivers due frames in order; across a partition they wait (retransmission) until heal or detection. */
  #pump(link: Link): void {
    link.timer = undefined;
    if (!link.up) return;
    const target = this.#transports.get(link.to);
    if (target === undefined || target.closed) {
      this.stats.lost += link.queue.length;
      link.queue.length = 0;
      link.bytes = 0;
      for (const w of link.waiters.splice(0)) w.reject(meshError('PeerUnavailable', `peer ${link.to} closed`, { details: { peerId: link.to } }));
      return;
    }
    if (!this.canReach(link.from, link.to)) {
      link.timer = this.clock.setTimeout(() => this.#pump(link), this.#retransmitMs);
      return;
    }
    const now = this.clock.now();
    while (link.queue.length > 0 && link.queue[0]!.at <= now && link.up) {
      const { frame, sent } = link.queue.shift()!;
      link.bytes -= frame.byteLength;
      link.lastDelay = now - sent;
      this.stats.delivered++;
      target._deliver(link.from, frame);
    }
    if (link.bytes <= this.#highWaterMark) for (const w of link.waiters.splice(0)) w.resolve();
    if (link.up) this.#schedule(link);
  }

  #detectPartition(): void {
    for (const [key, link] of this.#links) {
      if (!link.up) continue;
      const [a, b] = key.split('\u0000') as [string, string];
      if (!this.canReach(a, b)) this._drop(a, b, 'timeout', 'timeout');
    }
  }
}

function linkKey(a: string, b: string): string {
  return `${a}\u0000${b}`;
}

/** A {@link Transport} on a {@link MemoryNetwork}. */
export class MemoryTransport implements Transport {
  readonly localPeerId: string;
  readonly maxFrameSize: number;
  readonly #network: MemoryNetwork;
  #handlers: TransportHandlers | undefined;
  #closed = false;

  /** Use {@link MemoryNetwork.createTransport}. */
  constructor(network: MemoryNetwork, peerId: string) {
    this.#network = network;
    this.localPeerId = peerId;
    this.maxFrameSize = network.maxFrameSize;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.#handlers = handlers;
  }

  send(peerId: string, frame: Uint8Array): Promise<void> {
    return this.#network._send(this, peerId, frame);
  }

  /** {@link send} without a promise for the caller; a failure goes to `listener`. */
  post(peerId: string, frame: Uint8Array, listener?: SendListener): void {
    this.#network._send(this, peerId, frame).then(undefined, (error: MeshError) => listener?.sendFailed(error));
  }

  disconnect(peerId: string): void {
    this.#network._drop(this.localPeerId, peerId, 'local-close', 'closed');
  }

  /** The simulated round trip to `peerId`: the delays of the last frame delivered each way (undefined before). */
  rtt(peerId: string): number | undefined {
    return this.#closed ? undefined : this.#network._rtt(this.localPeerId, peerId);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#network._closed(this);
      this.#closed = true;
    }
    return Promise.resolve();
  }

  /** @internal */
  _deliver(from: string, frame: Uint8Array): void {
    if (!this.#closed) this.#handlers?.onFrame(from, frame);
  }

  /** @internal */
  _up(peerId: string): void {
    if (!this.#closed) this.#handlers?.onPeerUp?.(peerId);
  }

  /** @internal */
  _down(peerId: string, reason: PeerDownReason): void {
    if (!this.#closed || reason === 'local-close') this.#handlers?.onPeerDown?.(peerId, reason);
  }
}
