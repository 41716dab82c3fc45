/**
 * meshrtc for Node.js (edge peers). Browsers get `index.browser.ts` through the `browser` export condition;
 * the only difference is the WebRTC engine `createMesh` loads.
 */
import type { Mesh } from './actors/mesh.js';
import { createMeshWith, type MeshOptions } from './create.js';
import { openDataDir } from './edge/data-dir.js';
import { nodeRuntime } from './runtime.js';

export * from './api.js';
export { loadNodeEngine, type NodeEngineName } from './transport/engines/node.js';
export { nodeRuntime } from './runtime.js';
export { LmdbStateStore, type LmdbStateStoreOptions } from './persistence/lmdb.js';
export { openDataDir, peerIdIn, DEFAULT_DATA_DIR } from './edge/data-dir.js';
export { toNodeListener, type NodeListenerOptions } from './http/node.js';
export {
  startFromEnv,
  readMeshEnv,
  loadMeshModule,
  MESH_ENV_VARIABLES,
  type MeshEnvConfig,
  type StartFromEnvOptions,
  type LoadedActorsModule,
} from './edge/env.js';

/** Node options: {@link MeshOptions} plus a data directory. */
export interface NodeMeshOptions extends MeshOptions {
  /**
   * Keep this peer's id and its actors' state here (LMDB). A restarted peer with the same directory is the
   * same peer and finds its actors' state again.
   */
  dataDir?: string;
}

/**
 * Creates and starts one peer. With `signalingUrl` it joins the room over WebSocket and talks WebRTC through
 * node-datachannel (or werift: `engine: 'werift'`, also the automatic fallback when the native module cannot
 * load). Resolves once the peer is in the room.
 */
export async function createMesh(options: NodeMeshOptions): Promise<Mesh> {
  if (options.dataDir === undefined || options.store !== undefined) return createMeshWith(options, nodeRuntime);
  const { peerId, store } = await openDataDir(options.dataDir, options.peerId);
  try {
    return await createMeshWith({ ...options, peerId, store, ownsStore: true }, nodeRuntime);
  } catch (error) {
    await store.close();
    throw error;
  }
}
