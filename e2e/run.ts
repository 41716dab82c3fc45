/**
 * `npm run e2e`: runs the Playwright suite inside a network namespace that this run creates (`unshare -rn`, a
 * user namespace so no root is needed), where the only interface is loopback. Chromium pairs its other
 * interfaces' sockets with a peer's 127.0.0.1 candidates; in the namespace there are none, so every packet of
 * the suite goes 127.0.0.1 to 127.0.0.1 (e2e/cluster.spec.ts asserts the selected candidate pairs).
 *
 * `MESHRTC_E2E_NETNS=off` runs without the namespace (the loopback assertion then fails on machines with other
 * interfaces). Extra arguments go to `playwright test`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const config = fileURLToPath(new URL('./playwright.config.ts', import.meta.url));
const cli = fileURLToPath(new URL('../node_modules/@playwright/test/cli.js', import.meta.url));
const args = process.argv.slice(2);
const mode = process.env['MESHRTC_E2E_NETNS'];

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv): void {
  const child = spawn(cmd, argv, { stdio: 'inherit', env });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
}

if (mode === 'inside' || mode === 'off') {
  run(process.execPath, [cli, 'test', '-c', config, ...args], process.env);
} else {
  const probe = spawnSync('unshare', ['-rn', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'pipe', encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = probe.error?.message ?? probe.stderr.trim();
    console.error(`e2e: cannot create a loopback-only network namespace (${why}).`);
    console.error('e2e: needs util-linux `unshare` with user namespaces and iproute2 `ip`; or set MESHRTC_E2E_NETNS=off.');
    process.exit(2);
  }
  // Inside: bring loopback up, then run this script again with the namespace marked as ready.
  run('unshare', ['-rn', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), ...args], {
    ...process.env,
    MESHRTC_E2E_NETNS: 'inside',
  });
}
