/**
 * bench:rebalance — what moves when the membership changes.
 *
 * 1. Placement, computed (no I/O): for N = 2..32 peers serving one capability, the fraction of the 4096 shards,
 *    and of 10,000 active actors, whose owner changes when peer N+1 joins and when one of the N leaves, for the
 *    `rendezvous` and `modulo` strategies, beside the ideal: 1/(N+1) on a join (only the newcomer's fair share
 *    moves), 1/N on a leave (only the leaver's share). Each run draws fresh random peer ids, actor ids and leaver
 *    (seeded); warm-up, then 5 runs; medians with min-max.
 * 2. A real cluster: 2 edge processes (LMDB, replicated counters) holding 300 active counters, a caller peer in
 *    this process; a third edge process joins. Measured: from the caller's view change to every moved counter
 *    answering from its new owner with its state intact (a `get` returning the count it had), and the same for
 *    the leave that follows (graceful). Same-run baseline: the same calls to the same counters once nothing
 *    moves. Warm-up, then 5 joins and leaves.
 *
 * Run: npm run bench:rebalance [-- --size small] [-- --json] [-- --out file.json] [-- --no-cluster]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMesh, moduloStrategy, rendezvousStrategy, shardFor, type Mesh, type PlacementPeer, type PlacementStrategy } from '../src/index.js';
import { randomId, randomInt, seededRandom } from '../src/random.js';
import { startEdgePeer, startSignalingProcess, type EdgePeerProcess } from '../src/testing/index.js';
import { benchFlags, emit, figure, fmt, machine, median, progress, row, warmAndMeasure, type BenchRow, type Figure } from './stats.js';

const flags = benchFlags();
const SHARDS = 4096;
const MAX_N = 32;
const ACTORS_SIM = flags.small ? 1_000 : 10_000;
const ACTORS_REAL = flags.small ? 60 : 300;
const TABLE_N = [2, 8, 32];
const withCluster = !process.argv.includes('--no-cluster');
const log = (s: string): void => progress('rebalance', s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Fractions moved by one membership change. */
interface Moved {
  shards: number;
  actors: number;
}

/** Owners of every shard of one capability under `strategy`. */
function owners(strategy: PlacementStrategy, peers: readonly PlacementPeer[]): string[] {
  const out: string[] = new Array<string>(SHARDS);
  for (let s = 0; s < SHARDS; s++) out[s] = strategy.preferenceList(s, 'game', peers, 1)[0]!;
  return out;
}

/** Fraction of shards, and of the actors living on them, whose owner differs between two owner tables. */
function moved(before: readonly string[], after: readonly string[], actorShards: Uint16Array): Moved {
  let shards = 0;
  for (let s = 0; s < SHARDS; s++) if (before[s] !== after[s]) shards++;
  let actors = 0;
  for (const s of actorShards) if (before[s] !== after[s]) actors++;
  return { shards: shards / SHARDS, actors: actors / actorShards.length };
}

/** One run of the placement simulation: per strategy and N, what a join and a leave move. */
function simulateRun(seed: number): Map<string, Moved> {
  const random = seededRandom(seed);
  const out = new Map<string, Moved>();
  const actorShards = new Uint16Array(ACTORS_SIM);
  for (let i = 0; i < ACTORS_SIM; i++) actorShards[i] = shardFor(`actor-${randomId(random, 10)}`);
  for (const strategy of [rendezvousStrategy, moduloStrategy]) {
    for (let n = 2; n <= MAX_N; n++) {
      const peers: PlacementPeer[] = Array.from({ length: n }, () => ({ id: `peer-${randomId(random, 8)}`, weight: 1 }));
      const base = owners(strategy, peers);
      const joined = owners(strategy, [...peers, { id: `peer-${randomId(random, 8)}`, weight: 1 }]);
      const leaver = randomInt(random, n);
      const left = owners(strategy, peers.filter((_, i) => i !== leaver));
      out.set(`${strategy.name}/${n}/join`, moved(base, joined, actorShards));
      out.set(`${strategy.name}/${n}/leave`, moved(base, left, actorShards));
    }
  }
  return out;
}

/** Runs {@link simulateRun} for a warm-up and `runs` seeds; a figure per key and measure. */
async function simulate(): Promise<Map<string, { shards: Figure; actors: Figure }>> {
  const all: Map<string, Moved>[] = [];
  await warmAndMeasure(flags.runs, (run) => {
    const r = simulateRun(1000 + run);
    if (run >= 0) all.push(r);
    return Promise.resolve(0);
  });
  const out = new Map<string, { shards: Figure; actors: Figure }>();
  for (const key of all[0]!.keys()) {
    out.set(key, { shards: figure(all.map((r) => r.get(key)!.shards)), actors: figure(all.map((r) => r.get(key)!.actors)) });
  }
  return out;
}

/** One join or leave of the real cluster. */
interface ClusterTrial {
  event: 'join' | 'leave';
  moved: number;
  /** View change at the caller -> every moved counter served by its new owner with its count, ms. */
  servedMs: number;
  /** The same calls to the same counters once nothing moves, ms. */
  steadyMs: number;
}

/** The real-cluster part: 2 edges + a joining third one, a caller here. */
async function realCluster(): Promise<ClusterTrial[]> {
  const root = mkdtempSync(join(tmpdir(), 'meshrtc-bench-rebalance-'));
  const actorsModule = fileURLToPath(new URL('../test/fixtures/actors.ts', import.meta.url));
  const signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
  const edge = (name: string): Promise<EdgePeerProcess> =>
    startEdgePeer({ signalingUrl: signaling.url, room: 'rebalance', peerId: name, dataDir: join(root, name), capabilities: ['game'], actorsModule, engine: 'node-datachannel' });
  const procs: EdgePeerProcess[] = [];
  let caller: Mesh | undefined;
  const trials: ClusterTrial[] = [];
  try {
    procs.push(...(await Promise.all(['r1', 'r2'].map(edge))));
    caller = await createMesh({ signalingUrl: signaling.url, room: 'rebalance', peerId: 'caller', capabilities: [], loopbackOnly: true, defaultTimeoutMs: 10_000 });
    const c = caller;
    const sees = (ids: readonly string[]): boolean => c.table.peers.map((p) => p.id).sort().join(',') === [...ids].sort().join(',');
    /** Resolves with the time the caller's view first equals `ids`. */
    const viewAt = (ids: readonly string[]): Promise<number> =>
      new Promise((resolve) => {
        if (sees(ids)) return resolve(performance.now());
        const off = c.on('view:changed', () => {
          if (!sees(ids)) return;
          off();
          resolve(performance.now());
        });
      });
    const base = ['caller', 'r1', 'r2'];
    const end = Date.now() + 30_000;
    while (!sees(base)) {
      if (Date.now() > end) throw new Error(`caller sees ${c.table.peers.map((p) => p.id).join(',')}`);
      await sleep(20);
    }
    const ids = Array.from({ length: ACTORS_REAL }, (_, i) => `m-${i}`);
    log(`activating ${ACTORS_REAL} durable counters on 2 edges ...`);
    await Promise.all(ids.map((id) => c.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } })));
    /** Calls `get` on every id until each answers from `owner(id)` with count 1; the time it took. */
    const serve = async (targets: readonly string[], ownerOf: (id: string) => string): Promise<number> => {
      const t = performance.now();
      await Promise.all(
        targets.map(async (id) => {
          for (let attempt = 0; ; attempt++) {
            try {
              const r = await c.call<number>({ capability: 'game', type: 'counter', id, payload: { op: 'get' } }, { timeoutMs: 5000 });
              if (r.reply !== 1) throw new Error(`counter ${id} lost its state: ${String(r.reply)} from ${r.peerId}`);
              if (r.peerId === ownerOf(id)) return;
            } catch (e) {
              if (e instanceof Error && e.message.includes('lost its state')) throw e;
            }
            if (attempt > 2000) throw new Error(`counter ${id} not served by ${ownerOf(id)}`);
            await sleep(2);
          }
        }),
      );
      return performance.now() - t;
    };
    for (let t = -1; t < flags.runs; t++) {
      const name = `j${t + 1}`;
      // Join: the third peer's process starts; the clock starts when the caller's view lists it.
      const joined = viewAt([...base, name]);
      const proc = await edge(name);
      const tJoin = await joined;
      const movedIn = ids.filter((id) => c.ownerOf('game', id) === name);
      await serve(movedIn, () => name);
      const joinMs = performance.now() - tJoin;
      const joinSteady = await serve(movedIn, () => name);
      // Leave: graceful close; the clock starts when the caller's view no longer lists it.
      const left = viewAt(base);
      const closing = proc.close();
      const tLeave = await left;
      const ownersAfter = new Map(movedIn.map((id) => [id, c.ownerOf('game', id)!]));
      await serve(movedIn, (id) => ownersAfter.get(id)!);
      const leaveMs = performance.now() - tLeave;
      const leaveSteady = await serve(movedIn, (id) => ownersAfter.get(id)!);
      const closed = await Promise.race([closing.then(() => true), sleep(5000).then(() => false)]);
      if (!closed) await proc.kill('SIGKILL');
      log(`${t < 0 ? 'warm-up' : `trial ${t + 1}/${flags.runs}`}: ${movedIn.length} of ${ACTORS_REAL} counters moved; join -> all served ${fmt(joinMs)} ms (steady ${fmt(joinSteady)} ms), leave -> all served ${fmt(leaveMs)} ms (steady ${fmt(leaveSteady)} ms)`);
      if (t >= 0) {
        trials.push({ event: 'join', moved: movedIn.length, servedMs: joinMs, steadyMs: joinSteady });
        trials.push({ event: 'leave', moved: movedIn.length, servedMs: leaveMs, steadyMs: leaveSteady });
      }
    }
  } finally {
    await caller?.close().catch(() => {});
    for (const p of procs) await p.kill('SIGKILL');
    await signaling.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
  return trials;
}

async function main(): Promise<void> {
  const started = performance.now();
  log(`placement: N = 2..${MAX_N}, rendezvous and modulo, ${flags.runs} runs ...`);
  const sim = await simulate();
  const rows: BenchRow[] = [];
  const constant = (v: number): Figure => figure([v]);
  for (const n of TABLE_N) {
    for (const event of ['join', 'leave'] as const) {
      for (const strategy of ['rendezvous', 'modulo']) {
        const m = sim.get(`${strategy}/${n}/${event}`)!;
        const ideal = event === 'join' ? 1 / (n + 1) : 1 / n;
        rows.push(
          row({
            id: `rebalance.${strategy}.${n}.${event}`,
            name: `shards moved, ${strategy}, ${event === 'join' ? `peer ${n + 1} joins ${n}` : `1 of ${n} leaves`}`,
            kind: 'fraction',
            unit: 'share',
            better: 'lower',
            value: m.shards,
            baseline: { name: event === 'join' ? `ideal 1/(N+1) = 1/${n + 1}` : `ideal 1/N = 1/${n}`, value: constant(ideal) },
            ...(strategy === 'rendezvous' && n === 8 && event === 'join' ? { headline: true } : {}),
          }),
        );
      }
    }
  }
  for (const strategy of ['rendezvous', 'modulo']) {
    rows.push(
      row({
        id: `rebalance.${strategy}.8.join.actors`,
        name: `active actors moved, ${strategy}, peer 9 joins 8 (${fmt(ACTORS_SIM)} actors)`,
        kind: 'fraction',
        unit: 'share',
        better: 'lower',
        value: sim.get(`${strategy}/8/join`)!.actors,
        baseline: { name: 'ideal 1/(N+1) = 1/9', value: constant(1 / 9) },
      }),
    );
  }
  const notes: string[] = [];
  let trials: ClusterTrial[] = [];
  if (withCluster) {
    log(`real cluster: 2 edges + a joining third, ${ACTORS_REAL} counters ...`);
    trials = await realCluster();
    for (const event of ['join', 'leave'] as const) {
      const ts = trials.filter((x) => x.event === event);
      rows.push(
        row({
          id: `rebalance.cluster.${event}`,
          name: event === 'join' ? 'real 3-peer cluster: join -> every moved actor served' : 'real 3-peer cluster: leave -> every moved actor served',
          kind: 'time',
          unit: 'ms',
          better: 'lower',
          value: figure(ts.map((x) => x.servedMs)),
          baseline: { name: 'same calls, nothing moving', value: figure(ts.map((x) => x.steadyMs)) },
          ...(event === 'join' ? { headline: true } : {}),
        }),
      );
    }
    const joins = trials.filter((x) => x.event === 'join');
    rows.push(
      row({
        id: 'rebalance.cluster.moved',
        name: `real 3-peer cluster: active actors moved by the join (${ACTORS_REAL} counters)`,
        kind: 'fraction',
        unit: 'share',
        better: 'lower',
        value: figure(joins.map((x) => x.moved / ACTORS_REAL)),
        baseline: { name: 'ideal 1/(N+1) = 1/3', value: constant(1 / 3) },
      }),
    );
  } else notes.push('--no-cluster: the real-cluster measurement was skipped');
  const curves: Record<string, { n: number; shards: number; actors: number; shardsMin: number; shardsMax: number; ideal: number }[]> = {};
  for (const [key, v] of sim) {
    const [strategy, n, event] = key.split('/') as [string, string, string];
    (curves[`${strategy}/${event}`] ??= []).push({
      n: Number(n),
      shards: v.shards.median,
      shardsMin: v.shards.min,
      shardsMax: v.shards.max,
      actors: v.actors.median,
      ideal: event === 'join' ? 1 / (Number(n) + 1) : 1 / Number(n),
    });
  }
  emit(
    {
      suite: 'rebalance',
      size: flags.small ? 'small' : 'full',
      machine: machine(),
      runs: flags.runs,
      seconds: (performance.now() - started) / 1000,
      method:
        `Placement computed for N = 2..${MAX_N} peers (random ids per run): the share of the ${SHARDS} shards and of ${fmt(ACTORS_SIM)} actors whose owner ` +
        'changes when peer N+1 joins or one random peer of N leaves, for rendezvous and modulo, beside the ideal 1/(N+1) (join) and 1/N (leave). ' +
        `Real cluster: 2 edge processes with LMDB holding ${ACTORS_REAL} replicated counters, a caller in the bench process; a third edge joins, then leaves ` +
        'gracefully: time from the caller\'s view change to every moved counter answering from its new owner with its state, beside the same calls ' +
        'once nothing moves.',
      rows,
      details: { curves, clusterTrials: trials, medianMoved: trials.length === 0 ? null : median(trials.filter((x) => x.event === 'join').map((x) => x.moved)) },
      ...(notes.length > 0 ? { notes } : {}),
    },
    flags,
  );
}

await main();
process.stdout.write('', () => process.exit(0));
