/**
 * `npm run bench:browser`: mesh calls between two Chromium pages, and from a page to a Node edge peer, on
 * 127.0.0.1 (inside a loopback-only network namespace this run creates), with 1, 32 and 256 calls in flight;
 * beside two raw RTCDataChannel baselines between the same two pages, measured in the same run: one 100-byte
 * message per round trip, and hand-batched echo (every message queued in one tick packed into one data-channel
 * message: the practical limit of a data channel). The actor is in-memory (`durability: 'memory'`): this measures
 * the call path, not IndexedDB or LMDB commits. Medians of `--runs` runs (default 3), each `--seconds` long.
 *
 * Flags: `--runs N`, `--seconds S`, `--json` (also written to bench/results/browser.json).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { startCluster, type ClusterPeer, type PagePeer } from '../src/testing/cluster.js';
import { ensureLoopbackNamespace } from '../src/testing/netns.js';
import { figure, fmt, machine, median, printTable, type Figure } from './stats.js';

await ensureLoopbackNamespace(fileURLToPath(import.meta.url));

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } } });
const RUNS = Number(values.runs);
const MS = Number(values.seconds) * 1000;
const IN_FLIGHT = [1, 32, 256] as const;

const actors = fileURLToPath(new URL('../e2e/fixtures/actors.ts', import.meta.url));

interface Cell {
  callsPerSec: number;
  p50: number;
  p99: number;
}

async function idsOwnedBy(asker: ClusterPeer, owner: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) if ((await asker.ownerOf('game', `b-${i}`)) === owner) ids.push(`b-${i}`);
  return ids;
}

async function meshCell(from: PagePeer, ids: string[], inFlight: number): Promise<Cell> {
  const requests = ids.map((id) => ({ capability: 'game', type: 'echo', id, payload: { op: 'echo', arg: 'x'.repeat(80) } }));
  const r = await from.evaluate((h, a) => h.bench(a.requests, a.inFlight, a.ms), { requests, inFlight, ms: MS });
  if (r.failures > 0) throw new Error(`${r.failures} calls failed`);
  return { callsPerSec: r.calls / r.seconds, p50: r.p50, p99: r.p99 };
}

/** Connects a raw negotiated data channel between two pages (non-trickle ICE, 127.0.0.1 candidates only). */
async function rawConnect(a: Page, b: Page): Promise<void> {
  const setup = async (): Promise<void> => {
    const g = globalThis as unknown as Record<string, unknown>;
    const pc = new RTCPeerConnection();
    const dc = pc.createDataChannel('raw', { negotiated: true, id: 0, ordered: true });
    dc.binaryType = 'arraybuffer';
    g['rawPc'] = pc;
    g['rawDc'] = dc;
  };
  await a.evaluate(setup);
  await b.evaluate(setup);
  const gathered = (): Promise<string> => {
    const pc = (globalThis as unknown as { rawPc: RTCPeerConnection }).rawPc;
    return new Promise((resolve) => {
      const done = (): void => {
        // Keep only 127.0.0.1 candidates in the SDP.
        const sdp = pc.localDescription!.sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || l.split(' ')[4] === '127.0.0.1');
        resolve(sdp.join('\r\n'));
      };
      if (pc.iceGatheringState === 'complete') done();
      else pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done());
    });
  };
  const offer = await a.evaluate(async (g) => {
    const pc = (globalThis as unknown as { rawPc: RTCPeerConnection }).rawPc;
    await pc.setLocalDescription(await pc.createOffer());
    return (new Function(`return (${g})`)() as () => Promise<string>)();
  }, gathered.toString());
  const answer = await b.evaluate(async ([sdp, g]) => {
    const pc = (globalThis as unknown as { rawPc: RTCPeerConnection }).rawPc;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    return (new Function(`return (${g})`)() as () => Promise<string>)();
  }, [offer, gathered.toString()] as const);
  await a.evaluate(async (sdp) => {
    const pc = (globalThis as unknown as { rawPc: RTCPeerConnection }).rawPc;
    await pc.setRemoteDescription({ type: 'answer', sdp });
  }, answer);
  const open = (): Promise<void> => {
    const dc = (globalThis as unknown as { rawDc: RTCDataChannel }).rawDc;
    return dc.readyState === 'open' ? Promise.resolve() : new Promise((r) => dc.addEventListener('open', () => r(), { once: true }));
  };
  await Promise.all([a.evaluate(open), b.evaluate(open)]);
  // b echoes: a message is one 100-byte call, or a batch (first byte 1) echoed whole.
  await b.evaluate(() => {
    const dc = (globalThis as unknown as { rawDc: RTCDataChannel }).rawDc;
    dc.onmessage = (e) => dc.send(e.data as ArrayBuffer);
  });
}

/** Raw round trips with `inFlight` outstanding; `batched` packs the messages of one tick into one send. */
async function rawCell(a: Page, inFlight: number, batched: boolean): Promise<Cell> {
  return a.evaluate(
    async ({ inFlight, ms, batched }) => {
      const dc = (globalThis as unknown as { rawDc: RTCDataChannel }).rawDc;
      const SIZE = 100;
      const sentAt = new Float64Array(inFlight);
      const lat: number[] = [];
      let done = 0;
      let queue: number[] = [];
      let flushScheduled = false;
      const t0 = performance.now();
      const end = t0 + ms;
      let finish: () => void = () => {};
      const finished = new Promise<void>((r) => (finish = r));
      let outstanding = 0;
      const flush = (): void => {
        flushScheduled = false;
        const slots = queue;
        queue = [];
        const buf = new Uint8Array(slots.length * SIZE);
        const view = new DataView(buf.buffer);
        slots.forEach((slot, i) => view.setUint32(i * SIZE, slot));
        dc.send(buf);
      };
      const send = (slot: number): void => {
        sentAt[slot] = performance.now();
        outstanding++;
        if (!batched) {
          const buf = new Uint8Array(SIZE);
          new DataView(buf.buffer).setUint32(0, slot);
          dc.send(buf);
          return;
        }
        queue.push(slot);
        if (!flushScheduled) {
          flushScheduled = true;
          queueMicrotask(flush);
        }
      };
      dc.onmessage = (e) => {
        const view = new DataView(e.data as ArrayBuffer);
        const now = performance.now();
        for (let off = 0; off < view.byteLength; off += SIZE) {
          const slot = view.getUint32(off);
          outstanding--;
          lat.push(now - sentAt[slot]!);
          done++;
          if (now < end) send(slot);
        }
        if (outstanding === 0) finish();
      };
      for (let s = 0; s < inFlight; s++) send(s);
      await finished;
      const seconds = (performance.now() - t0) / 1000;
      lat.sort((x, y) => x - y);
      const at = (q: number): number => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? NaN;
      return { callsPerSec: done / seconds, p50: at(0.5), p99: at(0.99) };
    },
    { inFlight, ms: MS, batched },
  );
}

const cluster = await startCluster({
  actors,
  pages: [{ capabilities: ['chat'] }, { capabilities: ['game'] }],
  edges: [{ capabilities: ['game'] }],
});
try {
  const [caller, target] = cluster.pages as [PagePeer, PagePeer];
  const edge = cluster.edges[0]!;
  const toPage = await idsOwnedBy(caller, target.peerId, 64);
  const toEdge = await idsOwnedBy(caller, edge.peerId, 64);
  await rawConnect(caller.page, target.page);

  type Key = string;
  const runs = new Map<Key, Cell[]>();
  const push = (k: Key, c: Cell): void => void (runs.get(k) ?? runs.set(k, []).get(k)!).push(c);
  // Warm up every path once (activations, connections, JIT).
  await meshCell(caller, toPage, 32);
  await meshCell(caller, toEdge, 32);
  for (let run = 0; run < RUNS; run++) {
    for (const n of IN_FLIGHT) {
      push(`mesh page->page ${n}`, await meshCell(caller, toPage, n));
      push(`mesh page->edge ${n}`, await meshCell(caller, toEdge, n));
      push(`raw 1:1 page->page ${n}`, await rawCell(caller.page, n, false));
      push(`raw batched page->page ${n}`, await rawCell(caller.page, n, true));
    }
    process.stderr.write(`run ${run + 1}/${RUNS} done\n`);
  }

  const fig = (k: Key, f: (c: Cell) => number): Figure => figure(runs.get(k)!.map(f));
  const rows: string[][] = [];
  const result: Record<string, unknown> = { machine: machine(), chromium: cluster.browser.version(), runs: RUNS, secondsPerRun: MS / 1000, cells: {} };
  const cells = result['cells'] as Record<string, unknown>;
  for (const n of IN_FLIGHT) {
    const raw1 = fig(`raw 1:1 page->page ${n}`, (c) => c.callsPerSec);
    const rawB = fig(`raw batched page->page ${n}`, (c) => c.callsPerSec);
    for (const path of ['page->page', 'page->edge'] as const) {
      const k = `mesh ${path} ${n}`;
      const cps = fig(k, (c) => c.callsPerSec);
      const p50 = median(runs.get(k)!.map((c) => c.p50));
      const p99 = median(runs.get(k)!.map((c) => c.p99));
      rows.push([`mesh ${path}`, String(n), fmt(cps.median), `${fmt(cps.min)}-${fmt(cps.max)}`, fmt(p50, 2), fmt(p99, 2), `${fmt(cps.median / raw1.median, 2)}x`, `${fmt(cps.median / rawB.median, 2)}x`]);
      cells[k] = { callsPerSec: cps, p50Ms: p50, p99Ms: p99, vsRawOnePerCall: cps.median / raw1.median, vsRawBatched: cps.median / rawB.median };
    }
    for (const [name, f] of [['raw 1:1 page->page', raw1], ['raw batched page->page', rawB]] as const) {
      const k = `${name} ${n}`;
      rows.push([name, String(n), fmt(f.median), `${fmt(f.min)}-${fmt(f.max)}`, fmt(median(runs.get(k)!.map((c) => c.p50)), 2), fmt(median(runs.get(k)!.map((c) => c.p99)), 2), '', '']);
      cells[k] = { callsPerSec: f, p50Ms: median(runs.get(k)!.map((c) => c.p50)), p99Ms: median(runs.get(k)!.map((c) => c.p99)) };
    }
  }
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`\nbench:browser: Chromium ${cluster.browser.version()}, ${RUNS} runs x ${MS / 1000} s, 100-byte payloads, medians (range)\n`);
    printTable(['path', 'in flight', 'calls/s', 'range', 'p50 ms', 'p99 ms', 'vs raw 1:1', 'vs raw batched'], rows);
    const c = cells['mesh page->page 256'] as { callsPerSec: Figure; vsRawOnePerCall: number; vsRawBatched: number };
    console.log(
      `\ntargets at 256 in flight, page->page: >= 15,000 calls/s (${fmt(c.callsPerSec.median)}: ${c.callsPerSec.median >= 15_000 ? 'met' : 'MISSED'}), ` +
        `>= 0.5x batched (${fmt(c.vsRawBatched, 2)}x: ${c.vsRawBatched >= 0.5 ? 'met' : 'MISSED'}), ` +
        `>= 3x one-per-call (${fmt(c.vsRawOnePerCall, 2)}x: ${c.vsRawOnePerCall >= 3 ? 'met' : 'MISSED'})`,
    );
  }
  await mkdir(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  await writeFile(fileURLToPath(new URL('./results/browser.json', import.meta.url)), JSON.stringify(result, null, 2));
} finally {
  await cluster.close();
}
