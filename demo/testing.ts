/**
 * Driving the demo from Node (the e2e specs and the screenshot script): starts the demo on free ports with a
 * temporary edge data directory and loopback-only WebRTC, launches Chromium, opens tabs, and reads the game's
 * state from a page (`window.__pixelMesh`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../src/testing/chromium.js';
import { startDemo, type DemoOptions, type RunningDemo } from './launcher.js';

/** A demo with a browser. */
export interface DemoSession {
  readonly demo: RunningDemo;
  readonly browser: Browser;
  /** One browser context: its pages are tabs of one browser window (one origin storage, one Web Locks scope). */
  readonly context: BrowserContext;
  /** Console errors and page errors of every tab so far (`[tab] message`). */
  readonly errors: string[];
  /** Opens a tab on the game (or `path`) and waits until it is live with every region loaded. */
  openTab(path?: string): Promise<Page>;
  /** Opens the standalone dashboard and waits until it has drawn. */
  openDashboard(): Promise<Page>;
  close(): Promise<void>;
}

/** Options: the demo's, plus the viewport of the tabs. */
export interface DemoSessionOptions extends DemoOptions {
  viewport?: { width: number; height: number };
  browser?: Browser;
}

/** Starts a demo (free ports, fresh room and data directory unless given) and a browser. */
export async function startDemoSession(options: DemoSessionOptions = {}): Promise<DemoSession> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'pixel-mesh-')));
  const demo = await startDemo({
    port: 0,
    signalingPort: 0,
    loopbackOnly: true,
    room: `room-${Math.random().toString(36).slice(2, 10)}`,
    ...options,
    dataDir,
  });
  let browser: Browser;
  try {
    browser = options.browser ?? (await launchChromium());
  } catch (error) {
    await demo.close();
    throw error;
  }
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1440, height: 900 } });
  const errors: string[] = [];
  let tabs = 0;
  const watch = (page: Page): void => {
    const name = `tab${++tabs}`;
    page.on('pageerror', (e) => errors.push(`[${name}] ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`[${name}] ${m.text()}`);
    });
  };
  const url = (path: string): string => new URL(path, demo.url).href;
  return {
    demo,
    browser,
    context,
    errors,
    async openTab(path = '/') {
      const page = await context.newPage();
      watch(page);
      await page.goto(url(path));
      await waitLive(page);
      return page;
    },
    async openDashboard() {
      const page = await context.newPage();
      watch(page);
      await page.goto(url('/dashboard.html'));
      await page.waitForSelector('[data-testid=shard-legend] .mrd-legend-row', { timeout: 30_000 });
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      if (options.browser === undefined) await browser.close().catch(() => {});
      await demo.close();
      if (options.dataDir === undefined && dataDir !== false) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** What a game tab reports about itself. */
export interface TabState {
  peerId: string;
  status: string;
  pendingPixels: number;
  loadedRegions: number;
  regions: number;
  peers: string[];
}

/** Reads a tab's state. */
export function tabState(page: Page): Promise<TabState> {
  return page.evaluate(() => {
    const g = (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh;
    const s = g.world.syncStatus();
    return {
      peerId: g.mesh.peerId,
      status: document.querySelector('[data-testid=status]')?.textContent ?? '',
      pendingPixels: s.pendingPixels,
      loadedRegions: s.loadedRegions,
      regions: s.regions,
      peers: g.mesh.table.peers.map((p) => p.id),
    };
  });
}

/** Waits until the tab is in the room with every region loaded. */
export async function waitLive(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const g = (globalThis as unknown as { __pixelMesh?: PageGlobals }).__pixelMesh;
      if (g === undefined) return false;
      const s = g.world.syncStatus();
      return s.loadedRegions === s.regions;
    },
    null,
    { timeout: timeoutMs, polling: 50 },
  );
}

/** Waits until every stroke of the tab is acknowledged. */
export async function waitSynced(page: Page, timeoutMs = 20_000): Promise<void> {
  await page.waitForFunction(() => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.world.syncStatus().pendingPixels === 0, null, {
    timeout: timeoutMs,
    polling: 50,
  });
}

/** Waits until the tab sees exactly `count` peers. */
export async function waitPeers(page: Page, count: number, timeoutMs = 20_000): Promise<void> {
  await page.waitForFunction((n) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.mesh.table.peers.length === n, count, {
    timeout: timeoutMs,
    polling: 50,
  });
}

/** Picks palette colour `color` (0: the eraser) in the toolbar. */
export async function selectColor(page: Page, color: number): Promise<void> {
  await page.locator(`.swatch[data-color="${color}"]`).click();
}

/** Clicks world pixel `(x, y)` with the real mouse (in the selected colour). */
export async function clickPixel(page: Page, x: number, y: number): Promise<void> {
  const at = await page.evaluate(([px, py]) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.canvas.pixelCenter(px!, py!), [x, y]);
  await page.mouse.click(at.clientX, at.clientY);
}

/** The colour a tab shows at world pixel `(x, y)`. */
export function colorAt(page: Page, x: number, y: number): Promise<number> {
  return page.evaluate(([px, py]) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.world.colorAt(px!, py!), [x, y]);
}

/** The owner of a region as a tab sees it. */
export function ownerOfRegion(page: Page, regionId: string): Promise<string | undefined> {
  return page.evaluate((id) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.mesh.ownerOf('world', id), regionId);
}

/** The shape of `window.__pixelMesh` as the helpers use it (inside `page.evaluate`). */
export interface PageGlobals {
  mesh: {
    peerId: string;
    table: { peers: ReadonlyArray<{ id: string; kind: string }> };
    ownerOf(capability: string, id: string): string | undefined;
    preferenceList(capability: string, id: string, count?: number): string[];
    call<R>(request: unknown, options?: unknown): Promise<{ reply: R; peerId: string }>;
    subscribe<E>(address: unknown, listener: (event: E) => void, options?: { onError?: (error: { code: string }) => void }): () => void;
  };
  world: {
    syncStatus(): { pendingPixels: number; loadedRegions: number; regions: number; failures: number };
    colorAt(x: number, y: number): number;
    paint(points: Array<[number, number]>, color: number): void;
    scores(): Array<{ player: { id: string; name: string }; pixels: number }>;
    cursors(): IterableIterator<{ player: { id: string } }>;
  };
  canvas: { pixelCenter(x: number, y: number): { clientX: number; clientY: number } };
}
