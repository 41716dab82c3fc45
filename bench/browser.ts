/**
 * `npm run bench:browser`: mesh calls between two Chromium pages, and from a page to a Node edge peer, on
 * 127.0.0.1 (inside a loopback-only network namespace this run creates), with 1, 32 and 256 calls in flight;
 * beside two raw RTCDataChannel baselines between the same two pages, measured in the same run: one 100-byte
 * message per round trip, and hand-batched echo (every message queued in one tick packed into one data-channel
 * message: the practical limit of a data channel). The actor is in-memory (`durability: 'memory'`): this measures
 * the call path, not IndexedDB or LMDB commits. A warm-up, then `--runs` runs (default 5), each `--seconds` long
 * (default 2) per cell, interleaved; medians with min-max.
 *
 * Flags: `--runs N`, `--seconds S`, `--size small` (a short run for the smoke test), `--json`, `--out FILE`,
 * `--profile DIR` (a Chromium CPU profile of both pages during one extra 256-in-flight page->page run, written as
 * .cpuprofile files; `tsx bench/profile.ts DIR/*` lists the hot functions).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { startCluster, type ClusterPeer, type PagePeer } from '../src/testing/cluster.js';
import { ensureLoopbackNamespace } from '../src/testing/netns.js';
import { benchFlags, emit, figure, fmt, machine, progress, row, type BenchRow, type Figure } from './stats.js';

await ensureLoopbackNamespace(fileURLToPath(import.meta.url));

const flags = benchFlags();
const { values } = parseArgs({ options: { seconds: { type: 'string' }, profile: { type: 'string' } }, strict: false });
const RUNS = flags.runs;
const MS = Number(typeof values.seconds === 'string' ? values.seconds : flags.small ? 0.5 : 2) * 1000;
const IN_FLIGHT: readonly number[] = flags.small ? [1, 32] : [1, 32, 256];

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

/** Records a Chromium CPU profile of `pages` while `work` runs; writes `<dir>/<name>-<i>.cpuprofile`. */
async function profilePages(pages: readonly PagePeer[], dir: string, name: string, work: () => Promise<unknown>): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const sessions = await Promise.all(pages.map((p) => p.context.newCDPSession(p.page)));
  for (const s of sessions) {
    await s.send('Profiler.enable');
    await s.send('Profiler.setSamplingInterval', { interval: 100 });
    await s.send('Profiler.start');
  }
  await work();
  const files: string[] = [];
  for (const [i, s] of sessions.entries()) {
    const { profile } = (await s.send('Profiler.stop')) as { profile: unknown };
    const file = join(dir, `${name}-${i === 0 ? 'caller' : 'target'}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    files.push(file);
    await s.detach();
  }
  return files;
}

const started = performance.now();
const cluster = await startCluster({
  actors,
  // The harness's event recorder is off: it costs per call and is not part of the mesh.
  pages: [{ capabilities: ['chat'], recordEvents: false }, { capabilities: ['game'], recordEvents: false }],
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
  // Warm up every path and cell once (activations, connections, JIT), then the measured runs, interleaved.
  for (let run = -1; run < RUNS; run++) {
    for (const n of IN_FLIGHT) {
      const cells: Array<[Key, Cell]> = [
        [`mesh page->page ${n}`, await meshCell(caller, toPage, n)],
        [`mesh page->edge ${n}`, await meshCell(caller, toEdge, n)],
        [`raw 1:1 page->page ${n}`, await rawCell(caller.page, n, false)],
        [`raw batched page->page ${n}`, await rawCell(caller.page, n, true)],
      ];
      if (run >= 0) for (const [k, c] of cells) push(k, c);
    }
    progress('browser', run < 0 ? 'warm-up done' : `run ${run + 1}/${RUNS} done`);
  }
  const profileDir = typeof values.profile === 'string' ? values.profile : undefined;
  const profiles = profileDir === undefined ? [] : await profilePages([caller, target], profileDir, 'mesh-page-page-256', () => meshCell(caller, toPage, 256));

  const fig = (k: Key, f: (c: Cell) => number): Figure => figure(runs.get(k)!.map(f));
  const rows: BenchRow[] = [];
  const cells: Record<string, unknown> = {};
  for (const n of IN_FLIGHT) {
    const raw1 = fig(`raw 1:1 page->page ${n}`, (c) => c.callsPerSec);
    const rawB = fig(`raw batched page->page ${n}`, (c) => c.callsPerSec);
    for (const path of ['page->page', 'page->edge'] as const) {
      const k = `mesh ${path} ${n}`;
      const cps = fig(k, (c) => c.callsPerSec);
      const p50 = fig(k, (c) => c.p50);
      const p99 = fig(k, (c) => c.p99);
      cells[k] = { callsPerSec: cps, p50Ms: p50, p99Ms: p99, vsRawOnePerCall: cps.median / raw1.median, vsRawBatched: cps.median / rawB.median };
      const at256 = n === 256 && path === 'page->page';
      const vsOne = cps.median / raw1.median;
      const vsBatched = cps.median / rawB.median;
      const name = `calls/s, Chromium ${path}, ${n} in flight`;
      rows.push(
        row({
          id: `browser.${path}.${n}.vs-raw1`,
          name,
          kind: 'throughput',
          unit: 'calls/s',
          better: 'higher',
          value: cps,
          baseline: { name: 'raw RTCDataChannel page<->page, 1 message per round trip', value: raw1 },
          ...(at256 ? { headline: true, targets: [{ text: '>= 15,000 calls/s', met: cps.median >= 15_000 }, { text: '>= 3x raw 1:1', met: vsOne >= 3 }] } : {}),
        }),
        row({
          id: `browser.${path}.${n}.vs-batched`,
          name,
          kind: 'throughput',
          unit: 'calls/s',
          better: 'higher',
          value: cps,
          baseline: { name: 'raw RTCDataChannel page<->page, hand-batched echo', value: rawB },
          ...(at256 ? { targets: [{ text: '>= 0.5x raw batched', met: vsBatched >= 0.5 }] } : {}),
        }),
      );
      if (path === 'page->page' && (n === 1 || n === 256)) {
        const rawKey = n === 1 ? `raw 1:1 page->page ${n}` : `raw batched page->page ${n}`;
        for (const [q, f] of [['p50', p50], ['p99', p99]] as const) {
          rows.push(
            row({
              id: `browser.${path}.${n}.${q}`,
              name: `${q} latency, Chromium ${path}, ${n} in flight`,
              kind: 'latency',
              unit: 'ms',
              better: 'lower',
              value: f,
              baseline: { name: n === 1 ? 'raw 1:1 round trip' : 'raw batched round trip', value: fig(rawKey, (c) => (q === 'p50' ? c.p50 : c.p99)) },
            }),
          );
        }
      }
    }
    for (const [name, f] of [['raw 1:1 page->page', raw1], ['raw batched page->page', rawB]] as const) {
      const k = `${name} ${n}`;
      cells[k] = { callsPerSec: f, p50Ms: fig(k, (c) => c.p50), p99Ms: fig(k, (c) => c.p99) };
    }
  }
  const m = machine();
  m.chromium = cluster.browser.version();
  emit(
    {
      suite: 'browser',
      size: flags.small ? 'small' : 'full',
      machine: m,
      runs: RUNS,
      seconds: (performance.now() - started) / 1000,
      method:
        `Two Chromium pages (and a page calling a Node edge peer) on 127.0.0.1 in a loopback-only namespace, an in-memory echo actor, 100-byte payloads, ` +
        `${IN_FLIGHT.join(', ')} calls in flight; a warm-up, then ${RUNS} runs of ${MS / 1000} s per cell, the cells interleaved. Baselines in the same run between ` +
        'the same two pages: a raw negotiated RTCDataChannel echoing one message per round trip (raw 1:1), and a hand-batched echo packing one tick\'s messages into one message.',
      rows,
      details: { secondsPerRun: MS / 1000, cells, ...(profiles.length > 0 ? { profiles } : {}) },
    },
    flags,
  );
} finally {
  await cluster.close();
}
