/**
 * meshrtc for browsers (selected by the `browser` export condition). The same API as the Node entry; the
 * engine is the browser's own `RTCPeerConnection`, and nothing Node-only is reachable from here.
 */
import type { Mesh } from './actors/mesh.js';
import { createMeshWith, type MeshOptions } from './create.js';
import { loadDefaultEngine } from './transport/engines/default.browser.js';
import { claimBrowserPeerId } from './identity/browser.js';

export * from './api.js';
export { claimBrowserPeerId, idbIdPool, type ClaimedPeerId, type ClaimOptions } from './identity/browser.js';

/**
 * Creates and starts one peer; with `signalingUrl` it joins the room and talks WebRTC with the native API.
 * Without `peerId`, the tab claims one with the Web Locks API: kept across reloads, never shared by two tabs.
 */
export async function createMesh(options: MeshOptions): Promise<Mesh> {
  if (options.peerId !== undefined || options.signalingUrl === undefined) return createMeshWith(options, () => loadDefaultEngine());
  const claim = await claimBrowserPeerId();
  try {
    return await createMeshWith({ ...options, peerId: claim.peerId }, () => loadDefaultEngine());
  } catch (error) {
    claim.release();
    throw error;
  }
}
