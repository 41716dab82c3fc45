/**
 * bench:durable — a persisted counter, 256 calls in flight, in one process: `local` durability on the edge
 * store (LMDB, an fdatasync per commit, writes of one tick grouped into one commit) beside `memory` durability
 * measured in the same run. (`replicated` durability and failover time arrive with standby mirroring.)
 * `--json` prints JSON; `--size small` runs a short version.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMesh, defineActor, LmdbStateStore, type Durability } from '../src/index.js';
import { figure, fmt, machine, printTable, type Figure } from './stats.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const small = args.includes('--size') && args[args.indexOf('--size') + 1] === 'small';
const RUNS = small ? 2 : 5;
const CALLS = small ? 2_000 : 40_000;
const IN_FLIGHT = 256;

function counter(durability: Durability) {
  return defineActor({ type: 'counter', durability, initialState: () => ({ count: 0 }), handlers: { add: (s, by: number) => (s.count += by) } });
}

async function run(durability: Durability): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'meshrtc-bench-durable-'));
  const store = await LmdbStateStore.open({ dataDir: dir });
  const mesh = await createMesh({ capabilities: ['game'], actors: [counter(durability)], store });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, w) => {
      while (next < CALLS) {
        next++;
        await mesh.call({ capability: 'game', type: 'counter', id: `c${w}`, payload: { op: 'add', arg: 1 } });
      }
    }),
  );
  const rate = CALLS / ((performance.now() - t0) / 1000);
  await mesh.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function measure(d: Durability): Promise<Figure> {
  await run(d);
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run(d));
  return figure(runs);
}

const local = await measure('local');
const memory = await measure('memory');
const result = { suite: 'durable', machine: machine(), runs: RUNS, inFlight: IN_FLIGHT, local, memory, ratio: local.median / memory.median };
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`\nbench:durable, persisted counter, ${IN_FLIGHT} in flight, median of ${RUNS} runs`);
  printTable(
    ['durability', 'increments/s', 'min-max', 'vs memory'],
    [
      ['local (LMDB, fdatasync per commit)', fmt(local.median), `${fmt(local.min)}-${fmt(local.max)}`, `${fmt(result.ratio, 3)}x`],
      ['memory (same run)', fmt(memory.median), `${fmt(memory.min)}-${fmt(memory.max)}`, '1x'],
    ],
  );
}
