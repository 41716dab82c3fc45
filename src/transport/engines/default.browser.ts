/**
 * The default WebRTC engine of this runtime (browsers): the native `RTCPeerConnection`. Twin of `default.ts`;
 * these two files are the only place where runtime differences are chosen. Nothing here may import a Node
 * engine.
 */
import { browserEngine } from './browser.js';
import type { RtcEngine } from './types.js';

/** The name of the runtime this file serves. */
export const defaultEngineRuntime = 'browser' as const;

/** Returns the native engine (rejects with `ConnectionFailed` when the runtime has no `RTCPeerConnection`). */
export async function loadDefaultEngine(): Promise<RtcEngine> {
  return browserEngine();
}
