/**
 * `npm start` as a user runs it: one process tree (signaling, edge peer, Vite), a printed URL that serves the game
 * and its config, a clean stop on SIGTERM / SIGINT, and a one-line message with exit code 3 on a busy port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/start.ts', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => text, exit };
}

async function until(what: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('npm start', () => {
  it('serves the game and its config, and stops cleanly on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pixel-mesh-start-'));
    dirs.push(dataDir);
    const [port, signalingPort] = [await freePort(), await freePort()];
    const run = start([], { PORT: String(port), SIGNALING_PORT: String(signalingPort), DATA_DIR: dataDir, ROOM: 'start-test' });
    await until(() => run.output().includes('Ctrl-C to stop'), 60_000);
    expect(run.output()).toContain(`http://127.0.0.1:${port}/`);
    expect(run.output()).toContain(`ws://127.0.0.1:${signalingPort}`);
    const config = (await (await fetch(`http://127.0.0.1:${port}/config.json`)).json()) as Record<string, unknown>;
    expect(config).toMatchObject({ signalingUrl: `ws://127.0.0.1:${signalingPort}`, room: 'start-test', loopbackOnly: false });
    expect(typeof config['edgePeerId']).toBe('string');
    const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(html).toContain('Pixel Mesh');
    const health = (await (await fetch(`http://127.0.0.1:${signalingPort}/health`)).json()) as { peers: number };
    expect(health.peers).toBe(1); // the edge peer
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.output()).toContain('stopped');
  }, 90_000);

  it('a busy port: one clear line and exit code 3', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const busy = (blocker.address() as { port: number }).port;
    try {
      const run = start(['--port', String(busy), '--signaling-port', '0']);
      expect(await run.exit).toBe(3);
      const lines = run.output().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('npm warn'));
      expect(lines).toEqual([`meshrtc demo: port ${busy} on 127.0.0.1 (web page) is already in use; pick another with PORT=<n> or --port <n>`]);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  }, 60_000);

  it('a bad option: usage and exit code 2', async () => {
    const run = start(['--port', 'eighty']);
    expect(await run.exit).toBe(2);
    expect(run.output()).toContain('--port / PORT must be a port number');
    expect(run.output()).toContain('Usage: npm start');
  }, 30_000);
});
