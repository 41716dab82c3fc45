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
  /** Extra transport options for every peer. */
  transport?: Partial<Omit<WebRtcTransportOptions, 'localPeerId' | 'signal' | 'rtc'>>;
  relay?: SignalRelayOptions;
}

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
      ...options.transport,
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

/** An engine wrapper that can make every connection it created go silent (both directions), and counts them. */
export interface FreezableEngine {
  readonly engine: RtcEngine;
  /** Peer connections created so far. */
  readonly created: number;
  /** Drops every outgoing and incoming data-channel message from now on (the peer "hangs"). */
  freeze(): void;
  /** Undoes {@link freeze}. */
  thaw(): void;
}

/** Wraps `base` as a {@link FreezableEngine}. */
export function freezableEngine(base: RtcEngine): FreezableEngine {
  let frozen = false;
  let created = 0;
  const Base = base.RTCPeerConnection;
  const Wrapped = function FreezablePeerConnection(config: Record<string, unknown>): RtcPeerConnectionLike {
    const pc = new Base(config);
    created++;
    const createDataChannel = pc.createDataChannel.bind(pc);
    pc.createDataChannel = (label, init) => {
      const dc: RtcDataChannelLike = createDataChannel(label, init);
      const send = dc.send.bind(dc);
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
      return dc;
    };
    return pc;
  } as unknown as RtcEngine['RTCPeerConnection'];
  return {
    engine: { ...base, name: `${base.name}+freezable`, RTCPeerConnection: Wrapped },
    get created() {
      return created;
    },
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
    },
  };
}
