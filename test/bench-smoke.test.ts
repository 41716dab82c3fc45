/**
 * Benchmark smoke test: `npm run bench` at `--size small` (every suite tiny, about a minute and a half), so the
 * benchmarks cannot rot. It checks what the run writes (latest.json, the table, the chart), not how fast anything
 * is: every suite ran, every figure is a number beside its same-run baseline with the ratio of the two, and the
 * machine is recorded. The Chromium suites (browser, scale) run in the loopback-only namespace the bench makes
 * for itself, as in the e2e suite.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderChart } from '../bench/chart.js';
import { markdownTable, SUITES, type RunResult } from '../bench/run.js';
import { figure, median, row, type BenchRow } from '../bench/stats.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('bench helpers', () => {
  it('median, figure and ratio', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(figure([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, runs: [5, 1, 3] });
    const r = row({ id: 'x.y', name: 'n', kind: 'throughput', unit: '/s', better: 'higher', value: figure([10, 20, 30]), baseline: { name: 'b', value: figure([40]) } });
    expect(r.ratio).toBe(0.5);
    expect(row({ id: 'x.z', name: 'n', kind: 'time', unit: 'ms', better: 'lower', value: figure([1]) }).ratio).toBeUndefined();
  });

  it('the chart draws every figure beside its baselines, and the table lists them', () => {
    const rows: BenchRow[] = [
      row({ id: 'a.t', name: 'calls/s <fast>', kind: 'throughput', unit: '/s', better: 'higher', value: figure([100, 200]), baseline: { name: 'raw', value: figure([50]) }, reference: { name: 'Elixir Mesh', value: 30 } }),
      row({ id: 'a.l', name: 'p99', kind: 'latency', unit: 'ms', better: 'lower', value: figure([2]), baseline: { name: 'raw', value: figure([1]) }, targets: [{ text: '>= 4x', met: false }] }),
    ];
    const svg = renderChart(rows, [{ name: 'ideal', points: [{ n: 2, share: 1 / 3 }, { n: 3, share: 1 / 4 }], color: '#000' }], { cpu: 'cpu', cores: 2, memoryGiB: 1, node: 'v20', platform: 'linux' }, '2026-01-01');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('calls/s &lt;fast&gt;');
    expect(svg).toContain('Throughput');
    expect(svg).toContain('Latency and times');
    expect(svg).toContain('Share of the 4096 shards');
    expect(svg.match(/<rect [^>]*height="8"/g)).toHaveLength(2 * 2 + 3); // two bars per figure + the legend's three
    const md = markdownTable(rows);
    expect(md.split('\n')).toHaveLength(4);
    expect(md).toContain('**missed**: >= 4x');
    expect(md).toContain('| 3.00x | 30.0 /s |');
  });
});

describe('npm run bench -- --size small', () => {
  let dir = '';
  let run: RunResult;
  let stdout = '';
  let code: number | null = null;
  let stderr = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshrtc-bench-smoke-'));
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), '--size', 'small', '--results', dir, '--no-docs'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
    code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    run = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as RunResult;
  }, 600_000);

  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('runs every suite and exits 0', () => {
    expect(run.failed, stderr.slice(-4000)).toEqual([]);
    expect(code, stderr.slice(-4000)).toBe(0);
    expect(run.suites.map((s) => s.suite).sort()).toEqual(SUITES.map((s) => s.name).sort());
    expect(run.size).toBe('small');
  });

  it('records the machine: CPU model, cores, Node and Chromium versions', () => {
    expect(run.machine.cpu.length).toBeGreaterThan(0);
    expect(run.machine.cores).toBeGreaterThan(0);
    expect(run.machine.node).toBe(process.version);
    expect(run.machine.chromium).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  for (const suite of SUITES) {
    it(`bench:${suite.name}: every figure is a median of its runs beside a same-run baseline, with the ratio`, () => {
      const s = run.suites.find((x) => x.suite === suite.name);
      expect(s, `bench:${suite.name} missing`).toBeDefined();
      expect(s!.rows.length).toBeGreaterThan(0);
      expect(s!.method.length).toBeGreaterThan(40);
      for (const r of s!.rows) {
        expect(r.id.startsWith(`${suite.name}.`), r.id).toBe(true);
        expect(Number.isFinite(r.value.median), r.id).toBe(true);
        expect(r.value.min).toBeLessThanOrEqual(r.value.median);
        expect(r.value.max).toBeGreaterThanOrEqual(r.value.median);
        expect(r.value.median, r.id).toBe(median(r.value.runs));
        if (r.kind === 'throughput' || r.kind === 'memory') expect(r.value.median, r.id).toBeGreaterThan(0);
        expect(r.baseline, `${r.id} has no baseline`).toBeDefined();
        if (r.baseline!.value.median > 0) expect(r.ratio, r.id).toBeCloseTo(r.value.median / r.baseline!.value.median, 9);
      }
    });
  }

  it('prints one table of every figure and writes the Markdown table and the chart', () => {
    const rows = run.suites.flatMap((s) => s.rows);
    for (const r of rows) expect(stdout).toContain(r.name);
    expect(stdout).toContain(`${SUITES.length} of ${SUITES.length} suites`);
    const md = readFileSync(join(dir, 'latest.md'), 'utf8');
    expect(md.trim().split('\n')).toHaveLength(rows.length + 2);
    const svg = readFileSync(join(dir, 'latest.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    for (const title of ['Throughput', 'Latency and times', 'Memory', 'Share of the 4096 shards']) expect(svg).toContain(title);
  });
});
