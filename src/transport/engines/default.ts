/**
 * The default WebRTC engine of this runtime (Node). `default.browser.ts` is its browser twin; these two files
 * are the only place where runtime differences are chosen. The package entry for each runtime (`index.ts` vs
 * `index.browser.ts`, selected by the `browser` export condition) imports its twin and passes it to
 * `WebRtcTransport` as `rtc`.
 */
import { loadNodeEngine } from './node.js';
import type { RtcEngine } from './types.js';

/** The name of the runtime this file serves. */
export const defaultEngineRuntime = 'node' as const;

/** Loads the default engine: node-datachannel, or werift when the native module is unavailable. */
export function loadDefaultEngine(): Promise<RtcEngine> {
  return loadNodeEngine();
}
