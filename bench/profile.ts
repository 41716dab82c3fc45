/**
 * `tsx bench/profile.ts <file.cpuprofile ...> [--top N]`: the hot functions of V8 CPU profiles (written by
 * `node --cpu-prof`, `BENCH_PROF=dir npm run bench:net`, or Chromium's profiler through CDP in
 * `bench:browser --profile dir`), by self time, with their share of the profile's non-idle time. Several files
 * are summed (both processes of a run, or several runs).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One node of a V8 `.cpuprofile`. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** A V8 CPU profile (the fields used here). */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

/** A function's self time in a profile. */
export interface HotFunction {
  /** `name (file:line)`. */
  name: string;
  selfMs: number;
  /** Share of the non-idle sampled time (0..1). */
  share: number;
}

/** Entries V8 uses for time outside JavaScript functions. */
const IDLE = new Set(['(idle)', '(program)']);

/** Self time per function (summed over every node of the same function), largest first. */
export function hotFunctions(profiles: readonly CpuProfile[], top = 15): { functions: HotFunction[]; busyMs: number; totalMs: number } {
  const self = new Map<string, number>();
  let busy = 0;
  let total = 0;
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const samples = p.samples ?? [];
    const deltas = p.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const node = byId.get(samples[i]!);
      // The time of sample i is the gap to the next sample (the last one gets the mean gap).
      const next = deltas[i + 1];
      const us = next !== undefined ? next : (p.endTime - p.startTime) / Math.max(samples.length, 1);
      if (node === undefined || us < 0) continue;
      total += us;
      const f = node.callFrame;
      if (IDLE.has(f.functionName)) continue;
      busy += us;
      const file = f.url === '' ? '' : ` (${basename(f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1})`;
      const key = `${f.functionName === '' ? '(anonymous)' : f.functionName}${file}`;
      self.set(key, (self.get(key) ?? 0) + us);
    }
  }
  const functions = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, selfMs: us / 1000, share: busy === 0 ? 0 : us / busy }));
  return { functions, busyMs: busy / 1000, totalMs: total / 1000 };
}

/** Formats {@link hotFunctions} as text lines. */
export function formatHot(hot: ReturnType<typeof hotFunctions>): string {
  const lines = [`busy ${hot.busyMs.toFixed(0)} ms of ${hot.totalMs.toFixed(0)} ms sampled; self time:`];
  for (const f of hot.functions) lines.push(`${(f.share * 100).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 20;
  const files = args.filter((a, i) => a !== '--top' && i !== topAt + 1 && a.endsWith('.cpuprofile'));
  if (files.length === 0) {
    console.error('usage: tsx bench/profile.ts <file.cpuprofile ...> [--top N]');
    process.exit(2);
  }
  const profiles = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
  console.log(formatHot(hotFunctions(profiles, top)));
}
