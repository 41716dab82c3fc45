/**
 * Raw data-channel baselines for the network benchmarks: one RTCPeerConnection pair with the same engine the
 * mesh uses, set up over a caller-supplied signal relay. No meshrtc framing, codec or routing.
 */
import type { RtcEngine, RtcPeerConnectionLike, RtcDataChannelLike } from '../src/transport/engines/types.js';

/** A signal relay between the two ends (the benchmark uses the child's stdin/stdout). */
export type Relay = (data: unknown) => void;

/** One end of a raw pair. */
export interface RawEnd {
  pc: RtcPeerConnectionLike;
  dc: RtcDataChannelLike;
  /** Feed a relayed signal from the other end. */
  onSignal(data: unknown): Promise<void>;
  /** Resolves once the data channel is open. */
  open: Promise<void>;
}

/** Creates one end; the offerer calls `start()` after wiring the relay. */
export function rawEnd(engine: RtcEngine, relay: Relay, offerer: boolean): RawEnd & { start(): Promise<void> } {
  const config = engine.configure?.({ iceServers: [], loopbackOnly: true }) ?? { iceServers: [] };
  const pc = new engine.RTCPeerConnection(config);
  const dc = pc.createDataChannel('bench', { negotiated: true, id: 0, ordered: true });
  dc.binaryType = 'arraybuffer';
  pc.addEventListener('icecandidate', ((e: { candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null }) => {
    if (e.candidate !== null && e.candidate.candidate.includes(' 127.0.0.1 ')) {
      relay({ candidate: { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid ?? '0', sdpMLineIndex: e.candidate.sdpMLineIndex ?? 0 } });
    }
  }) as never);
  const open = new Promise<void>((resolve) => {
    if (dc.readyState === 'open') resolve();
    dc.addEventListener('open', (() => resolve()) as never);
  });
  const pendingCandidates: unknown[] = [];
  let remoteSet = false;
  return {
    pc,
    dc,
    open,
    async start() {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      relay({ sdp: { type: 'offer', sdp: pc.localDescription?.sdp ?? offer.sdp } });
    },
    async onSignal(data: unknown) {
      const d = data as { sdp?: { type: 'offer' | 'answer'; sdp: string }; candidate?: { candidate: string } };
      if (d.sdp !== undefined) {
        await pc.setRemoteDescription(d.sdp);
        remoteSet = true;
        for (const c of pendingCandidates.splice(0)) await pc.addIceCandidate(c as never);
        if (!offerer) {
          const answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
          relay({ sdp: { type: 'answer', sdp: pc.localDescription?.sdp ?? answer.sdp } });
        }
      } else if (d.candidate !== undefined) {
        if (remoteSet) await pc.addIceCandidate(d.candidate as never);
        else pendingCandidates.push(d.candidate);
      }
    },
  };
}
