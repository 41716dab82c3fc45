/**
 * bench:scale — how a room grows.
 *
 * 1. Simulated: a room of 1,000 peers on the memory transport and signaling hub (`createSimulation`, seeded, on a
 *    simulated clock; one-way latency 1-5 ms). Measured once the room is formed: for a new peer joining, the
 *    simulated time from its join to its first call answered by another peer, and to every peer having the new
 *    view (convergence); the wall time the whole room spends on that join (all peers run in this process); and
 *    the heap per peer. Same-run baseline: the same in a 10-peer room. Warm-up, then 5 joins.
 * 2. Real: Chromium pages and Node edge peers over WebRTC on 127.0.0.1 (a loopback-only namespace this run
 *    creates), `--pages` pages (default 24) plus `--edges` edge processes (default 4): as many as this 2-core
 *    machine carries while forming in about a minute. Measured: a new page's join to its first call answered
 *    by another peer; its join to every peer listing it (convergence); the JS heap per page (after a GC, through
 *    CDP) and the resident memory per edge process. Same-run baseline: the same in a 3-peer room (2 pages +
 *    1 edge) of the same browser. Warm-up, then 5 joins.
 *
 * Run: npm run bench:scale [-- --size small] [-- --json] [-- --out file.json] [-- --peers 1000] [-- --pages 24]
 *   [-- --edges 4] [-- --no-sim] [-- --no-real]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defineActor, type Mesh } from '../src/index.js';
import { createSimulation, type Simulation } from '../src/testing/index.js';
import { ensureLoopbackNamespace } from '../src/testing/netns.js';
import { benchFlags, emit, figure, fmt, machine, progress, row, type BenchRow, type Figure, type MachineInfo } from './stats.js';

await ensureLoopbackNamespace(fileURLToPath(import.meta.url));
const gcFn = (globalThis as { gc?: () => void }).gc;
if (gcFn === undefined) {
  // Heap per peer needs forced GCs; a larger young generation also halves the GC time of forming the big room.
  const flagsV8 = ['--expose-gc', '--max-semi-space-size=64'];
  const child = spawn(process.execPath, [...flagsV8, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
  process.exit(code);
}
const gc = (): void => {
  gcFn!();
  gcFn!();
};

const flags = benchFlags();
const { values: opts } = parseArgs({
  options: {
    peers: { type: 'string' },
    pages: { type: 'string' },
    edges: { type: 'string' },
    'no-sim': { type: 'boolean', default: false },
    'no-real': { type: 'boolean', default: false },
  },
  strict: false,
});
const SIM_PEERS = Number(opts.peers ?? (flags.small ? 40 : 1000));
const SIM_BASE = flags.small ? 5 : 10;
const PAGES = Number(opts.pages ?? (flags.small ? 3 : 24));
const EDGES = Number(opts.edges ?? (flags.small ? 1 : 4));
const log = (s: string): void => progress('scale', s);

const Where = defineActor({ type: 'where', initialState: () => ({}), handlers: { ping: (_s, _a: unknown, ctx) => ctx.peerId } });

/** One join into a room. */
interface JoinTrial {
  /** Join start -> first call answered by another peer, ms (simulated time in the simulation). */
  firstCallMs: number;
  /** Join start -> every peer lists the newcomer, ms. */
  convergedMs: number;
  /** Wall time of the whole join (simulation: the CPU the room spends on it), ms. */
  wallMs: number;
}

/** A simulated room of `n` peers: formation, heap per peer, and joins. */
async function simulatedRoom(n: number, runs: number): Promise<{ formWallMs: number; heapPerPeer: number; trials: JoinTrial[] }> {
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const sim: Simulation = createSimulation({ seed: 7, actors: [Where], latencyMs: [1, 5] });
  const w0 = performance.now();
  for (let i = 0; i < n; i++) {
    await sim.addPeer(`p${String(i).padStart(4, '0')}`, ['game']);
    if ((i + 1) % 100 === 0) log(`  simulated room: ${i + 1}/${n} peers (${fmt((performance.now() - w0) / 1000, 1)} s)`);
  }
  await sim.converge(120_000);
  const formWallMs = performance.now() - w0;
  gc();
  const heapPerPeer = (process.memoryUsage().heapUsed - heap0) / n;
  const trials: JoinTrial[] = [];
  for (let t = -1; t < runs; t++) {
    const id = `x${t + 1}`;
    const wall = performance.now();
    const t0 = sim.clock.now();
    const mesh: Mesh = await sim.addPeer(id, ['game']);
    let target = 0;
    while (mesh.ownerOf('game', `a-${target}`) === id) target++;
    let answered: number | undefined;
    void mesh.call({ capability: 'game', type: 'where', id: `a-${target}`, payload: { op: 'ping' } }, { timeoutMs: 10_000 }).then(() => (answered = sim.clock.now()));
    if (!(await sim.clock.advanceUntil(() => answered !== undefined, 10_000, 1))) throw new Error(`first call of ${id} not answered in 10 s of simulated time`);
    await sim.converge(60_000);
    const trial = { firstCallMs: answered! - t0, convergedMs: sim.clock.now() - t0, wallMs: performance.now() - wall };
    if (t >= 0) trials.push(trial);
    // Crash (no handoff): a graceful leave would cost another view change on every peer.
    await sim.crashPeer(id);
    await sim.converge(60_000);
  }
  // The room is dropped, not closed: closing 1,000 peers one by one costs minutes of view changes.
  if (n <= SIM_BASE) await sim.close();
  return { formWallMs, heapPerPeer, trials };
}

/** Resident memory of a process, bytes (Linux /proc), or NaN. */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? Number.NaN : Number(m[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** The real rooms: a 3-peer baseline room grown to PAGES pages + EDGES edges. */
async function realRooms(runs: number, setChromium: (v: string) => void): Promise<{ small: RealRoom; large: RealRoom; formMs: number; served: number }> {
  const { startCluster } = await import('../src/testing/cluster.js');
  const actors = fileURLToPath(new URL('../e2e/fixtures/actors.ts', import.meta.url));
  const cluster = await startCluster({ actors, pages: [{ capabilities: ['game'], persist: false, recordEvents: false }, { capabilities: ['game'], persist: false, recordEvents: false }], edges: [{ capabilities: ['game'] }], convergeTimeoutMs: 120_000 });
  setChromium(cluster.browser.version());
  type PagePeer = (typeof cluster.pages)[number];
  let seq = 0;

  /** Heap per page (JS heap after a GC, through CDP) and resident memory per edge process. */
  const memory = async (): Promise<{ pageHeap: Figure; edgeRss: Figure }> => {
    const heaps: number[] = [];
    for (const p of cluster.pages.filter((x) => x.alive)) {
      const cdp = await p.context.newCDPSession(p.page);
      await cdp.send('HeapProfiler.collectGarbage');
      const usage = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
      heaps.push(usage.usedSize);
      await cdp.detach();
    }
    return { pageHeap: figure(heaps), edgeRss: figure(cluster.edges.filter((e) => e.alive).map((e) => rssOf(e.process.pid))) };
  };

  /** A page joins: first call and convergence, timed from the start of its peer; then it closes. */
  const joinTrial = async (): Promise<JoinTrial> => {
    const id = `join-${++seq}`;
    const wall = performance.now();
    const live = cluster.peers.filter((p) => p.alive);
    // Every live peer reports when it first lists the newcomer (pages from inside, edges from their view events).
    const seen = live.map((p) =>
      p.kind === 'browser'
        ? (p as PagePeer).evaluate(
            (h, want) =>
              new Promise<number>((resolve) => {
                const m = h.mesh!;
                const has = (): boolean => m.table.peers.some((x) => x.id === want);
                if (has()) return resolve(Date.now());
                const off = m.on('view:changed', () => {
                  if (!has()) return;
                  off();
                  resolve(Date.now());
                });
              }),
            id,
          )
        : (async () => {
            const events = (p as (typeof cluster.edges)[number]).process.events;
            const from = events.length;
            for (;;) {
              const hit = events.slice(from).find((e) => (e['peers'] as string[] | undefined)?.includes(id));
              if (hit !== undefined) return Date.now();
              await new Promise((r) => setTimeout(r, 2));
            }
          })(),
    );
    const page = await cluster.addPage({ capabilities: ['game'], peerId: id, persist: false, recordEvents: false });
    const t0 = Date.now() - page.startMs;
    let target = 0;
    while ((await page.ownerOf('game', `s-${target}`)) === id) target++;
    const r = await page.call({ capability: 'game', type: 'echo', id: `s-${target}`, payload: { op: 'echo', arg: 1 } }, { timeoutMs: 30_000 });
    if (r.peerId === id) throw new Error('first call was served locally');
    const firstCallMs = Date.now() - t0;
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`room did not list ${id} within 60 s`)), 60_000));
    const times = await Promise.race([Promise.all(seen), timeout]);
    const trial = { firstCallMs, convergedMs: Math.max(...times) - t0, wallMs: performance.now() - wall };
    await page.close();
    await cluster.waitConverged(120_000);
    return trial;
  };

  const measureRoom = async (): Promise<RealRoom> => {
    const trials: JoinTrial[] = [];
    for (let t = -1; t < runs; t++) {
      const trial = await joinTrial();
      log(`  ${t < 0 ? 'warm-up' : `join ${t + 1}/${runs}`} into ${cluster.peers.filter((p) => p.alive).length} peers: first call after ${fmt(trial.firstCallMs)} ms, converged after ${fmt(trial.convergedMs)} ms`);
      if (t >= 0) trials.push(trial);
    }
    return { peers: cluster.peers.filter((p) => p.alive).length, trials, ...(await memory()) };
  };

  try {
    log('real: 3-peer room (2 pages + 1 edge) ...');
    const small = await measureRoom();
    log(`real: growing to ${PAGES} pages + ${EDGES} edges ...`);
    const f0 = Date.now();
    const edgeStarts = Promise.all(Array.from({ length: EDGES - 1 }, () => cluster.addEdge({ capabilities: ['game'] })));
    // Pages join 4 at a time (each in its own browser context), edges in parallel with them.
    for (let i = 2; i < PAGES; i += 4) {
      const batch = Math.min(4, PAGES - i);
      await Promise.all(Array.from({ length: batch }, () => cluster.addPage({ capabilities: ['game'], persist: false, recordEvents: false })));
      log(`  ${i + batch}/${PAGES} pages`);
    }
    await edgeStarts;
    await cluster.waitConverged(180_000);
    const formMs = Date.now() - f0;
    // Every peer calls one actor: the big room serves.
    const replies = await Promise.all(cluster.peers.filter((p) => p.alive).map((p, i) => p.call({ capability: 'game', type: 'echo', id: `all-${i}`, payload: { op: 'echo', arg: i } }, { timeoutMs: 30_000 })));
    const served = new Set(replies.map((r) => r.peerId)).size;
    log(`real: ${cluster.peers.filter((p) => p.alive).length} peers formed in ${fmt(formMs / 1000, 1)} s; one call from each served by ${served} peers`);
    const large = await measureRoom();
    return { small, large, formMs, served };
  } finally {
    await cluster.close();
  }
}

/** Measurements of one real room. */
interface RealRoom {
  peers: number;
  trials: JoinTrial[];
  pageHeap: Figure;
  edgeRss: Figure;
}

async function main(): Promise<void> {
  const started = performance.now();
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const details: Record<string, unknown> = {};
  const m: MachineInfo = machine();
  const of = (ts: readonly JoinTrial[], f: (t: JoinTrial) => number): Figure => figure(ts.map(f));

  if (opts['no-sim'] !== true) {
    log(`simulated: ${SIM_BASE}-peer room (baseline) ...`);
    const base = await simulatedRoom(SIM_BASE, flags.runs);
    log(`simulated: ${fmt(SIM_PEERS)}-peer room ...`);
    const big = await simulatedRoom(SIM_PEERS, flags.runs);
    const baseName = `same in a ${SIM_BASE}-peer room`;
    rows.push(
      row({ id: 'scale.sim.first-call', name: `sim ${fmt(SIM_PEERS)}-peer room: join -> first call answered (sim ms)`, kind: 'time', unit: 'ms', better: 'lower', value: of(big.trials, (t) => t.firstCallMs), baseline: { name: baseName, value: of(base.trials, (t) => t.firstCallMs) } }),
      row({ id: 'scale.sim.converged', name: `sim ${fmt(SIM_PEERS)}-peer room: join -> every peer has the view (sim ms)`, kind: 'time', unit: 'ms', better: 'lower', value: of(big.trials, (t) => t.convergedMs), baseline: { name: baseName, value: of(base.trials, (t) => t.convergedMs) } }),
      row({ id: 'scale.sim.join-cpu', name: `sim ${fmt(SIM_PEERS)}-peer room: wall time of a join, all in 1 process`, kind: 'time', unit: 'ms', better: 'lower', value: of(big.trials, (t) => t.wallMs), baseline: { name: baseName, value: of(base.trials, (t) => t.wallMs) } }),
      row({ id: 'scale.sim.memory', name: `sim ${fmt(SIM_PEERS)}-peer room: heap per peer`, kind: 'memory', unit: 'B', better: 'lower', value: figure([big.heapPerPeer]), baseline: { name: baseName, value: figure([base.heapPerPeer]) }, headline: true }),
    );
    details['simulated'] = { peers: SIM_PEERS, baselinePeers: SIM_BASE, formWallMs: big.formWallMs, baselineFormWallMs: base.formWallMs, trials: big.trials, baselineTrials: base.trials };
    notes.push(`forming the simulated ${fmt(SIM_PEERS)}-peer room took ${fmt(big.formWallMs / 1000, 1)} s of wall time (every peer applies every view, in O(changes) per peer: O(N) work per join in one process)`);
  }
  if (opts['no-real'] !== true) {
    const real = await realRooms(flags.runs, (v) => (m.chromium = v));
    const baseName = `same in a ${real.small.peers}-peer room`;
    const label = `real room of ${PAGES} pages + ${EDGES} edge${EDGES === 1 ? '' : 's'}`;
    rows.push(
      row({ id: 'scale.real.first-call', name: `${label}: join -> first call answered`, kind: 'time', unit: 'ms', better: 'lower', value: of(real.large.trials, (t) => t.firstCallMs), baseline: { name: baseName, value: of(real.small.trials, (t) => t.firstCallMs) }, headline: true }),
      row({ id: 'scale.real.converged', name: `${label}: join -> every peer lists it`, kind: 'time', unit: 'ms', better: 'lower', value: of(real.large.trials, (t) => t.convergedMs), baseline: { name: baseName, value: of(real.small.trials, (t) => t.convergedMs) } }),
      row({ id: 'scale.real.page-heap', name: `${label}: JS heap per page`, kind: 'memory', unit: 'B', better: 'lower', value: real.large.pageHeap, baseline: { name: baseName, value: real.small.pageHeap } }),
      row({ id: 'scale.real.edge-rss', name: `${label}: RSS per edge process`, kind: 'memory', unit: 'B', better: 'lower', value: real.large.edgeRss, baseline: { name: baseName, value: real.small.edgeRss } }),
    );
    details['real'] = { pages: PAGES, edges: EDGES, formMs: real.formMs, servedBy: real.served, small: real.small, large: real.large };
    notes.push(`the real room of ${PAGES} pages + ${EDGES} edge${EDGES === 1 ? '' : 's'} formed in ${fmt(real.formMs / 1000, 1)} s (pages added 4 at a time); one call from each of its ${PAGES + EDGES} peers was served by ${real.served} different peers`);
  }
  emit(
    {
      suite: 'scale',
      size: flags.small ? 'small' : 'full',
      machine: m,
      runs: flags.runs,
      seconds: (performance.now() - started) / 1000,
      method:
        `Simulated: ${fmt(SIM_PEERS)} peers on the memory transport and hub (seeded, simulated clock, one-way latency 1-5 ms), peers added one by one; then a new ` +
        'peer joins: simulated time to its first call answered by another peer and to every peer having the view, wall time of the join (all peers share ' +
        `this process), heap per peer after GC. Baseline: the same in a ${SIM_BASE}-peer room. Real: ${PAGES} Chromium pages + ${EDGES} edge processes over WebRTC ` +
        'on 127.0.0.1; a new page joins: from the start of its peer to its first call answered by another peer, and to every peer listing it (timestamps ' +
        'taken inside each page and from each edge\'s view events); JS heap per page after a GC (CDP) and resident memory per edge. Baseline: the same in ' +
        'a 3-peer room (2 pages + 1 edge) of the same browser, measured first.',
      rows,
      details,
      ...(notes.length > 0 ? { notes } : {}),
    },
    flags,
  );
}

await main();
process.stdout.write('', () => process.exit(0));
