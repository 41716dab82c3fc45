/**
 * bench:durable — a persisted counter, 256 calls in flight: `replicated` (LMDB commit, then mirrored over WebRTC
 * to the standby peer's LMDB before the reply), `local` (LMDB, an fdatasync per commit, writes of one tick in one
 * commit), each beside `memory` (the same actor never stored) measured in the same run. Warm-up, then 5 runs;
 * medians with min-max. Failover after a SIGKILL: `bench:failover`.
 * `--json` prints JSON, `--out FILE` writes it; `--size small` runs a short version.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSignalingServer } from '../signaling-server/server.js';
import { createMesh, defineActor, LmdbStateStore, type Durability, type Mesh } from '../src/index.js';
import { benchFlags, emit, fmt, machine, progress, row, warmAndMeasure, type Figure } from './stats.js';

const flags = benchFlags();
const RUNS = flags.runs;
const CALLS = flags.small ? 2_000 : 40_000;
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

/** Two peers in one process over WebRTC; the caller is the owner, so each write is committed and mirrored. */
async function runReplicated(): Promise<number> {
  const server = await createSignalingServer({ logger: false });
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'meshrtc-bench-repl-')));
  const stores = await Promise.all(dirs.map((dataDir) => LmdbStateStore.open({ dataDir })));
  const meshes: Mesh[] = [];
  for (const [i, store] of stores.entries()) {
    meshes.push(await createMesh({ signalingUrl: server.url, room: 'durable', peerId: `r${i}`, capabilities: ['game'], actors: [counter('replicated')], store, loopbackOnly: true }));
  }
  const owner = meshes[0]!;
  while (owner.table.peersFor('game').length < 2) await new Promise((r) => setTimeout(r, 10));
  const ids: string[] = [];
  for (let i = 0; ids.length < IN_FLIGHT; i++) if (owner.ownerOf('game', `c${i}`) === owner.peerId) ids.push(`c${i}`);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      while (next < CALLS) {
        next++;
        await owner.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } });
      }
    }),
  );
  const rate = CALLS / ((performance.now() - t0) / 1000);
  for (const m of meshes) await m.close();
  for (const st of stores) await st.close();
  await server.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  return rate;
}

async function measure(d: Durability): Promise<Figure> {
  progress('durable', `${d} ...`);
  return warmAndMeasure(RUNS, d === 'replicated' ? runReplicated : () => run(d));
}

const started = performance.now();
const replicated = await measure('replicated');
const local = await measure('local');
const memory = await measure('memory');
const memoryBase = { name: 'same actor in memory (never stored)', value: memory };
emit(
  {
    suite: 'durable',
    size: flags.small ? 'small' : 'full',
    machine: machine(),
    runs: RUNS,
    seconds: (performance.now() - started) / 1000,
    method:
      `${fmt(CALLS)} increments of counters with ${IN_FLIGHT} in flight, per durability mode: replicated (LMDB commit, then mirrored over WebRTC ` +
      'to the standby peer\'s LMDB before the reply; two peers in one process, the caller owning the counters), local (LMDB, one fdatasync per ' +
      'grouped commit). Baseline in the same run: the same actor with durability memory.',
    rows: [
      row({ id: 'durable.replicated', name: `increments/s, replicated (LMDB + mirror to standby), ${IN_FLIGHT} in flight`, kind: 'throughput', unit: '/s', better: 'higher', value: replicated, baseline: memoryBase, headline: true }),
      row({ id: 'durable.local', name: `increments/s, local (LMDB, fdatasync per commit), ${IN_FLIGHT} in flight`, kind: 'throughput', unit: '/s', better: 'higher', value: local, baseline: memoryBase }),
    ],
  },
  flags,
);
process.stdout.write('', () => process.exit(0));
