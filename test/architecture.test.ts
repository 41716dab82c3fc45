/**
 * Architecture rules from DESIGN.md, checked on the source: layers import only the layers below them, and no
 * timer is set outside a Clock implementation (so simulations stay deterministic).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../src/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** What each layer may import (besides itself). Root modules: errors.ts, random.ts are shared leaves. */
const allowed: Record<string, readonly string[]> = {
  clock: [],
  codec: ['errors'],
  placement: ['errors'],
  monitoring: [],
  membership: ['errors'],
  transport: ['errors', 'clock', 'random', 'codec', 'monitoring'],
  signaling: ['errors', 'clock', 'random', 'membership', 'transport'],
  persistence: ['errors', 'clock', 'codec'],
  actors: ['errors', 'clock', 'random', 'codec', 'membership', 'monitoring', 'placement', 'signaling', 'transport', 'persistence'],
  replication: ['errors', 'clock', 'random', 'codec', 'membership', 'monitoring', 'placement', 'transport', 'persistence', 'actors'],
  identity: ['errors', 'random'],
  dashboard: ['actors', 'monitoring'],
  http: ['errors', 'clock', 'random', 'actors'],
  testing: ['*'],
  edge: ['*'],
  errors: [],
  random: [],
};

function layerOf(file: string): string {
  const rel = relative(root, file);
  const first = rel.split('/')[0]!;
  return first.replace(/\.(ts|js)$/, '');
}

describe('architecture', () => {
  it('layers import only the layers below them', () => {
    const violations: string[] = [];
    for (const file of files(root)) {
      const layer = layerOf(file);
      const rules = allowed[layer];
      if (rules === undefined || rules.includes('*')) continue; // entry points (index, create, mesh wiring)
      const source = readFileSync(file, 'utf8');
      for (const m of source.matchAll(/from '(\.[^']+)'/g)) {
        const target = layerOf(join(file, '..', m[1]!));
        if (target !== layer && !rules.includes(target)) violations.push(`${relative(root, file)} imports ${m[1]} (${layer} -> ${target})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('sets no timer outside a Clock implementation', () => {
    const offenders: string[] = [];
    for (const file of files(root)) {
      const rel = relative(root, file);
      if (rel.startsWith('clock/')) continue;
      const source = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      if (/(?<![.\w])(setTimeout|setInterval|setImmediate)\s*\(|globalThis\.(setTimeout|setInterval)/.test(source)) offenders.push(rel);
    }
    expect(offenders).toEqual([]);
  });
});
