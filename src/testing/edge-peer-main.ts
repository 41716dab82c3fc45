/**
 * Child-process entry of {@link startEdgePeer}: one real edge peer driven over stdin/stdout with JSON lines.
 * Configuration comes in MESHRTC_EDGE_CONFIG (JSON). Commands: call, cast, owner, view, stats, close.
 */
import { createMesh, isMeshError } from '../index.js';
import { loadActorsModule } from '../edge/actors-module.js';
import { onJsonLines } from './json-lines.js';

interface Config {
  signalingUrl: string;
  room: string;
  peerId?: string;
  dataDir?: string;
  capabilities: string[];
  actorsModule?: string;
  engine?: string;
  heartbeatTimeoutMs?: number;
  defaultTimeoutMs?: number;
}

const config = JSON.parse(process.env['MESHRTC_EDGE_CONFIG'] ?? '{}') as Config;
let exitAfterWrite = false;
const out = (o: unknown): void =>
  void process.stdout.write(`${JSON.stringify(o)}\n`, () => {
    if (exitAfterWrite) process.exit(0);
  });

const actors = config.actorsModule === undefined ? [] : await loadActorsModule(config.actorsModule);
const mesh = await createMesh({
  signalingUrl: config.signalingUrl,
  room: config.room,
  ...(config.peerId === undefined ? {} : { peerId: config.peerId }),
  ...(config.dataDir === undefined ? {} : { dataDir: config.dataDir }),
  capabilities: config.capabilities,
  actors,
  loopbackOnly: true,
  ...(config.engine === undefined ? {} : { engine: config.engine }),
  ...(config.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: config.heartbeatTimeoutMs }),
  ...(config.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: config.defaultTimeoutMs }),
});
mesh.on('view:changed', (e) => out({ event: 'view', version: e.version, peers: mesh.table.peers.map((p) => p.id) }));
out({ event: 'ready', peerId: mesh.peerId, view: mesh.view });

type Command = { seq: number; cmd: string; [k: string]: unknown };

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'call': {
      const r = await mesh.call(c['request'] as Parameters<typeof mesh.call>[0], (c['options'] ?? undefined) as Parameters<typeof mesh.call>[1]);
      return { reply: r.reply, peerId: r.peerId };
    }
    case 'cast':
      mesh.cast(c['request'] as Parameters<typeof mesh.cast>[0]);
      return {};
    case 'owner':
      return { owner: mesh.ownerOf(c['capability'] as string, c['id'] as string) ?? null };
    case 'view':
      return { view: mesh.view, peers: mesh.table.peers };
    case 'stats':
      return { ...mesh.stats(), active: mesh.activeActors() };
    case 'close':
      await mesh.close();
      exitAfterWrite = true;
      return {};
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

onJsonLines(process.stdin, (value) => {
  const c = value as Command;
  handle(c).then(
    (result) => out({ seq: c.seq, ok: true, result }),
    (e: unknown) => out({ seq: c.seq, ok: false, code: isMeshError(e) ? e.code : 'Untyped', message: e instanceof Error ? e.message : String(e) }),
  );
});
process.stdin.on('end', () => void mesh.close().then(() => process.exit(0)));
