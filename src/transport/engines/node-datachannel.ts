/**
 * The node-datachannel engine (libdatachannel bindings, through its standard `node-datachannel/polyfill` API).
 * Node-only: the module is loaded with a dynamic import, so nothing here reaches a browser bundle unless this file
 * is imported, and only `default.ts` / `node.ts` import it.
 *
 * Quirks handled here or in the transport: a loopback candidate needs `bindAddress: '127.0.0.1'`; remote ICE
 * candidates must not be added before the remote description (the transport queues them); candidates come with
 * an `a=` prefix (the transport strips it); about 1 in 20 fresh connections closes right after `connected` (the
 * transport only declares a link up after a hello round trip on the channel, and retries setup); the answerer's
 * first connectivity checks must not reach the offerer before the answer does (the transport holds the offerer's
 * candidates until the answer is applied, else setup takes ~1 s); closing a channel while the peer closes too
 * can leak a native handle that keeps the process alive (the transport only ever closes whole connections;
 * {@link RtcEngine.shutdown} frees whatever leaked anyway).
 */
import type { RtcEngine, RtcPeerConnectionConstructor } from './types.js';

/** Options of {@link nodeDatachannelEngine}. */
export interface NodeDatachannelEngineOptions {
  /** Extra libdatachannel configuration (`portRangeBegin`, `enableIceUdpMux`, ...), merged last. */
  configuration?: Record<string, unknown>;
}

/** Loads node-datachannel's polyfill and returns it as an engine. Rejects if the native module cannot load. */
export async function nodeDatachannelEngine(options: NodeDatachannelEngineOptions = {}): Promise<RtcEngine> {
  const mod = (await import('node-datachannel/polyfill')) as unknown as { RTCPeerConnection: unknown };
  if (typeof mod.RTCPeerConnection !== 'function') throw new Error('node-datachannel/polyfill has no RTCPeerConnection');
  const lib = (await import('node-datachannel')) as unknown as { cleanup?: () => void; default?: { cleanup?: () => void } };
  const cleanup = lib.cleanup ?? lib.default?.cleanup;
  const extra = options.configuration ?? {};
  return {
    name: 'node-datachannel',
    RTCPeerConnection: mod.RTCPeerConnection as RtcPeerConnectionConstructor,
    configure: (input) => ({
      iceServers: input.iceServers.map((s) => ({ ...s })),
      ...(input.loopbackOnly ? { bindAddress: '127.0.0.1' } : {}),
      ...extra,
    }),
    // libdatachannel occasionally loses a channel's close callback on teardown; the native handle it leaks keeps
    // the process alive. cleanup() closes every node-datachannel object of the process and frees them all.
    shutdown: async () => {
      cleanup?.();
    },
  };
}
