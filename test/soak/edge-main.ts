/**
 * Soak child: the long-lived edge peer in its own process (started with `--expose-gc`), serving `soak/echo`,
 * driven over stdin/stdout with JSON lines. Config in MESHRTC_SOAK_EDGE (JSON: signalingUrl, room, peerId).
 * Prints `{ event: 'ready', peerId }`; commands: `probe` (heap after GC, handles, what the mesh and its
 * transport hold), `close`.
 */
import { createMesh, defineActor, type WebRtcTransport } from '../../src/index.js';
import { onJsonLines } from '../../src/testing/json-lines.js';
import { probeProcess } from './probe.js';

const config = JSON.parse(process.env['MESHRTC_SOAK_EDGE'] ?? '{}') as { signalingUrl: string; room: string; peerId: string };

/** The actor the cycling peers call: replies with its argument and counts calls. */
const Echo = defineActor({
  type: 'echo',
  durability: 'memory',
  initialState: () => ({ calls: 0 }),
  handlers: { echo: (state, arg: unknown) => (state.calls++, arg) },
});

const mesh = await createMesh({
  signalingUrl: config.signalingUrl,
  room: config.room,
  peerId: config.peerId,
  capabilities: ['soak'],
  actors: [Echo],
  engine: 'node-datachannel',
  loopbackOnly: true,
});
const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
out({ event: 'ready', peerId: mesh.peerId });

onJsonLines(process.stdin, (value) => {
  const c = value as { seq: number; cmd: string };
  void (async () => {
    try {
      if (c.cmd === 'probe') {
        const stats = mesh.stats();
        const transport = (mesh.transport as WebRtcTransport).stats();
        out({
          seq: c.seq,
          ok: true,
          result: {
            ...(await probeProcess()),
            peersInView: mesh.table.peers.length,
            activeActors: stats.activeActors,
            pendingCalls: stats.pendingCalls,
            callsServed: stats.callsServed,
            links: transport.peers.length,
            openLinks: transport.peers.filter((p) => p.state === 'open').length,
            sessionsOpened: transport.sessionsOpened,
          },
        });
      } else if (c.cmd === 'close') {
        await mesh.close();
        out({ seq: c.seq, ok: true, result: {} });
        process.exit(0);
      } else throw new Error(`unknown command ${c.cmd}`);
    } catch (e) {
      out({ seq: c.seq, ok: false, message: e instanceof Error ? e.message : String(e) });
    }
  })();
});
process.stdin.on('end', () => void mesh.close().then(() => process.exit(0)));
