/**
 * Picks the WebRTC engine on Node: node-datachannel by default (fast, native), werift when asked or when the
 * native module cannot load. Both are loaded with dynamic imports; this file is reached from `default.ts` only,
 * never from a browser bundle.
 */
import { nodeDatachannelEngine } from './node-datachannel.js';
import type { RtcEngine } from './types.js';
import { weriftEngine } from './werift.js';

/** The Node engines {@link loadNodeEngine} knows. */
export type NodeEngineName = 'node-datachannel' | 'werift';

let fallbackNoticeShown = false;

/**
 * Loads a Node WebRTC engine. `name` defaults to `'node-datachannel'`; if its native module cannot load, a notice
 * is logged once and werift is used instead. Asking for `'werift'` loads werift directly.
 */
export async function loadNodeEngine(name: NodeEngineName = 'node-datachannel'): Promise<RtcEngine> {
  if (name === 'werift') return weriftEngine();
  try {
    return await nodeDatachannelEngine();
  } catch (err) {
    if (!fallbackNoticeShown) {
      fallbackNoticeShown = true;
      const reason = err instanceof Error ? err.message : String(err);
      console.warn(`meshrtc: node-datachannel could not be loaded (${reason}); falling back to werift`);
    }
    return weriftEngine();
  }
}
