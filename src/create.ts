/**
 * `createMesh`: one peer of a mesh, from friendly options. With neither `transport` nor `signaling` it is a
 * single-peer mesh (every actor local), handy in tests and for local development; with the in-memory pieces
 * from `meshrtc/testing` it is a simulated peer; the WebRTC transport and WebSocket signaling plug into the same
 * two options.
 */
import { Mesh, type MeshParts } from './actors/mesh.js';
import type { AnyActorDefinition } from './actors/define.js';
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
import type { Transport } from './transport/types.js';

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
}

/** Creates and starts one peer. Resolves once it has joined its room (at once without signaling). */
export async function createMesh(options: MeshOptions): Promise<Mesh> {
  return Mesh.start(resolveParts(options));
}

/** Fills in defaults and checks options. */
export function resolveParts(options: MeshOptions): MeshParts {
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
  };
}

function checkShardCount(n: number): number {
  shardFor('', n); // throws InvalidArgument unless n is a power of two in range
  return n;
}
