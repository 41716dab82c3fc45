/**
 * meshrtc for browsers (selected by the `browser` export condition). The same API as the Node entry; the
 * engine is the browser's own `RTCPeerConnection`, state goes to IndexedDB, and nothing Node-only is reachable
 * from here (a test bundles this entry with Vite and checks).
 */
import type { Mesh } from './actors/mesh.js';
import { createMeshWith, type MeshOptions } from './create.js';
import { claimBrowserPeerId, type ClaimOptions } from './identity/browser.js';
import { IdbStateStore } from './persistence/idb.js';
import { browserRuntime } from './runtime.browser.js';

export * from './api.js';
export { claimBrowserPeerId, idbIdPool, type ClaimedPeerId, type ClaimOptions } from './identity/browser.js';
export { browserRuntime } from './runtime.browser.js';

/** Browser options: {@link MeshOptions} plus where the tab keeps its identity and its actors' state. */
export interface BrowserMeshOptions extends MeshOptions {
  /**
   * Keep durable actors' state in IndexedDB (default `true` when `signalingUrl` is given and no `store` is): one
   * database per peer id, `meshrtc-state:<peerId>` unless `dbName` is given. A reloaded tab keeps its peer id and
   * finds its state again. `false`: durable actors keep their state in memory and on their standby only.
   */
  persist?: boolean | { dbName: string };
  /** Options of the Web Locks peer-id claim (used when `peerId` is not given). */
  identity?: ClaimOptions;
}

/**
 * Creates and starts one peer; with `signalingUrl` it joins the room and talks WebRTC with the native API.
 * Without `peerId`, the tab claims one with the Web Locks API: kept across reloads, never shared by two open
 * tabs of one origin. Resolves once the peer is in the room.
 */
export async function createMesh(options: BrowserMeshOptions): Promise<Mesh> {
  const { persist, identity, ...rest } = options;
  if (rest.signalingUrl === undefined) return createMeshWith(rest, browserRuntime);
  const claim = rest.peerId === undefined ? await claimBrowserPeerId(identity) : undefined;
  const peerId = rest.peerId ?? claim!.peerId;
  let store: IdbStateStore | undefined;
  try {
    if (rest.store === undefined && persist !== false) {
      store = await IdbStateStore.open({ dbName: typeof persist === 'object' ? persist.dbName : `meshrtc-state:${peerId}` });
    }
    const mesh = await createMeshWith(
      { ...rest, peerId, ...(store === undefined ? {} : { store, ownsStore: true }) },
      browserRuntime,
    );
    // The claimed id is the tab's until it closes or reloads; the Web Lock holding it goes with the page.
    return mesh;
  } catch (error) {
    await store?.close();
    claim?.release();
    throw error;
  }
}
