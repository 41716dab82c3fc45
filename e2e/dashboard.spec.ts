/**
 * The mesh dashboard (`meshrtc/dashboard`) on the real stack, watching the demo's room: every peer with its kind
 * and link, the shard grid per capability following a peer's departure, actor activity and message flow.
 */
import { expect, test } from '@playwright/test';
import type { Page } from 'playwright-core';
import { startDemoSession, tabState, waitPeers, type DemoSession, type PageGlobals } from '../demo/testing.js';

let session: DemoSession | undefined;

test.afterEach(async () => {
  await session?.close();
  session = undefined;
});

/** Peer id -> shards, from the legend of the shard grid. */
async function legend(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const out: Record<string, number> = {};
    for (const row of document.querySelectorAll<HTMLElement>('[data-testid=shard-legend] .mrd-legend-row')) out[row.dataset['peer']!] = Number(row.dataset['shards']);
    return out;
  });
}

/** Peer ids in the peers table. */
async function tablePeers(page: Page): Promise<string[]> {
  return page.evaluate(() => [...document.querySelectorAll<HTMLElement>('[data-testid=peers] tr')].map((tr) => tr.dataset['peer']!).sort());
}

/** The distinct colours of the shard grid's cells (sampled at each cell's centre). */
async function gridColors(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('[data-testid=shard-grid]')!;
    const ctx = canvas.getContext('2d')!;
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const colors = new Set<string>();
    for (let cy = 0; cy < 64; cy++) {
      for (let cx = 0; cx < 64; cx++) {
        const o = ((cy * 6 + 2) * canvas.width + (cx * 6 + 2)) * 4;
        colors.add(`#${[data[o]!, data[o + 1]!, data[o + 2]!].map((v) => v.toString(16).padStart(2, '0')).join('')}`);
      }
    }
    return [...colors].sort();
  });
}

test('the dashboard shows every peer, and the shard grid follows a peer leaving', async () => {
  session = await startDemoSession();
  // The dashboard first, so it sees the tabs arrive: actors spawn on them and regions move to them.
  const dash = await session.openDashboard();
  const a = await session.openTab();
  const b = await session.openTab();
  await waitPeers(a, 4);
  const edgeId = session.demo.edge!.peerId;
  const [idA, idB] = [(await tabState(a)).peerId, (await tabState(b)).peerId];
  const dashId = await dash.evaluate(() => (globalThis as unknown as { __mesh: { peerId: string } }).__mesh.peerId);

  // Every peer, with its kind, capabilities and a live link.
  await expect.poll(() => tablePeers(dash)).toEqual([edgeId, idA, idB, dashId].sort());
  const edgeRow = dash.locator(`[data-testid=peers] tr[data-peer="${edgeId}"]`);
  await expect(edgeRow).toContainText('edge');
  await expect(edgeRow).toContainText('chat');
  await expect(edgeRow).toContainText('world');
  await expect(dash.locator(`[data-testid=peers] tr[data-peer="${dashId}"]`)).toContainText('client only');
  await expect(dash.locator(`[data-testid=peers] tr[data-peer="${idA}"]`)).toContainText(/connected/);
  await expect(dash.getByTestId('tile-peers')).toHaveText('4');

  // The world's shards among the three peers serving it, and the dashboard's actors per peer from the room stats.
  await expect.poll(async () => Object.keys(await legend(dash)).sort()).toEqual([edgeId, idA, idB].sort());
  const before = await legend(dash);
  expect(Object.values(before).reduce((s, n) => s + n, 0)).toBe(4096);
  expect((await gridColors(dash)).length).toBe(3);

  // Traffic: tab A paints for a while; the dashboard shows calls on links and a latency.
  const painting = a.evaluate(async () => {
    const g = (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh;
    for (let i = 0; i < 120; i++) {
      g.world.paint([[(i * 7) % 128, (i * 3) % 96]], 1 + (i % 15));
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  await expect.poll(async () => Number.parseFloat((await dash.getByTestId('tile-calls').textContent()) ?? '0'), { timeout: 10_000 }).toBeGreaterThan(0);
  await expect(dash.getByTestId('tile-p50')).toHaveText(/ms/);
  await painting;
  await expect(dash.locator('[data-testid=feed] li[data-kind=spawned]').first()).toBeVisible();
  await expect(dash.locator('[data-testid=feed] li[data-kind=moved]').first()).toBeVisible();
  await dash.screenshot({ path: test.info().outputPath('dashboard-3-peers.png'), fullPage: true });

  // Tab B leaves: its shards go to the others; the grid, the legend and the table follow.
  await b.close({ runBeforeUnload: false });
  await expect.poll(() => tablePeers(dash)).toEqual([edgeId, idA, dashId].sort());
  await expect.poll(async () => Object.keys(await legend(dash)).sort()).toEqual([edgeId, idA].sort());
  const after = await legend(dash);
  expect(Object.values(after).reduce((s, n) => s + n, 0)).toBe(4096);
  expect(after[edgeId]! + after[idA]!).toBe(4096);
  expect(after[edgeId]).toBeGreaterThan(before[edgeId]!);
  expect(after[idA]).toBeGreaterThan(before[idA]!);
  await expect.poll(async () => (await gridColors(dash)).length).toBe(2);
  // The regions B owned moved, and the feed says so: moves away from B.
  const movesFromB = async (): Promise<number> => dash.locator(`[data-testid=feed] li[data-kind=moved][data-from="${idB}"]`).count();
  await expect
    .poll(movesFromB, { timeout: 10_000, message: `no move away from ${idB} in the feed:\n${await dash.getByTestId('feed').innerText()}` })
    .toBeGreaterThan(0);
  await dash.screenshot({ path: test.info().outputPath('dashboard-after-leave.png'), fullPage: true });
  expect(session.errors).toEqual([]);
});

test('the dashboard tab of the game mounts on the tab’s own mesh and unmounts cleanly', async () => {
  session = await startDemoSession();
  const a = await session.openTab();
  await session.openTab();
  await waitPeers(a, 3);
  await a.getByTestId('tab-dashboard').click();
  await expect(a.getByTestId('dashboard')).toBeVisible();
  await expect.poll(async () => (await a.locator('[data-testid=peers] tr').count())).toBe(3);
  await expect(a.locator('[data-testid=peers] tr').first()).toContainText('you');
  await a.getByTestId('tab-play').click();
  await expect(a.getByTestId('dashboard')).toHaveCount(0);
  await expect(a.getByTestId('world')).toBeVisible();
  // And back again: a fresh mount.
  await a.getByTestId('tab-dashboard').click();
  await expect.poll(async () => (await a.locator('[data-testid=peers] tr').count())).toBe(3);
  expect(session.errors).toEqual([]);
});
