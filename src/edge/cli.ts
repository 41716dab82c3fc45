#!/usr/bin/env node
/**
 * meshrtc-edge: runs one Node.js edge peer.
 *
 *   meshrtc-edge --signaling ws://127.0.0.1:8787 --room R --capabilities game,chat --actors ./my-actors.js
 *
 * Prints one JSON line when joined ({"event":"ready","peerId":...}) and one per membership change; closes
 * gracefully (actors deactivated, room left) on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { createMesh } from '../index.js';
import { loadActorsModule } from './actors-module.js';

const HELP = `Usage: meshrtc-edge --signaling URL --room ROOM --capabilities a,b --actors MODULE [options]

  --signaling URL        signaling server (ws:// or wss://)                    (required)
  --room ROOM            room to join                                           (default: default)
  --capabilities LIST    comma-separated capabilities this peer serves          (default: none)
  --actors MODULE        module exporting actor definitions (defineActor)       (required with capabilities)
  --peer-id ID           stable peer id                                         (default: random, or kept in --data-dir)
  --data-dir DIR         keep the peer id and actors' state here (LMDB)         (default: in memory only)
  --engine NAME          node-datachannel | werift                              (default: node-datachannel)
  --ice-servers JSON     RTCIceServer[] as JSON, e.g. '[{"urls":"stun:host:3478"}]'
  --loopback-only        use only 127.0.0.1 ICE candidates (tests)
  -h, --help             show this help
`;

function fail(message: string): never {
  process.stderr.write(`meshrtc-edge: ${message}\n\n${HELP}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        signaling: { type: 'string' },
        room: { type: 'string', default: 'default' },
        capabilities: { type: 'string', default: '' },
        actors: { type: 'string' },
        'peer-id': { type: 'string' },
        'data-dir': { type: 'string' },
        engine: { type: 'string', default: 'node-datachannel' },
        'ice-servers': { type: 'string' },
        'loopback-only': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.signaling === undefined) fail('--signaling is required');
  if (!/^wss?:\/\//.test(values.signaling)) fail(`--signaling must be a ws:// or wss:// URL, got ${values.signaling}`);
  if (values.engine !== 'node-datachannel' && values.engine !== 'werift') fail(`--engine must be node-datachannel or werift, got ${values.engine}`);
  const capabilities = values.capabilities.split(',').map((c) => c.trim()).filter((c) => c.length > 0);
  if (capabilities.length > 0 && values.actors === undefined) fail('--actors is required when the peer serves capabilities');
  let iceServers: RTCIceServer[] | undefined;
  if (values['ice-servers'] !== undefined) {
    try {
      iceServers = JSON.parse(values['ice-servers']) as RTCIceServer[];
      if (!Array.isArray(iceServers)) throw new Error('not an array');
    } catch (e) {
      fail(`--ice-servers must be a JSON array: ${(e as Error).message}`);
    }
  }
  const actors = values.actors === undefined ? [] : await loadActorsModule(values.actors);
  const mesh = await createMesh({
    signalingUrl: values.signaling,
    room: values.room,
    capabilities,
    actors,
    engine: values.engine,
    loopbackOnly: values['loopback-only'],
    ...(values['peer-id'] === undefined ? {} : { peerId: values['peer-id'] }),
    ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }),
    ...(iceServers === undefined ? {} : { iceServers }),
  });
  const line = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  mesh.on('view:changed', (e) => line({ event: 'view', version: e.version, peers: e.peers }));
  line({ event: 'ready', peerId: mesh.peerId, room: values.room, capabilities, actors: actors.map((a) => a.type) });
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    void mesh.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`meshrtc-edge: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
