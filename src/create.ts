/**
 * `createMesh`: one peer of a mesh, from friendly options.
 * - `signalingUrl` + `room`: a real peer: WebSocket signaling and WebRTC data channels (the engine of this
 *   runtime: the browser's `RTCPeerConnection`, or node-datachannel / werift on Node).
 * - `transport` / `signaling`: any implementation of the contracts (the in-memory ones from `meshrtc/testing`).
 * - Neither: a single-peer mesh (every actor local), for tests and local development.
 * Runtime-neutral: each package entry (`index.ts`, `index.browser.ts`) passes its own {@link Runtime}.
 */
import { Mesh, type MeshParts } from './actors/mesh.js';
import type { AnyActorDefinition } from './actors/define.js';
import type { SubscriptionLimits } from './actors/host.js';
import { systemClock, type Clock } from './clock/clock.js';
import { msgpackCodec } from './codec/msgpack.js';
import type { Codec } from './codec/types.js';
import { meshError } from './errors.js';
import type { PeerKind } from './membership/types.js';
import { DEFAULT_SHARD_COUNT, shardFor } from './placement/hash.js';
import { strategyByName, type StrategyName } from './placement/index.js';
import type { PlacementStrategy } from './placement/types.js';
import { cryptoRandom, randomId, type Random } from './random.js';
import type { SignalingClient } from './signaling/types.js';
import { reasonOf } from './signaling/messages.js';
import { WebSocketSignaling, type SignalingToken, type WebSocketConstructor } from './signaling/websocket.js';
import type { SignalingError } from './errors.js';
import type { RtcEngine } from './transport/engines/types.js';
import type { Transport } from './transport/types.js';
import type { StateStore } from './persistence/types.js';
import { WebRtcTransport, type WebRtcTransportOptions } from './transport/webrtc.js';

/** Options of {@link createMesh}. Every field but `capabilities` has a default. */
export interface MeshOptions {
  /** The capabilities this peer serves, e.g. `['game', 'chat']`. May be empty (a pure client). */
  capabilities: readonly string[];
  /** The actor types this peer can run. */
  actors?: readonly AnyActorDefinition[];
  /** Stable peer id (default: random, 16 characters). The transport, if given, must use the same id. */
  peerId?: string;
  /** Incarnation: must grow each time the same id joins again (default `Date.now()`). */
  incarnation?: number;
  /** `browser` or `edge` (default: detected). */
  kind?: PeerKind;
  /** Relative share of shards under weighted placement (default 1). */
  weight?: number;
  /** How peers reach each other. Omitted: a single-peer mesh. */
  transport?: Transport;
  /** How peers find each other. Omitted: local membership only. */
  signaling?: SignalingClient;
  /** `rendezvous` (default), `modulo`, or a custom {@link PlacementStrategy}. */
  strategy?: StrategyName | PlacementStrategy;
  /** Number of shards, a power of two (default 4096). Every peer of a room must agree. */
  shardCount?: number;
  /** Time source (default: the system clock). */
  clock?: Clock;
  /** Randomness for ids and jitter (default: `crypto.getRandomValues`). */
  random?: Random;
  /** Frame codec (default: MessagePack). Every peer of a room must agree. */
  codec?: Codec;
  /** Deadline of a call without `timeoutMs` (default 5000 ms). */
  defaultTimeoutMs?: number;
  /** Attempts per call when owners answer `NotOwner` during a view change (default 5). */
  maxAttempts?: number;
  /** Passivate actors idle this long (default 300,000 ms). */
  idleTimeoutMs?: number;
  /** Messages queued per actor before `MailboxFull` (default 10,000). */
  mailboxLimit?: number;
  /** Where durable actors keep their state (Node: or give `dataDir`; browsers: an `IdbStateStore`). */
  store?: StateStore;
  /** Close `store` with the mesh (default false for a store you pass in). */
  ownsStore?: boolean;
  /** How long a mirror to the standby or a fetch of an actor's state from a peer may take (default 3000 ms). */
  replicationTimeoutMs?: number;
  /** Bounds of actor subscriptions: subscribers per actor, events buffered per subscription, replay depth. */
  subscriptions?: Partial<SubscriptionLimits>;

  // ---- real network (used when `signalingUrl` is given)
  /** `ws://` or `wss://` URL of a meshrtc signaling server. */
  signalingUrl?: string;
  /** The room to join (default `'default'`). */
  room?: string;
  /**
   * Room token for servers that authenticate joins (see `meshrtc-signaling token`): a string, or a function
   * called before every (re)join that may fetch a fresh one. A refusal rejects `createMesh` with a typed error
   * (`Unauthorized`, `Forbidden`).
   */
  token?: SignalingToken;
  /**
   * Reports signaling problems that reject no promise: a refusal after a reconnect (e.g. `Unauthorized` with
   * reason `token-expired`, after which this peer stays out of the room), lost connections, refused signals.
   */
  onSignalingError?: (error: SignalingError) => void;
  /** STUN/TURN servers for real networks (default none: host candidates only). */
  iceServers?: RTCIceServer[];
  /** Node only: `'node-datachannel'` (default) or `'werift'`; or any {@link RtcEngine}. Ignored names in browsers. */
  engine?: string | RtcEngine;
  /** Test configuration: only 127.0.0.1 ICE candidates. */
  loopbackOnly?: boolean;
  /** A silent peer is declared down after this long (default 3000 ms). */
  heartbeatTimeoutMs?: number;
  /** Further WebRTC transport options (chunk size, high-water mark, connect timeout, ...). */
  webrtc?: Partial<Omit<WebRtcTransportOptions, 'localPeerId' | 'signal' | 'rtc'>>;
}

/**
 * The runtime-specific pieces {@link createMeshWith} needs. `runtime.ts` (Node) and `runtime.browser.ts` are
 * the only implementations, and the only place where runtime differences are chosen.
 */
export interface Runtime {
  /** `'node'` or `'browser'`. */
  readonly name: 'node' | 'browser';
  /** Loads a WebRTC engine, optionally by name (engine names are runtime-specific). */
  loadEngine(name?: string): Promise<RtcEngine>;
  /** The WebSocket implementation signaling clients use. */
  loadWebSocket(): Promise<WebSocketConstructor>;
}

/**
 * Creates and starts one peer with the given engine loader. Resolves once it has joined its room (at once
 * without signaling). Package entries wrap this as `createMesh`.
 */
export async function createMeshWith(options: MeshOptions, runtime: Runtime): Promise<Mesh> {
  if (options.signalingUrl === undefined) return Mesh.start(resolveParts(options));
  if (options.transport !== undefined || options.signaling !== undefined) {
    throw meshError('InvalidArgument', 'give either signalingUrl or transport/signaling, not both');
  }
  const random = options.random ?? cryptoRandom;
  const peerId = options.peerId ?? randomId(random, 16);
  const clock = options.clock ?? systemClock;
  const WebSocket = await runtime.loadWebSocket();
  const onSignalingError = options.onSignalingError;
  const signaling = new WebSocketSignaling({
    WebSocket,
    url: options.signalingUrl,
    room: options.room ?? 'default',
    clock,
    random,
    ...(options.token === undefined ? {} : { token: options.token }),
    onError: (error) => {
      // A signal to a peer that is not in the room: a dial waiting for it fails now, not at connectTimeoutMs.
      // (Errors only come once join() connects, in Mesh.start below: `transport` exists by then.)
      const peer = error.details['peer'];
      if (reasonOf(error) === 'unknown-peer' && typeof peer === 'string') transport.handleSignalRefused(peer, error);
      onSignalingError?.(error);
    },
  });
  const engine = typeof options.engine === 'object' ? options.engine : runtime.loadEngine(options.engine);
  const transport = new WebRtcTransport({
    ...options.webrtc,
    localPeerId: peerId,
    signal: (to, data) => signaling.signal(to, data),
    rtc: engine,
    clock,
    random,
    ...(options.iceServers === undefined ? {} : { iceServers: options.iceServers }),
    ...(options.loopbackOnly === undefined ? {} : { loopbackOnly: options.loopbackOnly }),
    ...(options.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: options.heartbeatTimeoutMs }),
  });
  const parts = resolveParts({ ...options, peerId, random, clock, transport, signaling });
  try {
    return await Mesh.start(parts, (mesh) => mesh._setSignalHandler((from, data) => transport.handleSignal(from, data)));
  } catch (error) {
    await transport.close();
    await signaling.leave();
    throw error;
  }
}

/** Fills in defaults and checks options. */
export function resolveParts(options: Omit<MeshOptions, 'signalingUrl'>): MeshParts {
  const random = options.random ?? cryptoRandom;
  const peerId = options.peerId ?? options.transport?.localPeerId ?? randomId(random, 16);
  if (options.transport !== undefined && options.transport.localPeerId !== peerId) {
    throw meshError('InvalidArgument', `transport is for peer ${options.transport.localPeerId}, mesh for ${peerId}`);
  }
  const strategy = options.strategy === undefined ? strategyByName('rendezvous') : typeof options.strategy === 'string' ? strategyByName(options.strategy) : options.strategy;
  const positive = (name: string, v: number | undefined, d: number): number => {
    const value = v ?? d;
    if (!(Number.isFinite(value) && value > 0)) throw meshError('InvalidArgument', `${name} must be a positive number`);
    return value;
  };
  return {
    peerId,
    incarnation: options.incarnation ?? Date.now(),
    kind: options.kind ?? (typeof (globalThis as { document?: unknown }).document === 'undefined' ? 'edge' : 'browser'),
    weight: positive('weight', options.weight, 1),
    capabilities: options.capabilities,
    actors: options.actors ?? [],
    transport: options.transport,
    signaling: options.signaling,
    strategy,
    shardCount: checkShardCount(options.shardCount ?? DEFAULT_SHARD_COUNT),
    clock: options.clock ?? systemClock,
    random,
    codec: options.codec ?? msgpackCodec,
    defaultTimeoutMs: positive('defaultTimeoutMs', options.defaultTimeoutMs, 5000),
    maxAttempts: Math.floor(positive('maxAttempts', options.maxAttempts, 5)),
    idleTimeoutMs: positive('idleTimeoutMs', options.idleTimeoutMs, 300_000),
    mailboxLimit: Math.floor(positive('mailboxLimit', options.mailboxLimit, 10_000)),
    store: options.store,
    ownsStore: options.ownsStore ?? false,
    replicationTimeoutMs: positive('replicationTimeoutMs', options.replicationTimeoutMs, 3000),
    subscriptions: options.subscriptions,
  };
}

function checkShardCount(n: number): number {
  shardFor('', n); // throws InvalidArgument unless n is a power of two in range
  return n;
}
