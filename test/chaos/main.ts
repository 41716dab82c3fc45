/**
 * `npm run chaos`: the chaos run, long form (3 minutes by default; `--duration-ms <n>` or MESHRTC_CHAOS_MS to
 * change it), inside a loopback-only network namespace like the e2e suite. Prints the table, writes
 * `bench/results/chaos.json`, exits 1 on any violation.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureLoopbackNamespace } from '../../src/testing/netns.js';
import { writeResult } from '../soak/runner.js';
import { chaosTable, runChaos } from './chaos.js';

await ensureLoopbackNamespace(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { 'duration-ms': { type: 'string' }, out: { type: 'string' } } });
const durationMs = Number(values['duration-ms'] ?? process.env['MESHRTC_CHAOS_MS'] ?? 180_000);
if (!Number.isSafeInteger(durationMs) || durationMs < 10_000) throw new Error('--duration-ms must be an integer >= 10000');
const out = values.out ?? fileURLToPath(new URL('../../bench/results/chaos.json', import.meta.url));

const result = await runChaos({ durationMs, form: 'long', log: (line) => process.stderr.write(`${line}\n`) });
process.stdout.write(`${chaosTable(result)}\n`);
await writeResult(out, result);
process.stdout.write(`\nwritten to ${out}\n`);
process.exit(result.passed ? 0 : 1);
