/**
 * Helpers shared by the benchmarks: medians and ranges, the warm-up + measured-runs loop, command-line flags,
 * the machine description, and the one result format every suite emits (rows of "figure beside its same-run
 * baseline, and the ratio") that `bench/run.ts` gathers into one table, `bench/results/latest.json` and a chart.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The q-quantile (0..1) of a list sorted ascending, or NaN when it is empty. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** One measured figure: median of runs with min and max. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** Summarises runs into a {@link Figure}. */
export function figure(runs: readonly number[]): Figure {
  return { median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs: [...runs] };
}

/** Formats a number with thousands separators. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Formats a value with a sensible number of digits for its size. */
export function fmtAuto(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  return fmt(n, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

/** Formats a value in its unit; bytes as B, KiB or MiB. */
export function fmtValue(v: number, unit: string): string {
  if (unit === 'B' && Number.isFinite(v)) {
    if (Math.abs(v) >= 10 * 2 ** 20) return `${fmt(v / 2 ** 20, 1)} MiB`;
    if (Math.abs(v) >= 10_000) return `${fmt(v / 1024, 1)} KiB`;
    return `${fmt(v)} B`;
  }
  return `${fmtAuto(v)} ${unit}`;
}

/** Formats a ratio: two decimals near 1, two significant digits when small. */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '-';
  if (r >= 100) return fmt(r, 0);
  if (r >= 10) return fmt(r, 1);
  if (r >= 0.1) return fmt(r, 2);
  return r.toPrecision(2);
}

/**
 * Prints rows as an aligned text table. `align` has one letter per column, `l` or `r` (default: the first
 * column left, the others right).
 */
export function printTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, out: (line: string) => void = console.log, align?: string): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = (i: number): boolean => (align === undefined ? i === 0 : align[i] === 'l');
  const line = (cells: readonly string[]): string => cells.map((c, i) => (left(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  out(line(header));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out(line(r));
}

/** The machine the figures were measured on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  /** Set by the suites that start Chromium, and by `bench/run.ts`. */
  chromium?: string;
}

/** Describes this machine (CPU model, cores, memory, Node version, OS). */
export function machine(): MachineInfo {
  return { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` };
}

/** The version of a Chromium executable (`--version`), or undefined when it cannot be run. */
export function chromiumVersionOf(executable: string): string | undefined {
  const r = spawnSync(executable, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const m = /(\d+\.\d+\.\d+\.\d+)/.exec(r.stdout ?? '');
  return m?.[1];
}

/** Flags every suite understands. */
export interface BenchFlags {
  /** `--size small`: a tiny run (the smoke test); otherwise the full run. */
  small: boolean;
  /** `--json`: print the {@link SuiteResult} as JSON on stdout instead of a table. */
  json: boolean;
  /** `--out FILE`: also write the {@link SuiteResult} there (how `bench/run.ts` collects results). */
  out: string | undefined;
  /** Measured runs after the warm-up: 5, or 2 with `--size small`; `--runs N` overrides. */
  runs: number;
}

/** Parses the common flags from `args` (default: this process's arguments). */
export function benchFlags(args: readonly string[] = process.argv.slice(2)): BenchFlags {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  };
  const small = value('--size') === 'small';
  const runs = value('--runs');
  return { small, json: args.includes('--json'), out: value('--out'), runs: runs === undefined ? (small ? 2 : 5) : Math.max(1, Number(runs)) };
}

/** Runs `once` for a warm-up (discarded), then `runs` times; the measured values as a {@link Figure}. */
export async function warmAndMeasure(runs: number, once: (run: number) => Promise<number>): Promise<Figure> {
  await once(-1);
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await once(i));
  return figure(values);
}

/** What a row measures, for grouping in the table and the chart. */
export type RowKind = 'throughput' | 'latency' | 'time' | 'memory' | 'fraction';

/** One figure of a suite, beside the same-run baseline it is measured against. */
export interface BenchRow {
  /** Stable key, unique across suites (e.g. `net.node-datachannel.256.calls`). */
  id: string;
  /** What is measured (one short line). */
  name: string;
  kind: RowKind;
  /** Unit of `value` and `baseline.value` (e.g. `calls/s`, `ms`, `B`, `share`). */
  unit: string;
  /** Which direction is better. */
  better: 'higher' | 'lower';
  /** meshrtc's figure: median of the measured runs, with min-max. */
  value: Figure;
  /** The limit it is measured against in the same run (absent only where no same-run baseline exists). */
  baseline?: { name: string; value: Figure };
  /** `value.median / baseline.value.median`. */
  ratio?: number;
  /** Targets of earlier issues, and whether this run met them. */
  targets?: { text: string; met: boolean }[];
  /** A published figure to show beside it (e.g. Elixir Mesh's). */
  reference?: { name: string; value: number };
  /** Shown in the headline table of the README. */
  headline?: boolean;
}

/** What one suite emits. */
export interface SuiteResult {
  suite: string;
  size: 'small' | 'full';
  machine: MachineInfo;
  /** Measured runs per figure after a warm-up. */
  runs: number;
  /** Wall time of the suite, seconds. */
  seconds: number;
  /** How the figures were measured (one paragraph, shown in bench/README.md). */
  method: string;
  rows: BenchRow[];
  /** Everything else the suite measured (per-cell data, raw runs). */
  details?: unknown;
  /** Measurements that could not be taken, and why (never silently missing). */
  notes?: string[];
}

/** A row with its ratio computed from the baseline. */
export function row(r: Omit<BenchRow, 'ratio'>): BenchRow {
  const ratio = r.baseline === undefined || r.baseline.value.median === 0 ? undefined : r.value.median / r.baseline.value.median;
  return ratio === undefined ? { ...r } : { ...r, ratio };
}

/** Formats a figure as `median (min-max)`. */
export function fmtFigure(f: Figure, unit = ''): string {
  const u = unit === '' ? '' : ` ${unit}`;
  return f.min === f.max ? `${fmtAuto(f.median)}${u}` : `${fmtAuto(f.median)}${u} (${fmtAuto(f.min)}-${fmtAuto(f.max)})`;
}

/** Table cells of rows: figure, meshrtc, min-max, baseline, ratio, target. */
export function rowCells(rows: readonly BenchRow[], withSuite = false): { header: string[]; cells: string[][]; align: string } {
  const header = [...(withSuite ? ['suite'] : []), 'figure', 'meshrtc (median)', 'min-max', 'same-run baseline', 'baseline', 'ratio', 'target'];
  const cells = rows.map((r) => [
    ...(withSuite ? [r.id.split('.')[0]!] : []),
    r.name,
    fmtValue(r.value.median, r.unit),
    r.value.min === r.value.max ? '' : r.unit === 'B' ? `${fmtValue(r.value.min, r.unit)}-${fmtValue(r.value.max, r.unit)}` : `${fmtAuto(r.value.min)}-${fmtAuto(r.value.max)}`,
    r.baseline?.name ?? '-',
    r.baseline === undefined ? '-' : fmtValue(r.baseline.value.median, r.unit),
    r.ratio === undefined ? '-' : `${fmtRatio(r.ratio)}x`,
    (r.targets ?? []).map((t) => `${t.met ? 'met' : 'MISSED'}: ${t.text}`).join('; '),
  ]);
  return { header, cells, align: `${withSuite ? 'l' : ''}lrrlrrl` };
}

/**
 * Emits a suite's result: with `--out` writes it as JSON to that file; with `--json` prints it as JSON on stdout;
 * otherwise prints a table (progress and notes go to stderr).
 */
export function emit(result: SuiteResult, flags: BenchFlags): void {
  if (flags.out !== undefined) {
    mkdirSync(dirname(flags.out), { recursive: true });
    writeFileSync(flags.out, `${JSON.stringify(result, null, 2)}\n`);
  }
  if (flags.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const m = result.machine;
  console.log(
    `\nbench:${result.suite} (${result.size}) on ${m.cpu} (${m.cores} cores), Node ${m.node}${m.chromium === undefined ? '' : `, Chromium ${m.chromium}`}; ` +
      `median of ${result.runs} runs after a warm-up; ${fmt(result.seconds, 1)} s`,
  );
  const { header, cells, align } = rowCells(result.rows);
  printTable(header, cells, console.log, align);
  for (const n of result.notes ?? []) console.log(`note: ${n}`);
}

/** Logs a progress line to stderr (never stdout, which may carry JSON). */
export function progress(suite: string, text: string): void {
  process.stderr.write(`[${suite}] ${text}\n`);
}

/** Elixir Mesh's published figures (no hardware stated), shown beside ours. */
export const ELIXIR_MESH = { activationsPerSec: 16_428, requestsPerSec: 30_558, bytesPerActor: 11_000 } as const;
