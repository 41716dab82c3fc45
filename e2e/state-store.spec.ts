/** The StateStore contract suite, unchanged, on IdbStateStore inside a Chromium page (real IndexedDB). */
import { expect, test } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_WEBRTC_ARGS, chromiumExecutable } from 'meshrtc/testing/cluster';

test('StateStore contract on IdbStateStore in Chromium', async () => {
  const { createServer } = await import('vite');
  const root = fileURLToPath(new URL('./idb-contract/', import.meta.url));
  const shim = fileURLToPath(new URL('./support/vitest-shim.ts', import.meta.url));
  const server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    resolve: { alias: [{ find: /^vitest$/, replacement: shim }] },
    server: { host: '127.0.0.1', port: 0, hmr: false, watch: null, fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
  });
  await server.listen();
  // A persistent context: IndexedDB on disk, as in a user's browser profile (reopen goes through the disk).
  const profile = await mkdtemp(join(tmpdir(), 'meshrtc-idb-profile-'));
  const executablePath = await chromiumExecutable();
  const context = await chromium.launchPersistentContext(profile, {
    headless: true,
    args: [...CHROMIUM_WEBRTC_ARGS],
    ...(executablePath === undefined ? {} : { executablePath }),
  });
  try {
    const address = server.httpServer!.address() as { port: number };
    const origin = `http://127.0.0.1:${address.port}`;
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => '__runContract' in globalThis, undefined, { timeout: 60_000 });
    const outcomes = await page.evaluate(() => (globalThis as unknown as { __runContract: () => Promise<{ name: string; status: string; error?: string }[]> }).__runContract());
    const failed = outcomes.filter((o) => o.status !== 'passed');
    expect(pageErrors).toEqual([]);
    expect(failed).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(18);
    test.info().annotations.push({ type: 'contract', description: `${outcomes.length} contract tests passed in Chromium` });
  } finally {
    await context.close();
    await server.close();
    await rm(profile, { recursive: true, force: true });
  }
});
