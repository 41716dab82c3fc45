/**
 * Running a test or benchmark process inside a loopback-only network namespace that the run itself creates
 * (`unshare -rn`: a user namespace, so no root is needed; then `ip link set lo up`). Chromium pairs sockets of
 * every interface with a peer's 127.0.0.1 candidates; in the namespace loopback is the only interface, so every
 * packet goes 127.0.0.1 to 127.0.0.1. Linux only; needs util-linux `unshare` and iproute2 `ip`.
 *
 * `MESHRTC_NETNS=inside` marks a process already in such a namespace; `MESHRTC_NETNS=off` opts out.
 */
import { spawn, spawnSync } from 'node:child_process';

/** What `MESHRTC_NETNS` says: `'inside'`, `'off'`, or undefined (not yet isolated). */
export function netnsMode(): 'inside' | 'off' | undefined {
  const v = process.env['MESHRTC_NETNS'];
  return v === 'inside' || v === 'off' ? v : undefined;
}

/** Why a loopback-only namespace cannot be created here, or undefined when it can. */
export function loopbackNamespaceUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux-only (this is ${process.platform})`;
  const probe = spawnSync('unshare', ['-rn', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'pipe', encoding: 'utf8' });
  if (probe.status === 0) return undefined;
  return probe.error?.message ?? (probe.stderr.trim() || `unshare exited with ${String(probe.status)}`);
}

/**
 * Runs `command args` in a new loopback-only namespace with `MESHRTC_NETNS=inside`, forwarding SIGINT/SIGTERM;
 * resolves with its exit code.
 */
export function runInLoopbackNamespace(command: string, args: readonly string[]): Promise<number> {
  const child = spawn('unshare', ['-rn', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', command, ...args], {
    stdio: 'inherit',
    env: { ...process.env, MESHRTC_NETNS: 'inside' },
  });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128))));
}

/**
 * For a script's entry: unless already inside (or opted out), re-runs this script (`node --import tsx <script>`)
 * in a loopback-only namespace and exits with its code; returns only in the process that should do the work.
 * Exits with code 2 and a clear message when no namespace can be made.
 */
export async function ensureLoopbackNamespace(scriptPath: string, args: readonly string[] = process.argv.slice(2)): Promise<void> {
  if (netnsMode() !== undefined) return;
  const why = loopbackNamespaceUnavailable();
  if (why !== undefined) {
    console.error(`cannot create a loopback-only network namespace (${why}).`);
    console.error('needs Linux, util-linux `unshare` with user namespaces, and iproute2 `ip`; or set MESHRTC_NETNS=off.');
    process.exit(2);
  }
  process.exit(await runInLoopbackNamespace(process.execPath, ['--import', 'tsx', scriptPath, ...args]));
}
