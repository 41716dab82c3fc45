/** The meshrtc-edge CLI as a user runs it: a real process joining a real signaling server. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignalingServer, type SignalingServer } from '../../signaling-server/server.js';

const cli = fileURLToPath(new URL('../../src/edge/cli.ts', import.meta.url));
const actors = fileURLToPath(new URL('../fixtures/actors.ts', import.meta.url));

function run(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, out: () => out, err: () => err };
}

describe('meshrtc-edge CLI', () => {
  let server: SignalingServer;
  beforeAll(async () => {
    server = await createSignalingServer({ logger: false });
  });
  afterAll(async () => {
    await server.close();
  });

  it('joins the room with its capabilities and actors, and leaves on SIGTERM', async () => {
    const p = run(['--signaling', server.url, '--room', 'cli', '--capabilities', 'game,chat', '--actors', actors, '--peer-id', 'cli-peer', '--loopback-only']);
    for (let i = 0; i < 300 && !p.out().includes('"ready"'); i++) await new Promise((r) => setTimeout(r, 50));
    const ready = JSON.parse(p.out().split('\n').find((l) => l.includes('"ready"'))!) as Record<string, unknown>;
    expect(ready).toMatchObject({ event: 'ready', peerId: 'cli-peer', room: 'cli', capabilities: ['game', 'chat'] });
    expect((ready['actors'] as string[]).sort()).toEqual(['counter', 'room']);
    const room = server.rooms().find((r) => r.room === 'cli');
    expect(room?.peers.map((x) => [x.id, [...x.capabilities]])).toEqual([['cli-peer', ['chat', 'game']]]);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    for (let i = 0; i < 100 && (server.rooms().find((r) => r.room === 'cli')?.peers.length ?? 0) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.rooms().find((r) => r.room === 'cli')?.peers ?? []).toEqual([]);
  }, 30_000);

  it('names the bad option and exits non-zero', async () => {
    for (const [args, text] of [
      [[], '--signaling is required'],
      [['--signaling', 'http://x'], 'ws:// or wss://'],
      [['--signaling', server.url, '--capabilities', 'game'], '--actors is required'],
      [['--signaling', server.url, '--engine', 'quantum'], '--engine must be'],
    ] as const) {
      const p = run([...args]);
      expect(await p.exit).toBe(2);
      expect(p.err()).toContain(text);
    }
  }, 30_000);
});
