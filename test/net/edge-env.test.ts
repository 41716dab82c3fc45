/**
 * `startFromEnv` through the `meshrtc-edge` CLI, as a process manager runs it: configured only by MESH_*
 * variables; each missing or malformed variable is named on stderr with a non-zero exit before anything starts;
 * `--help` lists the variables; flags override variables; MESH_ACTORS' `setup(mesh)` runs once the peer is in.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignalingServer, type SignalingServer } from '../../signaling-server/server.js';
import { MESH_ENV_VARIABLES, readMeshEnv } from '../../src/edge/env.js';
import { isMeshError } from '../../src/index.js';

const cli = fileURLToPath(new URL('../../src/edge/cli.ts', import.meta.url));
const actors = fileURLToPath(new URL('../fixtures/actors.ts', import.meta.url));
const functions = fileURLToPath(new URL('../fixtures/clustered-functions.ts', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'meshrtc-edge-env-'));

function run(args: string[], env: Record<string, string>) {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('MESH_')) delete base[k];
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, out: () => out, err: () => err };
}

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('startFromEnv / meshrtc-edge configured by MESH_* variables', () => {
  let server: SignalingServer;
  let good: Record<string, string>;
  beforeAll(async () => {
    server = await createSignalingServer({ logger: false });
    good = { MESH_SIGNALING_URL: server.url, MESH_ROOM: 'env-room' };
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names each missing or malformed variable and exits non-zero', async () => {
    const aFile = join(dir, 'a-file');
    writeFileSync(aFile, 'not a directory');
    const emptyModule = join(dir, 'empty.mjs');
    writeFileSync(emptyModule, 'export const nothing = 1;\n');
    const cases: Array<[string, Record<string, string | undefined>, string]> = [
      ['MESH_SIGNALING_URL', { MESH_SIGNALING_URL: undefined }, 'missing'],
      ['MESH_SIGNALING_URL', { MESH_SIGNALING_URL: 'http://127.0.0.1:1' }, 'malformed'],
      ['MESH_SIGNALING_URL', { MESH_SIGNALING_URL: 'not a url' }, 'malformed'],
      ['MESH_ROOM', { MESH_ROOM: undefined }, 'missing'],
      ['MESH_ROOM', { MESH_ROOM: 'room with spaces' }, 'malformed'],
      ['MESH_CAPABILITIES', { MESH_CAPABILITIES: 'game,,chat' }, 'malformed'],
      ['MESH_CAPABILITIES', { MESH_CAPABILITIES: 'game,ch@t' }, 'malformed'],
      ['MESH_PEER_ID', { MESH_PEER_ID: 'bad id!' }, 'malformed'],
      ['MESH_DATA_DIR', { MESH_DATA_DIR: aFile }, 'malformed'],
      ['MESH_DATA_DIR', { MESH_DATA_DIR: '' }, 'malformed'],
      ['MESH_TOKEN', { MESH_TOKEN: 'two words' }, 'malformed'],
      ['MESH_TOKEN', { MESH_TOKEN: '' }, 'malformed'],
      ['MESH_ICE_SERVERS', { MESH_ICE_SERVERS: '{"urls":"stun:x"}' }, 'malformed'],
      ['MESH_ICE_SERVERS', { MESH_ICE_SERVERS: '[{"urls":"http://x"}]' }, 'malformed'],
      ['MESH_ICE_SERVERS', { MESH_ICE_SERVERS: '[not json' }, 'malformed'],
      ['MESH_ACTORS', { MESH_ACTORS: join(dir, 'missing-module.mjs') }, 'malformed'],
      ['MESH_ACTORS', { MESH_ACTORS: emptyModule }, 'malformed'],
    ];
    // In-process first (fast), then every case through the CLI (a real process: message and exit code).
    for (const [variable, change, kind] of cases) {
      const env: Record<string, string | undefined> = { ...good, MESH_CAPABILITIES: 'work', MESH_ACTORS: functions, ...change };
      for (const [k, v] of Object.entries(change)) if (v === undefined) delete env[k];
      const clean = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
      if (variable !== 'MESH_ACTORS') {
        let error: unknown;
        try {
          readMeshEnv(clean);
        } catch (e) {
          error = e;
        }
        expect(isMeshError(error, 'InvalidArgument'), `${variable}: ${String(error)}`).toBe(true);
        expect((error as { details: Record<string, unknown> }).details['variable']).toBe(variable);
      }
      const p = run([], clean);
      const code = await p.exit;
      expect(code, `${variable} ${JSON.stringify(change)}: ${p.err()}`).toBe(2);
      expect(p.err()).toContain(`${variable} is ${kind}`);
      expect(p.out()).not.toContain('"ready"');
    }
    expect(server.rooms().find((r) => r.room === 'env-room')?.peers ?? []).toEqual([]);
  }, 120_000);

  it('--help lists every variable', async () => {
    const p = run(['--help'], {});
    expect(await p.exit).toBe(0);
    for (const v of MESH_ENV_VARIABLES) expect(p.out()).toContain(v.name);
  }, 30_000);

  it('starts from the environment alone (data dir, peer id, token, ICE servers, actors with setup), and flags win', async () => {
    const dataDir = join(dir, 'data');
    const p = run(['--loopback-only'], {
      ...good,
      MESH_CAPABILITIES: 'work,ledger',
      MESH_PEER_ID: 'env-peer',
      MESH_DATA_DIR: dataDir,
      MESH_TOKEN: 'ignored-by-an-open-server',
      MESH_ICE_SERVERS: '[]',
      MESH_ACTORS: functions,
    });
    await until(() => p.out().includes('"ready"'));
    const ready = JSON.parse(p.out().split('\n').find((l) => l.includes('"ready"'))!) as Record<string, unknown>;
    expect(ready).toMatchObject({ event: 'ready', peerId: 'env-peer', room: 'env-room', capabilities: ['work', 'ledger'], actors: ['ledger'], functions: ['bump', 'where', 'whereKeyed'] });
    const room = server.rooms().find((r) => r.room === 'env-room');
    expect(room?.peers.map((x) => [x.id, [...x.capabilities]])).toEqual([['env-peer', ['ledger', 'work']]]);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);

    // Flags override the variables: --room and --capabilities win over MESH_ROOM and MESH_CAPABILITIES.
    const q = run(['--room', 'flag-room', '--capabilities', 'game', '--actors', actors, '--loopback-only'], { ...good, MESH_CAPABILITIES: 'work', MESH_PEER_ID: 'env-peer-2' });
    await until(() => q.out().includes('"ready"'));
    expect(server.rooms().find((r) => r.room === 'flag-room')?.peers.map((x) => x.id)).toEqual(['env-peer-2']);
    q.child.kill('SIGTERM');
    expect(await q.exit).toBe(0);
  }, 60_000);
});
