/**
 * `meshrtc/dashboard`: a live view of a room, framework-free. `mountDashboard(element, mesh)` draws the peers,
 * the shard map per capability, actor activity and message flow; the data model underneath (pure functions,
 * no DOM) is exported too, for custom views.
 */
export { mountDashboard, animationFrames, type DashboardHandle, type DashboardMesh, type DashboardOptions, type FrameScheduler } from './view.js';
export { shardRepresentatives, shardOwners, ownerCounts, changedShards, gridSide } from './shards.js';
export { assignPeerColors, shortId, hashString, PEER_PALETTE, NO_OWNER_COLOR } from './colors.js';
export { ActivityFeed, formatAddress, type ActivityEntry, type ActivityFeedOptions, type ActivityKind, type ActorActivity } from './feed.js';
export {
  roomLinks,
  roomTotals,
  pairRates,
  incomingRate,
  outgoingRate,
  rttTo,
  weightedMedian,
  mergeReport,
  pruneReports,
  SampleHistory,
  formatMs,
  formatRate,
  type Link,
  type RoomReport,
  type RoomTotals,
} from './room.js';
export { circleLayout, linkCurve, pointOn, strokeFor, particlePhases, placedLinks, type Curve, type NodePlace } from './flow.js';
