/**
 * Peers of different protocol versions refuse each other: real WebRTC (node-datachannel) on 127.0.0.1, one peer
 * stamping the previous framing version on everything it sends, as a peer of the previous release would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isMeshError, type MeshError } from '../errors.js';
import { nodeDatachannelEngine } from './engines/node-datachannel.js';
import type { RtcDataChannelLike, RtcEngine, RtcPeerConnectionLike } from './engines/types.js';
import { FRAMING_MAGIC, FRAMING_VERSION } from './framing.js';
import { createWebRtcCluster, type WebRtcCluster } from './webrtc-testkit.js';
import type { WebRtcTransport } from './webrtc.js';

const ndc = await nodeDatachannelEngine();

/** `base`, with every outgoing message rewritten to framing version `version`. */
function speaking(base: RtcEngine, version: number): RtcEngine {
  const Base = base.RTCPeerConnection;
  const Wrapped = function OldPeerConnection(config: Record<string, unknown>): RtcPeerConnectionLike {
    const pc = new Base(config);
    const createDataChannel = pc.createDataChannel.bind(pc);
    pc.createDataChannel = (label, init) => {
      const dc: RtcDataChannelLike = createDataChannel(label, init);
      const send = dc.send.bind(dc);
      dc.send = (data: Uint8Array) => {
        const copy = data.slice();
        if (copy[0] === FRAMING_MAGIC) copy[1] = version;
        send(copy);
      };
      return dc;
    };
    return pc;
  } as unknown as RtcEngine['RTCPeerConnection'];
  return { ...base, name: `${base.name}+v${version}`, RTCPeerConnection: Wrapped };
}

const open: WebRtcCluster[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

describe('framing version', () => {
  it('a peer of the previous version is refused with a ProtocolError; no link ever opens', async () => {
    const errors: MeshError[] = [];
    const c = createWebRtcCluster({
      ids: ['new-peer', 'old-peer'],
      rtc: (id) => (id === 'old-peer' ? speaking(ndc, FRAMING_VERSION - 1) : ndc),
      transport: (id) => ({ connectTimeoutMs: 3000, connectRetries: 1, ...(id === 'new-peer' ? { onError: (e: MeshError) => void errors.push(e) } : {}) }),
    });
    open.push(c);
    const [fresh, old] = c.transports as [WebRtcTransport, WebRtcTransport];
    const ups: string[] = [];
    const frames: string[] = [];
    for (const t of [fresh, old]) t.setHandlers({ onFrame: (from) => void frames.push(from), onPeerUp: (p) => void ups.push(`${t.localPeerId}<-${p}`) });
    let failure: unknown;
    try {
      await fresh.send(old.localPeerId, Uint8Array.of(1, 2, 3));
    } catch (e) {
      failure = e;
    }
    expect(isMeshError(failure, 'ConnectionFailed')).toBe(true);
    // The hello of the old peer was refused for its version, on every attempt.
    const refusals = errors.filter((e) => e.code === 'ConnectionFailed' || e.code === 'ProtocolError').filter((e) => new RegExp(`unsupported framing version ${FRAMING_VERSION - 1} \\(this peer speaks ${FRAMING_VERSION}\\)`).test(chain(e)));
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(fresh.stats().protocolErrors).toBeGreaterThanOrEqual(1);
    expect(fresh.stats().sessionsOpened).toBe(0);
    expect(ups.filter((u) => u.startsWith('new-peer'))).toEqual([]);
    expect(frames).toEqual([]);
  }, 30_000);
});

/** An error's message with those of its causes. */
function chain(e: unknown): string {
  const parts: string[] = [];
  for (let x: unknown = e, i = 0; x instanceof Error && i < 8; x = x.cause, i++) parts.push(x.message);
  return parts.join(' <- ');
}
