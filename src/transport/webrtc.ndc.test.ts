/**
 * The transport contract against WebRtcTransport on node-datachannel: three in-process peers on 127.0.0.1,
 * signals relayed in-process (JSON round trip).
 */
import { transportContract } from '../testing/contracts/transport.js';
import { nodeDatachannelEngine } from './engines/node-datachannel.js';
import { createWebRtcCluster } from './webrtc-testkit.js';

const engine = await nodeDatachannelEngine();

transportContract(
  'WebRtcTransport (node-datachannel)',
  async () => {
    const cluster = createWebRtcCluster({ rtc: engine, transport: { connectTimeoutMs: 3000, connectRetries: 1 } });
    return { transports: cluster.transports, close: () => cluster.close() };
  },
  { report: process.env['MESHRTC_REPORT'] === '1' },
);
