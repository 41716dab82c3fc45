/**
 * The transport contract against WebRtcTransport on werift: three in-process peers on 127.0.0.1 (werift never
 * contacts a STUN host: the engine adapter points it at a dead local port), signals relayed in-process.
 */
import { transportContract } from '../testing/contracts/transport.js';
import { weriftEngine } from './engines/werift.js';
import { createWebRtcCluster } from './webrtc-testkit.js';

const engine = await weriftEngine();

transportContract(
  'WebRtcTransport (werift)',
  async () => {
    const cluster = createWebRtcCluster({ rtc: engine, transport: { connectTimeoutMs: 5000, connectRetries: 1 } });
    return { transports: cluster.transports, close: () => cluster.close() };
  },
  { report: process.env['MESHRTC_REPORT'] === '1' },
);
