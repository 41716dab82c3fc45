/**
 * bench:failover — SIGKILL of an actor's owner under load: the time from the kill to the first successful call
 * served by the standby, and the calls that failed during that gap; median and max over 10 trials, beside the
 * same measurement for a graceful leave (the owner closes and hands its actors over) in the same run, and the time
 * from a graceful close under load to the exit of the process (beside a SIGKILL's).
 *
 * Setup: a signaling server and 3 edge peers, each its own process with an LMDB data directory (so the counters
 * are durable and mirrored to their standby), and a caller peer in this process keeping 16 calls in flight on
 * 96 counters spread over the 3 owners (plain calls: no idempotency key, no retry on loss, 2 s deadline; a `NotOwner`
 * refusal, which is what a leaving peer answers, is retried by the mesh within the deadline). Each trial picks
 * the owner of one counter as the victim, kills it (SIGKILL) or closes it (graceful), measures, then restarts it
 * with its data directory and waits until every peer is back in the caller's view.
 *
 * Run: npm run bench:failover [-- --size small] [-- --json] [-- --out file.json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMesh, isMeshError, type Mesh } from '../src/index.js';
import { startEdgePeer, startSignalingProcess, type EdgePeerProcess } from '../src/testing/index.js';
import { benchFlags, emit, figure, fmt, machine, progress, row, type Figure } from './stats.js';

const flags = benchFlags();
const TRIALS = flags.small ? 2 : 10;
const IN_FLIGHT = 16;
/** Load observed after the kill (or close), ms. */
const WINDOW_MS = 1500;
/** How long a graceful close may take before it is cut short, ms. */
const CLOSE_WAIT_MS = 5000;
const COUNTERS = flags.small ? 24 : 96;
const ROOM = 'failover';
const EDGES = ['f1', 'f2', 'f3'];
const actorsModule = fileURLToPath(new URL('../test/fixtures/actors.ts', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => progress('failover', s);

/** One finished call of the load. */
interface Outcome {
  id: string;
  start: number;
  end: number;
  ok: boolean;
  peerId?: string;
  code?: string;
}

/** One trial's measurements. */
interface Trial {
  victim: string;
  mode: 'kill' | 'leave';
  /** Kill (or close) to the first successful call to one of the victim's actors served by another peer, ms. */
  firstServedMs: number;
  /** Calls (to any actor) that failed between the kill and that first successful call. */
  failedInGap: number;
  /** Calls to the victim's actors that failed in the window after the kill. */
  failedVictimActors: number;
  /** Calls completed in the window after the kill. */
  callsAfter: number;
  /** Error codes of the failed calls. */
  codes: Record<string, number>;
  /** Kill (or close) to the exit of the victim's process, ms; null when a close took longer than 5 s (then killed). */
  exitMs: number | null;
}

/** Keeps `IN_FLIGHT` calls going on the counters; records every outcome. */
function startLoad(caller: Mesh, ids: readonly string[]): { outcomes: Outcome[]; stop(): Promise<void> } {
  const outcomes: Outcome[] = [];
  let running = true;
  let k = 0;
  const worker = async (): Promise<void> => {
    while (running) {
      const id = ids[k++ % ids.length]!;
      const start = performance.now();
      try {
        const r = await caller.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }, { timeoutMs: 2000 });
        outcomes.push({ id, start, end: performance.now(), ok: true, peerId: r.peerId });
      } catch (e) {
        outcomes.push({ id, start, end: performance.now(), ok: false, code: isMeshError(e) ? e.code : 'Untyped' });
        await sleep(5); // a failed call returns at once (no peer): do not spin
      }
    }
  };
  const workers = Array.from({ length: IN_FLIGHT }, worker);
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'meshrtc-bench-failover-'));
  const signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
  const edge = (name: string): Promise<EdgePeerProcess> =>
    startEdgePeer({ signalingUrl: signaling.url, room: ROOM, peerId: name, dataDir: join(root, name), capabilities: ['game'], actorsModule, engine: 'node-datachannel' });
  const peers = new Map<string, EdgePeerProcess>();
  let caller: Mesh | undefined;
  const trials: Trial[] = [];
  try {
    log('starting 3 edge processes ...');
    for (const [name, p] of await Promise.all(EDGES.map(async (n) => [n, await edge(n)] as const))) peers.set(name, p);
    caller = await createMesh({ signalingUrl: signaling.url, room: ROOM, peerId: 'caller', capabilities: [], loopbackOnly: true, defaultTimeoutMs: 5000 });
    const all = ['caller', ...EDGES].sort().join(',');
    const waitAll = async (): Promise<void> => {
      const end = Date.now() + 30_000;
      while (caller!.table.peers.map((p) => p.id).sort().join(',') !== all) {
        if (Date.now() > end) throw new Error(`caller sees ${caller!.table.peers.map((p) => p.id).join(',')}, wanted ${all}`);
        await sleep(20);
      }
    };
    await waitAll();
    const ids = Array.from({ length: COUNTERS }, (_, i) => `k-${i}`);
    const load = startLoad(caller, ids);
    const schedule: Array<'kill' | 'leave'> = ['kill', ...Array.from({ length: TRIALS }, () => 'kill' as const), 'leave', ...Array.from({ length: flags.runs }, () => 'leave' as const)];
    try {
      for (const [t, mode] of schedule.entries()) {
        await waitAll();
        await sleep(300); // steady load first
        const victim = caller.ownerOf('game', ids[t % ids.length]!)!;
        const victimIds = new Set(ids.filter((id) => caller!.ownerOf('game', id) === victim));
        const from = load.outcomes.length;
        const t0 = performance.now();
        // Not awaited: the load and the measurement go on while the process dies or hands over.
        const gone = (mode === 'kill' ? peers.get(victim)!.kill('SIGKILL') : peers.get(victim)!.close()).then(() => performance.now() - t0);
        // Until a call to one of the victim's actors is served elsewhere (bounded: 15 s), then WINDOW_MS of load.
        let first: Outcome | undefined;
        const deadline = t0 + 15_000;
        while (first === undefined && performance.now() < deadline) {
          first = load.outcomes.slice(from).find((o) => o.ok && o.end >= t0 && victimIds.has(o.id) && o.peerId !== victim);
          if (first === undefined) await sleep(2);
        }
        if (first === undefined) {
          const seen = load.outcomes.slice(from).filter((o) => victimIds.has(o.id));
          const summary = seen.reduce<Record<string, number>>((acc, o) => ((acc[o.ok ? `ok@${o.peerId}` : String(o.code)] = (acc[o.ok ? `ok@${o.peerId}` : String(o.code)] ?? 0) + 1), acc), {});
          throw new Error(`trial ${t} (${mode} ${victim}): no call to its actors was served elsewhere within 15 s; ${load.outcomes.length - from} calls finished since, to its actors: ${JSON.stringify(summary)}; view ${caller.table.peers.map((p) => p.id).join(',')}`);
        }
        const windowEnd = Math.max(first.end + 500, t0 + WINDOW_MS);
        await sleep(Math.max(0, windowEnd - performance.now()));
        const after = load.outcomes.slice(from).filter((o) => o.end >= t0 && o.end <= windowEnd);
        // A graceful close that has not finished by then is recorded and cut short (SIGKILL): the measurement is done.
        const exited = await Promise.race([gone, sleep(Math.max(0, t0 + CLOSE_WAIT_MS - performance.now())).then(() => undefined)]);
        if (exited === undefined) await peers.get(victim)!.kill('SIGKILL');
        const exitMs = exited ?? null;
        const failed = after.filter((o) => !o.ok);
        const codes: Record<string, number> = {};
        for (const o of failed) codes[o.code ?? '?'] = (codes[o.code ?? '?'] ?? 0) + 1;
        const trial: Trial = {
          victim,
          mode,
          firstServedMs: first.end - t0,
          failedInGap: failed.filter((o) => o.end <= first.end).length,
          failedVictimActors: failed.filter((o) => victimIds.has(o.id)).length,
          callsAfter: after.length,
          codes,
          exitMs,
        };
        const warm = t === 0 || (mode === 'leave' && schedule[t - 1] === 'kill');
        if (!warm) trials.push(trial);
        log(`${warm ? 'warm-up' : `trial ${trials.filter((x) => x.mode === mode).length}/${mode === 'kill' ? TRIALS : flags.runs}`} ${mode} ${victim}: first call served elsewhere after ${fmt(trial.firstServedMs, 1)} ms, ${trial.failedInGap} calls failed in the gap ${JSON.stringify(codes)}; process exited after ${exitMs !== null ? `${fmt(exitMs)} ms` : `more than ${CLOSE_WAIT_MS} ms (then SIGKILLed)`}`);
        peers.set(victim, await edge(victim)); // back with its data directory
      }
    } finally {
      await load.stop();
    }
  } finally {
    await caller?.close().catch(() => {});
    for (const p of peers.values()) await p.kill('SIGKILL');
    await signaling.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }

  const of = (mode: Trial['mode'], f: (t: Trial) => number): Figure => figure(trials.filter((t) => t.mode === mode).map(f));
  const killMs = of('kill', (t) => t.firstServedMs);
  const leaveMs = of('leave', (t) => t.firstServedMs);
  const killFailed = of('kill', (t) => t.failedInGap);
  const slowCloses = trials.filter((t) => t.mode === 'leave' && t.exitMs === null).length;
  const leaveFailedTotal = trials.filter((t) => t.mode === 'leave').reduce((n, t) => n + t.failedVictimActors, 0);
  const notes: string[] = [];
  if (slowCloses > 0) notes.push(`${slowCloses} of ${flags.runs} graceful closes under load took more than ${CLOSE_WAIT_MS / 1000} s to exit (cut short with SIGKILL after the measurement)`);
  if (leaveFailedTotal > 0) notes.push(`graceful leaves under load: ${leaveFailedTotal} calls to the leaving peer's actors failed (${[...new Set(trials.filter((t) => t.mode === 'leave').flatMap((t) => Object.keys(t.codes)))].join(', ')}) instead of being handed over`);
  const leaveFailed = of('leave', (t) => t.failedInGap);
  // A close cut short counts as CLOSE_WAIT_MS (a lower bound; the notes say how many).
  const leaveExit = of('leave', (t) => t.exitMs ?? CLOSE_WAIT_MS);
  const killExit = of('kill', (t) => t.exitMs ?? CLOSE_WAIT_MS);
  emit(
    {
      suite: 'failover',
      size: flags.small ? 'small' : 'full',
      machine: machine(),
      runs: TRIALS,
      seconds: (performance.now() - started) / 1000,
      method:
        `3 edge processes with LMDB (replicated counters) and a caller in the bench process keeping ${IN_FLIGHT} plain calls in flight on ${COUNTERS} counters ` +
        `(no idempotency key, no retry on loss, 2 s deadline; NotOwner refusals are retried by the mesh). Each trial SIGKILLs the owner of a counter and measures the time to the first successful call to one of ` +
        `its actors served by another peer (the standby), and the calls that failed in between; then restarts it with its data directory. ` +
        `${TRIALS} trials after a warm-up trial; median with min-max (max is the worst trial). Baseline in the same run: the same with a graceful ` +
        'leave (the owner closes and hands its actors over), whose close-to-exit time is measured beside the SIGKILL\'s.',
      rows: [
        row({
          id: 'failover.time',
          name: 'SIGKILL of owner under load -> first call served by standby',
          kind: 'time',
          unit: 'ms',
          better: 'lower',
          value: killMs,
          baseline: { name: 'graceful leave -> first call served by the successor', value: leaveMs },
          headline: true,
        }),
        row({
          id: 'failover.failed-calls',
          name: `calls failed in that gap (${IN_FLIGHT} in flight, no retry)`,
          kind: 'fraction',
          unit: 'calls',
          better: 'lower',
          value: killFailed,
          baseline: { name: 'graceful leave', value: leaveFailed },
        }),
        row({
          id: 'failover.close-time',
          name: 'graceful close of owner under load -> process exit',
          kind: 'time',
          unit: 'ms',
          better: 'lower',
          value: leaveExit,
          baseline: { name: 'SIGKILL -> process exit', value: killExit },
        }),
      ],
      details: { inFlight: IN_FLIGHT, counters: COUNTERS, trials },
      ...(notes.length > 0 ? { notes } : {}),
    },
    flags,
  );
}

await main();
process.stdout.write('', () => process.exit(0));
