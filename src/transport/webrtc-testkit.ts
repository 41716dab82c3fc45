/**
 * Test helpers for `WebRtcTransport`: an in-process signal relay, a cluster builder wiring transports through it,
 * and an engine wrapper that can make a peer go silent (for heartbeat tests). Test-only, but free of any test
 * framework so other suites (mesh, e2e) can reuse it.
 */
import { systemClock, type Clock } from '../clock/clock.js';
import type { RtcDataChannelLike, RtcEngine, RtcPeerConnectionLike } from './engines/types.js';
import { WebRtcTransport, type WebRtcTransportOptions } from './webrtc.js';

/** Something that accepts relayed signals (a `WebRtcTransport`). */
export interface SignalTarget {
  handleSignal(from: string, data: unknown): void;
}

/** Options of {@link createSignalRelay}. */
export interface SignalRelayOptions {
  /** Delivery delay in ms (default 0: next timer tick). Signals between a pair stay in order. */
  latencyMs?: number;
  /** Round-trip every signal through JSON, as a WebSocket relay would (default true). */
  json?: boolean;
  clock?: Clock;
}

/** An in-process relay standing in for the signaling server. */
export interface SignalRelay {
  /** The `signal` option for the transport of `from`. */
  signalFor(from: string): (to: string, data: unknown) => void;
  /** Routes signals addressed to `peerId` to `target` (replacing an earlier target). */
  attach(peerId: string, target: SignalTarget): void;
  /** Stops routing to `peerId`; its signals are dropped. */
  detach(peerId: string): void;
  /** Counters: signals delivered and dropped (unknown recipient). */
  readonly stats: { delivered: number; dropped: number };
}

/** Creates a {@link SignalRelay}. */
export function createSignalRelay(options: SignalRelayOptions = {}): SignalRelay {
  const clock = options.clock ?? systemClock;
  const latency = options.latencyMs ?? 0;
  const json = options.json ?? true;
  const targets = new Map<string, SignalTarget>();
  const stats = { delivered: 0, dropped: 0 };
  return {
    stats,
    signalFor: (from) => (to, data) => {
      const payload = json ? (JSON.parse(JSON.stringify(data)) as unknown) : data;
      clock.setTimeout(() => {
        const target = targets.get(to);
        if (target === undefined) {
          stats.dropped++;
          return;
        }
        stats.delivered++;
        target.handleSignal(from, payload);
      }, latency);
    },
    attach: (peerId, target) => {
      targets.set(peerId, target);
    },
    detach: (peerId) => {
      targets.delete(peerId);
    },
  };
}

/** Options of {@link createWebRtcCluster}. */
export interface WebRtcClusterOptions {
  /** Peer ids (default `['peer-a', 'peer-b', 'peer-c']`). */
  ids?: readonly string[];
  /** The engine, or a function giving the engine of each peer. */
  rtc: RtcEngine | ((peerId: string) => RtcEngine);
  /** Extra transport options for every peer, or per peer. */
  transport?: ClusterTransportOptions | ((peerId: string) => ClusterTransportOptions);
  relay?: SignalRelayOptions;
}

/** Transport options a cluster passes through. */
export type ClusterTransportOptions = Partial<Omit<WebRtcTransportOptions, 'localPeerId' | 'signal' | 'rtc'>>;

/** Transports wired through one relay. */
export interface WebRtcCluster {
  transports: WebRtcTransport[];
  relay: SignalRelay;
  /** Adds (or replaces, after the old one closed) the transport of `peerId`. */
  add(peerId: string, rtc?: RtcEngine): WebRtcTransport;
  close(): Promise<void>;
}

/** Builds transports that reach each other through an in-process relay, on loopback by default. */
export function createWebRtcCluster(options: WebRtcClusterOptions): WebRtcCluster {
  const relay = createSignalRelay(options.relay);
  const all: WebRtcTransport[] = [];
  const engineFor = (id: string): RtcEngine => (typeof options.rtc === 'function' ? options.rtc(id) : options.rtc);
  const add = (peerId: string, rtc?: RtcEngine): WebRtcTransport => {
    const t = new WebRtcTransport({
      loopbackOnly: true,
      ...(typeof options.transport === 'function' ? options.transport(peerId) : options.transport),
      localPeerId: peerId,
      signal: relay.signalFor(peerId),
      rtc: rtc ?? engineFor(peerId),
    });
    relay.attach(peerId, t);
    all.push(t);
    return t;
  };
  const transports = (options.ids ?? ['peer-a', 'peer-b', 'peer-c']).map((id) => add(id));
  return {
    transports,
    relay,
    add,
    close: async () => {
      await Promise.all(all.map((t) => t.close()));
    },
  };
}

/** How {@link FreezableEngine.freeze} makes a peer hang. */
export interface FreezeOptions {
  /** Also report a huge `bufferedAmount`, as if nothing could leave (sends then wait in the transport). */
  stallSends?: boolean;
}

/** An engine wrapper that can make every connection it created go silent (both directions), and counts them. */
export interface FreezableEngine {
  readonly engine: RtcEngine;
  /** Peer connections created so far. */
  readonly created: number;
  /** Drops every outgoing and incoming data-channel message from now on (the peer "hangs"). */
  freeze(options?: FreezeOptions): void;
  /** Undoes {@link freeze}. */
  thaw(): void;
  /** Sends raw bytes on every open channel this engine created, bypassing framing (protocol tests). */
  sendRaw(bytes: Uint8Array): number;
}

/** Wraps `base` as a {@link FreezableEngine}. */
export function freezableEngine(base: RtcEngine): FreezableEngine {
  let frozen = false;
  let stalled = false;
  let created = 0;
  const raw: { dc: RtcDataChannelLike; send: (data: Uint8Array) => void }[] = [];
  const Base = base.RTCPeerConnection;
  const Wrapped = function FreezablePeerConnection(config: Record<string, unknown>): RtcPeerConnectionLike {
    const pc = new Base(config);
    created++;
    const createDataChannel = pc.createDataChannel.bind(pc);
    pc.createDataChannel = (label, init) => {
      const dc: RtcDataChannelLike = createDataChannel(label, init);
      const send = dc.send.bind(dc);
      raw.push({ dc, send });
      const addEventListener = dc.addEventListener.bind(dc);
      dc.send = (data) => {
        if (!frozen) send(data);
      };
      dc.addEventListener = (type: string, listener: (event: never) => void) => {
        if (type !== 'message') {
          addEventListener(type, listener);
          return;
        }
        addEventListener(type, (event: never) => {
          if (!frozen) listener(event);
        });
      };
      // bufferedAmount: an own data property (werift) or a prototype getter (node-datachannel, browsers).
      let proto: object | null = dc;
      let desc: PropertyDescriptor | undefined;
      while (proto !== null && desc === undefined) {
        desc = Object.getOwnPropertyDescriptor(proto, 'bufferedAmount');
        proto = Object.getPrototypeOf(proto) as object | null;
      }
      let value = desc !== undefined && 'value' in desc ? (desc.value as number) : 0;
      Object.defineProperty(dc, 'bufferedAmount', {
        configurable: true,
        enumerable: true,
        get: () => (stalled ? 2 ** 30 : desc?.get !== undefined ? (desc.get.call(dc) as number) : value),
        set: (v: number) => {
          if (desc?.set !== undefined) desc.set.call(dc, v);
          else value = v;
        },
      });
      return dc;
    };
    return pc;
  } as unknown as RtcEngine['RTCPeerConnection'];
  return {
    engine: { ...base, name: `${base.name}+freezable`, RTCPeerConnection: Wrapped },
    get created() {
      return created;
    },
    freeze: (options = {}) => {
      frozen = true;
      stalled = options.stallSends ?? false;
    },
    thaw: () => {
      frozen = false;
      stalled = false;
    },
    sendRaw: (bytes) => {
      let n = 0;
      for (const r of raw) {
        if (r.dc.readyState !== 'open') continue;
        try {
          r.send(bytes);
          n++;
        } catch {
          // closed meanwhile
        }
      }
      return n;
    },
  };
}

/** A {@link Clock} wrapper counting live timers, to check that a closed transport leaves none behind. */
export interface CountingClock extends Clock {
  /** Timers scheduled and neither fired (one-shot) nor cancelled. */
  readonly active: number;
}

/** Wraps `base` (default the system clock) as a {@link CountingClock}. */
export function countingClock(base: Clock = systemClock): CountingClock {
  let active = 0;
  return {
    get active() {
      return active;
    },
    now: () => base.now(),
    setTimeout: (fn, ms) => {
      active++;
      let live = true;
      const t = base.setTimeout(() => {
        if (live) {
          live = false;
          active--;
        }
        fn();
      }, ms);
      return {
        cancel: () => {
          if (live) {
            live = false;
            active--;
          }
          t.cancel();
        },
      };
    },
    setInterval: (fn, ms) => {
      active++;
      let live = true;
      const t = base.setInterval(fn, ms);
      return {
        cancel: () => {
          if (live) {
            live = false;
            active--;
          }
          t.cancel();
        },
      };
    },
  };
}
