/**
 * bench:net — two Node edge peers (two processes) on loopback, per WebRTC engine: mesh calls/s with 1, 32 and
 * 256 in flight and p50/p99 latency, beside two raw data-channel baselines of the same engine, payload and run:
 *   - raw 1:1   one data-channel message per round trip (what a naive RPC over WebRTC does);
 *   - raw batch hand-batched echo: everything sent in one tick goes as one message (the transport's practical limit).
 * Each figure: a warm-up, then 5 timed windows; medians with min-max. `--json` prints JSON, `--out FILE` writes it;
 * `--size small` runs a short version (for the smoke test); `--engine NAME` limits the engines; `--cpu` adds CPU
 * time per round trip; `--in-flight 1,32` picks the concurrency levels; `--mesh-only` skips the raw baselines;
 * `--payload N` sets the payload size (default 100 bytes).
 *
 * Everything is measured as compiled JavaScript, the way the package ships (`dist/`): started from the sources
 * (tsx), the script first compiles `src`, `signaling-server` and `bench` with tsc into a temporary directory and
 * runs itself from there with plain node, both processes, mesh and raw baselines alike. (Under tsx every closure
 * is wrapped by esbuild's `keepNames` helper, which costs the mesh about 1 us per call.) `--tsx` runs the sources
 * as they are. `BENCH_PROF=dir` writes CPU profiles of both processes there (`tsx bench/profile.ts dir/*` lists
 * the hot functions).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSignalingServer } from '../signaling-server/server.js';
import { createMesh, loadNodeEngine, type Mesh, type NodeEngineName } from '../src/index.js';
import { rawEnd, type RawEnd } from './raw-echo.js';
import { benchFlags, emit, figure, fmt, machine, median, progress, quantile, row, type BenchRow, type Figure } from './stats.js';

const args = process.argv.slice(2);
const fromSource = import.meta.url.endsWith('.ts');

/** Compiles the sources into a temporary directory and runs this script from there; exits with its code. */
async function runCompiled(): Promise<never> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const out = mkdtempSync(join(tmpdir(), 'meshrtc-bench-'));
  try {
    const tsconfig = join(out, 'tsconfig.json');
    writeFileSync(
      tsconfig,
      JSON.stringify({
        extends: join(root, 'tsconfig.json'),
        compilerOptions: { noEmit: false, outDir: out, rootDir: root, sourceMap: false, declaration: false, typeRoots: [join(root, 'node_modules/@types')] },
        include: [join(root, 'src'), join(root, 'signaling-server'), join(root, 'bench')],
        exclude: [join(root, '**/*.test.ts')],
      }),
    );
    console.error('bench:net: compiling with tsc (--tsx skips this) ...');
    // Type errors do not stop the emit; the figures are of whatever the sources compile to.
    spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { stdio: ['ignore', 'ignore', 'inherit'] });
    symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
    writeFileSync(join(out, 'package.json'), readFileSync(join(root, 'package.json')));
    const prof = process.env['BENCH_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', process.env['BENCH_PROF']] : [];
    const child = spawn(process.execPath, [...prof, join(out, 'bench/net.js'), ...args], { stdio: 'inherit' });
    const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
    process.exit(code);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
if (fromSource && !args.includes('--tsx')) await runCompiled();

const flags = benchFlags(args);
const small = flags.small;
const only = args.includes('--engine') ? [args[args.indexOf('--engine') + 1] as NodeEngineName] : undefined;
const engines: NodeEngineName[] = only ?? ['node-datachannel', 'werift'];
const RUNS = flags.runs;
const WINDOW_MS = small ? 200 : 1000;
const WARMUP_MS = small ? 100 : 500;
const WINDOWS = args.includes('--in-flight') ? args[args.indexOf('--in-flight') + 1]!.split(',').map(Number) : small ? [1, 32] : [1, 32, 256];
/** `--mesh-only`: skip the raw baselines (for profiling the mesh path). */
const meshOnly = args.includes('--mesh-only');
/** `--cpu`: also report CPU time per round trip of both processes (Linux /proc; native threads included). */
const showCpu = args.includes('--cpu');
let childPid = 0;

/** CPU seconds (user + system, all threads) of a process, from /proc; 0 where unavailable. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
/** `--payload N`: bytes of the payload each call carries (default 100; 1-8192), the same for mesh and raw baselines. */
const PAYLOAD_BYTES = args.includes('--payload') ? Number(args[args.indexOf('--payload') + 1]) : 100;
if (!Number.isInteger(PAYLOAD_BYTES) || PAYLOAD_BYTES < 1 || PAYLOAD_BYTES > 8192) throw new Error(`--payload must be an integer from 1 to 8192, got ${String(PAYLOAD_BYTES)}`);
const PAYLOAD = new Uint8Array(PAYLOAD_BYTES).fill(7);
const log = (s: string): void => progress('net', s);

interface Sample {
  rate: number;
  p50: number;
  p99: number;
  /** CPU microseconds per round trip: this process, the other one. */
  cpuSelf: number;
  cpuPeer: number;
}

/** Keeps `inFlight` operations going for `ms`; returns completions/s and latency percentiles. */
async function drive(inFlight: number, ms: number, op: () => Promise<unknown>): Promise<Sample> {
  const latencies: number[] = [];
  let stop = false;
  let count = 0;
  const t0 = performance.now();
  const cpu0 = showCpu ? [cpuSeconds(process.pid), cpuSeconds(childPid)] : [0, 0];
  const worker = async (): Promise<void> => {
    while (!stop) {
      const s = performance.now();
      await op();
      latencies.push(performance.now() - s);
      count++;
    }
  };
  const timer = setTimeout(() => (stop = true), ms);
  let last = -1;
  const watchdog = setInterval(() => {
    if (count === last) {
      clearInterval(watchdog);
      stallReject(new Error(`no progress for 10 s (${count} done, ${inFlight} in flight)`));
    }
    last = count;
  }, 10_000);
  let stallReject!: (e: Error) => void;
  const stalled = new Promise<never>((_, reject) => (stallReject = reject));
  try {
    await Promise.race([Promise.all(Array.from({ length: inFlight }, worker)), stalled]);
  } finally {
    clearTimeout(timer);
    clearInterval(watchdog);
    stop = true;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpuSelf = showCpu ? ((cpuSeconds(process.pid) - cpu0[0]!) * 1e6) / Math.max(count, 1) : 0;
  const cpuPeer = showCpu ? ((cpuSeconds(childPid) - cpu0[1]!) * 1e6) / Math.max(count, 1) : 0;
  latencies.sort((a, b) => a - b);
  return { rate: count / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), cpuSelf, cpuPeer };
}

/** Rate and latency of one cell over the measured windows. */
interface Cell {
  rate: Figure;
  p50: Figure;
  p99: Figure;
  stalled?: string;
}

async function measure(inFlight: number, op: () => Promise<unknown>): Promise<Cell> {
  await drive(inFlight, WARMUP_MS, op);
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await drive(inFlight, WINDOW_MS, op));
  if (showCpu) log(`  cpu per round trip: caller ${fmt(median(samples.map((s) => s.cpuSelf)), 1)} us, echo peer ${fmt(median(samples.map((s) => s.cpuPeer)), 1)} us`);
  return { rate: figure(samples.map((s) => s.rate)), p50: figure(samples.map((s) => s.p50)), p99: figure(samples.map((s) => s.p99)) };
}

/** Round trips over a raw channel: replies come back in order, so a FIFO of resolvers matches them. */
function rawClient(end: RawEnd, batched: boolean): () => Promise<unknown> {
  const waiting: Array<() => void> = [];
  let outgoing: Uint8Array[] = [];
  let scheduled = false;
  end.dc.addEventListener('message', ((e: { data: ArrayBuffer | Uint8Array }) => {
    const bytes = e.data instanceof Uint8Array ? e.data : new Uint8Array(e.data);
    const n = batched ? bytes.byteLength / (PAYLOAD.byteLength + 2) : 1;
    for (let i = 0; i < n; i++) waiting.shift()?.();
  }) as never);
  const flush = (): void => {
    scheduled = false;
    const parts = outgoing;
    outgoing = [];
    const size = parts.length * (PAYLOAD.byteLength + 2);
    const buf = new Uint8Array(size);
    let o = 0;
    for (const p of parts) {
      buf[o] = p.byteLength >> 8;
      buf[o + 1] = p.byteLength & 0xff;
      buf.set(p, o + 2);
      o += p.byteLength + 2;
    }
    end.dc.send(buf);
  };
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (!batched) {
        end.dc.send(PAYLOAD);
        return;
      }
      outgoing.push(PAYLOAD);
      if (outgoing.length * (PAYLOAD.byteLength + 2) >= 16_000) flush();
      else if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    });
}

/** A raw baseline that stops making progress (werift under bursts) is reported as stalled, not hung. */
async function measureOrStall(inFlight: number, make: () => Promise<() => Promise<unknown>>): Promise<Cell> {
  try {
    return await measure(inFlight, await make());
  } catch (error) {
    log(`  raw baseline stalled: ${(error as Error).message}`);
    return { rate: figure([0]), p50: figure([0]), p99: figure([0]), stalled: (error as Error).message };
  }
}

interface EngineResult {
  engine: string;
  rows: Array<{ inFlight: number; mesh: Cell; raw1: Cell; rawBatched: Cell }>;
}

async function runEngine(engineName: NodeEngineName): Promise<EngineResult> {
  const server = await createSignalingServer({ logger: false });
  const script = fileURLToPath(new URL(fromSource ? './net-peer.ts' : './net-peer.js', import.meta.url));
  const child = spawn(process.execPath, [...(process.env['BENCH_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', process.env['BENCH_PROF']] : []), ...(fromSource ? ['--import', 'tsx'] : []), script], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_ENGINE: engineName, BENCH_SIGNALING: server.url },
  });
  childPid = child.pid ?? 0;
  const engine = await loadNodeEngine(engineName);
  const send = (o: unknown): void => void child.stdin.write(`${JSON.stringify(o)}\n`);
  const raws = new Map<number, RawEnd & { start(): Promise<void> }>();
  let nextPair = 0;
  /** A fresh raw pair; setup occasionally fails with node-datachannel (see WEBRTC-NOTES), so retry a few times. */
  const newRaw = async (): Promise<RawEnd> => {
    for (let attempt = 1; ; attempt++) {
      const id = ++nextPair;
      const end = rawEnd(engine, (data) => send({ signal: { ...(data as object), pair: id } }), true);
      raws.set(id, end);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const opened = await Promise.race([
        end.start().then(() => end.open).then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 10_000))),
      ]).catch(() => false);
      clearTimeout(timer);
      if (opened) {
        engine.tune?.(end.pc);
        return end;
      }
      log(`  raw pair ${id} did not open (attempt ${attempt})`);
      if (attempt >= 3) throw new Error('raw pair setup failed 3 times');
    }
  };
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let buffer = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buffer += d;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, nl)) as { ready?: string; signal?: unknown };
      buffer = buffer.slice(nl + 1);
      if (msg.ready !== undefined) ready();
      if (msg.signal !== undefined) {
        raws
          .get((msg.signal as { pair: number }).pair)
          ?.onSignal(msg.signal)
          .catch((e: unknown) => log(`  raw signal failed: ${(e as Error).message}`));
      }
    }
  });
  await readyP;
  const client: Mesh = await createMesh({ signalingUrl: server.url, room: 'bench', peerId: 'client', capabilities: [], engine: engineName, loopbackOnly: true, defaultTimeoutMs: 30_000 });
  await client.waitForView(0);
  while (client.table.peersFor('bench').length === 0) await new Promise((r) => setTimeout(r, 20));
  let k = 0;
  const meshOp = (): Promise<unknown> => client.call({ capability: 'bench', type: 'echo', id: `e${k++ % 64}`, payload: { op: 'echo', arg: PAYLOAD } });
  const result: EngineResult = { engine: engineName, rows: [] };
  for (const w of WINDOWS) {
    log(`${engineName}: ${w} in flight`);
    const mesh = await measure(w, meshOp);
    // A fresh raw pair per baseline, so one baseline's burst cannot degrade the next (werift is sensitive).
    const skipped: Cell = { rate: figure([0]), p50: figure([0]), p99: figure([0]), stalled: 'skipped (--mesh-only)' };
    const one = meshOnly ? skipped : await measureOrStall(w, async () => rawClient(await newRaw(), false));
    const batched = meshOnly ? skipped : await measureOrStall(w, async () => rawClient(await newRaw(), true));
    result.rows.push({ inFlight: w, mesh, raw1: one, rawBatched: batched });
  }
  if (args.includes('--transport-stats')) {
    const t = (client.transport as { stats?: () => Record<string, unknown> } | undefined)?.stats?.();
    if (t !== undefined) {
      const { framesSent, messagesSent, framesReceived, messagesReceived, bytesSent } = t as Record<string, number>;
      console.error(`  client transport: ${framesSent} frames in ${messagesSent} messages sent (${((framesSent ?? 0) / (messagesSent || 1)).toFixed(1)}/message, ${Math.round((bytesSent ?? 0) / (framesSent || 1))} B/frame); ${framesReceived} frames in ${messagesReceived} messages received (${((framesReceived ?? 0) / (messagesReceived || 1)).toFixed(1)}/message)`);
    }
  }
  log(`${engineName}: closing`);
  await client.close();
  log(`${engineName}: client closed`);
  send({ quit: true });
  await new Promise((r) => child.once('exit', r));
  log(`${engineName}: child exited`);
  for (const r of raws.values()) r.pc.close();
  await server.close();
  log(`${engineName}: server closed`);
  return result;
}

/** Targets of issue 3 at 256 in flight. */
const TARGETS: Record<string, { callsPerSec: number; vsOne: number; vsBatched?: number }> = {
  'node-datachannel': { callsPerSec: 30_558, vsOne: 4, vsBatched: 0.5 },
  werift: { callsPerSec: 15_000, vsOne: 4 },
};

/** The rows of the combined table: calls/s beside each raw baseline, and latency beside the raw latency. */
function rowsOf(results: readonly EngineResult[]): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const r of results) {
    const t = TARGETS[r.engine];
    for (const c of r.rows) {
      const at256 = c.inFlight === 256 && t !== undefined;
      const base = `net.${r.engine}.${c.inFlight}`;
      const name = `calls/s, ${r.engine}, 2 processes, ${c.inFlight} in flight`;
      const meets = c.mesh.rate.median >= (t?.callsPerSec ?? 0);
      if (c.raw1.stalled === undefined) {
        const ratio = c.mesh.rate.median / c.raw1.rate.median;
        rows.push(
          row({
            id: `${base}.vs-raw1`,
            name,
            kind: 'throughput',
            unit: 'calls/s',
            better: 'higher',
            value: c.mesh.rate,
            baseline: { name: 'raw data channel, 1 message per round trip', value: c.raw1.rate },
            ...(at256 ? { targets: [{ text: `>= ${fmt(t.callsPerSec)} calls/s`, met: meets }, { text: `>= ${t.vsOne}x raw 1:1`, met: ratio >= t.vsOne }] } : {}),
            ...(at256 && r.engine === 'node-datachannel' ? { headline: true, reference: { name: 'Elixir Mesh requests/s', value: 30_558 } } : {}),
          }),
        );
      }
      if (c.rawBatched.stalled === undefined) {
        const ratio = c.mesh.rate.median / c.rawBatched.rate.median;
        rows.push(
          row({
            id: `${base}.vs-batched`,
            name,
            kind: 'throughput',
            unit: 'calls/s',
            better: 'higher',
            value: c.mesh.rate,
            baseline: { name: 'raw data channel, hand-batched echo', value: c.rawBatched.rate },
            ...(at256 && t.vsBatched !== undefined ? { targets: [{ text: `>= ${t.vsBatched}x raw batched`, met: ratio >= t.vsBatched }] } : {}),
          }),
        );
      }
      // Latency: one call alone against one raw round trip; under load against the batched echo's latency.
      const latencyBase = c.inFlight === 1 ? c.raw1 : c.rawBatched.stalled === undefined ? c.rawBatched : c.raw1;
      if (c.inFlight === 1 || c.inFlight === 256) {
        for (const q of ['p50', 'p99'] as const) {
          rows.push(
            row({
              id: `${base}.${q}`,
              name: `${q} latency, ${r.engine}, ${c.inFlight} in flight`,
              kind: 'latency',
              unit: 'ms',
              better: 'lower',
              value: c.mesh[q],
              ...(latencyBase.stalled === undefined ? { baseline: { name: latencyBase === c.raw1 ? 'raw 1:1 round trip' : 'raw batched round trip', value: latencyBase[q] } } : {}),
            }),
          );
        }
      }
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const started = performance.now();
  const results: EngineResult[] = [];
  for (const e of engines) results.push(await runEngine(e));
  const notes: string[] = [];
  for (const r of results) {
    for (const c of r.rows) {
      for (const [name, cell] of [['raw 1:1', c.raw1], ['raw batched', c.rawBatched]] as const) {
        if (cell.stalled !== undefined) notes.push(`${r.engine}, ${c.inFlight} in flight: the ${name} baseline ${cell.stalled.startsWith('skipped') ? 'was skipped' : `stalled (${cell.stalled})`}; no ratio against it`);
      }
    }
  }
  emit(
    {
      suite: 'net',
      size: small ? 'small' : 'full',
      machine: machine(),
      runs: RUNS,
      seconds: (performance.now() - started) / 1000,
      method:
        `A caller and an edge peer in two processes on 127.0.0.1, an echo actor, ${PAYLOAD.byteLength}-byte payloads, per engine and number of calls in flight: ` +
        `a ${WARMUP_MS} ms warm-up, then ${RUNS} windows of ${WINDOW_MS} ms; medians with min-max. Baselines in the same run, same engine and payload, ` +
        'each on a fresh connection: a raw data channel echoing one message per round trip (raw 1:1), and a hand-batched echo packing what one tick sends ' +
        'into one message (raw batched: the practical limit). Compiled with tsc and run with plain node, like the published package.',
      rows: rowsOf(results),
      details: { windowMs: WINDOW_MS, warmupMs: WARMUP_MS, payloadBytes: PAYLOAD.byteLength, results },
      ...(notes.length > 0 ? { notes } : {}),
    },
    flags,
  );
}

await main();
// Engines may keep handles open after close; once the output is flushed, leave.
process.stdout.write('', () => process.exit(0));
