/**
 * What differs between runtimes, chosen here for browsers (the twin of `runtime.ts`): the native
 * `RTCPeerConnection` and the global `WebSocket`. Nothing reachable from this file may import a Node module.
 */
import { meshError } from './errors.js';
import type { Runtime } from './create.js';
import type { WebSocketConstructor } from './signaling/websocket.js';
import { browserEngine } from './transport/engines/browser.js';

export type { Runtime } from './create.js';

/** The browser runtime. Engine names are ignored: browsers have one engine, their own. */
export const browserRuntime: Runtime = {
  name: 'browser',
  loadEngine: async () => browserEngine(),
  loadWebSocket: async () => {
    const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (global === undefined) throw meshError('InvalidArgument', 'this runtime has no global WebSocket');
    return global;
  },
};
