import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');

/** The ```ts block that follows `<!-- example:NAME ... -->` in README.md. */
function example(name: string): string {
  const re = new RegExp(`<!-- example:${name}[^>]*-->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``);
  const m = re.exec(readme);
  if (m === null) throw new Error(`README has no example ${name}`);
  return m[1]!;
}

async function run(name: string): Promise<unknown[][]> {
  const dir = fileURLToPath(new URL('./generated/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}readme-${name}.ts`;
  writeFileSync(file, example(name));
  const logs: unknown[][] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logs.push(args));
  await import(/* @vite-ignore */ file);
  return logs;
}

describe('README examples run as written', () => {
  afterEach(() => vi.restoreAllMocks());

  it('quickstart', async () => {
    expect(await run('quickstart')).toEqual([[2, true], [5]]);
  });

  it('subscribe', async () => {
    expect(await run('subscribe')).toEqual([[['hello', 'world']]]);
  });

  it('clustered', async () => {
    expect(await run('clustered')).toEqual([[true]]);
  });

  it('simulation', async () => {
    expect(await run('simulation')).toEqual([[true]]);
  });
});
