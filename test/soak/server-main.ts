/**
 * Soak child: the signaling server in its own process (started with `--expose-gc`), driven over stdin/stdout with
 * JSON lines. Prints `{ event: 'ready', url }`; commands: `probe` (heap after GC, handles, rooms), `close`.
 */
import { createSignalingServer } from '../../signaling-server/server.js';
import { onJsonLines } from '../../src/testing/json-lines.js';
import { probeProcess } from './probe.js';

/** Refusals by code (a busy peer must never be refused, e.g. as rate-limited). */
const refused: Record<string, number> = {};
const server = await createSignalingServer({
  host: '127.0.0.1',
  port: 0,
  pingIntervalMs: 1000,
  logger: (r) => {
    if (r.event === 'refused') refused[String(r['code'])] = (refused[String(r['code'])] ?? 0) + 1;
    if (r.event === 'liveness-timeout') refused['liveness-timeout'] = (refused['liveness-timeout'] ?? 0) + 1;
  },
});
const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
out({ event: 'ready', url: server.url });

onJsonLines(process.stdin, (value) => {
  const c = value as { seq: number; cmd: string };
  void (async () => {
    try {
      if (c.cmd === 'probe') {
        const rooms = server.rooms();
        out({ seq: c.seq, ok: true, result: { ...(await probeProcess()), rooms: rooms.length, peers: rooms.reduce((n, r) => n + r.peers.length, 0), refused: { ...refused } } });
      } else if (c.cmd === 'close') {
        await server.close();
        out({ seq: c.seq, ok: true, result: {} });
        process.exit(0);
      } else throw new Error(`unknown command ${c.cmd}`);
    } catch (e) {
      out({ seq: c.seq, ok: false, message: e instanceof Error ? e.message : String(e) });
    }
  })();
});
process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
