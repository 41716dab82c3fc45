import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '../src/signaling/messages.js';
import { createRoomAuthenticator } from './auth.js';

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));

function run(
  args: string[],
  env: Record<string, string> = {},
): { child: ReturnType<typeof spawn>; stdout: () => string; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Opens a socket, sends a join, and resolves with the first message the server answers. */
async function firstAnswer(url: string, join: Record<string, unknown>): Promise<{ type: string; code?: string }> {
  const ws = new WebSocket(url);
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const answer = new Promise<{ type: string; code?: string }>((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)) as { type: string })));
    ws.send(JSON.stringify(join));
    return await answer;
  } finally {
    ws.terminate();
  }
}

describe('meshrtc-signaling CLI', () => {
  it('starts, prints the URL, serves /health and exits 0 on SIGTERM', async () => {
    const p = run(['--port', '0', '--stun-port', '0', '--log-level', 'silent']);
    try {
      const end = Date.now() + 15_000;
      while (!/stun: /.test(p.stdout()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      const url = /listening on (ws:\/\/127\.0\.0\.1:\d+)/.exec(p.stdout())?.[1];
      expect(url).toBeDefined();
      expect(p.stdout()).toMatch(/stun: stun:127\.0\.0\.1:\d+/);
      const res = await fetch(`${url!.replace('ws://', 'http://')}/health`);
      expect(await res.json()).toEqual({ ok: true, rooms: 0, peers: 0 });
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('prints help with --help and refuses unknown options', async () => {
    const help = run(['--help']);
    expect(await help.exit).toBe(0);
    expect(help.stdout()).toMatch(/Usage: meshrtc-signaling/);
    expect(await run(['--bogus']).exit).toBe(2);
    expect(await run(['--port', 'abc']).exit).toBe(1);
  });

  it('token: mints a room token from the secret in an environment variable', async () => {
    const secret = 'cli-test-secret-of-at-least-32-bytes';
    const p = run(['token', '--room', 'demo', '--peer', 'edge-1', '--caps', 'game,chat', '--ttl', '10m'], { MESHRTC_SIGNALING_SECRET: secret });
    expect(await p.exit).toBe(0);
    const jwt = p.stdout().trim();
    expect(jwt.split('.')).toHaveLength(3);
    const auth = await createRoomAuthenticator({ secret });
    const ok = await auth.check(jwt, { room: 'demo', peerId: 'edge-1', capabilities: ['chat'] });
    expect(ok.ok && ok.grant?.expiresAt !== undefined && ok.grant.expiresAt - Date.now()).toBeGreaterThan(9 * 60_000);
    expect((await auth.check(jwt, { room: 'demo', peerId: 'edge-1', capabilities: ['admin'] })).ok).toBe(false);

    const other = run(['token', '--room', 'demo', '--peer', 'p', '--secret-env', 'MY_SECRET'], { MY_SECRET: secret });
    expect(await other.exit).toBe(0);
    const missing = run(['token', '--room', 'demo', '--peer', 'p', '--secret-env', 'UNSET_SECRET_VAR']);
    expect(await missing.exit).toBe(1);
    expect(missing.stderr()).toMatch(/UNSET_SECRET_VAR.*not set/);
    expect(await run(['token', '--room', 'demo']).exit).toBe(2);
    const badTtl = run(['token', '--room', 'demo', '--peer', 'p', '--ttl', 'forever'], { MESHRTC_SIGNALING_SECRET: secret });
    expect(await badTtl.exit).toBe(1);
  });

  it('--auth-secret-env: the server requires tokens; a token minted by the CLI gets in', async () => {
    const secret = 'cli-test-secret-of-at-least-32-bytes';
    const p = run(['--port', '0', '--log-level', 'silent', '--auth-secret-env', 'ROOM_SECRET', '--allowed-origins', 'https://app.example'], { ROOM_SECRET: secret });
    try {
      const end = Date.now() + 15_000;
      while (!/health: /.test(p.stdout()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(p.stdout()).toMatch(/room tokens required/);
      const url = /listening on (ws:\/\/127\.0\.0\.1:\d+)/.exec(p.stdout())![1]!;
      const peer = { id: 'edge-1', incarnation: 1, kind: 'edge', weight: 1, capabilities: ['game'] };
      expect(await firstAnswer(url, { type: 'join', protocol: PROTOCOL_VERSION, room: 'demo', peer })).toMatchObject({ type: 'error', code: 'token-missing' });
      const minted = run(['token', '--room', 'demo', '--peer', 'edge-1', '--caps', 'game'], { MESHRTC_SIGNALING_SECRET: secret });
      expect(await minted.exit).toBe(0);
      const token = minted.stdout().trim();
      expect(await firstAnswer(url, { type: 'join', protocol: PROTOCOL_VERSION, room: 'demo', peer, token })).toMatchObject({ type: 'welcome' });
    } finally {
      p.child.kill('SIGKILL');
    }
    const unset = run(['--port', '0', '--auth-secret-env', 'UNSET_SECRET_VAR']);
    expect(await unset.exit).toBe(1);
  });
});
