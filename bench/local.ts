/**
 * bench:local — the actor runtime in one process, no network: activations/s, calls/s (sequential and 256 in
 * flight) and bytes per idle actor, each beside a baseline measured in the same run:
 *   - activations: plain object creation into a Map (what an activation minimally is);
 *   - calls: a bare Map lookup plus `await` of the same handler function.
 * Warm-up, then 5 measured runs; medians with min-max; `--json` prints one JSON object.
 *
 * Run: npm run bench:local [-- --json] [-- --size small]
 */
import { createMesh, defineActor, type Mesh } from '../src/index.js';
import { figure, fmt, machine, printTable, type Figure } from './stats.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const small = args.includes('--size') && args[args.indexOf('--size') + 1] === 'small';
const RUNS = small ? 2 : 5;
const ACTIVATIONS = small ? 5_000 : 200_000;
const CALLS = small ? 20_000 : 1_000_000;
const IN_FLIGHT = 256;
const MEMORY_ACTORS = small ? 5_000 : 100_000;

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

const ids = Array.from({ length: Math.max(ACTIVATIONS, MEMORY_ACTORS) }, (_, i) => `actor-${i}`);

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

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function bytesPerActor(): Promise<number> {
  const mesh = await newMesh();
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < MEMORY_ACTORS; i++) await mesh.call({ capability: 'game', type: 'counter', id: ids[i]!, payload: { op: 'add', arg: 1 } });
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const per = (after - before) / MEMORY_ACTORS;
  await mesh.close();
  return per;
}

async function bytesPerObject(): Promise<number> {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const map = new Map<string, { id: string; state: { count: number } }>();
  for (let i = 0; i < MEMORY_ACTORS; i++) map.set(ids[i]!, { id: ids[i]!, state: { count: 1 } });
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  if (map.size !== MEMORY_ACTORS) throw new Error('size');
  return (after - before) / MEMORY_ACTORS;
}

async function measure(fn: () => Promise<number>): Promise<Figure> {
  await fn(); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await fn());
  return figure(runs);
}

async function main(): Promise<void> {
  if ((globalThis as { gc?: unknown }).gc === undefined) console.error('note: run with --expose-gc for stable memory figures');
  const log = (s: string): void => {
    if (!json) console.error(s);
  };
  log('activations...');
  const act = await measure(activationsMesh);
  const actBase = await measure(activationsBaseline);
  log('sequential calls...');
  const seq = await measure(() => callsMesh(1, CALLS / 4));
  const seqBase = await measure(() => callsBaseline(1, CALLS / 4));
  log('256 in flight...');
  const par = await measure(() => callsMesh(IN_FLIGHT, CALLS));
  const parBase = await measure(() => callsBaseline(IN_FLIGHT, CALLS));
  log('memory...');
  const mem = await measure(bytesPerActor);
  const memBase = await measure(bytesPerObject);

  const result = {
    suite: 'local',
    machine: machine(),
    runs: RUNS,
    size: small ? 'small' : 'full',
    activationsPerSec: { meshrtc: act, baseline: actBase, ratio: act.median / actBase.median, baselineIs: 'plain object creation into a Map, same handler awaited' },
    callsPerSecSequential: { meshrtc: seq, baseline: seqBase, ratio: seq.median / seqBase.median, baselineIs: 'Map lookup + await handler' },
    callsPerSec256InFlight: { meshrtc: par, baseline: parBase, ratio: par.median / parBase.median, baselineIs: 'Map lookup + await handler' },
    bytesPerIdleActor: { meshrtc: mem, baseline: memBase, ratio: mem.median / memBase.median, baselineIs: 'plain object in a Map' },
    elixirMesh: { activationsPerSec: 16_428, requestsPerSec: 30_558, bytesPerActor: 11_000 },
  };
  if (json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const row = (name: string, f: Figure, b: Figure, unit: string, digits = 0): string[] => [
    name,
    `${fmt(f.median, digits)} ${unit}`,
    `${fmt(f.min, digits)}-${fmt(f.max, digits)}`,
    `${fmt(b.median, digits)} ${unit}`,
    `${fmt(f.median / b.median, 3)}x`,
  ];
  console.log(`\nbench:local on ${String(result.machine['cpu'])} (${String(result.machine['cores'])} cores), Node ${process.version}; median of ${RUNS} runs after a warm-up`);
  printTable(
    ['figure', 'meshrtc (median)', 'min-max', 'baseline (median)', 'ratio'],
    [
      row('activations/s (256 in flight)', act, actBase, '/s'),
      row('calls/s sequential', seq, seqBase, '/s'),
      row('calls/s 256 in flight', par, parBase, '/s'),
      row('bytes per idle actor', mem, memBase, 'B'),
    ],
  );
  console.log('Elixir Mesh publishes 16,428 activations/s, 30,558 requests/s, ~11 KB per actor.');
}

await main();
