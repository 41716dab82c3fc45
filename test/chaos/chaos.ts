/**
 * Chaos under load, in the style of Orleans' ElasticChaos: a real cluster (6 Node edge peers in their own
 * processes and 4 Chromium pages, all serving `game`, plus two pure clients: one more edge process and one more
 * page) on 127.0.0.1. Every `periodMs` one serving peer leaves (gracefully, or by SIGKILL / a tab closed
 * without goodbye), stays away `downMs`, and rejoins under the same peer id (an edge with the same LMDB data
 * directory, a page with the same id and IndexedDB). Meanwhile 16 callers (8 on each client) increment durable
 * counters with idempotency keys and read their own writes back.
 *
 * Checked and reported:
 * - acknowledged increments lost, increments applied twice: each caller owns its counters, so every
 *   acknowledged `add` must answer exactly one more than the last, every read must return exactly the last
 *   acknowledged value, and the final values must equal the acknowledged counts;
 * - actors active on two peers in one view: every live peer is asked for its view and active actors right
 *   after every change (leave, kill, rejoin) and about once a second in between;
 * - every call settles with a reply or a typed error within its deadline (plus a small allowance for the
 *   test harness's own round trip to the page or process).
 *
 * Shared by `e2e/chaos.spec.ts` (short form, in `npm test`) and `npm run chaos` (`test/chaos/main.ts`, 3 min).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMeshError } from '../../src/errors.js';
import { startCluster, type Cluster, type ClusterPeer, type EdgePeer, type PagePeer } from '../../src/testing/cluster.js';

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** How long callers run and peers churn (default 180,000 ms). */
  durationMs?: number;
  /** One leave or kill every this often (default 10,000 ms). */
  periodMs?: number;
  /** How long a churned peer stays away before it rejoins (default 3,000 ms). */
  downMs?: number;
  /** Callers (default 16), half on the client edge process, half on the client page. */
  callers?: number;
  /** Counters each caller owns (default 4). */
  countersPerCaller?: number;
  /** Deadline of every call (default 10,000 ms). */
  callTimeoutMs?: number;
  /** Allowance for the harness's round trip (page.evaluate, a process's stdin) on top of a deadline (default 5,000 ms). */
  harnessSlackMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Recorded in the result (default `'long'`). */
  form?: string;
}

/** One churn event. */
export interface ChaosEvent {
  /** Ms since the load started. */
  at: number;
  peer: string;
  kind: 'edge' | 'page';
  mode: 'graceful' | 'kill';
  /** Ms from the rejoin to a converged cluster (every live peer sees exactly the live peers). */
  convergedMs: number;
}

/** Outcome counts of one kind of call. */
export interface CallOutcomes {
  ok: number;
  /** Typed errors, by code. */
  errors: Record<string, number>;
  /** Failures that were not typed mesh errors (must be 0). */
  untyped: number;
}

/** What a chaos run measured. */
export interface ChaosResult {
  name: 'chaos';
  form: string;
  date: string;
  durationMs: number;
  peers: { edges: number; pages: number; clientEdges: number; clientPages: number };
  callers: number;
  counters: number;
  events: ChaosEvent[];
  increments: CallOutcomes & { retries: number };
  reads: CallOutcomes;
  /** Acknowledged increments in total, and how many of them were lost or applied twice. */
  acknowledged: number;
  lost: number;
  appliedTwice: number;
  /** Reads that did not return the caller's last acknowledged value. */
  readYourWritesViolations: number;
  /** Views checked for actors active on two peers, and the duplicates found. */
  viewChecks: number;
  /** The most actors seen active (all peers together) in one check: the checks were not vacuous. */
  mostActive: number;
  duplicateActivations: string[];
  /** Slowest settle time of any call (ms, measured by the test, harness round trip included) and calls over deadline + slack. */
  maxSettleMs: number;
  overDeadline: number;
  callTimeoutMs: number;
  /** Details of the first violations (for the failure message). */
  violations: string[];
  passed: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Slot {
  readonly id: string;
  readonly kind: 'edge' | 'page';
  handle: ClusterPeer;
  up: boolean;
  /** Edges: the LMDB directory kept across restarts. Pages: the browser context name. */
  readonly home: string;
}

/** Runs the chaos (see the module comment). Always tears the cluster down. */
export async function runChaos(options: ChaosOptions = {}): Promise<ChaosResult> {
  const durationMs = options.durationMs ?? 180_000;
  const periodMs = options.periodMs ?? 10_000;
  const downMs = options.downMs ?? 3_000;
  const callerCount = options.callers ?? 16;
  const perCaller = options.countersPerCaller ?? 4;
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const slackMs = options.harnessSlackMs ?? 5_000;
  const log = options.log ?? (() => {});
  const run = Math.random().toString(36).slice(2, 8);
  const dataRoot = await mkdtemp(join(tmpdir(), 'meshrtc-chaos-'));
  let cluster: Cluster | undefined;
  try {
    const edgeIds = Array.from({ length: 6 }, (_, i) => `edge-${i + 1}`);
    const pageIds = Array.from({ length: 4 }, (_, i) => `page-${i + 1}`);
    const started = Date.now();
    cluster = await startCluster({
      actors: new URL('../../e2e/fixtures/actors.ts', import.meta.url),
      pages: [...pageIds.map((id) => ({ capabilities: ['game'], peerId: id, context: `ctx-${id}` })), { capabilities: [], peerId: 'client-page', context: 'ctx-client' }],
      edges: [...edgeIds.map((id) => ({ capabilities: ['game'], peerId: id, dataDir: join(dataRoot, id) })), { capabilities: [], peerId: 'client-edge', dataDir: join(dataRoot, 'client-edge') }],
      defaultTimeoutMs: callTimeoutMs,
      convergeTimeoutMs: 90_000,
    });
    log(`chaos: cluster of ${cluster.peers.length} peers formed in ${Date.now() - started} ms`);
    const c = cluster;
    const byId = (id: string): ClusterPeer => c.peers.find((p) => p.peerId === id && p.alive)!;
    const slots: Slot[] = [
      ...edgeIds.map((id): Slot => ({ id, kind: 'edge', handle: byId(id), up: true, home: join(dataRoot, id) })),
      ...pageIds.map((id): Slot => ({ id, kind: 'page', handle: byId(id), up: true, home: `ctx-${id}` })),
    ];
    const clientEdge = byId('client-edge');
    const clientPage = byId('client-page');

    const violations: string[] = [];
    const violation = (v: string): void => {
      if (violations.length < 50) violations.push(v);
      log(`chaos: VIOLATION ${v}`);
    };

    // ---------------------------------------------------------------------------------------- view checks
    let viewChecks = 0;
    let mostActive = 0;
    const duplicates: string[] = [];
    /** Asks every live peer for its view and active actors; reports an actor active on two peers of one view. */
    const checkViews = async (when: string): Promise<void> => {
      const live = [...slots.filter((s) => s.up).map((s) => s.handle), clientEdge, clientPage];
      const snapshots = await Promise.all(
        live.map(async (p) => {
          try {
            if (p.kind === 'edge') {
              const stats = await (p as EdgePeer).process.stats();
              return { peer: p.peerId, view: stats['view'] as number, active: stats['active'] as { capability: string; type: string; id: string }[] };
            }
            const s = await (p as PagePeer).evaluate((h) => ({ view: h.view().version, active: h.activeActors() }), null);
            return { peer: p.peerId, ...s };
          } catch {
            return undefined; // went away meanwhile (it is being churned)
          }
        }),
      );
      const byView = new Map<number, Map<string, string>>();
      let active = 0;
      for (const snap of snapshots) {
        if (snap === undefined) continue;
        active += snap.active.length;
        let owners = byView.get(snap.view);
        if (owners === undefined) byView.set(snap.view, (owners = new Map()));
        for (const a of snap.active) {
          const key = `${a.capability}/${a.type}/${a.id}`;
          const other = owners.get(key);
          if (other !== undefined && other !== snap.peer) {
            const d = `${key} active on ${other} and ${snap.peer} in view ${snap.view} (${when})`;
            duplicates.push(d);
            violation(d);
          }
          owners.set(key, snap.peer);
        }
      }
      viewChecks += byView.size;
      mostActive = Math.max(mostActive, active);
    };

    // ---------------------------------------------------------------------------------------------- callers
    const increments = { ok: 0, errors: {} as Record<string, number>, untyped: 0, retries: 0 };
    const reads = { ok: 0, errors: {} as Record<string, number>, untyped: 0 };
    let maxSettleMs = 0;
    let overDeadline = 0;
    let rywViolations = 0;
    let lost = 0;
    let appliedTwice = 0;
    let stop = false;
    /** The last acknowledged value of every counter, and an increment not acknowledged yet (its key). */
    const acked = new Map<string, number>();
    const unresolved = new Map<string, string>();

    const timed = async <T>(p: Promise<T>, what: string): Promise<T> => {
      const t0 = Date.now();
      try {
        return await p;
      } finally {
        const ms = Date.now() - t0;
        maxSettleMs = Math.max(maxSettleMs, ms);
        if (ms > callTimeoutMs + slackMs) {
          overDeadline++;
          violation(`${what} settled after ${ms} ms (deadline ${callTimeoutMs} ms)`);
        }
      }
    };
    const failure = (outcomes: { errors: Record<string, number>; untyped: number }, e: unknown, what: string): void => {
      if (isMeshError(e)) outcomes.errors[e.code] = (outcomes.errors[e.code] ?? 0) + 1;
      else {
        outcomes.untyped++;
        violation(`${what} failed with an untyped error: ${String(e)}`);
      }
    };
    const add = (id: string) => ({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } });
    const get = (id: string) => ({ capability: 'game', type: 'counter', id, payload: { op: 'get' } });

    /** Increments `id` once, retrying with the same key until acknowledged (or the caller is told to give up). */
    const increment = async (via: ClusterPeer, id: string, key: string, giveUp: () => boolean): Promise<boolean> => {
      const expected = acked.get(id)! + 1;
      unresolved.set(id, key);
      for (let attempt = 0; ; attempt++) {
        if (attempt > 0) increments.retries++;
        try {
          const r = await timed(via.call<number>(add(id), { idempotencyKey: key, timeoutMs: callTimeoutMs }), `add ${id}`);
          increments.ok++;
          unresolved.delete(id);
          acked.set(id, r.reply);
          if (r.reply < expected) {
            lost += expected - r.reply;
            violation(`add ${id} (key ${key}) answered ${r.reply}, expected ${expected}: acknowledged increments lost`);
          } else if (r.reply > expected) {
            appliedTwice += r.reply - expected;
            violation(`add ${id} (key ${key}) answered ${r.reply}, expected ${expected}: applied twice`);
          }
          return true;
        } catch (e) {
          failure(increments, e, `add ${id}`);
          if (giveUp()) return false;
          await sleep(200);
        }
      }
    };

    const caller = async (n: number): Promise<void> => {
      const via = n % 2 === 0 ? clientEdge : clientPage;
      const ids = Array.from({ length: perCaller }, (_, k) => `${run}-c${n}-${k}`);
      for (const id of ids) acked.set(id, 0);
      const seq = new Map(ids.map((id) => [id, 0]));
      for (let i = 0; !stop; i++) {
        const id = ids[i % ids.length]!;
        const k = seq.get(id)! + 1;
        seq.set(id, k);
        if (!(await increment(via, id, `${run}-${id}-${k}`, () => stop))) return;
        // Read your write: nobody else writes this counter, so the read must return exactly the acknowledged value.
        try {
          const r = await timed(via.call<number>(get(id), { timeoutMs: callTimeoutMs }), `get ${id}`);
          reads.ok++;
          if (r.reply !== acked.get(id)) {
            rywViolations++;
            violation(`get ${id} returned ${r.reply} after the acknowledged ${acked.get(id)}`);
          }
        } catch (e) {
          failure(reads, e, `get ${id}`);
        }
      }
    };

    // ---------------------------------------------------------------------------------------------- churn
    const events: ChaosEvent[] = [];
    const order = edgeIds.flatMap((e, i) => (i < pageIds.length ? [e, pageIds[i]!] : [e]));
    const leave = async (slot: Slot, mode: 'graceful' | 'kill'): Promise<void> => {
      slot.up = false;
      if (slot.kind === 'edge') {
        const edge = slot.handle as EdgePeer;
        if (mode === 'kill') await edge.kill('SIGKILL');
        else await edge.close();
      } else {
        const page = slot.handle as PagePeer;
        if (mode === 'kill') await page.close(); // the tab goes, the peer says no goodbye
        else await page.evaluate((h) => h.close(), null); // leave the room and hand over; the tab stays
      }
    };
    const rejoin = async (slot: Slot, mode: 'graceful' | 'kill'): Promise<void> => {
      if (slot.kind === 'edge') slot.handle = await c.addEdge({ capabilities: ['game'], peerId: slot.id, dataDir: slot.home });
      else if (mode === 'graceful') await (slot.handle as PagePeer).reload();
      else slot.handle = await c.addPage({ capabilities: ['game'], peerId: slot.id, context: slot.home });
      slot.up = true;
    };

    const t0 = Date.now();
    const load = Promise.all(Array.from({ length: callerCount }, (_, n) => caller(n)));
    let monitorStop = false;
    const monitor = (async () => {
      while (!monitorStop) {
        await checkViews('periodic');
        await sleep(1000);
      }
    })();
    for (let k = 0; (k + 1) * periodMs <= durationMs; k++) {
      await sleep(Math.max(0, t0 + (k + 1) * periodMs - periodMs / 2 - Date.now()));
      const slot = slots.find((s) => s.id === order[k % order.length])!;
      // Pairs of events share a mode (so edges and pages both get both), and every round flips the pattern.
      const mode: 'graceful' | 'kill' = (Math.floor((k % order.length) / 2) + Math.floor(k / order.length)) % 2 === 0 ? 'kill' : 'graceful';
      const at = Date.now() - t0;
      log(`chaos: t=${(at / 1000).toFixed(1)} s ${mode === 'kill' ? 'killing' : 'closing'} ${slot.id}`);
      await leave(slot, mode);
      await checkViews(`after ${slot.id} left`);
      await sleep(downMs);
      await rejoin(slot, mode);
      const convergedMs = await c.waitConverged(60_000);
      await checkViews(`after ${slot.id} rejoined`);
      events.push({ at, peer: slot.id, kind: slot.kind, mode, convergedMs });
      log(`chaos: ${slot.id} back, converged in ${convergedMs} ms; increments ok ${increments.ok}, errors ${JSON.stringify(increments.errors)}`);
    }
    await sleep(Math.max(0, t0 + durationMs - Date.now()));
    stop = true;
    await load;
    const loadMs = Date.now() - t0;
    monitorStop = true;
    await monitor;

    // ------------------------------------------------------------------------------------------ settle up
    await c.waitConverged(60_000);
    await checkViews('after the run');
    // Increments cut off by the stop: retry them (same key) in the quiet cluster, so every one is decided.
    for (const [id, key] of [...unresolved]) {
      let tries = 0;
      await increment(clientEdge, id, key, () => ++tries >= 10);
    }
    let acknowledged = 0;
    for (const [id, value] of acked) {
      acknowledged += value;
      let stored: number | undefined;
      for (let tries = 0; tries < 10 && stored === undefined; tries++) {
        try {
          stored = (await clientEdge.call<number>(get(id), { timeoutMs: callTimeoutMs })).reply;
        } catch (e) {
          if (!isMeshError(e)) throw e;
          await sleep(500);
        }
      }
      const pending = unresolved.has(id) ? 1 : 0;
      if (stored === undefined) violation(`final read of ${id} failed`);
      else if (stored < value) {
        lost += value - stored;
        violation(`${id}: stored ${stored}, acknowledged ${value}`);
      } else if (stored > value + pending) {
        appliedTwice += stored - value - pending;
        violation(`${id}: stored ${stored}, acknowledged ${value} (+${pending} undecided)`);
      }
    }

    const result: ChaosResult = {
      name: 'chaos',
      form: options.form ?? 'long',
      date: new Date().toISOString(),
      durationMs: loadMs,
      peers: { edges: edgeIds.length, pages: pageIds.length, clientEdges: 1, clientPages: 1 },
      callers: callerCount,
      counters: acked.size,
      events,
      increments,
      reads,
      acknowledged,
      lost,
      appliedTwice,
      readYourWritesViolations: rywViolations,
      viewChecks,
      mostActive,
      duplicateActivations: duplicates,
      maxSettleMs,
      overDeadline,
      callTimeoutMs,
      violations,
      passed: false,
    };
    result.passed =
      lost === 0 &&
      appliedTwice === 0 &&
      rywViolations === 0 &&
      duplicates.length === 0 &&
      overDeadline === 0 &&
      increments.untyped === 0 &&
      reads.untyped === 0 &&
      unresolved.size === 0 &&
      violations.length === 0;
    return result;
  } finally {
    await cluster?.close().catch(() => {});
    await rm(dataRoot, { recursive: true, force: true });
  }
}

/** The result as Markdown tables. */
export function chaosTable(r: ChaosResult): string {
  const codes = (e: Record<string, number>): string =>
    Object.keys(e).length === 0
      ? 'none'
      : Object.entries(e)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
  return [
    `chaos (${r.form}): ${r.peers.edges} edge processes + ${r.peers.pages} Chromium pages serving, ${r.callers} callers on ${r.peers.clientEdges} client edge + ${r.peers.clientPages} client page, ${(r.durationMs / 1000).toFixed(0)} s, ${r.events.length} leave/kill + rejoin events`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| increments acknowledged | ${r.increments.ok} (${r.counters} counters, total ${r.acknowledged}) |`,
    `| increment attempts failed with a typed error (then retried, same key) | ${codes(r.increments.errors)} |`,
    `| reads (read-your-writes) ok | ${r.reads.ok} |`,
    `| reads failed with a typed error | ${codes(r.reads.errors)} |`,
    `| acknowledged increments lost | ${r.lost} |`,
    `| increments applied twice | ${r.appliedTwice} |`,
    `| read-your-writes violations | ${r.readYourWritesViolations} |`,
    `| views checked (up to ${r.mostActive} active actors each) / actors active on two peers in one view | ${r.viewChecks} / ${r.duplicateActivations.length} |`,
    `| calls not settled within the deadline (${r.callTimeoutMs} ms) | ${r.overDeadline} |`,
    `| slowest call settled (harness round trip included) | ${r.maxSettleMs} ms |`,
    `| untyped failures | ${r.increments.untyped + r.reads.untyped} |`,
    '',
    '| t (s) | peer | how | rejoined, converged in |',
    '| --- | --- | --- | --- |',
    ...r.events.map((e) => `| ${(e.at / 1000).toFixed(1)} | ${e.peer} (${e.kind}) | ${e.mode === 'kill' ? (e.kind === 'edge' ? 'SIGKILL' : 'tab closed') : 'graceful leave'} | ${e.convergedMs} ms |`),
    '',
    r.passed ? 'PASSED' : `FAILED: ${r.violations.slice(0, 10).join('; ')}`,
  ].join('\n');
}
