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
/** One raw echo end per pair id (the parent uses a fresh pair per baseline). */
const pairs = new Map<number, ReturnType<typeof rawEnd>>();
function pair(id: number): ReturnType<typeof rawEnd> {
  let raw = pairs.get(id);
  if (raw === undefined) {
    const end = rawEnd(engine, (data) => out({ signal: { ...(data as object), pair: id } }), false);
    end.dc.addEventListener('message', ((e: { data: ArrayBuffer | Uint8Array }) => {
      end.dc.send(e.data instanceof Uint8Array ? e.data : new Uint8Array(e.data));
    }) as never);
    void end.open.then(() => engine.tune?.(end.pc));
    pairs.set(id, (raw = end));
  }
  return raw;
}
out({ ready: mesh.peerId });

let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffer += chunk;
  let nl: number;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const msg = JSON.parse(buffer.slice(0, nl)) as { signal?: unknown; quit?: boolean };
    buffer = buffer.slice(nl + 1);
    if (msg.signal !== undefined) {
      pair((msg.signal as { pair: number }).pair)
        .onSignal(msg.signal)
        .catch((e: unknown) => process.stderr.write(`raw signal failed: ${(e as Error).message}\n`));
    }
    if (msg.quit === true) void mesh.close().then(() => process.exit(0));
  }
});
