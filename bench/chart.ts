/**
 * The benchmark chart: a hand-written SVG (no chart dependency) of the rows `bench/run.ts` gathered. Panels of
 * horizontal bars on a log scale — throughput, latency and times, memory — each meshrtc figure (median, with a
 * min-max whisker) beside its same-run baselines, with published Elixir Mesh figures marked where they apply;
 * and a line chart of the shards a join moves per strategy against the ideal 1/(N+1).
 */
import type { BenchRow, MachineInfo, RowKind } from './stats.js';
import { fmtRatio } from './stats.js';

/** One group of bars: meshrtc's figure and its baselines. */
interface Item {
  label: string;
  median: number;
  min: number;
  max: number;
  baselines: { name: string; median: number }[];
  reference?: { name: string; value: number };
}

/** A line of the rebalance chart: share of shards moved for N = 2..32. */
export interface Curve {
  name: string;
  points: { n: number; share: number }[];
  color: string;
  dashed?: boolean;
}

const WIDTH = 980;
const LABEL_W = 400;
const PLOT_X = LABEL_W + 10;
const PLOT_W = WIDTH - PLOT_X - 70;
const MESH = '#2563eb';
const BASE = ['#9ca3af', '#d6d3d1'];
const REF = '#ea580c';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Short number for axis ticks and bar ends: 1.2k, 3.4M, 0.25. */
function short(v: number, unit: string): string {
  if (unit === 'B') {
    if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)} MB`;
    if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)} kB`;
    return `${+v.toPrecision(3)} B`;
  }
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(2)}`;
}

/** Groups rows measured on the same figure (one row per baseline) into one item. */
function items(rows: readonly BenchRow[]): Item[] {
  const byName = new Map<string, Item>();
  for (const r of rows) {
    let it = byName.get(r.name);
    if (it === undefined) {
      it = { label: r.name, median: r.value.median, min: r.value.min, max: r.value.max, baselines: [], ...(r.reference === undefined ? {} : { reference: r.reference }) };
      byName.set(r.name, it);
    }
    if (r.baseline !== undefined) it.baselines.push({ name: r.baseline.name, median: r.baseline.value.median });
  }
  return [...byName.values()];
}

/** A panel of log-scale horizontal bars; returns the SVG fragment and its height. */
function barPanel(title: string, unit: string, list: readonly Item[], y0: number): { svg: string; height: number } {
  const values = list.flatMap((i) => [i.median, i.min, i.max, ...i.baselines.map((b) => b.median), ...(i.reference === undefined ? [] : [i.reference.value])]).filter((v) => v > 0 && Number.isFinite(v));
  if (values.length === 0) return { svg: '', height: 0 };
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const span = Math.max(hi - lo, 1);
  const x = (v: number): number => PLOT_X + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / span) * PLOT_W;
  const out: string[] = [];
  out.push(`<text x="10" y="${y0 + 16}" class="h">${esc(title)}</text>`);
  let y = y0 + 34;
  const top = y;
  for (const it of list) {
    const bars = 1 + it.baselines.length;
    const h = bars * 9 + 8;
    out.push(`<text x="${LABEL_W}" y="${y + h / 2 + 2}" text-anchor="end" class="l">${esc(it.label.length > 66 ? `${it.label.slice(0, 64)}...` : it.label)}</text>`);
    let by = y + 4;
    out.push(`<rect x="${PLOT_X}" y="${by}" width="${Math.max(1, x(it.median) - PLOT_X).toFixed(1)}" height="8" fill="${MESH}"><title>meshrtc ${esc(short(it.median, unit))} (${esc(short(it.min, unit))}-${esc(short(it.max, unit))})</title></rect>`);
    if (it.max > it.min) out.push(`<line x1="${x(it.min).toFixed(1)}" x2="${x(it.max).toFixed(1)}" y1="${by + 4}" y2="${by + 4}" stroke="#111" stroke-width="1"/>`);
    const ratioText = it.baselines.length === 0 ? '' : `  ${it.baselines.map((b) => `${fmtRatio(it.median / b.median)}x`).join(' / ')}`;
    out.push(`<text x="${(x(Math.max(it.median, it.max)) + 4).toFixed(1)}" y="${by + 8}" class="v">${esc(short(it.median, unit))}${esc(ratioText)}</text>`);
    for (const [i, b] of it.baselines.entries()) {
      by += 9;
      out.push(`<rect x="${PLOT_X}" y="${by}" width="${Math.max(1, x(b.median) - PLOT_X).toFixed(1)}" height="8" fill="${BASE[i % BASE.length]}"><title>${esc(b.name)}: ${esc(short(b.median, unit))}</title></rect>`);
    }
    if (it.reference !== undefined) {
      const rx = x(it.reference.value);
      const ry = y + h / 2;
      out.push(`<path d="M${rx.toFixed(1)} ${ry - 5} l5 5 l-5 5 l-5 -5 z" fill="${REF}"><title>${esc(it.reference.name)}: ${esc(short(it.reference.value, unit))}</title></path>`);
    }
    y += h;
  }
  for (let e = lo; e <= hi; e++) {
    const gx = x(10 ** e);
    out.push(`<line x1="${gx.toFixed(1)}" x2="${gx.toFixed(1)}" y1="${top - 2}" y2="${y}" class="g"/>`);
    out.push(`<text x="${gx.toFixed(1)}" y="${y + 12}" text-anchor="middle" class="t">${esc(short(10 ** e, unit))}</text>`);
  }
  return { svg: out.join('\n'), height: y - y0 + 24 };
}

/** The rebalance line chart: share of shards moved by a join, N = 2..32. */
function linePanel(title: string, curves: readonly Curve[], y0: number): { svg: string; height: number } {
  if (curves.length === 0) return { svg: '', height: 0 };
  const H = 180;
  const ns = curves.flatMap((c) => c.points.map((p) => p.n));
  const nMin = Math.min(...ns);
  const nMax = Math.max(...ns);
  const px = (n: number): number => PLOT_X + ((n - nMin) / Math.max(nMax - nMin, 1)) * PLOT_W;
  const top = y0 + 30;
  const py = (share: number): number => top + (1 - share) * H;
  const out: string[] = [`<text x="10" y="${y0 + 16}" class="h">${esc(title)}</text>`];
  for (const s of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${PLOT_X}" x2="${PLOT_X + PLOT_W}" y1="${py(s)}" y2="${py(s)}" class="g"/>`);
    out.push(`<text x="${PLOT_X - 6}" y="${py(s) + 4}" text-anchor="end" class="t">${s}</text>`);
  }
  for (const n of [2, 4, 8, 16, 24, 32].filter((n) => n >= nMin && n <= nMax)) out.push(`<text x="${px(n).toFixed(1)}" y="${top + H + 14}" text-anchor="middle" class="t">N=${n}</text>`);
  curves.forEach((c, i) => {
    const d = c.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${px(p.n).toFixed(1)} ${py(p.share).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${c.color}" stroke-width="2"${c.dashed === true ? ' stroke-dasharray="5 4"' : ''}/>`);
    out.push(`<line x1="40" x2="65" y1="${top + 20 + i * 18}" y2="${top + 20 + i * 18}" stroke="${c.color}" stroke-width="2"${c.dashed === true ? ' stroke-dasharray="5 4"' : ''}/>`);
    out.push(`<text x="70" y="${top + 24 + i * 18}" class="l">${esc(c.name)}</text>`);
  });
  return { svg: out.join('\n'), height: H + 60 };
}

/** Renders the chart of a run. */
export function renderChart(rows: readonly BenchRow[], curves: readonly Curve[], machine: MachineInfo, when: string): string {
  const kinds = (k: readonly RowKind[]): BenchRow[] => rows.filter((r) => k.includes(r.kind));
  const parts: string[] = [];
  let y = 40;
  const add = (p: { svg: string; height: number }): void => {
    if (p.height === 0) return;
    parts.push(p.svg);
    y += p.height + 10;
  };
  add(barPanel('Throughput (per second, log scale)', '', items(kinds(['throughput'])), y));
  add(barPanel('Latency and times (ms, log scale)', 'ms', items(kinds(['latency', 'time'])), y));
  add(barPanel('Memory (log scale)', 'B', items(kinds(['memory'])), y));
  add(linePanel('Share of the 4096 shards moved when peer N+1 joins N peers', curves, y));
  const header =
    `<text x="10" y="18" class="title">meshrtc benchmarks: ${esc(machine.cpu)}, ${machine.cores} cores, Node ${esc(machine.node)}` +
    `${machine.chromium === undefined ? '' : `, Chromium ${esc(machine.chromium)}`}, ${esc(when)}</text>` +
    `<rect x="10" y="26" width="10" height="8" fill="${MESH}"/><text x="24" y="34" class="l">meshrtc (median, min-max whisker)</text>` +
    `<rect x="230" y="26" width="10" height="8" fill="${BASE[0]}"/><text x="244" y="34" class="l">same-run baseline</text>` +
    `<rect x="360" y="26" width="10" height="8" fill="${BASE[1]}"/><text x="374" y="34" class="l">second baseline</text>` +
    `<path d="M505 25 l5 5 l-5 5 l-5 -5 z" fill="${REF}"/><text x="516" y="34" class="l">Elixir Mesh, published (no hardware stated)</text>` +
    `<text x="790" y="34" class="l">labels: median, ratio to baselines</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" viewBox="0 0 ${WIDTH} ${y + 10}" font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">`,
    '<style>.title{font-size:13px;font-weight:600}.h{font-size:13px;font-weight:600}.l{font-size:11px;fill:#1f2937}.v{font-size:10px;fill:#111827}.t{font-size:10px;fill:#6b7280}.g{stroke:#e5e7eb;stroke-width:1}</style>',
    `<rect width="${WIDTH}" height="${y + 10}" fill="#ffffff"/>`,
    header,
    ...parts,
    '</svg>',
  ].join('\n');
}
