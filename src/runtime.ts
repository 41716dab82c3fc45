/**
 * What differs between runtimes, chosen here for Node.js. `runtime.browser.ts` is its browser twin; the two
 * package entries (`index.ts`, `index.browser.ts`, picked by the `browser` export condition) each import their
 * twin, and nothing else in `src/` picks a runtime. The differences: the WebRTC engine (node-datachannel or
 * werift here, the native `RTCPeerConnection` in browsers) and the WebSocket implementation (`ws` here, the
 * global one in browsers). Node-only modules are reached through dynamic imports from this file only.
 */
import type { Runtime } from './create.js';
import { meshError } from './errors.js';
import type { WebSocketConstructor } from './signaling/websocket.js';
import { loadNodeEngine, type NodeEngineName } from './transport/engines/node.js';

const NODE_ENGINES: readonly NodeEngineName[] = ['node-datachannel', 'werift'];

let ws: Promise<WebSocketConstructor> | undefined;

export type { Runtime } from './create.js';

/** The Node runtime: node-datachannel (werift as the fallback or by name) and the `ws` package. */
export const nodeRuntime: Runtime = {
  name: 'node',
  loadEngine: async (name) => {
    if (name !== undefined && !NODE_ENGINES.includes(name as NodeEngineName)) {
      throw meshError('InvalidArgument', `unknown engine "${name}" (Node engines: ${NODE_ENGINES.join(', ')})`);
    }
    return loadNodeEngine(name as NodeEngineName | undefined);
  },
  loadWebSocket: () => (ws ??= import('ws').then((m) => m.WebSocket as unknown as WebSocketConstructor)),
};
