/**
 * meshrtc for browsers (selected by the `browser` export condition). The same API as the Node entry; the
 * engine is the browser's own `RTCPeerConnection`, and nothing Node-only is reachable from here.
 */
import type { Mesh } from './actors/mesh.js';
import { createMeshWith, type MeshOptions } from './create.js';
import { loadDefaultEngine } from './transport/engines/default.browser.js';

export * from './api.js';

/** Creates and starts one peer; with `signalingUrl` it joins the room and talks WebRTC with the native API. */
export function createMesh(options: MeshOptions): Promise<Mesh> {
  return createMeshWith(options, () => loadDefaultEngine());
}
