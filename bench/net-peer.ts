/**
 * Child process of bench/net.ts: an edge peer serving the `bench` capability (an echo actor) plus a raw
 * data-channel echo end. Control over stdin/stdout (JSON lines).
 */
import { createMesh, defineActor, loadNodeEngine, type NodeEngineName } from '../src/index.js';
import { rawEnd } from './raw-echo.js';

const engineName = (process.env['BENCH_ENGINE'] ?? 'node-datachannel') as NodeEngineName;
const signalingUrl = process.env['BENCH_SIGNALING']!;
const Echo = defineActor({ type: 'echo', initialState: () => ({}), handlers: { echo: (_s, payload: Uint8Array) => payload } });

const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const mesh = await createMesh({ signalingUrl, room: 'bench', peerId: 'server', capabilities: ['bench'], actors: [Echo], engine: engineName, loopbackOnly: true });
const engine = await loadNodeEngine(engineName);
const raw = rawEnd(engine, (data) => out({ signal: data }), false);
raw.dc.addEventListener('message', ((e: { data: ArrayBuffer | Uint8Array }) => {
  raw.dc.send(e.data instanceof Uint8Array ? e.data : new Uint8Array(e.data));
}) as never);
out({ ready: mesh.peerId });

let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffer += chunk;
  let nl: number;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const msg = JSON.parse(buffer.slice(0, nl)) as { signal?: unknown; quit?: boolean };
    buffer = buffer.slice(nl + 1);
    if (msg.signal !== undefined) void raw.onSignal(msg.signal);
    if (msg.quit === true) void mesh.close().then(() => process.exit(0));
  }
});
