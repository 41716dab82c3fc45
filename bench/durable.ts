/**
 * bench:durable — a persisted counter, 256 calls in flight: `replicated` (LMDB commit, then mirrored over WebRTC
 * to the standby peer's LMDB before the reply), `local` (LMDB, an fdatasync per commit, writes of one tick in one
 * commit) and `memory`, measured in the same run; then failover time: SIGKILL of an owner process until the first
 * successful call served by its standby, median and max over 10 trials.
 * `--json` prints JSON; `--size small` runs a short version.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSignalingServer } from '../signaling-server/server.js';
import { createMesh, defineActor, LmdbStateStore, type Durability, type Mesh } from '../src/index.js';
import { startEdgePeer, startSignalingProcess, type EdgePeerProcess } from '../src/testing/index.js';
import { figure, fmt, machine, printTable, type Figure } from './stats.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const small = args.includes('--size') && args[args.indexOf('--size') + 1] === 'small';
const RUNS = small ? 2 : 5;
const CALLS = small ? 2_000 : 40_000;
const IN_FLIGHT = 256;
const TRIALS = small ? 2 : 10;

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

/** SIGKILL of an owner process under a polling caller: ms until the standby serves the actor. */
async function failoverTrials(): Promise<number[]> {
  const root = mkdtempSync(join(tmpdir(), 'meshrtc-bench-failover-'));
  const actorsModule = fileURLToPath(new URL('../test/fixtures/actors.ts', import.meta.url));
  const signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
  const edge = (name: string): Promise<EdgePeerProcess> =>
    startEdgePeer({ signalingUrl: signaling.url, room: 'failover', peerId: name, dataDir: join(root, name), capabilities: ['game'], actorsModule, engine: 'node-datachannel' });
  const peers = new Map<string, EdgePeerProcess>();
  for (const n of ['f1', 'f2', 'f3']) peers.set(n, await edge(n));
  const client = await startEdgePeer({ signalingUrl: signaling.url, room: 'failover', peerId: 'fclient', capabilities: [], engine: 'node-datachannel' });
  const times: number[] = [];
  try {
    for (let t = 0; t < TRIALS; t++) {
      await client.waitForPeers(['fclient', 'f1', 'f2', 'f3']);
      const id = `trial-${t}-${Date.now()}`;
      const first = await client.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } });
      const victim = first.peerId;
      const t0 = performance.now();
      await peers.get(victim)!.kill('SIGKILL');
      for (;;) {
        try {
          const r = await client.call<number>({ capability: 'game', type: 'counter', id, payload: { op: 'get' } }, { timeoutMs: 1000 });
          if (r.peerId !== victim && r.reply === 1) break;
        } catch {
          // not yet: the view has not moved, or the standby is activating
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      times.push(performance.now() - t0);
      peers.set(victim, await edge(victim)); // restart it with its data directory for the next trial
    }
  } finally {
    for (const p of [...peers.values(), client]) await p.kill('SIGKILL');
    await signaling.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
  return times;
}

async function measure(d: Durability): Promise<Figure> {
  const once = d === 'replicated' ? runReplicated : () => run(d);
  await once();
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once());
  return figure(runs);
}

const replicated = await measure('replicated');
const local = await measure('local');
const memory = await measure('memory');
const failover = figure(await failoverTrials());
const result = { suite: 'durable', machine: machine(), runs: RUNS, inFlight: IN_FLIGHT, replicated, local, memory, ratio: local.median / memory.median, replicatedRatio: replicated.median / memory.median, failoverMs: failover };
if (json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`\nbench:durable, persisted counter, ${IN_FLIGHT} in flight, median of ${RUNS} runs`);
  printTable(
    ['durability', 'increments/s', 'min-max', 'vs memory'],
    [
      ['replicated (LMDB + mirror to standby over WebRTC)', fmt(replicated.median), `${fmt(replicated.min)}-${fmt(replicated.max)}`, `${fmt(result.replicatedRatio, 3)}x`],
      ['local (LMDB, fdatasync per commit)', fmt(local.median), `${fmt(local.min)}-${fmt(local.max)}`, `${fmt(result.ratio, 3)}x`],
      ['memory (same run)', fmt(memory.median), `${fmt(memory.min)}-${fmt(memory.max)}`, '1x'],
    ],
  );
  console.log(`failover (SIGKILL of the owner -> first call served by the standby), ${failover.runs.length} trials: median ${fmt(failover.median)} ms, max ${fmt(failover.max)} ms`);
}
process.stdout.write('', () => process.exit(0));
