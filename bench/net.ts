/**
 * bench:net — two Node edge peers (two processes) on loopback, per WebRTC engine: mesh calls/s with 1, 32 and
 * 256 in flight and p50/p99 latency, beside two raw data-channel baselines of the same engine, payload and run:
 *   - raw 1:1   one data-channel message per round trip (what a naive RPC over WebRTC does);
 *   - raw batch hand-batched echo: everything sent in one tick goes as one message (the transport's practical limit).
 * Each figure: a warm-up, then 5 timed windows; medians with min-max. `--json` prints JSON; `--size small` runs
 * a short version (for the smoke test); `--engine NAME` limits the engines; `--cpu` adds CPU time per round trip.
 *
 * Everything is measured as compiled JavaScript, the way the package ships (`dist/`): started from the sources
 * (tsx), the script first compiles `src`, `signaling-server` and `bench` with tsc into a temporary directory and
 * runs itself from there with plain node, both processes, mesh and raw baselines alike. (Under tsx every closure
 * is wrapped by esbuild's `keepNames` helper, which costs the mesh about 1 us per call.) `--tsx` runs the sources
 * as they are. `BENCH_PROF=dir` writes CPU profiles of both processes there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSignalingServer } from '../signaling-server/server.js';
import { createMesh, loadNodeEngine, type Mesh, type NodeEngineName } from '../src/index.js';
import { rawEnd, type RawEnd } from './raw-echo.js';
import { figure, fmt, machine, median, printTable, type Figure } from './stats.js';

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

const json = args.includes('--json');
const small = args.includes('--size') && args[args.indexOf('--size') + 1] === 'small';
const only = args.includes('--engine') ? [args[args.indexOf('--engine') + 1] as NodeEngineName] : undefined;
const engines: NodeEngineName[] = only ?? ['node-datachannel', 'werift'];
const RUNS = small ? 2 : 5;
const WINDOW_MS = small ? 300 : 1000;
const WARMUP_MS = small ? 200 : 500;
const WINDOWS = args.includes('--in-flight') ? args[args.indexOf('--in-flight') + 1]!.split(',').map(Number) : [1, 32, 256];
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
const PAYLOAD = new Uint8Array(100).fill(7);
const log = (s: string): void => {
  if (!json) console.error(s);
};

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
  return { rate: count / elapsed, p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0, p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0, cpuSelf, cpuPeer };
}

async function measure(inFlight: number, op: () => Promise<unknown>): Promise<{ rate: Figure; p50: number; p99: number }> {
  await drive(inFlight, WARMUP_MS, op);
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await drive(inFlight, WINDOW_MS, op));
  if (showCpu) log(`  cpu per round trip: caller ${fmt(median(samples.map((s) => s.cpuSelf)), 1)} us, echo peer ${fmt(median(samples.map((s) => s.cpuPeer)), 1)} us`);
  return { rate: figure(samples.map((s) => s.rate)), p50: median(samples.map((s) => s.p50)), p99: median(samples.map((s) => s.p99)) };
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
async function measureOrStall(inFlight: number, make: () => Promise<() => Promise<unknown>>): Promise<{ rate: Figure; p50: number; p99: number; stalled?: string }> {
  try {
    return await measure(inFlight, await make());
  } catch (error) {
    log(`  raw baseline stalled: ${(error as Error).message}`);
    return { rate: figure([0]), p50: 0, p99: 0, stalled: (error as Error).message };
  }
}

interface EngineResult {
  engine: string;
  rows: Array<{ inFlight: number; mesh: { rate: Figure; p50: number; p99: number }; raw1: { rate: Figure; p50: number; p99: number; stalled?: string }; rawBatched: { rate: Figure; p50: number; p99: number; stalled?: string } }>;
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
    const skipped = { rate: figure([0]), p50: 0, p99: 0, stalled: 'skipped (--mesh-only)' };
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

async function main(): Promise<void> {
  const results: EngineResult[] = [];
  for (const e of engines) results.push(await runEngine(e));
  const out = { suite: 'net', machine: machine(), runs: RUNS, windowMs: WINDOW_MS, payloadBytes: PAYLOAD.byteLength, size: small ? 'small' : 'full', results };
  if (json) {
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  console.log(`\nbench:net, two processes on 127.0.0.1, ${PAYLOAD.byteLength}-byte payloads, median of ${RUNS} x ${WINDOW_MS} ms windows`);
  const rows: string[][] = [];
  for (const r of results) {
    for (const row of r.rows) {
      rows.push([
        r.engine,
        String(row.inFlight),
        fmt(row.mesh.rate.median),
        `${fmt(row.mesh.rate.min)}-${fmt(row.mesh.rate.max)}`,
        `${fmt(row.mesh.p50, 2)} / ${fmt(row.mesh.p99, 2)}`,
        row.raw1.stalled === undefined ? fmt(row.raw1.rate.median) : 'stalled',
        row.rawBatched.stalled === undefined ? fmt(row.rawBatched.rate.median) : 'stalled',
        row.raw1.stalled === undefined ? `${fmt(row.mesh.rate.median / row.raw1.rate.median, 2)}x` : '-',
        row.rawBatched.stalled === undefined ? `${fmt(row.mesh.rate.median / row.rawBatched.rate.median, 2)}x` : '-',
      ]);
    }
  }
  printTable(['engine', 'in flight', 'mesh calls/s', 'min-max', 'p50/p99 ms', 'raw 1:1 rt/s', 'raw batched rt/s', 'vs 1:1', 'vs batched'], rows);
}

await main();
// Engines may keep handles open after close; once the output is flushed, leave.
process.stdout.write('', () => process.exit(0));
