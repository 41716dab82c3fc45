/**
 * bench:local — the actor runtime in one process, no network: activations/s and calls/s (sequential and 256 in
 * flight), each beside a baseline measured in the same run:
 *   - activations: plain object creation into a Map (what an activation minimally is);
 *   - calls: a bare Map lookup plus `await` of the same handler function.
 * Warm-up, then 5 measured runs; medians with min-max. Bytes per idle actor: `bench:memory`.
 *
 * Run: npm run bench:local [-- --json] [-- --size small] [-- --out file.json]
 */
import { createMesh, defineActor, type Mesh } from '../src/index.js';
import { benchFlags, ELIXIR_MESH, emit, fmt, machine, progress, row, warmAndMeasure, type BenchRow, type Figure } from './stats.js';

const flags = benchFlags();
const RUNS = flags.runs;
const ACTIVATIONS = flags.small ? 5_000 : 200_000;
const CALLS = flags.small ? 20_000 : 1_000_000;
const IN_FLIGHT = 256;

const handlers = {
  add: (state: { count: number }, by: number) => (state.count += by),
};
const Counter = defineActor({ type: 'counter', initialState: () => ({ count: 0 }), handlers });

function now(): number {
  return performance.now();
}

async function newMesh(): Promise<Mesh> {
  return createMesh({ peerId: 'bench', capabilities: ['game'], actors: [Counter] });
}

const ids = Array.from({ length: ACTIVATIONS }, (_, i) => `actor-${i}`);

async function activationsMesh(): Promise<number> {
  const mesh = await newMesh();
  const t0 = now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ACTIVATIONS) {
      const id = ids[next++]!;
      await mesh.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const rate = ACTIVATIONS / ((now() - t0) / 1000);
  if (mesh.stats().activeActors !== ACTIVATIONS) throw new Error('activation count mismatch');
  await mesh.close();
  return rate;
}

async function activationsBaseline(): Promise<number> {
  const map = new Map<string, { id: string; state: { count: number } }>();
  const t0 = now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ACTIVATIONS) {
      const id = ids[next++]!;
      let a = map.get(id);
      if (a === undefined) map.set(id, (a = { id, state: { count: 0 } }));
      await handlers.add(a.state, 1);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const rate = ACTIVATIONS / ((now() - t0) / 1000);
  if (map.size !== ACTIVATIONS) throw new Error('baseline count mismatch');
  return rate;
}

const HOT = 1024;

async function callsMesh(inFlight: number, total: number): Promise<number> {
  const mesh = await newMesh();
  for (let i = 0; i < HOT; i++) await mesh.call({ capability: 'game', type: 'counter', id: ids[i]!, payload: { op: 'add', arg: 0 } });
  const requests = Array.from({ length: HOT }, (_, i) => ({ capability: 'game', type: 'counter', id: ids[i]!, payload: { op: 'add', arg: 1 } }));
  let done = 0;
  const t0 = now();
  const worker = async (w: number): Promise<void> => {
    let i = w;
    while (done < total) {
      done++;
      await mesh.call(requests[i % HOT]!);
      i += inFlight;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  const rate = total / ((now() - t0) / 1000);
  await mesh.close();
  return rate;
}

async function callsBaseline(inFlight: number, total: number): Promise<number> {
  const map = new Map<string, { count: number }>();
  for (let i = 0; i < HOT; i++) map.set(ids[i]!, { count: 0 });
  const table = new Map([['add', handlers.add]]);
  let done = 0;
  const t0 = now();
  const worker = async (w: number): Promise<void> => {
    let i = w;
    while (done < total) {
      done++;
      const state = map.get(ids[i % HOT]!)!;
      await table.get('add')!(state, 1);
      i += inFlight;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  return total / ((now() - t0) / 1000);
}

async function main(): Promise<void> {
  const started = performance.now();
  const measure = (fn: () => Promise<number>): Promise<Figure> => warmAndMeasure(RUNS, fn);
  progress('local', 'activations ...');
  const act = await measure(activationsMesh);
  const actBase = await measure(activationsBaseline);
  progress('local', 'sequential calls ...');
  const seq = await measure(() => callsMesh(1, CALLS / 4));
  const seqBase = await measure(() => callsBaseline(1, CALLS / 4));
  progress('local', `${IN_FLIGHT} in flight ...`);
  const par = await measure(() => callsMesh(IN_FLIGHT, CALLS));
  const parBase = await measure(() => callsBaseline(IN_FLIGHT, CALLS));

  const rows: BenchRow[] = [
    row({
      id: 'local.activations',
      name: `activations/s, in process (${IN_FLIGHT} in flight)`,
      kind: 'throughput',
      unit: '/s',
      better: 'higher',
      value: act,
      baseline: { name: 'object into a Map + awaited handler', value: actBase },
      reference: { name: 'Elixir Mesh', value: ELIXIR_MESH.activationsPerSec },
      headline: true,
    }),
    row({ id: 'local.calls.seq', name: 'calls/s, in process, sequential', kind: 'throughput', unit: '/s', better: 'higher', value: seq, baseline: { name: 'Map lookup + await handler', value: seqBase } }),
    row({
      id: 'local.calls.256',
      name: `calls/s, in process (${IN_FLIGHT} in flight)`,
      kind: 'throughput',
      unit: '/s',
      better: 'higher',
      value: par,
      baseline: { name: 'Map lookup + await handler', value: parBase },
      reference: { name: 'Elixir Mesh', value: ELIXIR_MESH.requestsPerSec },
    }),
  ];
  emit(
    {
      suite: 'local',
      size: flags.small ? 'small' : 'full',
      machine: machine(),
      runs: RUNS,
      seconds: (performance.now() - started) / 1000,
      method:
        `The actor runtime in one process, no network: ${fmt(ACTIVATIONS)} first calls (activations) with ${IN_FLIGHT} in flight; ` +
        `${fmt(CALLS / 4)} sequential calls and ${fmt(CALLS)} calls with ${IN_FLIGHT} in flight to ${HOT} hot actors. Baselines in the same run: ` +
        'creating a plain object in a Map and awaiting the same handler (activations), a Map lookup plus an awaited handler (calls).',
      rows,
    },
    flags,
  );
}

await main();
