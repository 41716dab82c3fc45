/**
 * The browser build: a Vite app that does `import { createMesh } from 'meshrtc'` builds with no Node polyfills
 * and no Vite configuration, and nothing Node-only (werift, node-datachannel, lmdb, ws, node: built-ins) reaches
 * the bundle. The package is consumed as a user would: built (`dist/`), linked into the app's node_modules, and
 * resolved through its `browser` export condition.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
let app: string | undefined;

afterAll(async () => {
  if (app !== undefined) await rm(app, { recursive: true, force: true });
});

describe('browser bundle', () => {
  it('a Vite app importing meshrtc bundles the browser entry and nothing Node-only', async () => {
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root });
    app = await mkdtemp(join(tmpdir(), 'meshrtc-vite-app-'));
    await mkdir(join(app, 'node_modules'));
    await symlink(root, join(app, 'node_modules', 'meshrtc'), 'dir');
    await writeFile(join(app, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>\n');
    await writeFile(
      join(app, 'main.js'),
      `import { createMesh, defineActor, shardFor } from 'meshrtc';\n` +
        `const Counter = defineActor({ type: 'counter', initialState: () => ({ n: 0 }), handlers: { add: (s) => ++s.n } });\n` +
        `globalThis.start = () => createMesh({ signalingUrl: 'ws://127.0.0.1:1', capabilities: ['game'], actors: [Counter] });\n` +
        `globalThis.shard = shardFor('x');\n`,
    );
    const warnings: string[] = [];
    const { build } = await import('vite');
    const logger = {
      info: () => {},
      warn: (m: string) => void warnings.push(m),
      warnOnce: (m: string) => void warnings.push(m),
      error: (m: string) => void warnings.push(m),
      clearScreen: () => {},
      hasErrorLogged: () => false,
      hasWarned: false,
    };
    const out = await build({ root: app, configFile: false, logLevel: 'warn', customLogger: logger, build: { outDir: join(app, 'dist'), write: false } });
    const outputs = (Array.isArray(out) ? out : [out]) as { output: { type: string; code?: string; modules?: Record<string, unknown>; fileName: string }[] }[];
    const chunks = outputs.flatMap((o) => o.output).filter((c) => c.type === 'chunk');
    const modules = chunks.flatMap((c) => Object.keys(c.modules ?? {}));
    expect(modules.some((m) => m.includes('/dist/src/index.browser.js'))).toBe(true);
    expect(modules.some((m) => m.includes('/dist/src/persistence/idb.js'))).toBe(true);
    const forbidden = /node_modules\/(werift|node-datachannel|lmdb|ws|@node-datachannel)\/|\/dist\/src\/(persistence\/lmdb|edge\/|runtime\.js|transport\/engines\/(node|werift|node-datachannel)\.js)|^node:|__vite-browser-external/;
    expect(modules.filter((m) => forbidden.test(m))).toEqual([]);
    // Vite reports any Node built-in it had to stub out ("externalized for browser compatibility").
    expect(warnings.filter((w) => /externalized|polyfill|node:/i.test(w))).toEqual([]);
    const bytes = chunks.reduce((n, c) => n + (c.code?.length ?? 0), 0);
    expect(bytes).toBeGreaterThan(10_000);
    console.info(`meshrtc browser bundle: ${chunks.length} chunk(s), ${(bytes / 1024).toFixed(1)} KiB minified`);
  }, 120_000);
});
