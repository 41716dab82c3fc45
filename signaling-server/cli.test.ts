import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));

function run(args: string[]): { child: ReturnType<typeof spawn>; stdout: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, exit };
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
});
