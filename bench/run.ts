/**
 * `npm run bench`: every benchmark suite, one after another, each as its own child process (`--out` a results
 * file); progress on stderr; then one table of every figure beside its same-run baseline and the ratio, and
 *   - `bench/results/latest.json`: the machine (CPU model, cores, Node and Chromium versions), every suite's rows,
 *     details and notes, and the wall time;
 *   - `bench/results/latest.md`: the table as Markdown;
 *   - `bench/results/latest.svg`: the chart (throughput, latency and times, memory, shards moved), copied to
 *     `docs/bench.svg` after a full run of every suite.
 *
 * Flags: `--size small` (every suite tiny: the smoke test), `--only a,b` / `--skip a,b` (suite names),
 * `--results DIR` (default bench/results), `--no-docs` (leave docs/bench.svg alone), `--readme` (also write
 * the latest table into bench/README.md between its `latest-table` markers, and the headline figures with the
 * targets into the main README between its `bench-headline` markers), `--timeout S` per suite, `--from FILE`
 * (run nothing: rewrite the READMEs from a results file, e.g. bench/results/latest.json).
 * Exits non-zero when a suite failed (its figures are missing from the table; the failure is in latest.json).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderChart, type Curve } from './chart.js';
import { chromiumVersionOf, fmt, fmtRatio, fmtValue, machine, printTable, rowCells, type BenchRow, type MachineInfo, type SuiteResult } from './stats.js';

/** A suite: its name (`bench:<name>`), script and the node flags it needs. */
interface Suite {
  name: string;
  script: string;
  node?: string[];
}

/** Every suite, in the order they run (quick in-process ones first, Chromium last). */
export const SUITES: readonly Suite[] = [
  { name: 'local', script: 'local.ts', node: ['--expose-gc'] },
  { name: 'memory', script: 'memory.ts', node: ['--expose-gc'] },
  { name: 'durable', script: 'durable.ts' },
  { name: 'rebalance', script: 'rebalance.ts' },
  { name: 'failover', script: 'failover.ts' },
  { name: 'net', script: 'net.ts' },
  { name: 'browser', script: 'browser.ts' },
  { name: 'scale', script: 'scale.ts' },
];

/** What `latest.json` holds. */
export interface RunResult {
  when: string;
  size: 'small' | 'full';
  seconds: number;
  machine: MachineInfo;
  suites: SuiteResult[];
  failed: { suite: string; reason: string; stderrTail: string }[];
}

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Runs one suite; resolves with its result, or rejects with the reason and the end of its stderr. */
function runSuite(suite: Suite, out: string, extra: readonly string[], timeoutMs: number, t0: number): Promise<SuiteResult> {
  rmSync(out, { force: true });
  const args = [...(suite.node ?? []), '--import', 'tsx', join(here, suite.script), '--out', out, '--json', ...extra];
  // Its own process group, so a timeout can stop the suite with everything it started (edges, Chromium).
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const tail: string[] = [];
  let partial = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('npm warn')) continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      process.stderr.write(`  ${clock(performance.now() - t0)}  ${line}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      tail.push(`timed out after ${timeoutMs / 1000} s`);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && existsSync(out)) {
        try {
          resolve(JSON.parse(readFileSync(out, 'utf8')) as SuiteResult);
        } catch (e) {
          reject(Object.assign(new Error(`unreadable results: ${(e as Error).message}`), { tail: tail.join('\n') }));
        }
      } else reject(Object.assign(new Error(`exited with ${signal ?? String(code)}`), { tail: tail.join('\n') }));
    });
  });
}

/** The Markdown table of a run. */
export function markdownTable(rows: readonly BenchRow[]): string {
  const lines = ['| suite | figure | meshrtc (median, min-max) | same-run baseline | ratio | Elixir Mesh (published) | target |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const range = r.value.min === r.value.max ? '' : ` (${fmtValue(r.value.min, r.unit)} - ${fmtValue(r.value.max, r.unit)})`;
    lines.push(
      `| ${r.id.split('.')[0]} | ${r.name} | ${fmtValue(r.value.median, r.unit)}${range} | ${r.baseline === undefined ? '-' : `${r.baseline.name}: ${fmtValue(r.baseline.value.median, r.unit)}`} | ` +
        `${r.ratio === undefined ? '-' : `${fmtRatio(r.ratio)}x`} | ${r.reference === undefined ? '' : fmtValue(r.reference.value, r.unit)} | ` +
        `${(r.targets ?? []).map((t) => `${t.met ? 'met' : '**missed**'}: ${t.text}`).join('; ')} |`,
    );
  }
  return lines.join('\n');
}

/** The main README's table: the headline figures and every figure with a target, beside Elixir Mesh's. */
export function headlineTable(rows: readonly BenchRow[]): string {
  const lines = ['| figure | meshrtc (median, min-max) | same-run baseline | ratio | Elixir Mesh (published) | target |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    if (r.headline !== true && (r.targets ?? []).length === 0) continue;
    const range = r.value.min === r.value.max ? '' : ` (${fmtValue(r.value.min, r.unit)} - ${fmtValue(r.value.max, r.unit)})`;
    lines.push(
      `| ${r.name} | **${fmtValue(r.value.median, r.unit)}**${range} | ${r.baseline === undefined ? '-' : `${r.baseline.name}: ${fmtValue(r.baseline.value.median, r.unit)}`} | ` +
        `${r.ratio === undefined ? '-' : `${fmtRatio(r.ratio)}x`} | ${r.reference === undefined ? '' : fmtValue(r.reference.value, r.unit)} | ` +
        `${(r.targets ?? []).map((t) => `${t.met ? 'met' : '**missed**'}: ${t.text}`).join('; ')} |`,
    );
  }
  return lines.join('\n');
}

/** Replaces the text between `<!-- name:start -->` and `<!-- name:end -->` in `file` (no markers: unchanged). */
function writeBlock(file: string, name: string, body: string): void {
  const text = readFileSync(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) writeFileSync(file, `${text.slice(0, a)}${start}\n${body}\n${text.slice(b)}`);
}

/** Writes a complete full run into bench/README.md (every figure) and README.md (headline figures). */
function writeReadmes(run: RunResult): void {
  const m = run.machine;
  const rows = run.suites.flatMap((r) => r.rows);
  const measured = `Measured ${run.when.slice(0, 16).replace('T', ' ')} UTC on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), Node ${m.node}, Chromium ${m.chromium ?? '-'}; \`npm run bench\` took ${fmt(run.seconds / 60, 1)} min.`;
  writeBlock(join(here, 'README.md'), 'latest-table', `${measured}\n\n${markdownTable(rows)}`);
  writeBlock(join(root, 'README.md'), 'bench-headline', `${measured}\n\n${headlineTable(rows)}`);
}

/** The rebalance curves (share of shards a join moves, per strategy, and the ideal) from the rebalance suite. */
function curvesOf(suites: readonly SuiteResult[]): Curve[] {
  const d = suites.find((s) => s.suite === 'rebalance')?.details as { curves?: Record<string, { n: number; shards: number; ideal: number }[]> } | undefined;
  const c = d?.curves;
  if (c === undefined) return [];
  const pts = (k: string, f: (p: { n: number; shards: number; ideal: number }) => number): { n: number; share: number }[] => (c[k] ?? []).map((p) => ({ n: p.n, share: f(p) }));
  return [
    { name: 'modulo', points: pts('modulo/join', (p) => p.shards), color: '#dc2626' },
    { name: 'rendezvous (default)', points: pts('rendezvous/join', (p) => p.shards), color: '#2563eb' },
    { name: 'ideal 1/(N+1)', points: pts('rendezvous/join', (p) => p.ideal), color: '#6b7280', dashed: true },
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string' },
      only: { type: 'string' },
      skip: { type: 'string' },
      results: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      readme: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      from: { type: 'string' },
    },
  });
  if (values.from !== undefined) {
    const run = JSON.parse(readFileSync(values.from, 'utf8')) as RunResult;
    if (run.size !== 'full' || run.failed.length > 0 || run.suites.length !== SUITES.length) {
      console.error(`${values.from}: not a complete full run (size ${run.size}, ${run.suites.length} of ${SUITES.length} suites, ${run.failed.length} failed)`);
      process.exit(2);
    }
    writeReadmes(run);
    return;
  }
  const small = values.size === 'small';
  const only = values.only?.split(',');
  const skip = values.skip?.split(',') ?? [];
  const unknown = [...(only ?? []), ...skip].filter((n) => !SUITES.some((s) => s.name === n));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(', ')}; suites: ${SUITES.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const suites = SUITES.filter((s) => (only === undefined || only.includes(s.name)) && !skip.includes(s.name));
  const dir = values.results ?? join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const timeoutMs = Number(values.timeout ?? (small ? 240 : 600)) * 1000;
  const extra = small ? ['--size', 'small'] : [];
  // Durations of the last run, for the progress line.
  let last: RunResult | undefined;
  try {
    last = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as RunResult;
  } catch {
    last = undefined;
  }
  const t0 = performance.now();
  const results: SuiteResult[] = [];
  const failed: RunResult['failed'] = [];
  for (const [i, suite] of suites.entries()) {
    const prev = last?.size === (small ? 'small' : 'full') ? last.suites.find((s) => s.suite === suite.name)?.seconds : undefined;
    process.stderr.write(`[${i + 1}/${suites.length}] bench:${suite.name} at ${clock(performance.now() - t0)}${prev === undefined ? '' : ` (last run: ${fmt(prev)} s)`}\n`);
    const s0 = performance.now();
    try {
      results.push(await runSuite(suite, join(dir, `${suite.name}.json`), extra, timeoutMs, t0));
      process.stderr.write(`[${i + 1}/${suites.length}] bench:${suite.name} done in ${fmt((performance.now() - s0) / 1000, 1)} s\n`);
    } catch (e) {
      const err = e as Error & { tail?: string };
      failed.push({ suite: suite.name, reason: err.message, stderrTail: err.tail ?? '' });
      process.stderr.write(`[${i + 1}/${suites.length}] bench:${suite.name} FAILED: ${err.message}\n`);
    }
  }
  const m = machine();
  const chromium = results.map((r) => r.machine.chromium).find((v) => v !== undefined) ?? (existsSync('/usr/bin/chromium') ? chromiumVersionOf('/usr/bin/chromium') : undefined);
  if (chromium !== undefined) m.chromium = chromium;
  const when = new Date().toISOString();
  const run: RunResult = { when, size: small ? 'small' : 'full', seconds: (performance.now() - t0) / 1000, machine: m, suites: results, failed };
  const rows = results.flatMap((r) => r.rows);
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(run, null, 2)}\n`);
  const md = markdownTable(rows);
  writeFileSync(join(dir, 'latest.md'), `${md}\n`);
  const svg = renderChart(rows, curvesOf(results), m, when.slice(0, 10));
  writeFileSync(join(dir, 'latest.svg'), svg);
  const complete = failed.length === 0 && suites.length === SUITES.length && !small;
  if (complete && values['no-docs'] !== true) copyFileSync(join(dir, 'latest.svg'), join(root, 'docs', 'bench.svg'));
  if (complete && values.readme === true) writeReadmes(run);

  console.log(`\nmeshrtc benchmarks (${run.size}) on ${m.cpu} (${m.cores} cores), Node ${m.node}${m.chromium === undefined ? '' : `, Chromium ${m.chromium}`}; every figure: median of its runs after a warm-up`);
  const { header, cells, align } = rowCells(rows, true);
  printTable(header, cells, console.log, align);
  for (const r of results) for (const n of r.notes ?? []) console.log(`note (${r.suite}): ${n}`);
  for (const f of failed) console.log(`FAILED: bench:${f.suite}: ${f.reason}\n${f.stderrTail.split('\n').slice(-10).join('\n')}`);
  console.log(`\n${results.length} of ${suites.length} suites in ${clock(run.seconds * 1000)} (m:ss); results: ${join(dir, 'latest.json')}, chart: ${join(dir, 'latest.svg')}${complete && values['no-docs'] !== true ? ' (copied to docs/bench.svg)' : ''}`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
