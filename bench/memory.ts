/**
 * bench:memory — bytes per idle actor at 100,000 actors (Elixir Mesh publishes about 11 KB per actor).
 *
 * One peer in this process activates 100,000 counters (one call each, so each holds a state `{ count: 1 }`, a
 * mailbox and its bookkeeping), then forces two full garbage collections and divides the growth of the V8 heap
 * (`heapUsed`) by the number of actors. Same-run baseline: 100,000 plain objects `{ id, state: { count: 1 } }`
 * in a `Map` (what an actor minimally is). Warm-up, then 5 runs (each with a fresh peer); medians with min-max.
 *
 * Needs `--expose-gc`; started without it, the script runs itself again with it.
 * Run: npm run bench:memory [-- --size small] [-- --json] [-- --out file.json]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createMesh, defineActor } from '../src/index.js';
import { benchFlags, ELIXIR_MESH, emit, fmt, machine, progress, row, warmAndMeasure } from './stats.js';

const gcFn = (globalThis as { gc?: () => void }).gc;
if (gcFn === undefined) {
  const child = spawn(process.execPath, ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  process.exit(code);
}
const gc = (): void => {
  gcFn!();
  gcFn!();
};

const flags = benchFlags();
const ACTORS = flags.small ? 5_000 : 100_000;
const ids = Array.from({ length: ACTORS }, (_, i) => `actor-${i}`);
const Counter = defineActor({ type: 'counter', initialState: () => ({ count: 0 }), handlers: { add: (s: { count: number }, by: number) => (s.count += by) } });

/** Heap growth per actor of one peer holding `ACTORS` idle actors. */
async function bytesPerActor(): Promise<number> {
  const mesh = await createMesh({ peerId: 'memory', capabilities: ['game'], actors: [Counter] });
  gc();
  const before = process.memoryUsage().heapUsed;
  // 64 in flight: activation is what is measured here, not call concurrency.
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < ACTORS) await mesh.call({ capability: 'game', type: 'counter', id: ids[next++]!, payload: { op: 'add', arg: 1 } });
    }),
  );
  gc();
  const after = process.memoryUsage().heapUsed;
  const active = mesh.stats().activeActors;
  await mesh.close();
  if (active !== ACTORS) throw new Error(`expected ${ACTORS} active actors, found ${active}`);
  return (after - before) / ACTORS;
}

/** Heap growth per entry of a Map of plain objects (the baseline). */
function bytesPerObject(): Promise<number> {
  gc();
  const before = process.memoryUsage().heapUsed;
  const map = new Map<string, { id: string; state: { count: number } }>();
  for (let i = 0; i < ACTORS; i++) map.set(ids[i]!, { id: ids[i]!, state: { count: 1 } });
  gc();
  const after = process.memoryUsage().heapUsed;
  if (map.size !== ACTORS) throw new Error('baseline size mismatch');
  return Promise.resolve((after - before) / ACTORS);
}

const started = performance.now();
progress('memory', `${fmt(ACTORS)} idle actors ...`);
const mesh = await warmAndMeasure(flags.runs, bytesPerActor);
progress('memory', `${fmt(ACTORS)} plain objects (baseline) ...`);
const base = await warmAndMeasure(flags.runs, bytesPerObject);
emit(
  {
    suite: 'memory',
    size: flags.small ? 'small' : 'full',
    machine: machine(),
    runs: flags.runs,
    seconds: (performance.now() - started) / 1000,
    method:
      `One peer activates ${fmt(ACTORS)} counters (one call each), then two forced full GCs; the growth of the V8 heap divided by the ` +
      `number of actors. Baseline in the same run: ${fmt(ACTORS)} plain objects { id, state } in a Map. Each run starts a fresh peer.`,
    rows: [
      row({
        id: 'memory.idle-actor',
        name: `bytes per idle actor (${fmt(ACTORS)} actors)`,
        kind: 'memory',
        unit: 'B',
        better: 'lower',
        value: mesh,
        baseline: { name: 'plain object in a Map', value: base },
        reference: { name: 'Elixir Mesh', value: ELIXIR_MESH.bytesPerActor },
        headline: true,
      }),
    ],
  },
  flags,
);
