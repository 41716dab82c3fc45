/**
 * Test helpers for `WebRtcTransport`: an in-process signal relay, a cluster builder wiring transports through it,
 * an engine wrapper that can make a peer go silent (for heartbeat tests), and an in-memory fake engine (fast,
 * deterministic protocol tests). Test-only, but free of any test framework so other suites (mesh, e2e) can reuse it.
 */
import { systemClock, type Clock } from '../clock/clock.js';
import type { RtcDataChannelLike, RtcEngine, RtcPeerConnectionLike } from './engines/types.js';
import { WebRtcTransport, type WebRtcTransportOptions } from './webrtc.js';

/** Something that accepts relayed signals (a `WebRtcTransport`). */
export interface SignalTarget {
  handleSignal(from: string, data: unknown): void;
  /** Told when a signal it sent was refused (see {@link SignalRelayOptions.refuseUnknown}). */
  handleSignalRefused?(to: string, cause?: unknown): void;
}

/** Options of {@link createSignalRelay}. */
export interface SignalRelayOptions {
  /** Delivery delay in ms (default 0: next timer tick). Signals between a pair stay in order. */
  latencyMs?: number;
  /** Round-trip every signal through JSON, as a WebSocket relay would (default true). */
  json?: boolean;
  /**
   * Like the signaling server: a signal to a peer that is not attached is refused, and the sender is told (its
   * `handleSignalRefused`, after the same latency) as the server's `unknown-peer` error would tell it. Default
   * false: such signals are dropped silently (a server that has not noticed a dead peer yet).
   */
  refuseUnknown?: boolean;
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
  /** Counters: signals delivered and dropped (unknown recipient; `refused` counts those reported back). */
  readonly stats: { delivered: number; dropped: number; refused: number };
}

/** Creates a {@link SignalRelay}. */
export function createSignalRelay(options: SignalRelayOptions = {}): SignalRelay {
  const clock = options.clock ?? systemClock;
  const latency = options.latencyMs ?? 0;
  const json = options.json ?? true;
  const targets = new Map<string, SignalTarget>();
  const refuseUnknown = options.refuseUnknown ?? false;
  const stats = { delivered: 0, dropped: 0, refused: 0 };
  return {
    stats,
    signalFor: (from) => (to, data) => {
      const payload = json ? (JSON.parse(JSON.stringify(data)) as unknown) : data;
      clock.setTimeout(() => {
        const target = targets.get(to);
        if (target === undefined) {
          stats.dropped++;
          if (refuseUnknown) {
            // The error travels back to the sender, like the server's reply.
            clock.setTimeout(() => {
              const sender = targets.get(from);
              if (sender?.handleSignalRefused === undefined) return;
              stats.refused++;
              sender.handleSignalRefused(to, new Error(`unknown-peer: no peer ${to}`));
            }, latency);
          }
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

/** An in-memory {@link RtcEngine}: see {@link fakeRtcEngine}. */
export interface FakeRtcEngine {
  readonly engine: RtcEngine;
  /** Peer connections created so far. */
  readonly created: number;
  /** Peer connections not closed yet. */
  readonly live: number;
}

/**
 * An engine without a network, for fast and deterministic protocol tests (with a `SimulatedClock`): peer
 * connections of one fake engine find each other through a token in their SDP, connect when the offerer applies
 * the answer, and carry data-channel messages as microtasks, in order. No ICE (no candidates), no buffering
 * (`bufferedAmount` stays 0). Closing a connection closes the peer's channel too (its `close` event), as a real
 * engine reports the remote close. Only what `WebRtcTransport` uses is implemented.
 */
export function fakeRtcEngine(name = 'fake'): FakeRtcEngine {
  let nextId = 0;
  let created = 0;
  const registry = new Map<string, FakePc>();

  type Listener = (event: never) => void;
  class Emitter {
    readonly #listeners = new Map<string, Listener[]>();
    addEventListener(type: string, listener: Listener): void {
      let l = this.#listeners.get(type);
      if (l === undefined) this.#listeners.set(type, (l = []));
      l.push(listener);
    }
    emit(type: string, event: unknown = {}): void {
      for (const l of [...(this.#listeners.get(type) ?? [])]) l(event as never);
    }
  }

  class FakeDc extends Emitter implements RtcDataChannelLike {
    readyState = 'connecting';
    bufferedAmount = 0;
    bufferedAmountLowThreshold = 0;
    binaryType = 'arraybuffer';
    constructor(readonly pc: FakePc) {
      super();
    }
    send(data: Uint8Array): void {
      if (this.readyState !== 'open') throw new Error(`fake data channel is ${this.readyState}`);
      const copy = data.slice().buffer;
      const remote = this.pc.remote?.dc;
      queueMicrotask(() => {
        if (remote !== undefined && remote.readyState === 'open') remote.emit('message', { data: copy });
      });
    }
    close(): void {
      this.pc.close();
    }
    opened(): void {
      if (this.readyState !== 'connecting') return;
      this.readyState = 'open';
      this.emit('open');
    }
    closed(): void {
      if (this.readyState === 'closed') return;
      this.readyState = 'closed';
      this.emit('close');
    }
  }

  class FakePc extends Emitter implements RtcPeerConnectionLike {
    readonly token = `fake-${++nextId}`;
    connectionState = 'new';
    localDescription: { type: string; sdp: string } | null = null;
    dc: FakeDc | undefined;
    remote: FakePc | undefined;
    connected = false;
    constructor() {
      super();
      created++;
      registry.set(this.token, this);
    }
    createDataChannel(): RtcDataChannelLike {
      this.dc = new FakeDc(this);
      if (this.connected) queueMicrotask(() => this.dc?.opened());
      return this.dc;
    }
    createOffer(): Promise<{ type: string; sdp: string }> {
      return Promise.resolve({ type: 'offer', sdp: `v=0\r\na=fake-pc:${this.token}\r\n` });
    }
    createAnswer(): Promise<{ type: string; sdp: string }> {
      return Promise.resolve({ type: 'answer', sdp: `v=0\r\na=fake-pc:${this.token}\r\n` });
    }
    setLocalDescription(description?: { type: string; sdp?: string | undefined }): Promise<unknown> {
      if (description?.sdp !== undefined) this.localDescription = { type: description.type, sdp: description.sdp };
      return Promise.resolve();
    }
    setRemoteDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<unknown> {
      const token = /a=fake-pc:(\S+)/.exec(description.sdp)?.[1];
      const peer = token === undefined ? undefined : registry.get(token);
      if (this.connectionState === 'closed') return Promise.reject(new Error('fake peer connection is closed'));
      if (peer === undefined) return Promise.reject(new Error('fake SDP of no live peer connection'));
      this.remote = peer;
      if (description.type === 'answer') {
        peer.remote = this;
        queueMicrotask(() => {
          if (this.connectionState === 'closed' || peer.connectionState === 'closed' || peer.remote !== this) return;
          for (const pc of [this, peer]) {
            pc.connected = true;
            pc.connectionState = 'connected';
            pc.emit('connectionstatechange');
          }
          for (const pc of [this, peer]) pc.dc?.opened();
        });
      }
      return Promise.resolve();
    }
    addIceCandidate(): Promise<unknown> {
      return Promise.resolve();
    }
    close(): void {
      if (this.connectionState === 'closed') return;
      this.connectionState = 'closed';
      registry.delete(this.token);
      this.dc?.closed();
      const remote = this.remote;
      if (remote !== undefined && remote.remote === this) queueMicrotask(() => remote.dc?.closed());
    }
  }

  return {
    engine: { name, RTCPeerConnection: FakePc as unknown as RtcEngine['RTCPeerConnection'] },
    get created() {
      return created;
    },
    get live() {
      return registry.size;
    },
  };
}
