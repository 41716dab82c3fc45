/**
 * meshrtc for Node.js (edge peers). Browsers get `index.browser.ts` through the `browser` export condition;
 * the only difference is the WebRTC engine `createMesh` loads.
 */
import type { Mesh } from './actors/mesh.js';
import { createMeshWith, type MeshOptions } from './create.js';
import { loadNodeEngine, type NodeEngineName } from './transport/engines/node.js';

export * from './api.js';
export { loadNodeEngine, type NodeEngineName } from './transport/engines/node.js';

/**
 * Creates and starts one peer. With `signalingUrl` it joins the room over WebSocket and talks WebRTC through
 * node-datachannel (or werift: `engine: 'werift'`, also the automatic fallback when the native module cannot
 * load). Resolves once the peer is in the room.
 */
export function createMesh(options: MeshOptions): Promise<Mesh> {
  return createMeshWith(options, (name) => loadNodeEngine((name ?? 'node-datachannel') as NodeEngineName));
}
