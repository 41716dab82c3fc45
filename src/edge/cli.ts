#!/usr/bin/env node
/**
 * meshrtc-edge: runs one Node.js edge peer, configured by flags or by `MESH_*` environment variables (flags win).
 *
 *   meshrtc-edge --signaling ws://127.0.0.1:8787 --room R --capabilities game,chat --actors ./my-actors.js
 *   MESH_SIGNALING_URL=ws://127.0.0.1:8787 MESH_ROOM=R MESH_CAPABILITIES=game MESH_ACTORS=./my-actors.js meshrtc-edge
 *
 * Prints one JSON line when joined ({"event":"ready","peerId":...}) and one per membership change; closes
 * gracefully (actors deactivated, room left) on SIGINT/SIGTERM. A missing or malformed setting exits with code 2
 * and a message naming the flag or variable; a failure to start (e.g. signaling unreachable) with code 1.
 */
import { parseArgs } from 'node:util';
import { isMeshError } from '../errors.js';
import {
  MESH_ENV_VARIABLES,
  parseCapabilities,
  parseDataDir,
  parseIceServers,
  parseId,
  parseSignalingUrl,
  parseToken,
  startFromConfig,
  type MeshEnvConfig,
} from './env.js';

const HELP = `Usage: meshrtc-edge [options]          (every option can come from its environment variable instead)

  --signaling URL        signaling server (ws:// or wss://)                    MESH_SIGNALING_URL (required)
  --room ROOM            room to join                                           MESH_ROOM (required; default "default" with --signaling)
  --capabilities LIST    comma-separated capabilities this peer serves          MESH_CAPABILITIES (default: none)
  --actors MODULE        module exporting actor definitions (defineActor) and   MESH_ACTORS (required with capabilities)
                         optionally setup(mesh), run once the peer is in the room
  --peer-id ID           stable peer id                                         MESH_PEER_ID (default: random, or kept in the data dir)
  --data-dir DIR         keep the peer id and actors' state here (LMDB)         MESH_DATA_DIR (default: in memory only)
  --token TOKEN          room token for a server that authenticates joins       MESH_TOKEN
  --ice-servers JSON     RTCIceServer[] as JSON, e.g. '[{"urls":"stun:host:3478"}]'   MESH_ICE_SERVERS
  --engine NAME          node-datachannel | werift                              (default: node-datachannel)
  --loopback-only        use only 127.0.0.1 ICE candidates (tests)
  -h, --help             show this help

Environment variables:
${MESH_ENV_VARIABLES.map((v) => `  ${v.name.padEnd(20)} ${v.required ? '(required) ' : ''}${v.help}`).join('\n')}
`;

function fail(message: string, withHelp = true): never {
  process.stderr.write(`meshrtc-edge: ${message}\n${withHelp ? `\n${HELP}` : 'Run meshrtc-edge --help for the list of options and variables.\n'}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        signaling: { type: 'string' },
        room: { type: 'string' },
        capabilities: { type: 'string' },
        actors: { type: 'string' },
        'peer-id': { type: 'string' },
        'data-dir': { type: 'string' },
        token: { type: 'string' },
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
  const env = process.env;
  /** A setting: the flag's value (named by the flag in errors) or the variable's. */
  const pick = (flag: string | undefined, flagName: string, variable: string): [string | undefined, string] =>
    flag !== undefined ? [flag, flagName] : [env[variable], variable];

  let config: MeshEnvConfig;
  const names = { actors: values.actors !== undefined ? '--actors' : 'MESH_ACTORS', dataDir: values['data-dir'] !== undefined ? '--data-dir' : 'MESH_DATA_DIR' };
  try {
    if (values.signaling === undefined && env['MESH_SIGNALING_URL'] === undefined) fail('--signaling is required: MESH_SIGNALING_URL is missing (set it to the signaling server URL, or pass --signaling URL)');
    const signalingUrl = parseSignalingUrl(...pick(values.signaling, '--signaling', 'MESH_SIGNALING_URL'));
    const [roomValue, roomName] = pick(values.room, '--room', 'MESH_ROOM');
    if (roomValue === undefined && values.signaling === undefined) fail('MESH_ROOM is missing: set it to the room to join (or pass --room)', false);
    const room = parseId(roomValue ?? 'default', roomName, 'a room')!;
    const capabilities = parseCapabilities(...pick(values.capabilities, '--capabilities', 'MESH_CAPABILITIES'));
    const [peerValue, peerName] = pick(values['peer-id'], '--peer-id', 'MESH_PEER_ID');
    const peerId = parseId(peerValue, peerName, 'a peer id');
    const dataDir = parseDataDir(...pick(values['data-dir'], '--data-dir', 'MESH_DATA_DIR'));
    const token = parseToken(...pick(values.token, '--token', 'MESH_TOKEN'));
    const iceServers = parseIceServers(...pick(values['ice-servers'], '--ice-servers', 'MESH_ICE_SERVERS'));
    const actorsModule = values.actors ?? env['MESH_ACTORS'];
    if (actorsModule !== undefined && actorsModule.trim() === '') fail(`${names.actors} is malformed: an empty module path`, false);
    if (capabilities.length > 0 && actorsModule === undefined) fail('--actors is required when the peer serves capabilities (or set MESH_ACTORS)');
    if (values.engine !== 'node-datachannel' && values.engine !== 'werift') fail(`--engine must be node-datachannel or werift, got ${values.engine}`);
    config = {
      signalingUrl,
      room,
      capabilities,
      ...(peerId === undefined ? {} : { peerId }),
      ...(dataDir === undefined ? {} : { dataDir }),
      ...(token === undefined ? {} : { token }),
      ...(iceServers === undefined ? {} : { iceServers }),
      ...(actorsModule === undefined ? {} : { actorsModule }),
    };
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e), false);
  }

  let started;
  try {
    started = await startFromConfig(config, { engine: values.engine, loopbackOnly: values['loopback-only'] }, names);
  } catch (e) {
    if (isMeshError(e, 'InvalidArgument') && typeof e.details['variable'] === 'string') fail(e.message, false);
    throw e;
  }
  const { mesh, actors } = started;
  const line = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  mesh.on('view:changed', (e) => line({ event: 'view', version: e.version, peers: e.peers }));
  line({ event: 'ready', peerId: mesh.peerId, room: config.room, capabilities: config.capabilities, actors: actors.map((a) => a.type), functions: mesh._clusteredRegistry().names() });
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
