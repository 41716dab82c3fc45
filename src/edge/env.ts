/**
 * `startFromEnv()`: boots one Node edge peer from `MESH_*` environment variables, the way a container or a
 * process manager starts it. Every variable is checked before anything starts; a missing or malformed one fails
 * with a typed `InvalidArgument` error whose message begins with the variable's name (`details.variable` names it
 * too). The `meshrtc-edge` CLI is built on the same readers (its flags override the variables).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Mesh } from '../actors/mesh.js';
import { collectActorDefinitions } from '../actors/collect.js';
import type { AnyActorDefinition } from '../actors/define.js';
import { createMeshWith, type MeshOptions } from '../create.js';
import { isMeshError, meshError, type MeshError } from '../errors.js';
import { nodeRuntime } from '../runtime.js';
import { openDataDir } from './data-dir.js';

/** The variables {@link startFromEnv} reads, with what each holds (the CLI's `--help` prints this list). */
export const MESH_ENV_VARIABLES: ReadonlyArray<{ readonly name: string; readonly required: boolean; readonly help: string }> = Object.freeze([
  { name: 'MESH_SIGNALING_URL', required: true, help: 'signaling server, ws:// or wss:// URL' },
  { name: 'MESH_ROOM', required: true, help: 'room to join: 1-128 characters of [A-Za-z0-9._:-]' },
  { name: 'MESH_CAPABILITIES', required: false, help: 'comma-separated capabilities this peer serves (default: none)' },
  { name: 'MESH_PEER_ID', required: false, help: 'stable peer id: 1-128 characters of [A-Za-z0-9._:-] (default: random, or kept in MESH_DATA_DIR)' },
  { name: 'MESH_DATA_DIR', required: false, help: 'directory for the peer id and the actors\' state (LMDB) (default: memory only)' },
  { name: 'MESH_TOKEN', required: false, help: 'room token for a signaling server that authenticates joins' },
  { name: 'MESH_ICE_SERVERS', required: false, help: 'RTCIceServer[] as JSON, e.g. [{"urls":"stun:stun.example.org:3478"}]' },
  { name: 'MESH_ACTORS', required: false, help: 'module path: its actor definitions (defineActor), and an optional setup(mesh) export run after start' },
]);

/** What the environment configures. */
export interface MeshEnvConfig {
  readonly signalingUrl: string;
  readonly room: string;
  readonly capabilities: readonly string[];
  readonly peerId?: string;
  readonly dataDir?: string;
  readonly token?: string;
  readonly iceServers?: RTCIceServer[];
  /** Path of the actors module (resolved against the working directory when loaded). */
  readonly actorsModule?: string;
}

/** An actors module, loaded: its definitions and its optional `setup(mesh)`. */
export interface LoadedActorsModule {
  readonly actors: AnyActorDefinition[];
  readonly setup: ((mesh: Mesh) => unknown) | undefined;
}

/** Options of {@link startFromEnv}. */
export interface StartFromEnvOptions {
  /** The environment to read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Further mesh options (actor types, engine, timeouts, ...); they override what the environment says. */
  readonly mesh?: Partial<MeshOptions>;
}

const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const CAPABILITY_RE = /^[A-Za-z0-9._:/-]{1,64}$/;

type Env = Readonly<Record<string, string | undefined>>;

function configError(variable: string, problem: string, cause?: unknown): MeshError {
  return meshError('InvalidArgument', `${variable} ${problem}`, { details: { variable }, ...(cause === undefined ? {} : { cause }) });
}

/** The signaling URL from `value` (named `name` in errors): a ws:// or wss:// URL. */
export function parseSignalingUrl(value: string | undefined, name = 'MESH_SIGNALING_URL'): string {
  if (value === undefined || value.trim() === '') throw configError(name, 'is missing: set it to the signaling server URL (ws:// or wss://)');
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw configError(name, `is malformed: ${JSON.stringify(value)} is not a URL (expected ws:// or wss://)`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw configError(name, `is malformed: expected a ws:// or wss:// URL, got ${JSON.stringify(value)}`);
  return value.trim();
}

/** A room name or peer id: 1-128 characters of [A-Za-z0-9._:-]. */
export function parseId(value: string | undefined, name: string, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (!ID_RE.test(value)) throw configError(name, `is malformed: ${what} must be 1-128 characters of [A-Za-z0-9._:-], got ${JSON.stringify(value)}`);
  return value;
}

/** A comma-separated capability list (empty: none). */
export function parseCapabilities(value: string | undefined, name = 'MESH_CAPABILITIES'): string[] {
  if (value === undefined || value.trim() === '') return [];
  const items = value.split(',').map((c) => c.trim());
  for (const c of items) {
    if (!CAPABILITY_RE.test(c)) throw configError(name, `is malformed: ${c === '' ? 'an empty capability' : JSON.stringify(c)} in ${JSON.stringify(value)} (capabilities are 1-64 characters of [A-Za-z0-9._:/-], comma-separated)`);
  }
  return [...new Set(items)];
}

/** A data directory: a path that is a directory, or does not exist yet. */
export function parseDataDir(value: string | undefined, name = 'MESH_DATA_DIR'): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') throw configError(name, 'is malformed: an empty path');
  try {
    if (!statSync(value).isDirectory()) throw configError(name, `is malformed: ${value} exists and is not a directory`);
  } catch (error) {
    if (isMeshError(error)) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw configError(name, `is malformed: cannot use ${value}: ${(error as Error).message}`, error);
  }
  return value;
}

/** A room token: 1-4096 visible characters. */
export function parseToken(value: string | undefined, name = 'MESH_TOKEN'): string | undefined {
  if (value === undefined) return undefined;
  if (value.length === 0 || value.length > 4096 || !/^[\x21-\x7e]+$/.test(value)) {
    throw configError(name, 'is malformed: a token is 1-4096 visible ASCII characters (no spaces or line breaks)');
  }
  return value;
}

/** ICE servers: a JSON array of `{ urls, username?, credential? }` with stun:, turn: or turns: URLs. */
export function parseIceServers(value: string | undefined, name = 'MESH_ICE_SERVERS'): RTCIceServer[] | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw configError(name, `is malformed: not JSON (${(error as Error).message})`, error);
  }
  if (!Array.isArray(parsed)) throw configError(name, 'is malformed: expected a JSON array of ICE servers');
  return parsed.map((s: unknown, i) => {
    if (s === null || typeof s !== 'object') throw configError(name, `is malformed: entry ${i} is not an object`);
    const { urls, username, credential } = s as Record<string, unknown>;
    const list = typeof urls === 'string' ? [urls] : urls;
    if (!Array.isArray(list) || list.length === 0 || !list.every((u) => typeof u === 'string' && /^(stun|stuns|turn|turns):\S+$/.test(u))) {
      throw configError(name, `is malformed: entry ${i} needs urls: stun:, turn: or turns: URLs`);
    }
    if ((username !== undefined && typeof username !== 'string') || (credential !== undefined && typeof credential !== 'string')) {
      throw configError(name, `is malformed: entry ${i}: username and credential must be strings`);
    }
    return { urls: urls as string | string[], ...(username === undefined ? {} : { username: username as string }), ...(credential === undefined ? {} : { credential: credential as string }) };
  });
}

/** Reads and checks every `MESH_*` variable (see {@link MESH_ENV_VARIABLES}); throws naming the first bad one. */
export function readMeshEnv(env: Env = process.env): MeshEnvConfig {
  const signalingUrl = parseSignalingUrl(env['MESH_SIGNALING_URL']);
  const roomValue = env['MESH_ROOM'];
  if (roomValue === undefined || roomValue === '') throw configError('MESH_ROOM', 'is missing: set it to the room to join');
  const room = parseId(roomValue, 'MESH_ROOM', 'a room')!;
  const capabilities = parseCapabilities(env['MESH_CAPABILITIES']);
  const peerId = parseId(env['MESH_PEER_ID'], 'MESH_PEER_ID', 'a peer id');
  const dataDir = parseDataDir(env['MESH_DATA_DIR']);
  const token = parseToken(env['MESH_TOKEN']);
  const iceServers = parseIceServers(env['MESH_ICE_SERVERS']);
  const actors = env['MESH_ACTORS'];
  if (actors !== undefined && actors.trim() === '') throw configError('MESH_ACTORS', 'is malformed: an empty module path');
  return {
    signalingUrl,
    room,
    capabilities,
    ...(peerId === undefined ? {} : { peerId }),
    ...(dataDir === undefined ? {} : { dataDir }),
    ...(token === undefined ? {} : { token }),
    ...(iceServers === undefined ? {} : { iceServers }),
    ...(actors === undefined ? {} : { actorsModule: actors }),
  };
}

/**
 * Loads an actors module: every exported actor definition (named exports, or a default array), and an optional
 * `setup(mesh)` export that runs once the peer is in the room (to register clustered functions or start servers).
 * Errors name `name` (the variable or flag that gave the path).
 */
export async function loadMeshModule(path: string, name = 'MESH_ACTORS'): Promise<LoadedActorsModule> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (cause) {
    throw configError(name, `is malformed: cannot load module ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
  }
  const actors = collectActorDefinitions(mod);
  const setup = typeof mod['setup'] === 'function' ? (mod['setup'] as (mesh: Mesh) => unknown) : undefined;
  if (actors.length === 0 && setup === undefined) throw configError(name, `is malformed: module ${path} exports no actor definitions (defineActor) and no setup(mesh) function`);
  return { actors, setup };
}

/**
 * Starts one edge peer from the environment: reads and checks every `MESH_*` variable first (a missing or
 * malformed one rejects with an `InvalidArgument` error naming it, before anything starts), loads `MESH_ACTORS`,
 * opens `MESH_DATA_DIR`, joins `MESH_ROOM` at `MESH_SIGNALING_URL` with `MESH_TOKEN`, then runs the module's
 * `setup(mesh)` if it has one. Resolves with the mesh once it is in the room.
 */
export async function startFromEnv(options: StartFromEnvOptions = {}): Promise<Mesh> {
  const config = readMeshEnv(options.env ?? process.env);
  return (await startFromConfig(config, options.mesh)).mesh;
}

/** A peer started by {@link startFromConfig}, with the actor types it runs. */
export interface StartedEdgePeer {
  readonly mesh: Mesh;
  readonly actors: readonly AnyActorDefinition[];
}

/** {@link startFromEnv} from an already checked configuration (the CLI merges its flags into one). */
export async function startFromConfig(config: MeshEnvConfig, extra: Partial<MeshOptions> = {}, names: { actors?: string; dataDir?: string } = {}): Promise<StartedEdgePeer> {
  const loaded = config.actorsModule === undefined ? undefined : await loadMeshModule(config.actorsModule, names.actors ?? 'MESH_ACTORS');
  const { actors: extraActors, ...rest } = extra;
  const options: MeshOptions = {
    signalingUrl: config.signalingUrl,
    room: config.room,
    capabilities: config.capabilities,
    ...(config.peerId === undefined ? {} : { peerId: config.peerId }),
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.iceServers === undefined ? {} : { iceServers: config.iceServers }),
    ...rest,
    actors: [...(loaded?.actors ?? []), ...(extraActors ?? [])],
  };
  let mesh: Mesh;
  if (config.dataDir !== undefined && options.store === undefined) {
    let opened: Awaited<ReturnType<typeof openDataDir>>;
    try {
      opened = await openDataDir(config.dataDir, options.peerId);
    } catch (error) {
      throw configError(names.dataDir ?? 'MESH_DATA_DIR', `is malformed: cannot open ${config.dataDir}: ${error instanceof Error ? error.message : String(error)}`, error);
    }
    try {
      mesh = await createMeshWith({ ...options, peerId: opened.peerId, store: opened.store, ownsStore: true }, nodeRuntime);
    } catch (error) {
      await opened.store.close();
      throw error;
    }
  } else {
    mesh = await createMeshWith(options, nodeRuntime);
  }
  if (loaded?.setup !== undefined) {
    try {
      await loaded.setup(mesh);
    } catch (error) {
      await mesh.close();
      throw error;
    }
  }
  return { mesh, actors: options.actors ?? [] };
}
