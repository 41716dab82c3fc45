/**
 * `npm run soak`: the long soak (default 1,000 cycles; `--cycles <n>` or MESHRTC_SOAK_CYCLES to change it).
 * Prints the readings as a table, writes `bench/results/soak.json`, and exits 1 if any growth limit was exceeded.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runSoak, soakTable, writeResult } from './runner.js';

const { values } = parseArgs({ options: { cycles: { type: 'string' }, out: { type: 'string' } } });
const cycles = Number(values.cycles ?? process.env['MESHRTC_SOAK_CYCLES'] ?? 1000);
if (!Number.isSafeInteger(cycles) || cycles < 1) throw new Error(`--cycles must be a positive integer, got ${String(values.cycles)}`);
const out = values.out ?? fileURLToPath(new URL('../../bench/results/soak.json', import.meta.url));

const result = await runSoak({ cycles, probeEvery: Math.max(1, Math.round(cycles / 10)), log: (line) => process.stderr.write(`${line}\n`) });
process.stdout.write(`${soakTable(result)}\n`);
await writeResult(out, result);
process.stdout.write(`\nwritten to ${out}\n${result.passed ? 'PASSED' : 'FAILED'}\n`);
process.exit(result.passed ? 0 : 1);
