/**
 * `npm run fuzz`: the fuzz suites of `test/fuzz/` with more generated inputs than `npm test` uses
 * (`MESHRTC_FUZZ_RUNS`, default here 1,000,000 per target; `npm test` runs 100,000). Extra arguments go to
 * vitest, e.g. `npm run fuzz -- test/fuzz/framing.test.ts`. `MESHRTC_FUZZ_SEED` replays a failing run.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runs = process.env['MESHRTC_FUZZ_RUNS'] ?? '1000000';
const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));
const files = process.argv.slice(2).some((a) => !a.startsWith('-')) ? [] : ['test/fuzz/'];
process.stdout.write(`fuzz: ${runs} inputs per target\n`);
const child = spawn(process.execPath, [vitest, 'run', ...files, ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: fileURLToPath(new URL('../..', import.meta.url)),
  env: { ...process.env, MESHRTC_FUZZ_RUNS: runs },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
