/**
 * The soak: one signaling server and one long-lived edge peer, each in its own process, and `cycles` short-lived
 * peers in this process that each join the room, call the edge peer over WebRTC, and leave. The heap (after a
 * full GC) and the open handles of the server and the edge are read after a warm-up and then every
 * `probeEvery` cycles; growth from the first reading to the last must stay under `maxGrowth` (10%).
 *
 * Shared by `test/soak/soak.test.ts` (short form, part of `npm test`) and `npm run soak` (`test/soak/main.ts`,
 * 1,000 cycles), which also write `bench/results/soak.json`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createMesh, isMeshError } from '../../src/index.js';
import { startJsonChild, type JsonChild } from './child.js';
import type { ProcessProbe } from './probe.js';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** Connect/call/disconnect cycles after the warm-up. */
  cycles: number;
  /**
   * Cycles before the first reading (default 100): the first hundred cycles grow both heaps by about 0.3 MiB of
   * JIT code and V8 metadata (a heap-snapshot diff shows code objects only), which is warm-up, not a leak.
   */
  warmup?: number;
  /** Cycles between readings (default cycles / 5). */
  probeEvery?: number;
  /** Largest allowed growth of heap and handles, as a fraction (default 0.1). */
  maxGrowth?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Recorded in the result (default `'long'`). */
  form?: string;
}

/** The server's reading. */
export interface ServerProbe extends ProcessProbe {
  rooms: number;
  peers: number;
  /** Sockets the server refused or dropped so far, by reason (`rate-limited`, `liveness-timeout`, ...). */
  refused: Record<string, number>;
}

/** The edge peer's reading. */
export interface EdgeProbe extends ProcessProbe {
  peersInView: number;
  activeActors: number;
  pendingCalls: number;
  callsServed: number;
  /** Peer links its transport holds (any state), and open ones. */
  links: number;
  openLinks: number;
  sessionsOpened: number;
}

/** One reading of both processes, after `cycle` cycles (0: right after the warm-up). */
export interface SoakReading {
  cycle: number;
  elapsedMs: number;
  server: ServerProbe;
  edge: EdgeProbe;
}

/** Growth of one measure between the first and the last reading. */
export interface Growth {
  before: number;
  after: number;
  /** (after - before) / before. */
  ratio: number;
  ok: boolean;
}

/** What a soak measured. */
export interface SoakResult {
  name: 'soak';
  /** `short` (npm test) or `long` (npm run soak). */
  form: string;
  date: string;
  node: string;
  cycles: number;
  warmup: number;
  durationMs: number;
  /** Calls made after the warm-up (one per cycle) and how they ended. */
  calls: { ok: number; failed: Record<string, number> };
  readings: SoakReading[];
  /** Heap: everything V8 holds after GC; data: the heap without compiled code. */
  growth: { serverHeap: Growth; edgeHeap: Growth; serverData: Growth; edgeData: Growth; serverHandles: Growth; edgeHandles: Growth; edgeLinks: Growth };
  maxGrowth: number;
  passed: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function growth(before: number, after: number, max: number, slack = 0): Growth {
  const ratio = before === 0 ? (after === 0 ? 0 : Infinity) : (after - before) / before;
  return { before, after, ratio, ok: after <= before * (1 + max) + slack };
}

/** Runs the soak (see the module comment). Always stops its children. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const warmup = options.warmup ?? 100;
  const probeEvery = Math.max(1, options.probeEvery ?? Math.ceil(options.cycles / 5));
  const maxGrowth = options.maxGrowth ?? 0.1;
  const log = options.log ?? (() => {});
  const room = 'soak';
  const edgeId = 'soak-edge';
  let server: JsonChild | undefined;
  let edge: JsonChild | undefined;
  try {
    server = await startJsonChild(new URL('./server-main.ts', import.meta.url));
    const url = String(server.ready['url']);
    edge = await startJsonChild(new URL('./edge-main.ts', import.meta.url), { MESHRTC_SOAK_EDGE: JSON.stringify({ signalingUrl: url, room, peerId: edgeId }) });
    const calls = { ok: 0, failed: {} as Record<string, number> };

    const cycle = async (i: number): Promise<void> => {
      const peer = await createMesh({ signalingUrl: url, room, peerId: `cycler-${i}`, capabilities: [], engine: 'node-datachannel', loopbackOnly: true, defaultTimeoutMs: 10_000 });
      try {
        const r = await peer.call({ capability: 'soak', type: 'echo', id: `e${i % 8}`, payload: { op: 'echo', arg: i } });
        if (r.reply !== i || r.peerId !== edgeId) throw new Error(`cycle ${i}: got ${JSON.stringify(r)}`);
        calls.ok++;
      } catch (e) {
        if (!isMeshError(e)) throw e;
        calls.failed[e.code] = (calls.failed[e.code] ?? 0) + 1;
      } finally {
        await peer.close();
      }
    };

    /** Waits until the room is back to the edge alone and the edge holds no open link, then reads both. */
    const read = async (done: number, t0: number): Promise<SoakReading> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const [s, e] = await Promise.all([server!.request<ServerProbe>('probe'), edge!.request<EdgeProbe>('probe')]);
        const settled = s.peers === 1 && e.peersInView === 1 && e.openLinks === 0 && e.pendingCalls === 0;
        if (settled || Date.now() > deadline) {
          const reading = { cycle: done, elapsedMs: Date.now() - t0, server: s, edge: e };
          log(
            `soak: ${done} cycles, server heap ${mib(s.heapUsed)} handles ${s.handleCount}, edge heap ${mib(e.heapUsed)} handles ${e.handleCount} links ${e.links}${settled ? '' : ' (not settled)'}`,
          );
          return reading;
        }
        await sleep(200);
      }
    };

    for (let i = 0; i < warmup; i++) await cycle(-1 - i);
    if (Object.keys(calls.failed).length > 0) throw new Error(`calls failed during the warm-up: ${JSON.stringify(calls.failed)}`);
    calls.ok = 0;
    const t0 = Date.now();
    const readings: SoakReading[] = [await read(0, t0)];
    for (let i = 0; i < options.cycles; i++) {
      await cycle(i);
      if ((i + 1) % probeEvery === 0 || i + 1 === options.cycles) readings.push(await read(i + 1, t0));
    }
    const durationMs = Date.now() - t0;
    const first = readings[0]!;
    const last = readings.at(-1)!;
    // Handle counts are small integers: one handle of slack on top of the ratio.
    const result: SoakResult = {
      name: 'soak',
      form: options.form ?? 'long',
      date: new Date().toISOString(),
      node: process.version,
      cycles: options.cycles,
      warmup,
      durationMs,
      calls,
      readings,
      growth: {
        serverHeap: growth(first.server.heapUsed, last.server.heapUsed, maxGrowth),
        edgeHeap: growth(first.edge.heapUsed, last.edge.heapUsed, maxGrowth),
        serverData: growth(first.server.heapUsed - code(first.server), last.server.heapUsed - code(last.server), maxGrowth),
        edgeData: growth(first.edge.heapUsed - code(first.edge), last.edge.heapUsed - code(last.edge), maxGrowth),
        serverHandles: growth(first.server.handleCount, last.server.handleCount, maxGrowth, 1),
        edgeHandles: growth(first.edge.handleCount, last.edge.handleCount, maxGrowth, 1),
        edgeLinks: growth(first.edge.links, last.edge.links, 0, 0),
      },
      maxGrowth,
      passed: false,
    };
    result.passed =
      Object.values(result.growth).every((g) => g.ok) && calls.ok > 0 && Object.keys(calls.failed).length === 0 && Object.keys(last.server.refused).length === 0;
    return result;
  } finally {
    await Promise.all([edge?.close(), server?.close()]);
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** Bytes of compiled code and code metadata in the heap (grows as V8 optimises more functions; not data). */
function code(p: ProcessProbe): number {
  return (p.spaces['code_space'] ?? 0) + (p.spaces['code_large_object_space'] ?? 0);
}

function pct(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(1)}%` : 'n/a';
}

/** The result as a Markdown table (readings, then growth). */
export function soakTable(r: SoakResult): string {
  const lines = [
    `soak: ${r.cycles} connect/call/disconnect cycles (after ${r.warmup} warm-up) in ${(r.durationMs / 1000).toFixed(1)} s; calls ok ${r.calls.ok}, failed ${JSON.stringify(r.calls.failed)}; sockets the server refused or dropped: ${JSON.stringify(r.readings.at(-1)?.server.refused ?? {})}`,
    '',
    '| cycles | server heap (code) | server handles | edge heap (code) | edge handles | edge links held | edge sessions opened |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...r.readings.map(
      (x) =>
        `| ${x.cycle} | ${mib(x.server.heapUsed)} (${mib(code(x.server))}) | ${x.server.handleCount} | ${mib(x.edge.heapUsed)} (${mib(code(x.edge))}) | ${x.edge.handleCount} | ${x.edge.links} | ${x.edge.sessionsOpened} |`,
    ),
    '',
    '| measure | first | last | growth | limit | ok |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const row = (name: string, g: Growth, fmt: (n: number) => string, limit: string): string => `| ${name} | ${fmt(g.before)} | ${fmt(g.after)} | ${pct(g.ratio)} | ${limit} | ${g.ok ? 'yes' : 'NO'} |`;
  const lim = `< ${pct(r.maxGrowth)}`;
  lines.push(
    row('server heap (after GC)', r.growth.serverHeap, mib, lim),
    row('edge heap (after GC)', r.growth.edgeHeap, mib, lim),
    row('server heap without code', r.growth.serverData, mib, lim),
    row('edge heap without code', r.growth.edgeData, mib, lim),
    row('server open handles', r.growth.serverHandles, String, `${lim} (+1)`),
    row('edge open handles', r.growth.edgeHandles, String, `${lim} (+1)`),
    row('edge peer links held', r.growth.edgeLinks, String, 'no growth'),
  );
  return lines.join('\n');
}

/** Writes the result as JSON (creating the directory). */
export async function writeResult(path: string, result: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
}
