/**
 * The public API shared by every runtime. The package entries (`index.ts` for Node, `index.browser.ts` for
 * browsers) re-export this and add `createMesh` bound to their WebRTC engine.
 */
export { createMeshWith, type MeshOptions, type Runtime } from './create.js';
export { Mesh, type ActorRef, type MeshStats } from './actors/mesh.js';
export type { SubscribeOptions } from './actors/subscriptions.js';
export { DEFAULT_SUBSCRIPTION_LIMITS, type SubscriptionLimits } from './actors/host.js';
export {
  defineActor,
  type ActorContext,
  type ActorDefinition,
  type ActorPayload,
  type ActorSpec,
  type AnyActorDefinition,
  type ArgOf,
  type CallOptions,
  type CallRequest,
  type CallResult,
  type Handler,
  type Handlers,
  type MeshCaller,
  type ReplyOf,
} from './actors/define.js';
export {
  MeshError,
  CallError,
  ActorError,
  TransportError,
  SignalingError,
  PersistenceError,
  isMeshError,
  meshError,
  type MeshErrorCode,
  type MeshErrorOptions,
} from './errors.js';
export type { ActorAddress, DeactivationReason, MeshEvent, MeshEventMap, MeshEventName, Listener } from './monitoring/events.js';
export type { PeerStatsReport, ActorEventSummary } from './monitoring/stats.js';
export { CapabilityTable, type TableChange } from './membership/table.js';
export type { PeerInfo, PeerKind, ViewDelta, ViewSnapshot } from './membership/types.js';
export {
  shardFor,
  murmur3_32,
  DEFAULT_SHARD_COUNT,
  SHARD_TEST_VECTORS,
  rendezvousStrategy,
  moduloStrategy,
  strategyByName,
  ownerOf,
  type PlacementPeer,
  type PlacementStrategy,
  type StrategyName,
} from './placement/index.js';
export { SystemClock, systemClock, type Clock, type Timer } from './clock/clock.js';
export { seededRandom, cryptoRandom, type Random } from './random.js';
export { createMsgpackCodec, msgpackCodec, type Codec, type CodecLimits } from './codec/index.js';
export type { Transport, TransportHandlers, PeerDownReason, SendListener } from './transport/types.js';
export { WebRtcTransport, type WebRtcTransportOptions, type WebRtcTransportStats } from './transport/webrtc.js';
export { createRtcEngine, type RtcEngine } from './transport/engines/types.js';
export type { SignalingClient, SignalingHandlers, SignalingStatus } from './signaling/types.js';
export { WebSocketSignaling, type WebSocketSignalingOptions, type SignalingToken } from './signaling/websocket.js';
export {
  MemoryStateStore,
  IdbStateStore,
  stateKey,
  parseStateKey,
  stateKeyPrefix,
  type StateStore,
  type StateRecord,
  type DedupeEntry,
  type BatchOp,
} from './persistence/index.js';
export type { Durability } from './actors/define.js';
export {
  clustered,
  bindClustered,
  clusteredContext,
  CLUSTERED_TYPE,
  DEFAULT_DEDUPE_LIMITS,
  type ClusteredOptions,
  type ClusteredCallOptions,
  type ClusteredResult,
  type ClusteredContext,
  type ClusteredFn,
  type ClusteredFunction,
  type ClusteredMethodOptions,
  type ClusteredMesh,
} from './actors/clustered.js';
export {
  clusteredHandler,
  REQUEST_KEY_HEADER,
  PEER_HEADER,
  REPLAYED_HEADER,
  type FetchHandler,
  type ClusteredHandler,
  type ClusteredHandlerOptions,
  type ClusteredHandlerMesh,
} from './http/clustered-handler.js';
