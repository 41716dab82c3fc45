/**
 * `npm run e2e`: runs the Playwright suite inside a loopback-only network namespace that this run creates (see
 * src/testing/netns.ts), so every packet of the suite goes 127.0.0.1 to 127.0.0.1 (e2e/cluster.spec.ts asserts
 * the selected candidate pairs). `MESHRTC_NETNS=off` runs without it (the loopback assertion then fails on a
 * machine with other interfaces). Extra arguments go to `playwright test`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureLoopbackNamespace } from '../src/testing/netns.js';

await ensureLoopbackNamespace(fileURLToPath(import.meta.url));
const config = fileURLToPath(new URL('./playwright.config.ts', import.meta.url));
const cli = fileURLToPath(new URL('../node_modules/@playwright/test/cli.js', import.meta.url));
const child = spawn(process.execPath, [cli, 'test', '-c', config, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
