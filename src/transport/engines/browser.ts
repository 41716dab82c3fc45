/**
 * The native WebRTC engine: `globalThis.RTCPeerConnection` (browsers, Deno, or any runtime that installed a
 * standard global). Runtime-neutral: it imports nothing.
 */
import { meshError } from '../../errors.js';
import type { RtcEngine } from './types.js';

/** Chromium refuses to send messages above 256 KiB whatever the peer advertises. */
const BROWSER_MAX_MESSAGE_SIZE = 256 * 1024;

/**
 * The engine backed by the runtime's native `RTCPeerConnection` (or `ctor` when given). Throws a
 * `ConnectionFailed` error when the runtime has none.
 */
export function browserEngine(ctor: unknown = (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection): RtcEngine {
  if (typeof ctor !== 'function') {
    throw meshError('ConnectionFailed', 'this runtime has no RTCPeerConnection: pass a WebRTC engine (`rtc` option)');
  }
  return {
    name: 'browser',
    RTCPeerConnection: ctor as RtcEngine['RTCPeerConnection'],
    configure: (input) => ({ iceServers: [...input.iceServers] }),
    maxMessageSize: BROWSER_MAX_MESSAGE_SIZE,
  };
}

/** True when the runtime provides a native `RTCPeerConnection`. */
export function hasNativeWebRtc(): boolean {
  return typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection === 'function';
}
